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
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from manager.errors import ConfigError

GRANT_MARGIN_BPS = 100  # the default withdraw cap: the collateral balance + 1 % (interest accrues until used)


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
        if proto.kind not in ("aave_v3", "morpho_blue"):
            if only is not None:
                raise cfg.error(("positions", i, "protocol"),
                                f"position '{pos.name}' is on {proto.kind}; the executor serves aave_v3 and morpho_blue")
            continue
        out.append(_Target(pos, pos.signer, cfg.signers[pos.signer], proto, proto.chain))
    if not out:
        which = f"position '{only}'" if only else "no managed aave_v3/morpho_blue position with a signer"
        raise ConfigError(f"{cfg.source}: {which} not found; known: "
                          f"{', '.join(p.name for p in cfg.positions) or 'none'}")
    return out


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
def _aave_reserves(w3: Any, proto: Any) -> tuple[str, dict]:
    from manager.atomic.grants import read_reserves
    from manager.chain.abi import load_abi

    provider = w3.eth.contract(address=proto.pool_addresses_provider, abi=load_abi("aave_v3/PoolAddressesProvider"))
    pool = provider.functions.getPool().call()
    return pool, read_reserves(w3, pool)


def _balances(w3: Any, reserves: dict, account: str) -> dict[str, tuple[int, int, int]]:
    """{symbol: (aToken balance, variable debt, decimals)} of ``account``."""
    from manager.chain.abi import load_abi

    out = {}
    for sym, r in reserves.items():
        a = w3.eth.contract(address=r.a_token, abi=load_abi("aave_v3/AToken"))
        v = w3.eth.contract(address=r.variable_debt_token, abi=load_abi("aave_v3/VariableDebtToken"))
        out[sym] = (int(a.functions.balanceOf(account).call()), int(v.functions.balanceOf(account).call()),
                    int(a.functions.decimals().call()))
    return out


def _caps(items: list[str], what: str, decimals: dict[str, int]) -> dict[str, int]:
    out = {}
    for item in items:
        sym, sep, amount = item.partition("=")
        if not sep or sym not in decimals:
            raise ConfigError(f"--{what} {item!r}: expected SYM=TOKENS with SYM one of {', '.join(sorted(decimals))}")
        try:
            tokens = Decimal(amount)
        except InvalidOperation:
            raise ConfigError(f"--{what} {item!r}: {amount!r} is not a number of tokens") from None
        if not tokens.is_finite() or tokens < 0:
            raise ConfigError(f"--{what} {item!r}: the amount must be a non-negative number of tokens")
        out[sym] = int(tokens * (Decimal(10) ** decimals[sym]))
    return out


def _grant_steps(w3: Any, t: _Target, args: argparse.Namespace) -> list[Any]:
    from manager.atomic.grants import GrantSet, grant_steps, read_grants

    executor, owner = t.signer_cfg.executor, t.signer_cfg.address
    if t.protocol.kind == "morpho_blue":
        state = read_grants(w3, owner, executor, {}, [t.protocol.morpho])
        if state["morpho"][t.protocol.morpho]:
            return []
        return grant_steps(executor, {}, GrantSet(morpho=(t.protocol.morpho,)))
    _pool, reserves = _aave_reserves(w3, t.protocol)
    bal = _balances(w3, reserves, owner)
    decimals = {sym: b[2] for sym, b in bal.items()}
    withdraw = {sym: b[0] * (10_000 + GRANT_MARGIN_BPS) // 10_000 for sym, b in bal.items() if b[0]}
    boosts = t.position.params.get("upper_health") is not None
    borrow = {sym: b[1] for sym, b in bal.items() if b[1]} if boosts else {}
    withdraw.update(_caps(args.withdraw_cap, "withdraw-cap", decimals))
    borrow.update(_caps(args.borrow_cap, "borrow-cap", decimals))
    current = read_grants(w3, owner, executor, reserves)["aave"]
    withdraw = {s: v for s, v in withdraw.items() if current[s]["withdraw_cap_wei"] != v}
    borrow = {s: v for s, v in borrow.items() if current[s]["borrow_cap_wei"] != v}
    return grant_steps(executor, reserves, GrantSet(withdraw_caps_wei=withdraw, borrow_caps_wei=borrow))


def _revoke_steps(w3: Any, t: _Target) -> list[Any]:
    from manager.atomic.grants import GrantSet, grant_steps, read_grants, revoke_steps

    executor, owner = t.signer_cfg.executor, t.signer_cfg.address
    if t.protocol.kind == "morpho_blue":
        state = read_grants(w3, owner, executor, {}, [t.protocol.morpho])
        return revoke_steps(executor, {}, [], [t.protocol.morpho]) if state["morpho"][t.protocol.morpho] else []
    _pool, reserves = _aave_reserves(w3, t.protocol)
    current = read_grants(w3, owner, executor, reserves)["aave"]
    withdraw = {s: 0 for s, g in current.items() if g["withdraw_cap_wei"]}
    borrow = {s: 0 for s, g in current.items() if g["borrow_cap_wei"]}
    steps = grant_steps(executor, reserves, GrantSet(withdraw_caps_wei=withdraw, borrow_caps_wei=borrow))
    return [s.model_copy(update={"label": s.label.replace("grant_", "revoke_")}) for s in steps]


def _show_doc(w3: Any, t: _Target) -> dict[str, Any]:
    from manager.atomic.grants import read_grants

    executor, owner = t.signer_cfg.executor, t.signer_cfg.address
    doc: dict[str, Any] = {"position": t.position.name, "protocol": t.protocol.kind, "signer": t.signer_name,
                           "owner": owner, "executor": executor, "owner_checked": True}
    if t.protocol.kind == "morpho_blue":
        state = read_grants(w3, owner, executor, {}, [t.protocol.morpho])
        doc["morpho"] = t.protocol.morpho
        doc["morpho_authorized"] = state["morpho"][t.protocol.morpho]
        return doc
    _pool, reserves = _aave_reserves(w3, t.protocol)
    bal = _balances(w3, reserves, owner)
    grants = read_grants(w3, owner, executor, reserves)["aave"]
    doc["aave"] = {
        sym: {"withdraw_cap_wei": str(g["withdraw_cap_wei"]), "borrow_cap_wei": str(g["borrow_cap_wei"]),
              "collateral_wei": str(bal[sym][0]), "debt_wei": str(bal[sym][1]), "decimals": bal[sym][2]}
        for sym, g in grants.items() if g["withdraw_cap_wei"] or g["borrow_cap_wei"] or bal[sym][0] or bal[sym][1]
    }
    return doc


def _print_doc(d: dict[str, Any]) -> None:
    print(f"{d['position']}: executor {d['executor']} (owner {d['owner']}, signer {d['signer']})")
    if d["protocol"] == "morpho_blue":
        print(f"  Morpho Blue {d['morpho']}: authorization {'ON' if d['morpho_authorized'] else 'off'}")
        return
    if not d["aave"]:
        print("  Aave: no grants, no position")
    for sym, g in d["aave"].items():
        unit = 10 ** g["decimals"]
        print(f"  Aave {sym:<7} withdraw cap {int(g['withdraw_cap_wei']) / unit:>16,.6f} "
              f"(collateral {int(g['collateral_wei']) / unit:,.6f})   borrow cap "
              f"{int(g['borrow_cap_wei']) / unit:>16,.6f} (debt {int(g['debt_wei']) / unit:,.6f})")


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
