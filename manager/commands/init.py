"""``posman init``: write a commented config for your own account(s) on a real chain.

``posman init (--chain-id N | --rpc-url URL) --account 0x.. [--account label=0x..] --out FILE [--force]
[--market NAME|all] [--addresses FILE] [--json]``

The known addresses of the chain (Aave V3 markets, Morpho Blue, Uniswap V3, Multicall3) come from
``manager/data/addresses.json`` (generated from pinned npm packages, see ``manager.data.gen_addresses``)
or from ``--addresses`` (a file of the same format, or a devnet's ``devnet.json``). Every account is
written as a watched position (``mode = "watch"``, ``alert_only``) on the chosen Aave market(s); what it
takes to manage one (a signer, a strategy) is written next to it as comments. The Uniswap router is written with
its ``router_kind``: ``"swap_router02"`` for the table's SwapRouter02 (sdk-core lists no other router),
``"swap_router"`` for an original SwapRouter (a devnet's ``devnet.json``).

With an RPC URL, init then checks what ``posman status`` checks (the node's chain id, code at every
configured contract, which router kind the swap venue's ``swap_router`` is (the venue adapter's
``describe_router``: it must be a SwapRouter or SwapRouter02 of the configured factory, and agree with
``router_kind``), every position read at one block), adds a ``[[pools]]`` entry for the deepest
Uniswap V3 pool of every collateral/debt pair the positions hold, and says what is missing (no signer,
no pool for a collateral, no multicall, a contract that does not answer). The written file is loaded
with the config loader before init returns, so it is accepted unchanged.

What is written per protocol comes from its adapter (``init_markets`` / ``init_market`` for the markets that can
be picked, ``init_lines`` for the rest, ``init_multicall``), in registry order.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_RPC_URL = "http://127.0.0.1:8545"


def register(sub: Any) -> None:
    p = sub.add_parser("init", help="write a commented config for your own account(s) on a real chain")
    p.add_argument("--chain-id", type=int, default=None, help="EIP-155 chain id (default: asked from --rpc-url)")
    p.add_argument("--rpc-url", action="append", default=[], metavar="URL",
                   help="JSON-RPC endpoint (repeat for failover); with it init checks the chain and the contracts")
    p.add_argument("--account", action="append", default=[], metavar="[LABEL=]0xADDRESS", required=True,
                   help="an account of yours to watch (repeat for several)")
    p.add_argument("--out", type=Path, required=True, help="config file to write")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p.add_argument("--market", action="append", default=[], metavar="NAME",
                   help="Aave V3 market(s) to watch, e.g. AaveV3EthereumLido, or 'all' (default: the chain's main market)")
    p.add_argument("--addresses", type=Path, default=None,
                   help="address table to use instead of the shipped one (same format, or a devnet.json)")
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")
    p.set_defaults(func=run)


@dataclass
class Account:
    label: str
    address: str


@dataclass
class InitReport:
    """What init wrote and found (``--json`` prints it)."""

    out: str
    chain_id: int
    chain: str
    positions: list[str]
    checked: bool = False
    missing: list[str] = field(default_factory=list)
    ok: list[str] = field(default_factory=list)
    status: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"out": self.out, "chain_id": self.chain_id, "chain": self.chain, "positions": self.positions,
                "checked": self.checked, "ok": self.ok, "missing": self.missing, "status": self.status}


# ------------------------------------------------------------------------------------------------
# arguments
# ------------------------------------------------------------------------------------------------
def parse_accounts(values: list[str]) -> list[Account]:
    """``--account`` values -> accounts with unique labels (default label: the address's first 6 hex digits)."""
    from eth_utils import is_address, to_checksum_address

    from manager.errors import ConfigError

    out: list[Account] = []
    for raw in values:
        label, sep, addr = raw.partition("=")
        if not sep:
            label, addr = "", raw
        addr = addr.strip()
        if not is_address(addr) or not addr.startswith("0x"):
            raise ConfigError(f"--account {raw!r}: not an address (expected 0x + 40 hex digits, or LABEL=0x...)",
                              field="account", value=raw)
        label = label.strip() or addr[2:8].lower()
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,40}", label):
            raise ConfigError(f"--account {raw!r}: label {label!r} must be letters, digits, '_', '-', '.' "
                              "(at most 41, starting with a letter or digit)", field="account", value=raw)
        checksummed = to_checksum_address(addr)
        if any(a.address == checksummed for a in out):
            raise ConfigError(f"--account {addr} is given twice", field="account", value=raw)
        if any(a.label == label for a in out):
            raise ConfigError(f"--account label {label!r} is used twice", field="account", value=raw)
        out.append(Account(label, checksummed))
    return out


def _market_adapters() -> list[Any]:
    """The adapters whose markets ``--market`` picks from (``init_markets``), in registry order."""
    from manager.protocols import registry
    from manager.protocols.base import ProtocolAdapter

    return [a for a in registry.adapters() if type(a).init_markets is not ProtocolAdapter.init_markets]


def _markets_of(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """Every pickable market of the chain, each tagged with its adapter's kind (``"_kind"``)."""
    return [{**m, "_kind": a.kind} for a in _market_adapters() for m in a.init_markets(entry)]


def pick_markets(entry: dict[str, Any], wanted: list[str]) -> list[dict[str, Any]]:
    """The chain's markets to watch: ``wanted`` names, 'all', or the main (first) market."""
    from manager.errors import ConfigError

    markets = _markets_of(entry)
    if not wanted:
        return markets[:1]
    if "all" in wanted:
        return list(markets)
    by_name = {m["market"].lower(): m for m in markets}
    out = []
    for name in wanted:
        if name.lower() not in by_name:
            known = ", ".join(m["market"] for m in markets) or "none"
            titles = "/".join(a.title for a in _market_adapters())
            raise ConfigError(f"--market {name!r}: no such {titles} market on chain {entry['chain_id']} "
                              f"(known: {known})", field="market", value=name)
        out.append(by_name[name.lower()])
    return out


def protocol_name(market: str) -> str:
    """``AaveV3EthereumLido`` -> ``aave-v3-ethereum-lido`` (a [[protocols]] name)."""
    from manager.protocols.common import kebab

    return kebab(market)


# ------------------------------------------------------------------------------------------------
# the config text
# ------------------------------------------------------------------------------------------------
def render_config(
    entry: dict[str, Any],
    accounts: list[Account],
    markets: list[dict[str, Any]],
    *,
    rpc_urls: list[str],
    sources: dict[str, str],
    pools: list[tuple[str, str, str, int]] | None = None,
    today: str | None = None,
) -> str:
    """The config file text. ``pools``: (protocol, token_in symbol, token_out symbol, fee_pips) to watch."""
    from manager.protocols import registry

    chain = entry["name"]
    src = ", ".join(f"{k} {v}" for k, v in sorted(sources.items()))
    today = today or dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    urls = rpc_urls or [DEFAULT_RPC_URL]
    L: list[str] = [
        f"# posman config for {entry.get('title', chain)} (chain id {entry['chain_id']}), written by 'posman init' "
        f"on {today}.",
        f"# Contract addresses: posman's address table, generated from {src}.",
        "# Every key is documented in configs/example.toml. Check it with: posman status --config THIS_FILE",
        "# Secrets never go in this file: keys come from environment variables or an encrypted keystore.",
        "version = 1",
        "",
        "[storage]",
        "# History database, next to this file. A dry run (posman run --dry-run) keeps its own",
        "# posman-dryrun.sqlite next to it, so a dry run never mixes with real history.",
        'url = "sqlite:///posman.sqlite"',
        "",
        f"[chains.{chain}]",
        f"chain_id = {entry['chain_id']}",
    ]
    if not rpc_urls:
        L.append("# Replace with your own node(s) (several for failover); the chain id is checked on connect.")
    L.append("rpc_urls = [" + ", ".join(json.dumps(u) for u in urls) + "]")
    if entry.get("multicall3"):
        L += ["# Multicall3 (from viem's chain definitions): every read of a tick is one block, batched.",
              f'multicall = "{entry["multicall3"]}"', 'multicall_kind = "multicall3"']
    elif (other := next((m for a in registry.adapters() if (m := a.init_multicall(entry))), None)) is not None:
        L += [other[1], f'multicall = "{other[0]}"', 'multicall_kind = "uniswap_interface"']
    else:
        L += ["# NO multicall is known for this chain: posman reads through one. Deploy Multicall3 with",
              "# 'posman multicall deploy --rpc-url URL --key-env VAR' and put its address here",
              "# (with multicall_kind = \"multicall3\"). Until then the default address below will not answer.",
              '# multicall = "0x..."']
    L.append("")
    # NOTE: each protocol's lines in registry order: its picked markets' entries, then its other lines
    fallback = (_market_adapters() or [None])[0]
    parts: list[tuple[Any, Any]] = []  # (market, InitPart) of every picked market
    for a in registry.adapters():
        for m in markets:
            if m.get("_kind", fallback.kind if fallback is not None else None) == a.kind:
                part = a.init_market(m, chain)
                parts.append((m, part))
                L += part.lines
        L += a.init_lines(entry, chain)
    L += ["[oracles]", "default_heartbeat_s = 86400", "max_deviation_bps = 300", "twap_window_s = 300", ""]
    for proto, a, b, fee in pools or []:
        L += ["[[pools]]", f'protocol = "{proto}"', f'token_in = "{a}"', f'token_out = "{b}"', f"fee_pips = {fee}",
              "depth_bps = [10, 50, 100, 300]", ""]
    L += ["[limits]", "# Caps every plan must respect (see configs/example.toml).", "per_tx_usd = 100000",
          "per_day_usd = 500000", "max_slippage_bps = 100", ""]
    for acc in accounts:
        L += [
            f"# To let posman act for {acc.address}, uncomment this signer, export the key in the",
            "# variable it names (never in this file), and set mode/signer/strategy on its position below.",
            f"# [signers.{acc.label}]",
            f"# address = \"{acc.address}\"",
            f"# key_env = \"POSMAN_KEY_{acc.label.upper().replace('-', '_').replace('.', '_')}\"",
            "",
        ]
    for acc in accounts:
        for proto_name, suffix in [pp for _m, part in parts for pp in part.position_protocols]:
            L += [
                "[[positions]]",
                f'name = "{acc.label}-{suffix}"',
                f'protocol = "{proto_name}"',
                f'account = "{acc.address}"',
                'mode = "watch"',
                'strategy = "alert_only"',
                "# To manage it: mode = \"manage\", signer = \"" + acc.label + "\", strategy = \"cdp_health\" and",
                "# [positions.params] target_health = 1.6, trigger_health = 1.35 (see the README's strategies).",
                "",
            ]
    if not markets:
        titles = "/".join(a.title for a in _market_adapters())
        L += [f"# No {titles} market is known on this chain: add a [[protocols]] entry and [[positions]] by hand.", ""]
    return "\n".join(L)


# ------------------------------------------------------------------------------------------------
# checks against the chain
# ------------------------------------------------------------------------------------------------
def chain_id_of(url: str, timeout_s: float = 10.0) -> int:
    """``eth_chainId`` of the node at ``url`` (``ChainError`` naming the masked URL when it does not answer)."""
    import urllib.request

    from manager.config.schema import mask_url
    from manager.errors import ChainError

    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            answer = json.loads(resp.read())
        return int(answer["result"], 16)
    except Exception as exc:
        raise ChainError(f"--rpc-url {mask_url(url)} did not answer eth_chainId: {type(exc).__name__}: "
                         f"{' '.join(str(exc).split())[:200]}") from None


def find_pools(client: Any, factory: str, pairs: set[tuple[str, str, str, str]], block: int) -> dict[tuple[str, str], int]:
    """For every (token_in, token_out, symbol_in, symbol_out): the fee tier of the pool with the most
    in-range liquidity at ``block`` ((symbol_in, symbol_out) -> fee_pips); pairs without a pool are left out
    (the swap venue adapter's ``find_pools``)."""
    from manager.protocols import registry

    found: dict[tuple[str, str], int] = registry.venue().find_pools(client, factory, pairs, block)
    return found


def check_chain(cfg: Any, report: InitReport) -> tuple[Any, dict[tuple[str, str], int]]:
    """What ``posman status`` checks, on the parsed config: chain id, code at every contract, one read.

    Returns the tick (or None) and the pools found per (collateral symbol, debt symbol)."""
    from manager.chain.client import ChainClient
    from manager.errors import PosmanError
    from manager.protocols import registry
    from manager.status import status_rows
    from manager.watchers.tick import TickReader

    chain_name = next(iter(cfg.chains))
    chain = cfg.chains[chain_name]
    client = ChainClient.from_config(cfg, chain_name).connect()  # checks the chain id
    report.ok.append(f"chain id {chain.chain_id} answered by the node")
    block = client.block_number()
    contracts = [("multicall", chain.multicall)]
    for proto in cfg.protocols:
        contracts += [(f"{proto.name}.{k}", v) for k, v in proto if isinstance(v, str) and v.startswith("0x")
                      and k not in ("name", "chain", "kind", "market_id")]
    dead = []
    for what, addr in contracts:
        if client.get_code(addr, block):
            report.ok.append(f"{what} {addr} is a contract")
        else:
            dead.append(what)
            hint = (" - a private chain needs a multicall: 'posman multicall deploy'" if what == "multicall" else "")
            report.missing.append(f"{what} {addr}: no code at block {block}{hint}")
    uni = _venue_entry(cfg)
    if uni is not None and f"{uni.name}.swap_router" not in dead:  # which router kind it is (posman run checks too)
        try:
            described = registry.adapter_of(uni).describe_router(client, uni, block)
            report.ok.append(f"{uni.name}.swap_router {uni.swap_router} is a {described}")
        except PosmanError as exc:
            report.missing.append(f"{uni.name}.swap_router: {exc} - managed positions cannot swap")
    required = {f"{p.name}.{f}" for p in cfg.protocols for f in registry.adapter_of(p).read_required_fields}
    if any(d == "multicall" or d in required for d in dead):
        return None, {}
    try:
        tick = TickReader(cfg, clients={chain_name: client}).read(time.time(), block_number=block)
    except PosmanError as exc:
        report.missing.append(f"positions could not be read: {exc}")
        return None, {}
    report.status = status_rows(tick)
    for name, err in tick.errors.items():
        report.missing.append(f"position {name}: read failed: {err}")
    for row in report.status:
        report.ok.append(f"position {row['name']}: read at block {row['block_number']}")
        if not row["collateral_usd"] and not row["debt_usd"]:
            report.missing.append(f"position {row['name']}: the account has no collateral and no debt in this market")
    pairs: set[tuple[str, str, str, str]] = set()
    lending = [s for s in tick.snapshots.values() if hasattr(s, "assets")]  # positions holding reserves
    for snap in lending:
        colls = [a for a in snap.assets if a.collateral_wei > 0 and a.collateral_enabled]
        debts = [a for a in snap.assets if a.variable_debt_wei + a.stable_debt_wei > 0]
        pairs |= {(c.asset, d.asset, c.symbol, d.symbol) for c in colls for d in debts if c.asset != d.asset}
    found = find_pools(client, uni.factory, pairs, block) if uni is not None and pairs else {}
    for snap in lending:
        colls = [a for a in snap.assets if a.collateral_wei > 0 and a.collateral_enabled]
        debts = [a for a in snap.assets if a.variable_debt_wei + a.stable_debt_wei > 0]
        for c in colls:
            missing = [d.symbol for d in debts if d.asset != c.asset and (c.symbol, d.symbol) not in found]
            if missing:
                report.missing.append(
                    f"position {snap.name}: no Uniswap V3 pool from collateral {c.symbol} to {', '.join(missing)}: a "
                    f"deleverage cannot sell it; put the collateral that has a pool first in collateral_order")
    return tick, found


def _venue_entry(cfg: Any) -> Any:
    """The config's first swap venue entry (None without one)."""
    from manager.protocols import registry

    return next((p for p in cfg.protocols if registry.adapter_of(p).family == "venue"), None)


# ------------------------------------------------------------------------------------------------
# the command
# ------------------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> int:
    from manager.config import load_config, parse_config
    from manager.data import chain_entry, load_table
    from manager.errors import ConfigError, PosmanError

    accounts = parse_accounts(args.account)
    for url in args.rpc_url:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"--rpc-url must start with http:// or https://, got {url[:40]!r}", field="rpc_url")
    out: Path = args.out
    if out.exists() and not args.force:
        raise ConfigError(f"{out} exists; pass --force to overwrite it", file=str(out))
    chain_id = args.chain_id
    if args.rpc_url:
        node_id = chain_id_of(args.rpc_url[0])
        if chain_id is not None and node_id != chain_id:
            raise ConfigError(f"--chain-id {chain_id} but the node at --rpc-url answers chain id {node_id}",
                              field="chain_id", value=chain_id)
        chain_id = node_id
    if chain_id is None:
        raise ConfigError("give --chain-id N or --rpc-url URL (the chain id is asked from the node)", field="chain_id")
    table = load_table(args.addresses)
    entry = chain_entry(table, chain_id)
    if entry is None:
        known = ", ".join(f"{c['chain_id']} ({c['name']})" for c in sorted(table["chains"].values(),
                                                                            key=lambda c: int(c["chain_id"])))
        raise ConfigError(f"chain id {chain_id} is not in the address table; known: {known}. For another chain "
                          "(a private one) pass --addresses FILE", field="chain_id", value=chain_id)
    markets = pick_markets(entry, args.market)
    sources = table.get("sources", {})
    text = render_config(entry, accounts, markets, rpc_urls=args.rpc_url, sources=sources)
    cfg = parse_config(text, source=str(out), base_dir=out.resolve().parent)  # refuse to write a broken file
    report = InitReport(out=str(out), chain_id=chain_id, chain=entry["name"], positions=[p.name for p in cfg.positions])
    if args.rpc_url and cfg.positions:
        report.checked = True
        try:
            _tick, found = check_chain(cfg, report)
        except PosmanError as exc:
            report.missing.append(f"chain check failed: {exc}")
            found = {}
        if found:
            uni = _venue_entry(cfg)
            assert uni is not None  # pools were found through it
            pools = [(uni.name, a, b, fee) for (a, b), fee in sorted(found.items())]
            text = render_config(entry, accounts, markets, rpc_urls=args.rpc_url, sources=sources, pools=pools)
            report.ok += [f"pool {a}->{b} fee {fee} pips watched" for _p, a, b, fee in pools]
    report.missing.append("no signer: every position is watch-only (uncomment a [signers.*] and set mode = "
                          "\"manage\" to let posman act)")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    load_config(out)  # the file as written is accepted unchanged
    if args.json:
        print(json.dumps(report.as_json(), indent=2, default=str))
        return 0
    print(f"wrote {out}: chain {entry['name']} (id {chain_id}), {len(cfg.positions)} watched position(s): "
          f"{', '.join(report.positions) or 'none'}")
    if report.checked:
        for line in report.ok:
            print(f"  ok       {line}")
    else:
        print("  not checked against a node (no --rpc-url); check with: posman status --config " + str(out))
    for line in report.missing:
        print(f"  missing  {line}")
    sys.stdout.flush()
    return 0
