"""ABI loading from ``contracts_abi/`` (JSON ABI per contract, grouped by protocol).

``contracts_abi/SOURCES.md`` says where each ABI came from (npm package, version, artifact path).
Regenerate with ``python -m manager.devnet.extract_abis``.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from manager.errors import SetupError

ABI_DIR = Path(__file__).resolve().parents[2] / "contracts_abi"


@cache
def load_abi(name: str) -> list[dict[str, Any]]:
    """Load ``contracts_abi/<protocol>/<Contract>.json``, e.g. ``load_abi("erc20/MintableERC20")``."""
    path = ABI_DIR / f"{name}.json"
    if not path.is_file():
        known = sorted(p.relative_to(ABI_DIR).with_suffix("").as_posix() for p in ABI_DIR.rglob("*.json"))
        raise SetupError(f"unknown ABI {name!r} (no file {path}); known: {', '.join(known[:40])}")
    data = json.loads(path.read_text())
    return data["abi"] if isinstance(data, dict) else data


def abi_type(param: dict[str, Any]) -> str:
    """The eth_abi type string of an ABI input/output entry (tuples spelled out: ``(address,uint256)[]``)."""
    kind = param["type"]
    if kind.startswith("tuple"):
        inner = ",".join(abi_type(c) for c in param["components"])
        return f"({inner}){kind[len('tuple') :]}"
    return kind


@cache
def abi_function(name: str, fn_name: str, n_args: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(input types, output types) of ``fn_name`` with ``n_args`` inputs in ``load_abi(name)``."""
    for entry in load_abi(name):
        if entry.get("type") == "function" and entry.get("name") == fn_name and len(entry["inputs"]) == n_args:
            return tuple(abi_type(p) for p in entry["inputs"]), tuple(abi_type(p) for p in entry["outputs"])
    raise SetupError(f"no function {fn_name} with {n_args} inputs in ABI {name}")
