"""``posman allowlist --config FILE [--json]``: every contract and function the executor may call, per signer.

The list is the one ``posman run`` gives each signer's executor (``manager.execution.allowlist``): the contracts
derived from the configured protocols plus ``[limits] allowed_contracts``. Reads the chain (the Aave pool and
its reserves, the Morpho market's tokens); signs nothing and needs no key.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("allowlist", help="the contracts and functions the executor may call (per signer)")
    p.add_argument("--config", required=True, type=Path, help="config file (TOML)")
    p.add_argument("--json", action="store_true", help="print a JSON object {signer: {contract: [functions]}}")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from manager.config import load_config
    from manager.execution.allowlist import function_names, signer_allow_lists

    cfg = load_config(args.config)
    lists = signer_allow_lists(cfg)
    names = function_names()
    extra = {a.lower() for a in cfg.limits.allowed_contracts}
    doc = {signer: {to: sorted(names.get(s, s) for s in sels) for to, sels in sorted(calls.items())}
           for signer, calls in sorted(lists.items())}
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    if not doc:
        print("no managed position: the executor calls nothing")
    for signer, calls in doc.items():
        print(f"signer {signer} ({cfg.signers[signer].address}):")
        for to, fns in calls.items():
            origin = "allowed_contracts" if to.lower() in extra else "derived"
            print(f"  {to}  [{origin}]  {', '.join(fns)}")
    return 0
