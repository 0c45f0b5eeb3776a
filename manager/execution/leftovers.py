"""What an interrupted plan left in the wallet: the output of its swaps that were mined but whose repay was not.

A process killed between a round's swap and its repay leaves the swap's proceeds (the debt token) in the
wallet. ``use_wallet_funds = "collateral"`` (the default) never spends the debt token the user holds, so
without this the position stayed below its trigger with the proceeds idle (issue 15). The amounts here come
from the manager's own records (plans that stopped part-way - ``failed`` as interrupted or at a step,
``reverted`` at a later step - newer than the position's last confirmed plan; their included swap steps' guaranteed minimum output, less the repays of that token after
them that were or may yet be mined: included, pending, or released while no other transaction of ours took
their nonce); the caller caps them by the wallet balance read at the tick's block.

This is the one record of such proceeds (``StrategyContext.interrupted_proceeds_wei``): a strategy spends
them once, whatever ``use_wallet_funds`` (except ``"none"``).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

INTERRUPTED_LOOKBACK = 20  # newest plans of a position looked at


def interrupted_proceeds(repo: Any, position: str) -> dict[str, int]:
    """``{token address (lower case): wei}`` left by interrupted plans of ``position`` (see the module docstring)."""
    out: dict[str, int] = defaultdict(int)
    taken: dict[str, set[tuple[int, str]]] = {}  # sender -> (nonce, hash) of our mined transactions (lazily)
    for plan in repo.actions_for(position, limit=INTERRUPTED_LOOKBACK, include_refused=False):
        if plan.status == "confirmed":
            break  # a later plan finished: what is older was either spent or is the user's own money now
        # a plan that stopped part-way: killed (failed, "interrupted"), a later step refused or failing
        # ("step N ..."), or a later step reverted on chain (reverted): its earlier swaps' proceeds are left over
        if not _stopped(plan):
            continue
        txs = repo.transactions_for(plan.plan_id)
        included = {t.step_index for t in txs if t.status == "included"}
        # NOTE: a repay still pending (or whose fate is unknown: released) may yet be mined: count it as spent,
        # so that the account's own debt tokens are never taken for proceeds a repay already used.
        # A released one whose nonce another transaction of ours has taken (mined: the tracker's gap fill) can
        # never be mined any more: it was not sent.
        maybe_sent = included | {t.step_index for t in txs if t.status == "pending"
                                 or (t.status == "released" and not _nonce_taken(repo, t, taken))}
        left: dict[str, int] = defaultdict(int)
        for i, step in enumerate(plan.steps_json or []):
            if not isinstance(step, dict):
                continue
            swap = step.get("swap") or {}
            if i in included and swap.get("mode") == "exact_in" and swap.get("min_amount_out_wei") \
                    and swap.get("token_out"):
                left[str(swap["token_out"]).lower()] += int(swap["min_amount_out_wei"])
            token = str(step.get("token") or "").lower()
            if i in maybe_sent and token in left and "repay" in str(step.get("label", "")).lower() \
                    and step.get("amount_wei"):
                left[token] = max(0, left[token] - int(step["amount_wei"]))
        for token, wei in left.items():
            out[token] += wei
    return {t: w for t, w in out.items() if w > 0}


def _nonce_taken(repo: Any, tx: Any, taken: dict[str, set[tuple[int, str]]]) -> bool:
    """Whether another transaction of ``tx``'s sender with its nonce was mined (included or reverted)."""
    from manager.persistence import TxStatus

    sender = tx.sender or ""
    if sender not in taken:
        taken[sender] = {(t.nonce, t.tx_hash) for status in (TxStatus.INCLUDED, TxStatus.REVERTED)
                         for t in repo.pending_transactions(sender=sender, status=status)}
    return any(nonce == tx.nonce and h != tx.tx_hash for nonce, h in taken[sender])


def _stopped(plan: Any) -> bool:
    return plan.status in ("failed", "reverted") and (plan.error or "").startswith(("interrupted", "step "))


def interrupted_target_health(repo: Any, position: str) -> float | None:
    """The health the newest plan of ``position`` that stopped part-way was to reach (the lower end of its
    target band), when no plan has been confirmed since; ``None`` otherwise. A restart finishes that plan:
    the strategy acts until this health is reached even above its trigger (issue 15)."""
    from manager.execution.store import _PRECONDITIONS_PREFIX

    for plan in repo.actions_for(position, limit=INTERRUPTED_LOOKBACK, include_refused=False):
        if plan.status == "confirmed":
            return None
        if _stopped(plan) and plan.action in ("deleverage", "repay_from_wallet", "add_collateral"):
            value = repo.get_state(_PRECONDITIONS_PREFIX + plan.plan_id)
            band = value.get("target_band") if isinstance(value, dict) else None
            return float(band[0]) if band else None
    return None

