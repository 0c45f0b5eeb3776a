"""``posman devnet up|down|price``: a local chain with the real protocols, for the demo and for trying things.

``up`` starts anvil in the background (its own process group, survives this command), loads (or
deploys, the first time) the cached Aave V3 + Uniswap V3 state, moves the chain to the wall clock,
refreshes the feeds, and writes ``DIR/devnet.json`` (addresses, accounts) and ``DIR/devnet.toml`` (a
config for the manager that watches the seeded positions). ``down`` stops it. ``price`` moves one
asset's Chainlink feed (the Aave oracle reads it) and arbitrages the asset's Uniswap pools to it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path
from typing import Any

from manager.errors import DevnetError

DEVNET_JSON = "devnet.json"
DEVNET_TOML = "devnet.toml"


def register(sub: Any) -> None:
    p = sub.add_parser("devnet", help="local chain with the real Aave V3, Uniswap V3, Morpho Blue and Synthetix contracts")
    dsub = p.add_subparsers(dest="devnet_command", metavar="ACTION", required=True, parser_class=type(p))

    up = dsub.add_parser("up", help="start the devnet in the background and write DIR/devnet.{json,toml}")
    up.add_argument("--state-dir", required=True, type=Path, help="directory for devnet.json, devnet.toml, logs")
    up.add_argument("--port", type=int, default=None, help="loopback port (default: a free one)")
    up.add_argument("--block-time", type=int, default=1,
                    help="seconds between blocks (interval mining); 0 = mine only on transactions")
    up.add_argument("--rebuild", action="store_true", help="redeploy instead of loading the cached state")
    up.set_defaults(func=cmd_up)

    down = dsub.add_parser("down", help="stop the devnet started with 'up'")
    down.add_argument("--state-dir", required=True, type=Path)
    down.set_defaults(func=cmd_down)

    price = dsub.add_parser("price", help="move SYMBOL's Chainlink feed to USD (Aave's oracle follows)")
    price.add_argument("--state-dir", required=True, type=Path)
    price.add_argument("symbol")
    price.add_argument("usd", type=_positive_float)
    price.add_argument("--no-arbitrage", action="store_true", help="leave the Uniswap pools where they are")
    price.set_defaults(func=cmd_price)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"USD price must be a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"USD price must be a positive finite number, got {text!r}")
    return value


def cmd_up(args: argparse.Namespace) -> int:
    from manager.devnet.anvil import port_is_free
    from manager.devnet.net import Devnet

    state_dir: Path = args.state_dir
    state_dir.mkdir(parents=True, exist_ok=True)
    info_path = state_dir / DEVNET_JSON
    if info_path.is_file():
        old = json.loads(info_path.read_text())
        pid = old.get("anvil", {}).get("pid")
        if pid and _alive(pid):
            raise DevnetError(
                f"a devnet is already running for {state_dir} (pid {pid}, {old.get('rpc_url')}); "
                f"run 'posman devnet down --state-dir {state_dir}' first"
            )
    if args.port is not None:
        if not 1024 <= args.port <= 65535:
            raise DevnetError(f"--port must be between 1024 and 65535, got {args.port}")
        if not port_is_free(args.port):
            raise DevnetError(f"port {args.port} on 127.0.0.1 is taken; choose another --port or omit it")
    net = Devnet.start(
        port=args.port,
        time_mode="now",
        block_time_s=args.block_time or None,
        detach=True,
        log_path=state_dir / "anvil.log",
        rebuild=args.rebuild,
    )
    info = net.info()
    info["block_time_s"] = args.block_time
    info_path.write_text(json.dumps(info, indent=2) + "\n")
    (state_dir / DEVNET_TOML).write_text(render_config(info, state_dir))
    os.chmod(info_path, 0o600)  # it holds the (public, well-known) devnet test keys
    print(f"devnet up: {info['rpc_url']} (chain id {info['chain_id']}, pid {info['anvil']['pid']})")
    print(f"  addresses and accounts: {info_path}")
    print(f"  manager config:         {state_dir / DEVNET_TOML}")
    if info.get("executors"):
        print(f"  atomic executors:       {len(info['executors'])} (devnet.json \"executors\", granted)")
    print(f"  stop with:              posman devnet down --state-dir {state_dir}")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from manager.devnet.anvil import stop_pid

    info = load_info(args.state_dir)
    pid = info.get("anvil", {}).get("pid")
    if not pid or not stop_pid(int(pid)):
        print(f"devnet for {args.state_dir} was not running")
        return 0
    print(f"devnet down (pid {pid})")
    return 0


def cmd_price(args: argparse.Namespace) -> int:
    info = load_info(args.state_dir)
    symbol = args.symbol
    if symbol not in info["feeds"]:
        known = ", ".join(sorted(info["feeds"]))
        raise DevnetError(f"unknown asset {symbol!r}; the devnet has feeds for: {known}")
    from manager.devnet.net import Devnet

    net = Devnet.attach(info)
    try:
        net.w3.eth.chain_id  # noqa: B018 - reachability check
    except Exception:
        raise DevnetError(
            f"devnet at {info['rpc_url']} is not reachable; start it with "
            f"'posman devnet up --state-dir {args.state_dir}'"
        ) from None
    result = net.set_price(symbol, args.usd, arbitrage=not args.no_arbitrage)
    oracle = net.contract("aave_v3/AaveOracle", info["aave"]["oracle"])
    reported = oracle.functions.getAssetPrice(info["tokens"][symbol]).call()
    print(f"{symbol}: feed answer {result['answer'] / 1e8:.8g} USD; Aave oracle reports {reported / 1e8:.8g} USD"
          + (f"; pools aligned: {', '.join(result['pools'])}" if result["pools"] else ""))
    return 0


def load_info(state_dir: Path) -> dict[str, Any]:
    path = Path(state_dir) / DEVNET_JSON
    if not path.is_file():
        raise DevnetError(f"no devnet in {state_dir} (missing {path}); start one with "
                          f"'posman devnet up --state-dir {state_dir}'")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DevnetError(f"{path} is not valid JSON (line {exc.lineno}): {exc.msg}") from None


def _alive(pid: int) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError):
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return True


def render_config(info: dict[str, Any], state_dir: Path) -> str:
    """A ready-to-use manager config watching every seeded position of the devnet."""
    from manager.devnet import market as M

    lines = [
        "# Generated by 'posman devnet up': the manager's config for this local devnet.",
        "# Every seeded position is watched (mode = \"watch\"); see configs/example.toml for every key.",
        "version = 1",
        "",
    ]
    names = {a["address"]: n for n, a in info["accounts"].items()}
    if info.get("executors"):
        lines += ["# Each managed seeded signer's PosmanExecutor (deployed and granted by 'posman devnet up'); to manage",
                  "# a position atomically, add  executor = \"0x...\"  under its [signers.NAME]:"]
        lines += [f"#   {names.get(owner, owner)}: {ex}" for owner, ex in info["executors"].items()]
        lines.append("")
    lines += [
        "[storage]",
        'url = "sqlite:///posman.sqlite"',
        "",
        "[chains.devnet]",
        f"chain_id = {info['chain_id']}",
        f'rpc_urls = ["{info["rpc_url"]}"]',
        "request_timeout_s = 10",
        "max_retries = 3",
        "max_head_age_s = 300",
        f'multicall = "{info["multicall"]}"',
        f'multicall_kind = "{info["multicall_kind"]}"',
        "",
        "[[protocols]]",
        'name = "aave"',
        'kind = "aave_v3"',
        'chain = "devnet"',
        f'pool_addresses_provider = "{info["aave"]["pool_addresses_provider"]}"',
        'version = "3.0"',
        "",
        "[[protocols]]",
        'name = "uniswap"',
        'kind = "uniswap_v3"',
        'chain = "devnet"',
        f'factory = "{info["uniswap"]["factory"]}"',
        f'swap_router = "{info["uniswap"]["router"]}"',
        f'quoter = "{info["uniswap"]["quoter"]}"',
        f'tick_lens = "{info["uniswap"]["tick_lens"]}"',
        "",
        "[oracles]",
        "default_heartbeat_s = 86400",
        "max_deviation_bps = 300",
        "twap_window_s = 0",
        "",
    ]
    for key in info["uniswap"]["pools"]:
        a, b, fee = key.split("/")
        lines += ["[[pools]]", 'protocol = "uniswap"', f'token_in = "{a}"', f'token_out = "{b}"',
                  f"fee_pips = {fee}", "depth_bps = [10, 50, 100, 300]", ""]
    morpho = info.get("morpho") or {}
    for market, m in (morpho.get("markets") or {}).items():
        lines += ["[[protocols]]", f'name = "morpho-{market.replace("/", "-")}"', 'kind = "morpho_blue"',
                  'chain = "devnet"', f'morpho = "{morpho["morpho"]}"', f'market_id = "{m["id"]}"',
                  f"# Morpho Blue {market}, LLTV {int(m['lltv_wad']) / 1e18:.3f}", ""]
    snx = info.get("synthetix") or {}
    for market, m in (snx.get("markets") or {}).items():
        lines += ["[[protocols]]", f'name = "perps-{market.lower()}"', 'kind = "synthetix_perps"', 'chain = "devnet"',
                  f'market = "{m["proxy"]}"', f'settings = "{snx["perps_settings"]}"',
                  f'exchange_rates = "{snx["exchange_rates"]}"', f'susd = "{snx["susd"]}"',
                  f'market_key = "{m["market_key"]}"', f'asset = "{m["devnet_symbol"]}"',
                  f"# Synthetix PerpsV2 {market} market (ProxyPerpsV2)", ""]
    for name, pos in (morpho.get("seeded_positions") or {}).items():
        lines += ["[[positions]]", f'name = "{name}"', f'protocol = "morpho-{pos["market"].replace("/", "-")}"',
                  f'account = "{pos["account"]}"', 'mode = "watch"', 'strategy = "alert_only"',
                  f"# {pos['note']}", ""]
    for label, note in (snx.get("seeded") or {}).items():
        account_name, market = label.split(":", 1)
        # NOTE: lowercase hex (valid, unchecksummed): the perp account of an Aave seed (alice's hedge) stays
        # a separate line from her Aave position when one of them is edited.
        lines += ["[[positions]]", f'name = "perp_{account_name}_{market.lower()}"',
                  f'protocol = "perps-{market.lower()}"', f'account = "{info["accounts"][account_name]["address"].lower()}"',
                  'mode = "watch"', 'strategy = "alert_only"', f"# {note}", ""]
    for seed in M.SEEDS:
        lines += [
            "[[positions]]",
            f'name = "{seed.name}"',
            'protocol = "aave"',
            f'account = "{info["accounts"][seed.name]["address"]}"',
            'mode = "watch"',
            'strategy = "alert_only"',
            f"# {seed.note}",
            "",
        ]
    return "\n".join(lines)
