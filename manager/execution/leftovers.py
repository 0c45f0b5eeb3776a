"""What an interrupted plan left in the wallet: the output of its swaps that were mined but whose repay was not.

A process killed between a round's swap and its repay leaves the swap's proceeds (the debt token) in the
wallet. ``use_wallet_funds = "collateral"`` (the default) never spends the debt token the user holds, so
without this the position stayed below its trigger with the proceeds idle (issue 15). The amounts here come
from the manager's own records (plans that stopped part-way - ``failed`` as interrupted or at a step,
``reverted`` at a later step - newer than the position's last confirmed plan; their included swap steps' guaranteed minimum output, less the included repays of that token after
them); the caller caps them by the wallet balance read at the tick's block.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

INTERRUPTED_LOOKBACK = 20  # newest plans of a position looked at


def interrupted_proceeds(repo: Any, position: str) -> dict[str, int]:
    """``{token address (lower case): wei}`` left by interrupted plans of ``position`` (see the module docstring)."""
    out: dict[str, int] = defaultdict(int)
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
        maybe_sent = included | {t.step_index for t in txs if t.status in ("pending", "released")}
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

