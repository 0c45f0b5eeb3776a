"""``posman history NAME --config FILE [--limit N] [--json] [--dry-run] [--offline]``: what happened to a position.

Read-only: the database of the config's ``[storage]`` (the dry run's own with ``--dry-run``) is opened for
reading and nothing is created; before the first ``posman run`` there is no history (one-line error).

Prints the health series (block, health, collateral, debt, actions at that block), then every action with its
time (UTC), the health before (the decision's) and after (the first snapshot after its last transaction),
its transactions (hash, status, block, gas used and, read from the chain, the gas cost in the native token
and in USD at the oracle price of the block it was included in), and the alerts of its episode (the alert
episodes of the position open at some time while the plan ran). ``--offline`` reads nothing from the chain
(costs are then unknown). ``--json`` prints ``{snapshots, actions, alerts}`` with the same data.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from manager.commands._common import add_dry_run_flag, check_position, fmt_time, iso_time, open_history

NATIVE_SYMBOL = "WETH"  # the oracle symbol that prices gas (as the runtime's fee budget does)


def register(sub: Any) -> None:
    p = sub.add_parser("history", help="health factor over blocks and the actions taken for one position")
    p.add_argument("name", help="position name (as in the config)")
    p.add_argument("--config", required=True, type=Path, help="config file (TOML); its [storage] is read")
    p.add_argument("--limit", type=int, default=200, help="latest N health snapshots (default 200)")
    p.add_argument("--json", action="store_true", help="print JSON {snapshots, actions, alerts}")
    p.add_argument("--offline", action="store_true", help="do not read transaction receipts and prices from the chain")
    add_dry_run_flag(p)
    p.set_defaults(func=run)


def _hf(value: float | None) -> float | None:
    if value is None or math.isinf(value) or value > 1e12:
        return None
    return round(value, 6)


def history_data(repo: Any, name: str, limit: int, costs: Any = None) -> dict[str, list[dict[str, Any]]]:
    """``{snapshots, actions, alerts}`` of position ``name``; ``costs(txs) -> {hash: cost dict}`` adds gas costs."""
    from manager.commands.alerts import alert_dict

    snaps = repo.health_series(name, limit=limit)
    plans = list(reversed(repo.actions_for(name, limit=limit)))
    decisions = repo.decisions_by_id(p.decision_id for p in plans if p.decision_id is not None)
    actions = []
    for p in plans:
        txs = repo.transactions_for(p.plan_id)
        dec = decisions.get(p.decision_id) if p.decision_id is not None else None
        before = dec.health_before if dec is not None and dec.health_before is not None else None
        if before is None:
            snap = repo.snapshot_near(name, p.block_number, after=False)
            before = snap.health_factor if snap is not None else None
        last_block = max([t.block_included for t in txs if t.block_included is not None] or [p.block_number])
        after = repo.snapshot_near(name, last_block, after=True)
        cost = costs(txs) if costs is not None and txs else {}
        actions.append({
            "block": p.block_number, "plan_id": p.plan_id, "action": p.action, "status": p.status,
            "steps": len(p.steps_json), "reason": p.refusal_reason or p.error or "",
            "time": iso_time(p.created_at_s), "created_at_s": p.created_at_s, "updated_at_s": p.updated_at_s,
            "decision_reason": dec.reason if dec is not None else None,
            "target_health": (dec.decision_json or {}).get("target_health") if dec is not None else None,
            "projected_health": _hf(dec.projected_health) if dec is not None else None,
            "notional_usd": dec.notional_usd if dec is not None else None,
            "health_before": _hf(before),
            "health_after": _hf(after.health_factor) if after is not None else None,
            "health_after_block": after.block_number if after is not None else None,
            "step_labels": [s.get("label") for s in p.steps_json if isinstance(s, dict)],
            "transactions": [{
                "step": t.step_index, "hash": t.tx_hash, "status": t.status, "nonce": t.nonce, "sender": t.sender,
                "block": t.block_included, "gas_used": t.gas_used, "replaced_by": t.replaced_by,
                "max_fee_per_gas_wei": None if t.max_fee_per_gas_wei is None else str(t.max_fee_per_gas_wei),
                **cost.get(t.tx_hash, {"cost_native": None, "cost_usd": None, "effective_gas_price_wei": None}),
            } for t in txs],
            "alerts": [alert_dict(a)["id"] for a in repo.alerts_between(name, p.created_at_s, p.updated_at_s)],
        })
    alerts = [alert_dict(a) for a in reversed(repo.alerts_for(name, limit=max(limit, 100)))]
    return {
        "snapshots": [{"block": s.block_number, "timestamp": s.block_timestamp, "time": iso_time(s.block_timestamp),
                       "health_factor": _hf(s.health_factor),
                       "collateral_usd": round(s.collateral_usd, 2), "debt_usd": round(s.debt_usd, 2)}
                      for s in snaps],
        "actions": actions,
        "alerts": alerts,
    }


def chain_costs(cfg: Any, position: str) -> Any:
    """``costs(txs)`` for ``history_data`` (None when the chain's node does not answer): gas used x effective gas price from each receipt, in the native token
    and in USD at the chain's Aave oracle price of ``NATIVE_SYMBOL`` at the transaction's block."""
    from manager.chain.client import ChainClient
    from manager.commands.init import chain_id_of
    from manager.errors import PosmanError

    proto = cfg.protocol(cfg.position(position).protocol)
    try:  # one quick probe: a node that is gone (the demo's devnet after it ended) costs no retries
        chain_id_of(cfg.chains[proto.chain].rpc_urls[0], timeout_s=3.0)
    except PosmanError:
        return None
    client = ChainClient.from_config(cfg, proto.chain)
    from manager.protocols.registry import adapter

    # the chain's first protocol entry whose adapter prices a symbol at a block (an oracle of its own)
    pricer = next(((p, a) for p in cfg.protocols if p.chain == proto.chain
                   for a in [adapter(p.kind)] if callable(getattr(a, "price_usd", None))), None)
    prices: dict[int, float | None] = {}

    def native_usd(block: int) -> float | None:
        if block not in prices:
            prices[block] = None
            if pricer is not None:
                try:
                    prices[block] = pricer[1].price_usd(client, pricer[0], NATIVE_SYMBOL, block)
                except Exception:  # an old block a pruned node no longer has: cost in native only
                    prices[block] = None
        return prices[block]

    def costs(txs: list[Any]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for t in txs:
            if t.block_included is None:
                continue
            try:
                receipt = client.request("eth_getTransactionReceipt", [t.tx_hash])
            except Exception:
                continue
            if not receipt:
                continue
            gas = int(receipt["gasUsed"], 16)
            price_wei = int(receipt.get("effectiveGasPrice") or "0x0", 16)
            native = gas * price_wei / 1e18
            usd = native_usd(int(receipt["blockNumber"], 16))
            out[t.tx_hash] = {"cost_native": native, "cost_usd": None if usd is None else native * usd,
                              "effective_gas_price_wei": str(price_wei)}
        return out

    return costs


def _fmt_hf(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def action_lines(a: dict[str, Any], alerts_by_id: dict[int, dict[str, Any]]) -> list[str]:
    """The readable lines of one action (see the module docstring)."""
    out = [f"  {fmt_time(a['created_at_s'])}  block {a['block']}  {a['action']}  {a['status']}  {a['plan_id']}"]
    health = f"    health {_fmt_hf(a['health_before'])} -> {_fmt_hf(a['health_after'])}"
    if a["health_after_block"] is not None:
        health += f" (block {a['health_after_block']})"
    extras = []
    if a["target_health"] is not None:
        extras.append(f"target {a['target_health']:.4f}")
    if a["projected_health"] is not None:
        extras.append(f"projected {a['projected_health']:.4f}")
    if a["notional_usd"]:
        extras.append(f"notional ${a['notional_usd']:,.2f}")
    out.append(health + (f"; {', '.join(extras)}" if extras else ""))
    if a["decision_reason"] and not a["reason"]:
        out.append(f"    why: {' '.join(a['decision_reason'].split())[:200]}")
    labels = a["step_labels"]
    if not a["transactions"]:
        out.append(f"    no transaction sent ({a['steps']} step(s) planned)")
    for t in a["transactions"]:
        label = labels[t["step"]] if t["step"] < len(labels) and labels[t["step"]] else f"step {t['step']}"
        gas = "-" if t["gas_used"] is None else f"{t['gas_used']:,}"
        if t["cost_usd"] is not None:
            cost = f"${t['cost_usd']:,.4f} ({t['cost_native']:.6g} native)"
        elif t["cost_native"] is not None:
            cost = f"{t['cost_native']:.6g} native (no USD price)"
        elif t["gas_used"] is not None and t["max_fee_per_gas_wei"] is not None:
            cost = f"<= {t['gas_used'] * int(t['max_fee_per_gas_wei']) / 1e18:.6g} native (gas x max fee)"
        else:
            cost = "-"
        where = f"block {t['block']}" if t["block"] is not None else "not included"
        out.append(f"    tx {t['hash']}  {t['status']}  {where}  gas {gas}  cost {cost}  [{label}]")
    for aid in a["alerts"]:
        al = alerts_by_id.get(aid)
        if al is not None:
            state = "open" if al["open"] else f"resolved {fmt_time(al['resolved_at_s'])}"
            out.append(f"    alert {fmt_time(al['first_seen_s'])}  {al['severity']} {al['kind']}: "
                       f"{' '.join(al['message'].split())[:120]} ({state})")
    return out


def run(args: argparse.Namespace) -> int:
    from manager.config import load_config
    from manager.errors import ConfigError
    from manager.persistence import Repository

    cfg = load_config(args.config)
    check_position(cfg, args.name)
    if args.limit < 1:
        raise ConfigError(f"--limit must be >= 1, got {args.limit}")
    db = open_history(cfg, dry_run=args.dry_run)
    costs = None if args.offline or args.dry_run else chain_costs(cfg, args.name)
    cost_note = "" if costs is not None or args.offline or args.dry_run else \
        "transaction costs unknown: the chain's node does not answer (gas used is from the database)"
    try:
        data = history_data(Repository(db), args.name, args.limit, costs=costs)
    finally:
        db.dispose()
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    acted: dict[int, list[str]] = {}
    for a in data["actions"]:
        acted.setdefault(a["block"], []).append(f"{a['action']}:{a['status']}")
    print(f"{args.name}: {len(data['snapshots'])} snapshot(s), {len(data['actions'])} action(s)")
    rows = []
    for s in data["snapshots"]:
        hf = "inf" if s["health_factor"] is None else f"{s['health_factor']:.4f}"
        rows.append((s, hf, ", ".join(acted.pop(s["block"], []))))
    from manager.commands._render import band, print_rich_table, use_rich

    if use_rich():
        head = ("block", "time", "health", "collateral $", "debt $", "action")
        cells = [[str(s["block"]), fmt_time(s["timestamp"]), hf, f"{s['collateral_usd']:,.2f}",
                  f"{s['debt_usd']:,.2f}", mark] for s, hf, mark in rows]
        cells += [[str(b), "", "", "", "", ", ".join(m)] for b, m in sorted(acted.items())]
        from manager.protocols.registry import adapter

        perp = adapter(cfg.protocol(cfg.position(args.name).protocol).kind).family == "perp"
        bands = cfg.alerts.rules.health_for(args.name, perp=perp)
        styles = [band(s["health_factor"], bands.warning_below_hf, bands.critical_below_hf)[1]
                  for s, _hf, _m in rows] + ["bold"] * len(acted)
        print_rich_table(None, head, cells, styles, left={1, 5})
    else:
        print(f"{'block':>10}  {'health':>9}  {'collateral $':>14}  {'debt $':>14}  action")
        for s, hf, mark in rows:
            print(f"{s['block']:>10}  {hf:>9}  {s['collateral_usd']:>14,.2f}  {s['debt_usd']:>14,.2f}  {mark}")
        for block, marks in sorted(acted.items()):  # actions whose snapshot was compacted away
            print(f"{block:>10}  {'':>9}  {'':>14}  {'':>14}  {', '.join(marks)}")
        if data["snapshots"]:
            print(f"from {fmt_time(data['snapshots'][0]['timestamp'])} to {fmt_time(data['snapshots'][-1]['timestamp'])}")
    alerts_by_id = {a["id"]: a for a in data["alerts"]}
    if data["actions"]:
        print("actions:" + (f" ({cost_note})" if cost_note else ""))
        for a in data["actions"]:
            for line in action_lines(a, alerts_by_id):
                print(line)
    if data["alerts"]:
        print(f"alerts ({len(data['alerts'])} episode(s)):")
        for al in data["alerts"]:
            state = "open" if al["open"] else f"resolved {fmt_time(al['resolved_at_s'])}"
            print(f"  {fmt_time(al['first_seen_s'])}  {al['severity']:<8} {al['kind']:<22} "
                  f"{' '.join(al['message'].split())[:120]} ({state})")
    for a in data["actions"]:  # why an action was refused or failed, last (one line each)
        if a["reason"]:
            print(f"  block {a['block']} {a['plan_id']}: {a['status']}: {a['reason']}")
    return 0
