"""The demo scenario: a devnet, five managed positions and a watched one, the manager, an ETH crash.

1. start a devnet in-process (real Aave V3 + Uniswap V3 + Morpho Blue + Synthetix PerpsV2, automine,
   chain time = wall clock);
2. open positions on spare accounts: ``cdp`` (manager1, CDP-style, ``cdp_health``), a vault of two
   (manager2 WETH/USDC, manager3 WETH+WBTC/DAI, ``vault_leverage``), ``morpho`` (manager4's seeded
   Morpho Blue WETH/USDC borrow, topped up with WETH, ``cdp_health``), ``perp`` (spare1's seeded
   PerpsV2 long 10 ETH, ``perp_margin``) and ``watched`` (watcher1, a watch-only ``alert_only``
   account that nobody manages); the crash moves the one ETH feed that Aave, Morpho's oracle, the
   Uniswap pools and Synthetix's ExchangeRates all read;
3. start a loopback webhook server and an SMTP server, and write a config into the state dir (signers
   by ``key_env``: the keys go to the manager through its environment, never into the file);
4. run the manager in-process (scheduler, a tick per new block), then move ETH down about 35% over
   several steps (each step: the Chainlink feed and every ETH pool, then a quiet block); after each
   step wait until the manager has caught up with the head;
5. check: no managed position was liquidated (health >= 1 on chain at every step, no ``LiquidationCall``
   / Morpho ``Liquidate`` / PerpsV2 ``PositionLiquidated`` event for it), the watched account reached liquidation risk and alerted; alerts reached the webhook
   and SMTP server exactly once per (episode, transition);
6. write the report (summary table, PNG chart of health per position over blocks with actions marked).

``run_demo`` is also what the end-to-end tests drive (with smaller knobs).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("posman.demo")

START_ETH_USD = 3000.0
CRASH_FRACTION = 0.35
DEFAULT_STEPS = 7
LIQUIDATION_TOPIC = "LiquidationCall(address,address,address,uint256,uint256,address,bool)"
# morpho-blue EventsLib.Liquidate (Id indexed id, caller indexed, borrower indexed, ...)
MORPHO_LIQUIDATE_TOPIC = "Liquidate(bytes32,address,address,uint256,uint256,uint256,uint256,uint256)"
# PerpsV2MarketProxyable.PositionLiquidated (nothing indexed; emitted by the market proxy)
PERP_LIQUIDATED_TOPIC = "PositionLiquidated(uint256,address,address,int256,uint256,uint256,uint256,uint256)"
MORPHO_MARKET = "WETH/USDC"


@dataclass(frozen=True)
class DemoPosition:
    name: str
    account_name: str
    mode: str
    strategy: str
    params: dict[str, Any]
    supplies: tuple[tuple[str, float], ...]
    borrows: tuple[tuple[str, float], ...]
    role: str
    protocol: str = "aave"  # a [[protocols]] name of the devnet config: "aave", "morpho-WETH-USDC", "perps-eth"


POSITIONS: tuple[DemoPosition, ...] = (
    DemoPosition("cdp", "manager1", "manage", "cdp_health",
                 {"trigger_health": 1.35, "target_health": 1.6, "upper_health": 2.4, "cooldown_s": 0},
                 (("WETH", 20),), (("USDC", 31_000),), "managed CDP"),
    DemoPosition("vault-a", "manager2", "manage", "vault_leverage",
                 {"vault": "core", "weight": 0.5, "target_leverage": 2.0, "leverage_band": 0.3, "min_health": 1.3},
                 (("WETH", 15),), (("USDC", 22_500),), "managed vault member"),
    DemoPosition("vault-b", "manager3", "manage", "vault_leverage",
                 {"vault": "core", "weight": 0.5, "target_leverage": 2.0, "leverage_band": 0.3, "min_health": 1.3},
                 (("WETH", 7.5), ("WBTC", 0.375)), (("DAI", 22_500),), "managed vault member"),
    DemoPosition("morpho", "manager4", "manage", "cdp_health",
                 {"trigger_health": 1.35, "target_health": 1.6, "cooldown_s": 0},
                 (("WETH", 4),), (), "managed Morpho WETH/USDC", protocol="morpho-WETH-USDC"),
    DemoPosition("perp", "spare1", "manage", "perp_margin",
                 {"trigger_margin_ratio": 0.12, "target_margin_ratio": 0.2, "min_health": 3.0,
                  "max_add_margin_usd": 5_000},
                 (), (), "managed perp ETH long", protocol="perps-eth"),
    DemoPosition("watched", "watcher1", "watch", "alert_only", {},
                 (("WETH", 10),), (("USDC", 18_000),), "watch-only"),
)


def key_env_of(account_name: str) -> str:
    return f"POSMAN_DEMO_KEY_{account_name.upper()}"


# ------------------------------------------------------------------------------------------------
# chain setup
# ------------------------------------------------------------------------------------------------

def open_position(net: Any, spec: DemoPosition) -> None:
    """Supply and borrow as the account (anvil's unlocked test accounts), like a user would.

    Morpho: the account's seeded WETH/USDC borrow gets ``supplies`` more collateral; perps: the seeded
    position is used as it is (``manager.devnet.synthetix.SEED_PERPS``)."""
    from manager.devnet.deploy import token_units

    user = net.address(spec.account_name)
    if spec.protocol.startswith("morpho"):
        from manager.devnet.morpho import open_position as morpho_open

        for sym, amount in spec.supplies:
            morpho_open(net.w3, net.book, user, MORPHO_MARKET, token_units(amount, net.book["decimals"][sym]), 0)
        return
    if spec.protocol.startswith("perps"):
        return
    pool = net.contract("aave_v3/Pool", net.book["aave"]["pool"])
    for sym, amount in spec.supplies:
        asset = net.book["tokens"][sym]
        units = token_units(amount, net.book["decimals"][sym])
        if sym == "WETH":
            token = net.contract("erc20/WETH9", asset)
            net.transact(token.functions.deposit(), sender=user, value=units)
        else:
            token = net.contract("erc20/MintableERC20", asset)
            net.transact(token.get_function_by_signature("mint(uint256)")(units), sender=user)
        net.transact(token.functions.approve(pool.address, units), sender=user)
        net.transact(pool.functions.supply(asset, units, user, 0), sender=user)
    for sym, amount in spec.borrows:
        asset = net.book["tokens"][sym]
        net.transact(pool.functions.borrow(asset, token_units(amount, net.book["decimals"][sym]), 2, 0, user), sender=user)


def onchain_health(net: Any, account: str) -> float:
    pool = net.contract("aave_v3/Pool", net.book["aave"]["pool"])
    hf = pool.functions.getUserAccountData(account).call()[5]
    return float("inf") if hf >= 2**255 else hf / 1e18


def health_readers(cfg: Any, names: list[str]) -> dict[str, Any]:
    """``{position: read(w3) -> health}`` from the chain for Morpho (adapter) and PerpsV2 (adapter) positions;
    None for Aave positions (``onchain_health`` reads the Pool)."""
    from manager.runtime.lifecycle import morpho_health_reader, perp_health_reader

    out: dict[str, Any] = {}
    for name in names:
        pos = cfg.position(name)
        proto = cfg.protocol(pos.protocol)
        chain = cfg.chains[proto.chain]
        if proto.kind == "morpho_blue":
            out[name] = morpho_health_reader(chain, proto, pos.account)
        elif proto.kind == "synthetix_perps":
            out[name] = perp_health_reader(chain, proto, pos.account)
        else:
            out[name] = None
    return out


def liquidations(net: Any, from_block: int, accounts: dict[str, str]) -> dict[str, int]:
    """Liquidation events per position name since ``from_block``: Aave ``LiquidationCall`` (user is the 3rd
    indexed topic), Morpho ``Liquidate`` (borrower: 3rd indexed topic), PerpsV2 ``PositionLiquidated``
    (account: 2nd data word, on every market proxy)."""
    from eth_utils import keccak

    def logs(address: str, topic: str) -> list[Any]:
        return net.w3.eth.get_logs({"address": address, "fromBlock": from_block, "toBlock": "latest",
                                    "topics": ["0x" + keccak(text=topic).hex()]})

    by_user: Counter[str] = Counter()
    by_user.update("0x" + bytes(lg["topics"][3])[-20:].hex() for lg in logs(net.book["aave"]["pool"], LIQUIDATION_TOPIC))
    if net.book.get("morpho"):
        by_user.update("0x" + bytes(lg["topics"][3])[-20:].hex()
                       for lg in logs(net.book["morpho"]["morpho"], MORPHO_LIQUIDATE_TOPIC))
    for market in (net.book.get("synthetix") or {}).get("markets", {}).values():
        by_user.update("0x" + bytes(lg["data"])[32 + 12:64].hex() for lg in logs(market["proxy"], PERP_LIQUIDATED_TOPIC))
    return {name: by_user.get(addr.lower(), 0) for name, addr in accounts.items()}


def demo_executors(net: Any, positions: tuple[DemoPosition, ...]) -> dict[str, str]:
    """``{account_name: executor}`` for every managed lending signer of ``positions``: its devnet PosmanExecutor
    (deployed by the devnet build, or now), granted what its positions as opened need
    (``manager.devnet.executor.grant_executor``; ``posman executor grant`` on a real chain)."""
    from manager.devnet.executor import deploy_executor, grant_executor

    out: dict[str, str] = {}
    for spec in positions:
        if spec.mode != "manage" or spec.protocol.startswith("perps") or spec.account_name in out:
            continue
        owner = net.address(spec.account_name)
        executor = net.book.get("executors", {}).get(owner) or deploy_executor(net, owner)
        grant_executor(net, owner, executor)
        out[spec.account_name] = executor
    return out


def write_config(path: Path, net: Any, *, webhook_url: str | None, smtp_port: int | None,
                 db_url: str, positions: tuple[DemoPosition, ...] = POSITIONS,
                 executors: dict[str, str] | None = None) -> None:
    """The manager's config for the demo (no keys: signers name environment variables). ``executors``
    (``{account_name: address}``): the signers' PosmanExecutor contracts (``[signers.X] executor``), which
    make each protective action one flash-loan transaction (the atomic path)."""
    from manager.devnet.cli import render_config

    info = net.info()
    base = render_config(info, path.parent)
    head = base.split("[[positions]]", 1)[0]
    head = head.replace('url = "sqlite:///posman.sqlite"', f'url = "{db_url}"')
    lines = [head.rstrip(), "",
             "[limits]", "per_tx_usd = 200000", "per_day_usd = 2000000", "max_slippage_bps = 100",
             "emergency_health = 1.05", "",
             "[runtime]", "poll_interval_s = 0.05", "heartbeat_s = 30", "",
             "[alerts.rules]", "oracle_min_persistence_ticks = 2", "heartbeat_timeout_s = 120",
             "tx_not_included_after_blocks = 10", "",
             "[alerts.rules.health]", "warning_below_hf = 1.3", "critical_below_hf = 1.15", "hysteresis_hf = 0.05",
             "min_persistence_ticks = 2", "",
             "[[alerts.channels]]", 'type = "log"', 'name = "log"', ""]
    if webhook_url:
        lines += ["[[alerts.channels]]", 'type = "webhook"', 'name = "ops-json"', 'format = "json"',
                  f'url = "{webhook_url}/hook"', "", "[[alerts.channels]]", 'type = "webhook"', 'name = "ops-slack"',
                  'format = "slack"', f'url = "{webhook_url}/slack"', 'min_severity = "warning"', ""]
    if smtp_port:
        lines += ["[[alerts.channels]]", 'type = "email"', 'name = "ops-mail"', 'host = "127.0.0.1"',
                  f"port = {smtp_port}", "starttls = false", 'from_addr = "posman@localhost"',
                  'to_addrs = ["ops@localhost"]', 'min_severity = "warning"', ""]
    signers_written: set[str] = set()
    for spec in positions:
        if spec.mode == "manage" and spec.account_name not in signers_written:  # one signer, several positions
            signers_written.add(spec.account_name)
            lines += [f"[signers.{spec.account_name}]", f'address = "{net.address(spec.account_name)}"',
                      f'key_env = "{key_env_of(spec.account_name)}"']
            if executors and spec.account_name in executors:
                lines.append(f'executor = "{executors[spec.account_name]}"')
            lines.append("")
    for spec in positions:
        lines += ["[[positions]]", f'name = "{spec.name}"', f'protocol = "{spec.protocol}"',
                  f'account = "{net.address(spec.account_name)}"', f'mode = "{spec.mode}"',
                  f'strategy = "{spec.strategy}"']
        if spec.mode == "manage":
            lines.append(f'signer = "{spec.account_name}"')
        lines += ["", "[positions.params]"]
        for key, value in spec.params.items():
            lines.append(f"{key} = {json.dumps(value)}")
        lines.append("")
    path.write_text("\n".join(lines))


def environ_for(net: Any, positions: tuple[DemoPosition, ...] = POSITIONS) -> dict[str, str]:
    """The manager process's environment: the devnet test keys of the managed accounts."""
    return {key_env_of(p.account_name): net.accounts[p.account_name][1] for p in positions if p.mode == "manage"}


# ------------------------------------------------------------------------------------------------
# running the manager in-process, paced by the scenario
# ------------------------------------------------------------------------------------------------
class PacedManager:
    """The real manager (scheduler + runtime) whose head reads wait while the scenario moves prices."""

    def __init__(self, manager: Any, *, poll_interval_s: float = 0.05) -> None:
        from manager.runtime.lifecycle import head_function
        from manager.runtime.scheduler import ManagerScheduler

        self.manager = manager
        self.gate = threading.Lock()
        head = head_function(manager)

        def gated_head() -> int:
            with self.gate:
                return head()

        self._head = head
        self.scheduler = ManagerScheduler(manager.runtime, gated_head, poll_interval_s=poll_interval_s,
                                          heartbeat_s=manager.cfg.runtime.heartbeat_s, dead_man_check_s=1.0)

    def start(self) -> PacedManager:
        self.scheduler.start()
        return self

    def stop(self) -> None:
        self.scheduler.shutdown()

    def wait_idle(self, timeout_s: float = 60.0) -> int:
        """Until the manager has ticked at the current head and nothing new arrived; returns that block."""
        runtime = self.manager.runtime
        deadline = time.monotonic() + timeout_s
        stable_since: float | None = None
        while time.monotonic() < deadline:
            if self.scheduler.fatal is not None:
                raise self.scheduler.fatal
            head = self._head()
            done = runtime.last_processed_block
            if done is not None and done >= head:
                stable_since = stable_since or time.monotonic()
                if time.monotonic() - stable_since >= 4 * self.scheduler.poll_interval_s:
                    return head
            else:
                stable_since = None
            time.sleep(0.02)
        raise TimeoutError(f"the manager did not catch up with the head within {timeout_s:.0f} s")


@dataclass
class StepRecord:
    step: int
    eth_usd: float
    block: int
    health: dict[str, float]
    moved_at: int = 0  # block of the price move


@dataclass
class DemoResult:
    state_dir: Path
    config_path: Path
    report_dir: Path | None
    steps: list[StepRecord] = field(default_factory=list)
    start_block: int = 0
    end_block: int = 0
    duration_s: float = 0.0
    liquidations: dict[str, int] = field(default_factory=dict)
    min_health: dict[str, float] = field(default_factory=dict)
    actions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    webhook_alerts: list[dict[str, Any]] = field(default_factory=list)
    slack_alerts: int = 0
    emails: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def crash_prices(start: float = START_ETH_USD, fraction: float = CRASH_FRACTION, steps: int = DEFAULT_STEPS) -> list[float]:
    """ETH prices of the crash: ``steps`` equal moves from ``start`` down by ``fraction``."""
    return [round(start * (1 - fraction * (i + 1) / steps), 2) for i in range(steps)]


def move_eth(net: Any, usd: float) -> None:
    """ETH and its liquid-staking token move together; every pool holding them is arbitraged."""
    ratio = net.oracle_price("wstETH") / net.oracle_price("WETH")
    net.set_price("WETH", usd)
    net.set_price("wstETH", round(usd * ratio, 2))
    net.mine(1)  # a quiet block after the move: the manager sees the new prices on two ticks


def run_demo(state_dir: Path, *, steps: int = DEFAULT_STEPS, fraction: float = CRASH_FRACTION,
             report: bool = True, alerts: bool = True, out: Any = print,
             after_step: Any = None) -> DemoResult:
    """The whole scenario (see the module docstring). ``after_step(i, ctx)`` is a hook for tests."""
    from manager.config import load_config
    from manager.devnet.net import Devnet
    from manager.runtime.lifecycle import build_manager

    from .servers import SmtpServer, WebhookServer, wait_until

    started = time.monotonic()
    state_dir = Path(state_dir).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    db_path = state_dir / "demo.sqlite"
    for stale in (db_path, db_path.with_name(db_path.name + "-wal"), db_path.with_name(db_path.name + "-shm")):
        stale.unlink(missing_ok=True)
    webhook = WebhookServer().start() if alerts else None
    smtp = SmtpServer().start() if alerts else None
    net = Devnet.start(time_mode="now", log_path=state_dir / "anvil.log")
    paced = None
    manager = None
    result = DemoResult(state_dir=state_dir, config_path=state_dir / "demo.toml", report_dir=None)
    try:
        out(f"devnet: {net.url} (real Aave V3, Uniswap V3, Morpho Blue, Synthetix PerpsV2), chain time = now")
        for spec in POSITIONS:
            open_position(net, spec)
        accounts = {p.name: net.address(p.account_name) for p in POSITIONS}
        managed = [p.name for p in POSITIONS if p.mode == "manage"]
        executors = demo_executors(net, POSITIONS)
        write_config(result.config_path, net, webhook_url=webhook.url if webhook else None,
                     smtp_port=smtp.port if smtp else None, db_url=f"sqlite:///{db_path}", executors=executors)
        out(f"executors (one flash-loan transaction per protective action): "
            f"{', '.join(f'{n} {a}' for n, a in sorted(executors.items())) or 'none'}")
        cfg = load_config(result.config_path)
        readers = health_readers(cfg, list(accounts))

        def health_now() -> dict[str, float]:
            return {n: readers[n](net.w3) if readers[n] else onchain_health(net, a) for n, a in accounts.items()}

        opened = health_now()
        out(f"positions opened: {', '.join(f'{p.name} ({p.role}, HF {opened[p.name]:.3f})' for p in POSITIONS)}")
        out(f"config: {result.config_path}")
        manager = build_manager(cfg, environ=environ_for(net))
        paced = PacedManager(manager, poll_interval_s=cfg.runtime.poll_interval_s).start()
        result.start_block = paced.wait_idle()
        record = StepRecord(0, net.oracle_price("WETH") / 1e8, result.start_block, health_now(), result.start_block)
        result.steps.append(record)
        for i, price in enumerate(crash_prices(net.oracle_price("WETH") / 1e8, fraction, steps), start=1):
            with paced.gate:
                move_eth(net, price)
                moved_at = net.w3.eth.block_number - 1
            block = paced.wait_idle()
            rec = StepRecord(i, price, block, health_now(), moved_at)
            result.steps.append(rec)
            out(f"step {i}/{steps}: ETH ${price:,.0f} block {block}  " +
                "  ".join(f"{n} {h:.3f}" for n, h in rec.health.items()))
            if after_step is not None:
                after_step(i, {"net": net, "paced": paced, "manager": manager, "result": result})
                manager = result.__dict__.get("_manager", manager)
                paced = result.__dict__.get("_paced", paced)
        paced.stop()
        result.end_block = net.w3.eth.block_number
        result.liquidations = liquidations(net, result.start_block, accounts)
        repo = manager.repo
        for name in accounts:
            series = repo.health_series(name, limit=100_000)
            chain_min = min(r.health.get(name, float("inf")) for r in result.steps)
            result.min_health[name] = min([s.health_factor for s in series] + [chain_min])
            result.actions[name] = [{"block": p.block_number, "action": p.action, "status": p.status}
                                    for p in reversed(repo.actions_for(name, limit=1000))]
        if alerts and webhook is not None and smtp is not None:
            wait_until(lambda: True, 0.3)
            result.webhook_alerts = [r.json for r in webhook.on("/hook")]
            result.slack_alerts = len(webhook.on("/slack"))
            result.emails = smtp.subjects()
        _check(result, managed)
        result.duration_s = time.monotonic() - started
        if report:
            from .report import write_report

            result.report_dir = write_report(result, repo, accounts, out=out)
        return result
    finally:
        if paced is not None:
            paced.stop()
        if manager is not None:
            manager.close()
        net.stop()
        if webhook:
            webhook.stop()
        if smtp:
            smtp.stop()


def _check(result: DemoResult, managed: list[str]) -> None:
    for name in managed:
        if result.liquidations.get(name):
            result.problems.append(f"{name} was liquidated ({result.liquidations[name]} LiquidationCall events)")
        if result.min_health.get(name, 0) < 1.0:
            result.problems.append(f"{name} health fell to {result.min_health[name]:.4f} < 1.0")
        if not any(a["status"] == "confirmed" for a in result.actions.get(name, [])):
            result.problems.append(f"{name} was never acted upon")
    dups = duplicate_alerts(result.webhook_alerts)
    if dups:
        result.problems.append(f"alerts delivered more than once in one episode: {dups}")


def duplicate_alerts(alerts: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(episode, transition, kind) delivered twice within one episode (an episode ends at its resolve)."""
    seen: dict[str, set[tuple[str, str]]] = {}
    dups = []
    for a in alerts:
        key = a["episode_key"]
        mark = (a["transition"], a["kind"])
        if mark in seen.setdefault(key, set()):
            dups.append((key, *mark))
        seen[key].add(mark)
        if a["transition"] in ("resolve", "event"):
            seen[key] = set() if a["transition"] == "resolve" else seen[key]
    return dups
