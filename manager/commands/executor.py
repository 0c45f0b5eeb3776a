"""``posman executor deploy|grant|revoke|show --config FILE``: the user's own ``PosmanExecutor`` and its grants.

- ``deploy``: deploy one executor per signer of a managed position (owner = the signer); prints the
  ``executor = "0x..."`` line to put under ``[signers.NAME]``.
- ``grant``: give the configured executor exactly what the managed positions need: per Aave collateral reserve an
  aToken allowance (default: the current collateral balance + 1 %), per Aave debt reserve a credit delegation
  (default: none unless the position boosts (``upper_health`` set): then its current debt), Morpho Blue
  ``setAuthorization(executor, true)``. ``--withdraw-cap SYM=TOKENS`` / ``--borrow-cap SYM=TOKENS`` override.
- ``revoke``: every non-zero allowance / delegation back to 0, Morpho authorization off.
- ``show``: the executor, its owner check, and every grant (``--json`` for a document).

Every transaction is simulated (``eth_call`` + gas estimate, reverts named) before it is signed with the
signer's key (from the environment or the keystore, as ``posman run`` loads it); ``--dry-run`` stops there.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from manager.errors import ConfigError


def register(sub: Any) -> None:
    p = sub.add_parser("executor", help="posman's own executor contract (one-transaction protective actions): "
                                        "deploy, grant, revoke, show")
    esub = p.add_subparsers(dest="executor_command", metavar="ACTION", required=True, parser_class=type(p))
    helps = {
        "deploy": "deploy a PosmanExecutor for each signer of a managed position (owner = the signer)",
        "grant": "grant the executor what the managed positions need (aToken allowance, credit delegation, "
                 "Morpho authorization)",
        "revoke": "revoke every grant of the executor",
        "show": "show the executor and its grants",
    }
    for name, text in helps.items():
        q = esub.add_parser(name, help=text)
        q.add_argument("--config", required=True, type=Path, help="config file (TOML)")
        q.add_argument("--position", default=None, help="only this managed position (default: every managed one)")
        if name != "show":
            q.add_argument("--dry-run", action="store_true", help="simulate every transaction, send none")
        if name == "grant":
            q.add_argument("--withdraw-cap", action="append", default=[], metavar="SYM=TOKENS",
                           help="aToken allowance for collateral SYM, in tokens (repeatable)")
            q.add_argument("--borrow-cap", action="append", default=[], metavar="SYM=TOKENS",
                           help="credit delegation for debt SYM, in tokens (repeatable; 0 = none)")
        if name == "show":
            q.add_argument("--json", action="store_true", help="print a JSON document")
        q.set_defaults(func=run)


@dataclass
class _Target:
    position: Any
    signer_name: str
    signer_cfg: Any
    protocol: Any
    chain_name: str


def run(args: argparse.Namespace) -> int:
    from manager.config import load_config

    cfg = load_config(args.config)
    targets = _targets(cfg, args.position)
    action = args.executor_command
    if action == "deploy":
        return _deploy(cfg, targets, dry_run=args.dry_run)
    w3s: dict[str, Any] = {}
    docs = []
    for t in targets:
        if t.signer_cfg.executor is None:
            line = cfg.locate(("signers", t.signer_name))
            raise ConfigError(f"{cfg.source}:{line or 1}: signers.{t.signer_name}.executor is not set (position "
                              f"'{t.position.name}'); deploy one with 'posman executor deploy --config {cfg.source}'")
        w3 = w3s.setdefault(t.chain_name, _w3(cfg, t.chain_name))
        from manager.atomic.deploy import check_executor

        check_executor(w3, t.signer_cfg.executor, t.signer_cfg.address)
        if action == "show":
            docs.append(_show_doc(w3, t))
            continue
        steps = _grant_steps(w3, t, args) if action == "grant" else _revoke_steps(w3, t)
        if not steps:
            print(f"{t.position.name}: nothing to {action} (executor {t.signer_cfg.executor})")
            continue
        _send_steps(cfg, w3, t.signer_cfg, steps, dry_run=args.dry_run)
    if action == "show":
        if args.json:
            print(json.dumps(docs, indent=2))
        else:
            for d in docs:
                _print_doc(d)
    return 0


# ------------------------------------------------------------------------------------------------ targets
def _targets(cfg: Any, only: str | None) -> list[_Target]:
    protocols = {p.name: p for p in cfg.protocols}
    out = []
    for i, pos in enumerate(cfg.positions):
        if only is not None and pos.name != only:
            continue
        if pos.mode != "manage" or pos.signer is None:
            if only is not None:
                raise cfg.error(("positions", i, "mode"), f"position '{pos.name}' is not managed with a signer; "
                                "the executor only acts for managed positions")
            continue
        proto = protocols[pos.protocol]
        served = _served_kinds()
        if proto.kind not in served:
            if only is not None:
                raise cfg.error(("positions", i, "protocol"),
                                f"position '{pos.name}' is on {proto.kind}; the executor serves {' and '.join(served)}")
            continue
        out.append(_Target(pos, pos.signer, cfg.signers[pos.signer], proto, proto.chain))
    if not out:
        which = f"position '{only}'" if only else f"no managed {'/'.join(_served_kinds())} position with a signer"
        raise ConfigError(f"{cfg.source}: {which} not found; known: "
                          f"{', '.join(p.name for p in cfg.positions) or 'none'}")
    return out


def _served_kinds() -> list[str]:
    """The protocol kinds the executor contract has a target for (``executor_protocol_id``)."""
    from manager.protocols import registry

    return [a.kind for a in registry.adapters("lending") if a.executor_protocol_id is not None]


def _adapter(t: _Target) -> Any:
    from manager.protocols import registry

    return registry.adapter_of(t.protocol)


def _w3(cfg: Any, chain: str) -> Any:
    from manager.chain.client import ChainClient

    return ChainClient(chain, cfg.chains[chain]).connect().w3


def _signer(cfg: Any, name: str) -> Any:
    """The signer's key, loaded as ``posman run`` loads it (environment or keystore); errors name the config line."""
    from manager.execution.signer import Signer, SignerError

    try:
        return Signer.from_config(cfg.signers[name])
    except SignerError as exc:
        line = cfg.locate(("signers", name))
        raise SignerError(f"{cfg.source}:{line or 1}: signers.{name}: {exc}") from None


# ------------------------------------------------------------------------------------------------ deploy
def _deploy(cfg: Any, targets: list[_Target], *, dry_run: bool) -> int:
    from manager.atomic.deploy import creation_data

    done: set[str] = set()
    for t in targets:
        if t.signer_name in done:
            continue
        done.add(t.signer_name)
        if t.signer_cfg.executor is not None:
            print(f"signers.{t.signer_name}: executor already configured ({t.signer_cfg.executor}); "
                  "remove the key to deploy a new one")
            continue
        w3 = _w3(cfg, t.chain_name)
        tx = {"data": creation_data(t.signer_cfg.address), "label": f"deploy PosmanExecutor "
              f"(owner {t.signer_cfg.address})"}
        receipts = _send(cfg, w3, _signer(cfg, t.signer_name), [tx], dry_run=dry_run)
        if receipts:
            address = receipts[0]["contractAddress"]
            print(f"signers.{t.signer_name}: PosmanExecutor deployed at {address} (owner {t.signer_cfg.address})")
            print(f'  add under [signers.{t.signer_name}] in {cfg.source}:  executor = "{address}"')
            print(f"  then grant it: posman executor grant --config {cfg.source}")
    return 0


# ------------------------------------------------------------------------------------------------ grants
# What each protocol needs granted is its adapter's (``executor_grant_steps`` / ``executor_revoke_steps`` /
# ``executor_grants_doc``).
def _grant_steps(w3: Any, t: _Target, args: argparse.Namespace) -> list[Any]:
    steps: list[Any] = _adapter(t).executor_grant_steps(w3, t.protocol, t.position, t.signer_cfg,
                                                        withdraw_caps=args.withdraw_cap, borrow_caps=args.borrow_cap)
    return steps


def _revoke_steps(w3: Any, t: _Target) -> list[Any]:
    steps: list[Any] = _adapter(t).executor_revoke_steps(w3, t.protocol, t.signer_cfg)
    return steps


def _show_doc(w3: Any, t: _Target) -> dict[str, Any]:
    executor, owner = t.signer_cfg.executor, t.signer_cfg.address
    doc: dict[str, Any] = {"position": t.position.name, "protocol": t.protocol.kind, "signer": t.signer_name,
                           "owner": owner, "executor": executor, "owner_checked": True}
    doc.update(_adapter(t).executor_grants_doc(w3, t.protocol, t.signer_cfg))
    return doc


def _print_doc(d: dict[str, Any]) -> None:
    from manager.protocols import registry

    print(f"{d['position']}: executor {d['executor']} (owner {d['owner']}, signer {d['signer']})")
    for line in registry.adapter(d["protocol"]).print_executor_grants(d):
        print(line)


# ------------------------------------------------------------------------------------------------ sending
def _send_steps(cfg: Any, w3: Any, signer_cfg: Any, steps: list[Any], *, dry_run: bool) -> None:
    name = next(n for n, s in cfg.signers.items() if s is signer_cfg)
    _send(cfg, w3, _signer(cfg, name), steps, dry_run=dry_run)


def _simulate(w3: Any, sender: str, item: Any) -> tuple[str | None, str, str, int]:
    """(to, data, label, gas estimate) of a ``TxStep`` (``simulate_step``) or a contract creation ``dict``;
    raises ``SimulationFailed`` naming the revert."""
    from manager.errors import SimulationFailed
    from manager.execution.simulate import _revert_from, decode_revert, simulate_step

    if not isinstance(item, dict):
        sim = simulate_step(w3, item, sender, where=item.label)
        return item.to, item.data, item.label, sim.gas_estimate
    call = {"from": sender, "data": item["data"]}
    try:
        w3.eth.call(call, "latest")
        gas = int(w3.eth.estimate_gas(call, "latest"))
    except Exception as exc:
        data, message = _revert_from(exc)
        raise SimulationFailed(f"simulation: {item['label']} would revert: {decode_revert(data, message)}; "
                               "nothing was sent") from None
    return None, item["data"], item["label"], gas


def _send(cfg: Any, w3: Any, signer: Any, items: list[Any], *, dry_run: bool) -> list[Any]:
    """Simulate each transaction (refused on a revert), then sign, send and wait for it, in order."""
    from manager.errors import ChainError
    from manager.execution.fees import FeePolicy, quote_fees
    from manager.execution.nonce import NonceManager
    from manager.execution.submit import latest_base_fee_wei

    nonces = NonceManager(w3, signer.address)
    fee_policy = FeePolicy.from_limits(cfg.limits)
    receipts = []
    for item in items:
        to, data, label, gas = _simulate(w3, signer.address, item)
        if dry_run:
            print(f"dry run: would send {label} (gas ~{gas:,}); simulated OK")
            continue
        fees = quote_fees(latest_base_fee_wei(w3), "normal", fee_policy)
        with nonces.lease() as lease:
            body = {"type": 2, "chainId": int(w3.eth.chain_id), "nonce": lease.nonce, "value": 0, "data": data,
                    "gas": gas * 12 // 10 + 10_000, "maxFeePerGas": fees.max_fee_per_gas_wei,
                    "maxPriorityFeePerGas": fees.max_priority_fee_per_gas_wei}
            if to:
                body["to"] = to
            raw, tx_hash = signer.sign_transaction(body)
            w3.eth.send_raw_transaction(raw)
            lease.commit()
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=300, poll_latency=0.2)
        if receipt["status"] != 1:
            raise ChainError(f"{label} reverted on chain ({tx_hash}) although its simulation passed")
        print(f"sent {label}: {tx_hash} (block {receipt['blockNumber']}, gas {receipt['gasUsed']:,})")
        receipts.append(receipt)
    return receipts
