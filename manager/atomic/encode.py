"""Pure builders of the unsigned calls to ``PosmanExecutor`` (no RPC): deleverage, boost, close, collateral switch;
the allow-list.

Each builder returns one ``TxStep`` (``kind="call"``, ``to`` = the user's executor) whose calldata is
``deleverage(Plan)`` / ``boost(Plan)`` / ``close(Plan)`` of ``contracts/PosmanExecutor.sol``; the ``Plan`` tuple
layout mirrors the contract's ``struct Plan`` field by field (``_plan_tuple``). ``usd_value`` is left 0 for the
planner to fill. When every leg carries ``oracle_out_wei``, the step's ``inner`` holds one ``swap`` step per leg
(router ``exactInput`` with its oracle-derived ``SwapBounds``) so that the executor's policy checks each leg's
slippage and allow-list like a direct swap; without it, the planner must check slippage itself.

Each leg names its router's kind (``SwapLeg.router_kind``: ``"swap_router"``, the original SwapRouter, or
``"swap_router02"``, SwapRouter02; the swap venue's router codec, ``registry.venue().swap_codec()``): the contract calls that router's own
``exactInput`` (``Leg.routerKind``), and the leg's inner step is that call, so the allow-list needs the router's
``exactInput`` of that kind (``EXACT_INPUT`` / ``EXACT_INPUT_02``; ``leg_allowed_calls(legs)`` lists them).

Amounts are integers in token units (wei); health values are WAD (1e18 = health 1.0), the contract's units.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from eth_utils import is_hex_address, to_checksum_address

from manager.domain import UINT256_MAX
from manager.execution.calls import encode_call, selector_of
from manager.execution.types import ZERO_ADDRESS, SwapBounds, TxStep
from manager.protocols import registry

ABI = "posman/PosmanExecutor"
WAD = 10**18
ACTIONS = {"deleverage": 0, "boost": 1, "close": 2, "switchCollateral": 3}
FLASH_KINDS = {"aave": 0, "morpho": 1}


def protocol_ids() -> dict[str, int]:
    """Protocol kind -> the contract's ``Protocol`` enum value, from the lending adapters that have a target
    (``executor_protocol_id``)."""
    return {a.kind: int(a.executor_protocol_id) for a in registry.adapters("lending")
            if a.executor_protocol_id is not None}


_PLAN = ("(uint8,address,uint8,address,(address,address,address,address,uint256),address,address,uint256,uint256,"
         "(address,bytes,uint256,uint256,uint8)[],uint256,uint256,address,uint256,uint256,bytes32)")
# The executor's owner-only entry points the runtime may call (``sweep`` is a CLI action, not in here).
ENTRY_POINTS = {name: selector_of(f"{name}({_PLAN})") for name in ("deleverage", "boost", "close",
                                                                      "switchCollateral")}
EXACT_INPUT = selector_of("exactInput((bytes,address,uint256,uint256,uint256))")


@dataclass(frozen=True)
class SwapLeg:
    """One Uniswap V3 ``exactInput`` run by the executor (``recipient`` = the executor) on ``router``, a router of
    ``router_kind`` (``"swap_router"``: SwapRouter; ``"swap_router02"``: SwapRouter02).

    ``amount_in_wei = UINT256_MAX`` spends the executor's whole balance of the path's first token (for a
    close: the whole withdrawn collateral). ``oracle_out_wei`` (optional): the output at the oracle price,
    ``slippage_bps`` the limit ``min_out_wei`` was derived with; both feed the policy's slippage check.
    """

    router: str
    path: bytes  # v3 packed path: tokenIn, fee(uint24), tokenOut [, fee, tokenOut ...]
    amount_in_wei: int
    min_out_wei: int
    oracle_out_wei: int | None = None
    slippage_bps: int = 0
    router_kind: str = "swap_router"

    @property
    def token_in(self) -> str:
        return to_checksum_address("0x" + self.path[:20].hex())

    @property
    def token_out(self) -> str:
        return to_checksum_address("0x" + self.path[-20:].hex())


@dataclass(frozen=True)
class FlashSource:
    """Who lends the flash loan: Aave V3 Pool (``flashLoanSimple``) or Morpho Blue (``flashLoan``, no fee)."""

    kind: Literal["aave", "morpho"]
    lender: str  # Aave Pool or Morpho Blue address
    premium_bps: int  # Aave: the pool's FLASHLOAN_PREMIUM_TOTAL (read, never assumed); Morpho: 0

    def premium_wei(self, amount_wei: int) -> int:
        """Aave ``PercentageMath.percentMul`` (half up): the premium ``flashLoanSimple`` charges on ``amount_wei``."""
        return (amount_wei * self.premium_bps + 5_000) // 10_000


@dataclass(frozen=True)
class LendingTarget:
    """Where the owner's position is."""

    protocol: str  # the position's protocol kind (one of ``protocol_ids()``)
    pool: str  # Aave Pool / Morpho Blue
    morpho_market: tuple[str, str, str, str, int] | None = None  # MarketParams (loan, coll, oracle, irm, lltv)


def pack_path(tokens: Sequence[str], fees_pips: Sequence[int]) -> bytes:
    """Uniswap V3 packed path ``token0 fee0 token1 [fee1 token2 ...]`` (``len(fees) == len(tokens) - 1``)."""
    if len(tokens) < 2 or len(fees_pips) != len(tokens) - 1:
        raise ValueError(f"a path needs n >= 2 tokens and n - 1 fees, got {len(tokens)} and {len(fees_pips)}")
    out = bytes.fromhex(_address("token", tokens[0])[2:])
    for fee, token in zip(fees_pips, tokens[1:], strict=True):
        if not 0 < fee < 2**24:
            raise ValueError(f"fee {fee} is not a uint24 pool fee in pips")
        out += fee.to_bytes(3, "big") + bytes.fromhex(_address("token", token)[2:])
    return out


def deleverage_step(executor: str, *, target: LendingTarget, debt_asset: str, collateral_asset: str,
                    repay_wei: int, withdraw_wei: int, legs: Sequence[SwapLeg], flash: FlashSource,
                    min_health_wad: int, max_health_wad: int = 0, plan_id: bytes = b"",
                    deadline_unix_s: int = 0) -> TxStep:
    """One transaction: flash ``repay_wei`` of the debt asset, repay it first, withdraw ``withdraw_wei`` of
    collateral, swap it (``legs``: collateral -> debt), repay the flash loan (+ premium), surplus repays more
    debt; reverts unless the owner's final health is in ``[min_health_wad, max_health_wad]`` (max 0 = none)."""
    _positive("repay_wei", repay_wei)
    _positive("withdraw_wei", withdraw_wei)
    _check_legs(legs, collateral_asset, debt_asset)
    _check_health(min_health_wad, max_health_wad)
    plan = _plan_tuple(flash, target, debt_asset, collateral_asset, repay_wei, withdraw_wei, legs,
                       min_health_wad, max_health_wad, ZERO_ADDRESS, 0, deadline_unix_s, plan_id)
    return _step(executor, "deleverage", plan, legs, debt_asset, repay_wei, deadline_unix_s)


def boost_step(executor: str, *, target: LendingTarget, debt_asset: str, collateral_asset: str,
               borrow_wei: int, legs: Sequence[SwapLeg], flash: FlashSource, min_supply_wei: int,
               min_health_wad: int, max_health_wad: int = 0, plan_id: bytes = b"",
               deadline_unix_s: int = 0) -> TxStep:
    """One transaction: flash ``borrow_wei`` of the debt asset, swap it (``legs``: debt -> collateral), supply at
    least ``min_supply_wei`` for the owner, borrow ``borrow_wei`` + premium for the owner (credit delegation /
    Morpho authorization), repay the flash loan; reverts unless the final health is in the band."""
    _positive("borrow_wei", borrow_wei)
    if isinstance(min_supply_wei, bool) or not isinstance(min_supply_wei, int) or min_supply_wei < 0:
        raise ValueError(f"min_supply_wei must be a non-negative integer, got {min_supply_wei!r}")
    _check_legs(legs, debt_asset, collateral_asset)
    _check_health(min_health_wad, max_health_wad)
    plan = _plan_tuple(flash, target, debt_asset, collateral_asset, borrow_wei, min_supply_wei, legs,
                       min_health_wad, max_health_wad, ZERO_ADDRESS, 0, deadline_unix_s, plan_id)
    return _step(executor, "boost", plan, legs, debt_asset, borrow_wei, deadline_unix_s)


def close_step(executor: str, *, target: LendingTarget, debt_asset: str, collateral_asset: str,
               legs: Sequence[SwapLeg], flash: FlashSource, out_asset: str, min_out_wei: int,
               plan_id: bytes = b"", deadline_unix_s: int = 0) -> TxStep:
    """One transaction: flash the whole debt of ``debt_asset`` (read on chain), repay it, withdraw the whole
    ``collateral_asset``, swap (``legs``: collateral -> debt; ``UINT256_MAX`` = all), repay the flash loan; the
    owner receives everything left and at least ``min_out_wei`` of ``out_asset`` (the debt or collateral asset)."""
    _check_legs(legs, collateral_asset, debt_asset)
    if _address("out_asset", out_asset) not in (_address("debt_asset", debt_asset),
                                                 _address("collateral_asset", collateral_asset)):
        raise ValueError(f"out_asset {out_asset} must be the debt asset or the collateral asset")
    if isinstance(min_out_wei, bool) or not isinstance(min_out_wei, int) or min_out_wei < 0:
        raise ValueError(f"min_out_wei must be a non-negative integer, got {min_out_wei!r}")
    plan = _plan_tuple(flash, target, debt_asset, collateral_asset, 0, 0, legs, WAD, 0, out_asset, min_out_wei,
                       deadline_unix_s, plan_id)
    return _step(executor, "close", plan, legs, debt_asset, None, deadline_unix_s)


def switch_step(executor: str, *, pool: str, from_asset: str, to_asset: str, flash_wei: int, withdraw_wei: int,
                legs: Sequence[SwapLeg], flash: FlashSource, min_health_wad: int, plan_id: bytes = b"",
                deadline_unix_s: int = 0) -> TxStep:
    """One transaction on Aave V3 (``switchCollateral``): flash ``flash_wei`` of ``to_asset`` (B), supply it for the
    owner, withdraw ``withdraw_wei`` of ``from_asset`` (A; ``UINT256_MAX`` = all), swap A -> B (``legs``), repay the
    flash loan (+ premium), supply the B left for the owner; reverts unless the final health >= ``min_health_wad``.

    The contract's ``Plan.debtAsset`` carries B (the flash-borrowed asset) and ``collateralAsset`` A; the debt is
    untouched. ``TxStep.token`` is B and ``amount_wei`` the flash amount."""
    _positive("flash_wei", flash_wei)
    _positive("withdraw_wei", withdraw_wei)
    _check_legs(legs, from_asset, to_asset)
    _check_health(min_health_wad, 0)
    if _address("from_asset", from_asset) == _address("to_asset", to_asset):
        raise ValueError("from_asset and to_asset must differ")
    if sum(leg.min_out_wei for leg in legs) < flash_wei + flash.premium_wei(flash_wei):
        raise ValueError("the legs' minimum outputs must cover the flash loan and its premium")
    kind = next(a.kind for a in registry.adapters("lending") if a.supports_collateral_switch)
    plan = _plan_tuple(flash, LendingTarget(kind, pool), to_asset, from_asset, flash_wei, withdraw_wei, legs,
                       min_health_wad, 0, ZERO_ADDRESS, 0, deadline_unix_s, plan_id)
    return _step(executor, "switchCollateral", plan, legs, to_asset, flash_wei, deadline_unix_s)


def allowed_calls(executor: str) -> set[tuple[str, str]]:
    """(contract, selector) pairs the policy must allow for the atomic path: the executor's four entry points."""
    address = _address("executor", executor)
    return {(address, sel) for sel in ENTRY_POINTS.values()}


# ------------------------------------------------------------------------------------------------ router kinds
# Leg router kinds (the swap venue's router codec) -> the contract's Leg.routerKind (ROUTER_V1 / ROUTER_02), and
# the router selector each kind's leg calls (what the allow-list needs on that router for the legs' inner steps).
EXACT_INPUT_02 = selector_of("exactInput((bytes,address,uint256,uint256))")  # SwapRouter02 (IV3SwapRouter)
ROUTER_KINDS = {"swap_router": 0, "swap_router02": 1}
LEG_SELECTOR = {"swap_router": EXACT_INPUT, "swap_router02": EXACT_INPUT_02}


def leg_allowed_calls(legs: Sequence[SwapLeg]) -> set[tuple[str, str]]:
    """(router, selector) pairs the policy must allow for ``legs``: each leg's router's ``exactInput`` of its kind
    (``allowed_calls(executor) | leg_allowed_calls(legs)`` is the whole atomic allow-list)."""
    return {(_address("router", leg.router), LEG_SELECTOR[_kind(leg)]) for leg in legs}


# ------------------------------------------------------------------------------------------------ internals
def _plan_tuple(flash: FlashSource, target: LendingTarget, debt_asset: str, collateral_asset: str,
                flash_amount_wei: int, collateral_amount_wei: int, legs: Sequence[SwapLeg], min_health_wad: int,
                max_health_wad: int, out_asset: str, min_out_wei: int, deadline_unix_s: int,
                plan_id: bytes) -> tuple:
    """The contract's ``struct Plan`` in field order."""
    if flash.kind not in FLASH_KINDS:
        raise ValueError(f"flash.kind must be one of {sorted(FLASH_KINDS)}, got {flash.kind!r}")
    ids = protocol_ids()
    if target.protocol not in ids:
        raise ValueError(f"target.protocol must be one of {sorted(ids)}, got {target.protocol!r}")
    if flash.kind == "morpho" and flash.premium_bps != 0:
        raise ValueError("Morpho Blue flash loans have no fee: premium_bps must be 0")
    debt, coll = _address("debt_asset", debt_asset), _address("collateral_asset", collateral_asset)
    if registry.adapter(target.protocol).executor_target_has_market:
        if target.morpho_market is None:
            raise ValueError(f"a {target.protocol} target needs morpho_market (loan, collateral, oracle, irm, lltv)")
        loan, mcoll, oracle, irm, lltv = target.morpho_market
        market = (_address("loan", loan), _address("collateral", mcoll), _address("oracle", oracle),
                  _address("irm", irm), int(lltv))
        if (market[0], market[1]) != (debt, coll):
            raise ValueError("morpho_market's loan/collateral tokens must equal debt_asset/collateral_asset")
    else:
        market = (ZERO_ADDRESS, ZERO_ADDRESS, ZERO_ADDRESS, ZERO_ADDRESS, 0)
    if len(plan_id) > 32:
        raise ValueError(f"plan_id is at most 32 bytes, got {len(plan_id)}")
    if not isinstance(deadline_unix_s, int) or deadline_unix_s < 0:
        raise ValueError(f"deadline_unix_s must be a non-negative integer, got {deadline_unix_s!r}")
    leg_tuples = [(_address("router", leg.router), bytes(leg.path), leg.amount_in_wei, leg.min_out_wei,
                   ROUTER_KINDS[_kind(leg)]) for leg in legs]
    return (FLASH_KINDS[flash.kind], _address("lender", flash.lender), ids[target.protocol],
            _address("pool", target.pool), market, debt, coll, flash_amount_wei, collateral_amount_wei, leg_tuples,
            min_health_wad, max_health_wad, _address("out_asset", out_asset), min_out_wei, deadline_unix_s,
            bytes(plan_id).ljust(32, b"\0"))


def _step(executor: str, action: str, plan: tuple, legs: Sequence[SwapLeg], debt_asset: str,
          amount_wei: int | None, deadline_unix_s: int) -> TxStep:
    executor = _address("executor", executor)
    data = encode_call(ABI, action, [plan])
    return TxStep(to=executor, data=data, label=f"atomic_{action}", kind="call", token=_address("debt", debt_asset),
                  amount_wei=amount_wei, inner=_inner_swaps(executor, legs, deadline_unix_s))


def _inner_swaps(executor: str, legs: Sequence[SwapLeg], deadline_unix_s: int) -> tuple[TxStep, ...]:
    """The legs as swap steps for policy (allow-list + slippage), when every leg has its oracle amount."""
    if not legs or any(leg.oracle_out_wei is None for leg in legs):
        return ()
    out = []
    for i, leg in enumerate(legs):
        # NOTE: the executor passes block.timestamp as the router deadline (SwapRouter; SwapRouter02 has none);
        # the plan deadline bounds it.
        deadline = deadline_unix_s or UINT256_MAX
        data = registry.venue().swap_codec().encode_inner_swap(_kind(leg), "exactInput", path=bytes(leg.path), recipient=executor,
                                 deadline_unix_s=deadline, amount_wei=leg.amount_in_wei, limit_wei=leg.min_out_wei)
        bounds = SwapBounds(mode="exact_in", token_in=leg.token_in, token_out=leg.token_out,
                            amount_in_wei=leg.amount_in_wei, min_amount_out_wei=leg.min_out_wei,
                            oracle_amount_out_wei=leg.oracle_out_wei, slippage_bps=leg.slippage_bps,
                            deadline_unix_s=min(deadline, 2**63 - 1))
        out.append(TxStep(to=leg.router, data=data, label=f"atomic_leg_{i}", kind="swap", token=leg.token_in,
                          amount_wei=leg.amount_in_wei, swap=bounds))
    return tuple(out)


def _kind(leg: SwapLeg) -> str:
    if leg.router_kind not in ROUTER_KINDS:
        raise ValueError(f"leg router_kind must be one of {', '.join(ROUTER_KINDS)}, got {leg.router_kind!r}")
    return leg.router_kind


def _check_legs(legs: Sequence[SwapLeg], token_in: str, token_out: str) -> None:
    if not legs:
        raise ValueError("an atomic action needs at least one swap leg")
    tin, tout = _address("token_in", token_in), _address("token_out", token_out)
    for i, leg in enumerate(legs):
        _kind(leg)
        path = bytes(leg.path)
        if len(path) < 43 or (len(path) - 20) % 23:
            raise ValueError(f"leg {i}: path of {len(path)} bytes is not a packed v3 path (20 + 23k bytes)")
        if (leg.token_in, leg.token_out) != (tin, tout):
            raise ValueError(f"leg {i}: path goes {leg.token_in} -> {leg.token_out}, expected {tin} -> {tout}")
        _positive(f"leg {i} amount_in_wei", leg.amount_in_wei)
        if not isinstance(leg.min_out_wei, int) or leg.min_out_wei <= 0:
            raise ValueError(f"leg {i}: min_out_wei must be a positive integer (every leg has a minimum out)")


def _check_health(min_health_wad: int, max_health_wad: int) -> None:
    if not isinstance(min_health_wad, int) or min_health_wad < WAD:
        raise ValueError(f"min_health_wad must be an integer >= 1e18 (health 1.0), got {min_health_wad!r}")
    if max_health_wad and max_health_wad < min_health_wad:
        raise ValueError(f"max_health_wad {max_health_wad} is below min_health_wad {min_health_wad}")


def _positive(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer (wei), got {value!r}")
    return value


def _address(name: str, value: str) -> str:
    if not isinstance(value, str) or not is_hex_address(value):
        raise ValueError(f"{name} must be a hex address, got {value!r}")
    return to_checksum_address(value)


__all__ = ["ENTRY_POINTS", "FlashSource", "LendingTarget", "SwapLeg", "allowed_calls", "boost_step", "close_step",
           "deleverage_step", "pack_path", "switch_step"]


def executor_errors() -> dict[str, str]:
    """``{selector hex (no 0x): "Name(types)"}`` of the contract's custom errors (to name a revert)."""
    from manager.chain.abi import abi_type, load_abi

    out = {}
    for item in load_abi(ABI):
        if item.get("type") == "error":
            sig = f"{item['name']}({','.join(abi_type(i) for i in item['inputs'])})"
            out[selector_of(sig)[2:]] = sig
    return out


def decode_executor_error(data: str | bytes | None) -> str | None:
    """``"HealthTooLow(healthWad=..., minHealthWad=...)"`` for a PosmanExecutor revert, else None."""
    from eth_abi import decode

    from manager.chain.abi import load_abi

    hexdata = bytes(data).hex() if isinstance(data, bytes | bytearray) else (data or "").removeprefix("0x")
    sig = executor_errors().get(hexdata[:8].lower())
    if sig is None:
        return None
    name = sig.split("(")[0]
    item = next(i for i in load_abi(ABI) if i.get("type") == "error" and i["name"] == name)
    if not item["inputs"]:
        return f"PosmanExecutor.{name}()"
    try:
        values = decode([i["type"] for i in item["inputs"]], bytes.fromhex(hexdata[8:]))
    except Exception:
        return f"PosmanExecutor.{name}(undecodable)"
    args = ", ".join(f"{i['name']}={v}" for i, v in zip(item["inputs"], values, strict=True))
    return f"PosmanExecutor.{name}({args})"
