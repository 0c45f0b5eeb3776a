"""The crash-scenario harness: managed positions on the devnet (real Aave V3, Morpho Blue, Uniswap V3 and
posman's executor contracts) driven through the manager's real loop (``Runtime.tick``), one tick per block.

``Harness`` writes the config (every managed signer with its executor, ``[signers.X] executor``), opens the
positions, moves prices, drains pools, and records each position's on-chain health at EVERY block (historical
``getUserAccountData`` / Morpho reads at that block), the transactions each signer sent and in which block, so
a scenario can assert: nobody above 1.0 after the shock becomes liquidatable, every position whose target the
pools allow is at target +-0.5% within 2 blocks of crossing its trigger, posman's own transactions never lower a
position's health, one transaction per protective action on the atomic path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from manager.config import load_config
from manager.demo.scenario import DemoPosition, environ_for, key_env_of, open_position, write_config
from manager.devnet.executor import deploy_executor, grant_executor
from manager.runtime.lifecycle import build_manager

WAD = 10**18
TRIGGER, TARGET = 1.3, 1.5


def cdp(name: str, account: str, supplies=(), borrows=(), protocol: str = "aave", **params: Any) -> DemoPosition:
    p = {"trigger_health": TRIGGER, "target_health": TARGET, "cooldown_s": 0, "use_wallet_funds": "none"}
    p.update(params)
    return DemoPosition(name, account, "manage", "cdp_health", p, tuple(supplies), tuple(borrows), "crash",
                        protocol=protocol)


@dataclass
class Record:
    block: int
    health: dict[str, float]
    tick: Any = None


@dataclass
class Harness:
    net: Any
    tmp: Path
    specs: tuple[DemoPosition, ...]
    executors: bool = True
    drop_pools: tuple[str, ...] = ()  # "A/B" pairs left out of [[pools]] (no configured direct pool)
    extra_pools: tuple[tuple[str, str, int], ...] = ()
    heartbeats_s: dict[str, int] = field(default_factory=dict)
    open_positions: bool = True
    records: list[Record] = field(default_factory=list)
    pre: list[dict[str, float]] = field(default_factory=list)  # health at the head before each tick
    manager: Any = None

    def __post_init__(self) -> None:
        if self.open_positions:
            for spec in self.specs:
                if spec.supplies or spec.borrows:
                    open_position(self.net, spec)
        self.executor_of: dict[str, str] = {}
        if self.executors:
            for spec in self.specs:
                owner = self.net.address(spec.account_name)
                if owner not in self.executor_of:
                    self.executor_of[owner] = self.net.book["executors"].get(owner) or deploy_executor(self.net, owner)
                grant_executor(self.net, owner, self.executor_of[owner])
        path = self.tmp / "posman.toml"
        write_config(path, self.net, webhook_url=None, smtp_port=None,
                     db_url=f"sqlite:///{self.tmp / 'db.sqlite'}", positions=self.specs)
        text = path.read_text()
        for spec in self.specs:  # one [signers.X] table per signer, however many positions it manages
            block = (f'[signers.{spec.account_name}]\naddress = "{self.net.address(spec.account_name)}"\n'
                     f'key_env = "{key_env_of(spec.account_name)}"\n\n')
            first = text.find(block)
            if first >= 0:
                text = text[:first + len(block)] + text[first + len(block):].replace(block, "")
        if self.executors:
            for spec in {s.account_name: s for s in self.specs}.values():
                owner = self.net.address(spec.account_name)
                line = f'key_env = "{key_env_of(spec.account_name)}"'
                text = text.replace(line, f'{line}\nexecutor = "{self.executor_of[owner]}"', 1)
        for pair in self.drop_pools:
            a, b = pair.split("/")
            for x, y in ((a, b), (b, a)):
                for fee in (100, 500, 3000, 10000):
                    block = (f'[[pools]]\nprotocol = "uniswap"\ntoken_in = "{x}"\ntoken_out = "{y}"\n'
                             f'fee_pips = {fee}\ndepth_bps = [10, 50, 100, 300]\n')
                    text = text.replace(block, "")
        extra = "".join(f'[[pools]]\nprotocol = "uniswap"\ntoken_in = "{a}"\ntoken_out = "{b}"\nfee_pips = {fee}\n'
                        f'depth_bps = [10, 50, 100, 300]\n\n' for a, b, fee in self.extra_pools)
        if extra:
            text = text.replace("[[pools]]", extra + "[[pools]]", 1)
        if self.heartbeats_s:
            hb = "\n".join(f"{k} = {v}" for k, v in self.heartbeats_s.items())
            text = text.replace("twap_window_s = 0\n", f"twap_window_s = 0\n\n[oracles.heartbeats_s]\n{hb}\n", 1)
        path.write_text(text)
        self.cfg = load_config(path)
        self.manager = build_manager(self.cfg, environ=environ_for(self.net, self.specs))
        self.names = [s.name for s in self.specs]
        self.accounts = {s.name: self.net.address(s.account_name) for s in self.specs}
        self.start_block = int(self.net.w3.eth.block_number)
        # NOTE: mining off: what one tick sends lands in ONE block (as on a real chain), mined by ``tick``.
        self.net.node.call("evm_setAutomine", [False])

    def close(self) -> None:
        self.net.node.call("evm_setAutomine", [True])
        if self.manager is not None:
            self.manager.close()

    # --- chain --------------------------------------------------------------------------------
    def health_at(self, name: str, block: int | str = "latest") -> float:
        spec = next(s for s in self.specs if s.name == name)
        account = self.accounts[name]
        if spec.protocol.startswith("morpho"):
            return morpho_health(self.net, self.cfg, spec.protocol, account, block)
        pool = self.net.contract("aave_v3/Pool", self.net.book["aave"]["pool"])
        hf = pool.functions.getUserAccountData(account).call(block_identifier=block)[5]
        return math.inf if hf >= 2**255 else hf / WAD

    def healths(self, block: int | str = "latest") -> dict[str, float]:
        """Every position's on-chain health at ``block`` (the Aave ones in one multicall)."""
        from manager.chain.multicall import Call, execute

        b = int(self.net.w3.eth.block_number) if block == "latest" else int(block)
        aave = [s.name for s in self.specs if not s.protocol.startswith("morpho")]
        pool = self.net.book["aave"]["pool"]
        calls = [Call.build(pool, "getUserAccountData(address)", (self.accounts[n],),
                            ("uint256", "uint256", "uint256", "uint256", "uint256", "uint256")) for n in aave]
        out = {}
        for n, res in zip(aave, execute(self._client(), calls, b), strict=True):
            hf = int(res.unwrap()[5])
            out[n] = math.inf if hf >= 2**255 else hf / WAD
        for n in self.names:
            if n not in out:
                out[n] = self.health_at(n, b)
        return out

    def _client(self) -> Any:
        from manager.chain.client import ChainClient

        key = (id(self.cfg), "devnet")
        if key not in _CLIENTS:
            _CLIENTS.clear()
            _CLIENTS[key] = ChainClient.from_config(self.cfg, next(iter(self.cfg.chains))).connect()
        return _CLIENTS[key]

    def tick(self) -> Any:
        """One tick of the real loop at the head, then tracking settles what it sent (automine: mined at once)."""
        pre = self.healths()
        report = self.manager.runtime.tick()
        self.net.mine()
        self.manager.runtime.track_pending()
        block = int(self.net.w3.eth.block_number)
        self.pre.append(pre)
        self.records.append(Record(block=block, health=self.healths(block), tick=report))
        return report

    # --- what happened ------------------------------------------------------------------------
    def sent_txs(self, since_block: int) -> dict[str, list[tuple[int, str]]]:
        """Per position's account: (block, tx hash) of every transaction it sent since ``since_block``."""
        w3 = self.net.w3
        by_account = {a.lower(): n for n, a in self.accounts.items()}
        out: dict[str, list[tuple[int, str]]] = {n: [] for n in self.names}
        for b in range(since_block + 1, int(w3.eth.block_number) + 1):
            for tx in w3.eth.get_block(b, full_transactions=True)["transactions"]:
                sender = tx["from"].lower()
                if sender in by_account:
                    for n, a in self.accounts.items():
                        if a.lower() == sender:
                            out[n].append((b, tx["hash"].hex()))
        return out

    def health_series(self, name: str, since_block: int) -> list[tuple[int, float]]:
        return [(b, self.health_at(name, b)) for b in range(since_block, int(self.net.w3.eth.block_number) + 1)]


_CLIENTS: dict[tuple[int, str], Any] = {}  # one client per harness config (reads at every block are many)


def morpho_health(net: Any, cfg: Any, protocol: str, account: str, block: int | str) -> float:
    from manager.chain.client import ChainClient
    from manager.protocols.morpho_blue.reads import PositionRef, read_snapshots

    proto = cfg.protocol(protocol)
    key = (id(cfg), proto.chain)
    if key not in _CLIENTS:
        _CLIENTS.clear()
        _CLIENTS[key] = ChainClient.from_config(cfg, proto.chain).connect()
    client = _CLIENTS[key]
    b = int(net.w3.eth.block_number) if block == "latest" else int(block)
    ts = int(net.w3.eth.get_block(b)["timestamp"])
    snaps, errors = read_snapshots(client, proto.morpho, [PositionRef(name="h", account=account,
                                                                      market_id=proto.market_id)], b, block_timestamp=ts)
    assert not errors, errors
    return snaps[0].health_factor()


def drain_pool(net: Any, key: str, keep: float) -> None:
    """Remove ``1 - keep`` of the deployer's liquidity from the pool ``key`` ("WETH/USDC/500")."""
    npm = net.contract("uniswap_v3/NonfungiblePositionManager", net.book["uniswap"]["position_manager"])
    a, b, fee = key.split("/")
    t = net.book["tokens"]
    pair = {t[a].lower(), t[b].lower()}
    admin = net.address("deployer")
    n = npm.functions.balanceOf(admin).call()
    for i in range(n):
        token_id = npm.functions.tokenOfOwnerByIndex(admin, i).call()
        pos = npm.functions.positions(token_id).call()
        if {pos[2].lower(), pos[3].lower()} != pair or int(pos[4]) != int(fee) or pos[7] == 0:
            continue
        cut = int(pos[7] * (1 - keep))
        net.transact(npm.functions.decreaseLiquidity((token_id, cut, 0, 0, 2**40)), sender=admin)


def add_pool(net: Any, a: str, b: str, fee: int, usd: float, width: float = 0.05) -> str:
    """A second fee tier for the pair, with ``usd`` of liquidity within +-``width`` of the oracle price."""
    from manager.devnet import market as M
    from manager.devnet.deploy import TICK_SPACING, sqrt_price_x96, token_units

    t, dec = net.book["tokens"], net.book["decimals"]
    price = {s.symbol: net.oracle_price(s.symbol) / 1e8 for s in M.ASSETS}
    s0, s1 = (a, b) if int(t[a], 16) < int(t[b], 16) else (b, a)
    npm = net.contract("uniswap_v3/NonfungiblePositionManager", net.book["uniswap"]["position_manager"])
    sqrt_p = sqrt_price_x96(price[s0], price[s1], dec[s0], dec[s1])
    admin = net.address("deployer")
    net.transact(npm.functions.createAndInitializePoolIfNecessary(t[s0], t[s1], fee, sqrt_p), sender=admin)
    spacing = TICK_SPACING[fee]
    center = int(math.log((sqrt_p / 2**96) ** 2) / math.log(1.0001))
    half = max(spacing, int(math.log(1 + width) / math.log(1.0001)))
    lo, hi = ((center - half) // spacing) * spacing, (-(-(center + half) // spacing)) * spacing
    amt0, amt1 = token_units(usd / 2 / price[s0], dec[s0]), token_units(usd / 2 / price[s1], dec[s1])
    net.transact(npm.functions.mint((t[s0], t[s1], fee, lo, hi, amt0, amt1, 0, 0, admin, 2**40)), sender=admin)
    factory = net.contract("uniswap_v3/UniswapV3Factory", net.book["uniswap"]["factory"])
    return factory.functions.getPool(t[s0], t[s1], fee).call()


# NOTE: the devnet's widest pool layer spans +-60% (log): a -40% gap moves WETH out of every pool's range.
# Real pools keep passive wide-range liquidity; these scenarios add some (+-150%) before the shock.
WIDE = (("WETH", "USDC", 500, 40_000_000), ("WETH", "DAI", 500, 20_000_000), ("wstETH", "USDC", 3000, 20_000_000),
        ("WBTC", "WETH", 3000, 5_000_000), ("wstETH", "WETH", 100, 10_000_000), ("LINK", "DAI", 3000, 5_000_000),
        ("LINK", "WETH", 3000, 5_000_000))


def wide_liquidity(net: Any, pools: tuple[tuple[str, str, int, float], ...] = WIDE) -> None:
    for a, b, fee, usd in pools:
        add_pool(net, a, b, fee, usd=usd, width=1.5)


def align(net: Any, a: str, b: str, fee: int) -> None:
    """Arbitrage a pool the devnet book does not list (``add_pool``) to the oracle price, like ``net.align_pool``."""
    from manager.devnet.deploy import sqrt_price_x96

    t, dec = net.book["tokens"], net.book["decimals"]
    factory = net.contract("uniswap_v3/UniswapV3Factory", net.book["uniswap"]["factory"])
    pool = net.contract("uniswap_v3/UniswapV3Pool", factory.functions.getPool(t[a], t[b], fee).call())
    s0, s1 = (a, b) if pool.functions.token0().call() == t[a] else (b, a)
    target = sqrt_price_x96(net.oracle_price(s0) / 1e8, net.oracle_price(s1) / 1e8, dec[s0], dec[s1])
    current = pool.functions.slot0().call()[0]
    if current == target:
        return
    router = net.contract("uniswap_v3/SwapRouter", net.book["uniswap"]["router"])
    tin, tout = (s0, s1) if target < current else (s1, s0)
    net.transact(router.functions.exactInputSingle((t[tin], t[tout], fee, net.address("deployer"), 2**40, 10**40, 0,
                                                    target)))
