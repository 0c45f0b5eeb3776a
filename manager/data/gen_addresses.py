"""Generate ``manager/data/addresses.json``: the known contract addresses per chain, for ``posman init``.

Never typed by hand: every address comes from a maintained npm package pinned exactly in
``package.json`` (their versions are recorded in the table's ``sources``), read offline from
``node_modules`` by ``extract_addresses.js``:

- Aave V3 markets: ``@aave-dao/aave-address-book`` (each ``AaveV3<Market>``'s ``POOL``,
  ``POOL_ADDRESSES_PROVIDER``, ``ORACLE``, ``AAVE_PROTOCOL_DATA_PROVIDER``, ``CHAIN_ID``);
- Uniswap V3: ``@uniswap/sdk-core`` ``CHAIN_TO_ADDRESSES_MAP`` (``v3CoreFactoryAddress``, ``quoterAddress``,
  ``tickLensAddress``, ``multicallAddress`` = UniswapInterfaceMulticall) and ``SWAP_ROUTER_02_ADDRESSES``;
- Morpho Blue: ``@morpho-org/blue-sdk`` ``addresses[chainId]`` (``morpho``, ``adaptiveCurveIrm``);
- Multicall3 and the chain's name: ``viem/chains`` (``contracts.multicall3.address``), and Multicall3's
  creation code (viem's ``multicall3Bytecode``) for ``posman multicall deploy`` on a chain without one.

A chain is in the table when it has an Aave V3 market or Morpho Blue (something posman can watch).
Addresses are EIP-55 checksummed; the output is deterministic (sorted keys), so
``tests/commands/test_init.py`` regenerates it and compares with the committed file.

Run after changing one of those pins: ``python -m manager.data.gen_addresses`` (``--check`` only compares).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from eth_utils import is_address, to_checksum_address

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
TABLE = HERE / "addresses.json"
EXTRACTOR = HERE / "extract_addresses.js"
SOURCE_PACKAGES = ("@aave-dao/aave-address-book", "@uniswap/sdk-core", "@morpho-org/blue-sdk", "viem")


class GenerationError(RuntimeError):
    """The npm sources are missing or not the versions pinned in package.json."""


def _addr(value: Any) -> str | None:
    if not isinstance(value, str) or not is_address(value) or int(value, 16) == 0:
        return None
    return to_checksum_address(value)


def _creation_code(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"0x(?:[0-9a-f]{2})+", value):
        raise GenerationError("viem's multicall3Bytecode is missing or not lowercase hex")
    return value


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:64] or "chain"


def extract(root: Path = ROOT) -> dict[str, Any]:
    """The raw JSON of ``extract_addresses.js`` run on ``root``'s node_modules."""
    node = shutil.which("node")
    if node is None:
        raise GenerationError("node is not installed (needed to read the npm address packages)")
    if not (root / "node_modules").is_dir():
        raise GenerationError(f"{root}/node_modules is missing: run 'make setup' (npm ci) first")
    proc = subprocess.run([node, str(EXTRACTOR), str(Path(root).resolve())], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise GenerationError(f"extract_addresses.js failed: {proc.stderr.strip()[-400:]}")
    raw: dict[str, Any] = json.loads(proc.stdout)
    pins = json.loads((root / "package.json").read_text())["dependencies"]
    for pkg in SOURCE_PACKAGES:
        if pins.get(pkg) != raw["versions"].get(pkg):
            raise GenerationError(f"{pkg}: package.json pins {pins.get(pkg)!r} but node_modules has "
                                  f"{raw['versions'].get(pkg)!r}; run 'npm ci'")
    return raw


def _chain_meta(entries: list[dict[str, Any]]) -> tuple[str | None, str | None]:
    """(name, multicall3) of one chain id from viem's entries (several chains may share an id)."""
    mains = [e for e in entries if not e["testnet"]] or entries
    names = sorted({e["name"] for e in mains})
    calls = {a for e in mains if (a := _addr(e["multicall3"]))}
    name = names[0] if names else None
    return name, (calls.pop() if len(calls) == 1 else None)


def build_table(raw: dict[str, Any]) -> dict[str, Any]:
    """The normalized table (see the module docstring) from ``extract``'s output."""
    chains: dict[str, dict[str, Any]] = {}

    def chain(chain_id: int) -> dict[str, Any]:
        key = str(chain_id)
        if key not in chains:
            name, multicall3 = _chain_meta(raw["chains"].get(key, []))
            chains[key] = {"chain_id": chain_id, "name": _slug(name) if name else f"chain-{chain_id}",
                           "title": name or f"chain {chain_id}", "multicall3": multicall3,
                           "aave_v3": [], "morpho_blue": None, "uniswap_v3": None}
        return chains[key]

    for m in raw["aave"]:
        fields = {k: _addr(m[k]) for k in ("pool_addresses_provider", "pool", "oracle", "data_provider")}
        if fields["pool_addresses_provider"] is None:
            continue
        chain(int(m["chain_id"]))["aave_v3"].append({"market": m["market"], **fields})
    for cid, m in raw["morpho"].items():
        if _addr(m["morpho"]):
            chain(int(cid))["morpho_blue"] = {"morpho": _addr(m["morpho"]),
                                              "adaptive_curve_irm": _addr(m["adaptive_curve_irm"])}
    for entry in chains.values():
        uni = raw["uniswap"].get(str(entry["chain_id"]))
        if uni and _addr(uni["factory"]):
            entry["uniswap_v3"] = {k: _addr(uni[k]) for k in
                                   ("factory", "swap_router_02", "quoter", "tick_lens", "interface_multicall")}
        entry["aave_v3"].sort(key=lambda m: (len(m["market"]), m["market"]))  # the chain's main market first
    # chain names must be unique keys of [chains.NAME]
    seen: dict[str, int] = {}
    for key in sorted(chains, key=int):
        name = chains[key]["name"]
        if name in seen:
            chains[key]["name"] = f"{name}-{key}"
        seen[chains[key]["name"]] = int(key)
    return {
        "generated_by": "python -m manager.data.gen_addresses (from the npm packages below; do not edit)",
        "sources": {pkg: raw["versions"][pkg] for pkg in SOURCE_PACKAGES},
        "multicall3_creation_code": _creation_code(raw.get("multicall3_creation_code")),
        "chains": {k: chains[k] for k in sorted(chains, key=int)},
    }


def render(table: dict[str, Any]) -> str:
    return json.dumps(table, indent=1, sort_keys=True) + "\n"


def generate(root: Path = ROOT) -> str:
    """The table's file text, regenerated from ``root``'s node_modules."""
    return render(build_table(extract(root)))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m manager.data.gen_addresses", description=__doc__.split("\n")[0])
    p.add_argument("--check", action="store_true", help="only compare with the committed table (exit 1 if it differs)")
    args = p.parse_args(argv)
    try:
        text = generate()
    except GenerationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        same = TABLE.exists() and TABLE.read_text() == text
        print("addresses.json is up to date" if same else "addresses.json differs from its sources; regenerate it")
        return 0 if same else 1
    TABLE.write_text(text)
    print(f"wrote {TABLE.relative_to(ROOT)}: {len(json.loads(text)['chains'])} chains")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
