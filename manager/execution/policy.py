"""Policy: the hard rules every plan passes before anything is simulated, signed or sent.

- allow-list: each step's ``to`` must be an allowed contract *and* its selector allowed on it;
- approvals are exact: an ``approve`` of 2**255 or more ("unlimited") is refused;
- per-transaction USD cap on each step, per-day USD cap on the plan's notional plus today's usage;
- max slippage: each swap's bounds are re-derived against the oracle amounts (not trusted labels);
- swaps on either Uniswap V3 router kind (the swap venue's router codec, ``registry.venue().swap_codec()``): the
  original SwapRouter's ``exactInput``/``exactOutput`` and SwapRouter02's (no deadline field) are decoded and must equal their bounds;
  SwapRouter02's ``multicall(uint256 deadline, bytes[] data)`` is unwrapped: exactly one inner call, itself an
  allow-listed swap on the same router, checked like a direct one, with the wrapper's deadline equal to the
  bounds' deadline; a SwapRouter02 swap sent as a transaction of its own without that wrapper (no deadline) is
  refused (inside an atomic step, where the executor contract calls the router in the same transaction, it is
  allowed); the router's other batch calls (``multicall(bytes[])``, ``multicall(bytes32,bytes[])``) are refused;
- plain ETH value is refused unless allowed.

``check_plan`` raises ``PolicyViolation`` with a one-line reason naming the rule, step and numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from eth_utils import to_checksum_address
from pydantic import Field, field_validator

from manager.chain.abi import abi_type, load_abi
from manager.domain import Frozen
from manager.errors import PolicyViolation
from manager.execution.calls import UNLIMITED_APPROVAL_WEI, selector_of
from manager.execution.types import Plan, TxStep
from manager.protocols import registry

log = logging.getLogger("posman.execution.policy")


class _Codec:
    """The swap venue's router codec (``VenueAdapter.swap_codec``), looked up on first use."""

    def __getattr__(self, name: str) -> Any:
        return getattr(registry.venue().swap_codec(), name)


R = _Codec()

APPROVE_SELECTOR = "0x095ea7b3"


def _swap_selectors() -> dict[str, str]:
    """Selector -> function name of every swap function of both router kinds (SwapRouter and SwapRouter02): any
    call with one of these is a swap, whatever its label."""
    return {sel: function for sel, (_kind, function) in R.SWAP_SELECTORS.items()}


def _calldata_matches_bounds(step: TxStep, data: str | None = None, deadline_unix_s: int | None = None) -> bool:
    """The encoded tokens (path ends), amount and bound (of ``data``, default the step's own) equal the ones policy
    checked (exactInput/exactOutput of either router kind only); the deadline too when the call carries one."""
    bounds = step.swap
    data = step.data if data is None else data
    decoded = R.decode_path_swap(data[:10], data)
    if bounds is None or decoded is None:
        return False
    _kind, function, call = decoded
    deadline = call["deadline_unix_s"] if call["deadline_unix_s"] is not None else deadline_unix_s
    if deadline is not None and deadline != bounds.deadline_unix_s and \
            not (deadline >= 2**63 - 1 and bounds.deadline_unix_s == 2**63 - 1):
        return False
    path = bytes(call["path"])
    if len(path) < 43:
        return False
    first, last = to_checksum_address("0x" + path[:20].hex()), to_checksum_address("0x" + path[-20:].hex())
    sells, buys = (first, last) if function == "exactInput" else (last, first)  # exactOutput paths are reversed
    if (sells, buys) != (to_checksum_address(bounds.token_in), to_checksum_address(bounds.token_out)):
        return False
    amount, limit = call["amount_wei"], call["limit_wei"]
    if function == "exactInput":
        return bounds.mode == "exact_in" and (amount, limit) == (bounds.amount_in_wei, bounds.min_amount_out_wei)
    return bounds.mode == "exact_out" and (amount, limit) == (bounds.amount_out_wei, bounds.max_amount_in_wei)


def _check_router_batch(plan: Plan, step: TxStep, name: str, where: str, allowed: frozenset[str]) -> bool:
    """SwapRouter02's deadline wrapper: unwrap, require one allow-listed path swap inside that matches the bounds.
    Returns True when ``step`` was such a wrapper (and passed); raises when it is a refused batch."""
    if step.selector in R.OTHER_MULTICALLS:
        raise _refuse(plan, "router_batch", f"{name}: router batch call {step.selector} is never sent (only "
                      "multicall(uint256 deadline, bytes[] [one swap]) is)", step=where, selector=step.selector)
    if step.selector != R.MULTICALL_DEADLINE:
        return False
    unwrapped = R.unwrap_deadline(step.data)
    if unwrapped is None or len(unwrapped[1]) != 1:
        raise _refuse(plan, "router_batch", f"{name}: a deadline multicall must carry exactly one swap call",
                      step=where)
    deadline, (inner,) = unwrapped
    inner_selector = inner[:10].lower()
    if inner_selector not in allowed:
        raise _refuse(plan, "allow_list_selector",
                      f"{name}: function {inner_selector} inside multicall is not allow-listed on {step.to}",
                      step=where, selector=inner_selector)
    if step.swap is None:
        raise _refuse(plan, "slippage", f"{name}: swap without oracle-derived bounds", step=where)
    if R.decode_path_swap(inner_selector, inner) is None or not _calldata_matches_bounds(step, inner, deadline):
        raise _refuse(plan, "slippage",
                      f"{name}: the swap inside multicall differs from its oracle-derived bounds (amount, limit "
                      "or deadline)", step=where)
    return True


def selectors_from_abi(abi_name: str, functions: Iterable[str]) -> frozenset[str]:
    """Selectors of the named functions of ``contracts_abi/<abi_name>.json`` (unknown names raise)."""
    wanted = set(functions)
    found: set[str] = set()
    out: set[str] = set()
    for item in load_abi(abi_name):
        if item.get("type") == "function" and item["name"] in wanted:
            sig = f"{item['name']}({','.join(abi_type(i) for i in item['inputs'])})"
            out.add(selector_of(sig))
            found.add(item["name"])
    missing = wanted - found
    if missing:
        raise ValueError(f"{abi_name} has no function(s) {sorted(missing)}")
    return frozenset(out)


class PolicyLimits(Frozen):
    """The limits ``check_plan`` enforces. ``allowed_calls``: checksummed address -> allowed selectors."""

    allowed_calls: dict[str, frozenset[str]] = Field(default_factory=dict)
    per_tx_usd: float = Field(gt=0)
    per_day_usd: float = Field(gt=0)
    max_slippage_bps: int = Field(ge=0, le=10_000)
    allow_native_value: bool = False

    @field_validator("allowed_calls", mode="before")
    @classmethod
    def _normalise(cls, value: Mapping[str, Iterable[str]]) -> dict[str, frozenset[str]]:
        """Addresses checksummed, selectors lower-case (so lookups never miss on spelling)."""
        return {to_checksum_address(a): frozenset(s.lower() for s in sels) for a, sels in dict(value).items()}

    @classmethod
    def from_limits(cls, limits: object, allowed_calls: Mapping[str, Iterable[str]]) -> PolicyLimits:
        """From a ``manager.config.schema.LimitsConfig`` plus the selectors allowed per contract.

        Addresses in ``limits.allowed_contracts`` without an entry in ``allowed_calls`` allow nothing:
        the allow-list is of (contract, selector) pairs, never of whole contracts.
        """
        return cls(
            allowed_calls={
                to_checksum_address(a): frozenset(s.lower() for s in sels) for a, sels in allowed_calls.items()
            },
            per_tx_usd=limits.per_tx_usd,  # type: ignore[attr-defined]
            per_day_usd=limits.per_day_usd,  # type: ignore[attr-defined]
            max_slippage_bps=limits.max_slippage_bps,  # type: ignore[attr-defined]
        )


def _refuse(plan: Plan, rule: str, message: str, **context: object) -> PolicyViolation:
    log.warning("event=policy_refused plan_id=%s rule=%s reason=%r", plan.plan_id, rule, message)
    return PolicyViolation(f"policy: {message}", rule=rule, plan_id=plan.plan_id, **context)


def _flatten(steps: Iterable[TxStep]) -> list[tuple[str, TxStep]]:
    out: list[tuple[str, TxStep]] = []
    for i, step in enumerate(steps):
        out.append((str(i), step))
        out.extend((f"{i}.{j}", inner) for j, inner in _flatten(step.inner))
    return out


def check_plan(plan: Plan, limits: PolicyLimits, *, used_today_usd: float = 0.0) -> None:
    """Raise ``PolicyViolation`` unless every step of ``plan`` is within ``limits``."""
    swaps = _swap_selectors()
    for where, step in _flatten(plan.steps):
        name = f"step {where} ({step.label})"
        allowed = limits.allowed_calls.get(step.to)
        if allowed is None:
            raise _refuse(plan, "allow_list_contract", f"{name}: contract {step.to} is not allow-listed",
                          step=where, to=step.to)
        if step.selector not in allowed:
            raise _refuse(plan, "allow_list_selector",
                          f"{name}: function {step.selector} is not allow-listed on {step.to}",
                          step=where, selector=step.selector)
        if step.value_wei and not limits.allow_native_value:
            raise _refuse(plan, "native_value", f"{name}: sends {step.value_wei} wei of native value",
                          step=where)
        if step.selector == APPROVE_SELECTOR:
            amount = int(step.data[74:138], 16) if len(step.data) >= 138 else None
            if amount is None or amount >= UNLIMITED_APPROVAL_WEI:
                raise _refuse(plan, "unlimited_approval", f"{name}: approvals must be exact amounts, not unlimited",
                              step=where)
        if step.usd_value > limits.per_tx_usd:
            raise _refuse(plan, "per_tx_cap",
                          f"{name}: ${step.usd_value:,.2f} exceeds the per-transaction cap ${limits.per_tx_usd:,.2f}",
                          step=where, usd_value=step.usd_value)
        swap_function = swaps.get(step.selector)
        wrapped = _check_router_batch(plan, step, name, where, allowed)
        if step.kind == "swap" or swap_function is not None or wrapped:
            if step.swap is None:
                raise _refuse(plan, "slippage", f"{name}: swap without oracle-derived bounds", step=where)
            if swap_function is not None and not _calldata_matches_bounds(step):
                raise _refuse(plan, "slippage",
                              f"{name}: the encoded swap amount/limit differs from its oracle-derived bounds",
                              step=where)
            if "." not in where and R.SWAP_SELECTORS.get(step.selector, ("",))[0] == "swap_router02":
                # NOTE: SwapRouter02's params have no deadline: a transaction sent bare could land any time later.
                raise _refuse(plan, "deadline", f"{name}: a SwapRouter02 swap sent as a transaction must be wrapped "
                              "in multicall(uint256 deadline, bytes[])", step=where)
            if not step.swap.within_slippage(limits.max_slippage_bps):
                worst = max(step.swap.implied_slippage_bps(), float(step.swap.slippage_bps))
                raise _refuse(plan, "slippage",
                              f"{name}: slippage {worst:.1f} bps vs oracle exceeds max {limits.max_slippage_bps} bps",
                              step=where, slippage_bps=worst)
    day_usd = plan.daily_usd()
    if used_today_usd + day_usd > limits.per_day_usd:
        raise _refuse(plan, "per_day_cap",
                      f"${day_usd:,.2f} plus ${used_today_usd:,.2f} already used today exceeds the per-day cap "
                      f"${limits.per_day_usd:,.2f}",
                      usd_value=day_usd, used_today_usd=used_today_usd)
    log.info("event=policy_ok plan_id=%s steps=%d day_usd=%.2f used_today_usd=%.2f",
             plan.plan_id, len(plan.steps), day_usd, used_today_usd)
