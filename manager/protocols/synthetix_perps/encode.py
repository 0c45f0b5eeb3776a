"""Synthetix PerpsV2 write encoders: unsigned ``TxStep`` calls on a market's ``ProxyPerpsV2``.

Mirrors synthetix 2.102.1 ``contracts/PerpsV2Market.sol``: ``transferMargin(int256 marginDelta)``
(> 0 burns sUSD from the sender into margin, < 0 mints it back), ``withdrawAllMargin()``,
``modifyPosition(int256 sizeDelta, uint256 desiredFillPrice)`` (a direct order at the oracle price
adjusted for skew: ``PerpsV2MarketBase._fillPrice``; reverts "Price impact exceeded" when the fill is
worse than ``desiredFillPrice``), ``closePosition(uint256 desiredFillPrice)``; and
``PerpsV2MarketDelayedIntent.sol``: ``submitDelayedOrder(int256 sizeDelta, uint256 desiredTimeDelta,
uint256 desiredFillPrice)``. Margin deposits need no approval: the market burns sUSD directly
(``FuturesMarketManager.burnSUSD``). Amounts are 1e18 fixed point (``_wad``).

``steps_for_decision`` maps a ``decide_perp`` decision onto these calls, with ``desiredFillPrice``
bounded by ``slippage_bps`` around the exact fill price at the read block.
"""

from __future__ import annotations

from eth_abi import encode as abi_encode
from eth_utils import function_signature_to_4byte_selector

from manager.domain import SizingDecision
from manager.execution.types import TxStep
from manager.protocols.synthetix_perps.math import SNX_UNIT, PerpsV2Market, snx_div, snx_mul
from manager.protocols.synthetix_perps.types import PerpSnapshot

INT256_MAX = 2**255 - 1


def _data(signature: str, types: list[str], args: list[object]) -> str:
    return "0x" + (function_signature_to_4byte_selector(signature) + abi_encode(types, args)).hex()


def _nonzero_int(name: str, v: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v == 0 or abs(v) > INT256_MAX:
        raise ValueError(f"{name} must be a non-zero int256 (wad), got {v!r}")
    return v


def _price(v: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        raise ValueError(f"desired_fill_price_wad must be a positive integer, got {v!r}")
    return v


def transfer_margin(market: str, margin_delta_wad: int, *, usd_value: float = 0.0) -> TxStep:
    """``transferMargin(marginDelta)``: deposit (> 0) or withdraw (< 0) sUSD margin."""
    d = _nonzero_int("margin_delta_wad", margin_delta_wad)
    return TxStep(to=market, data=_data("transferMargin(int256)", ["int256"], [d]),
                  label=f"transferMargin {d / SNX_UNIT:+.6f} sUSD", kind="call", usd_value=usd_value,
                  amount_wei=abs(d), gas_hint=400_000)


def withdraw_all_margin(market: str) -> TxStep:
    return TxStep(to=market, data=_data("withdrawAllMargin()", [], []), label="withdrawAllMargin", kind="call",
                  gas_hint=400_000)


def modify_position(market: str, size_delta_wad: int, desired_fill_price_wad: int, *,
                    usd_value: float = 0.0) -> TxStep:
    """``modifyPosition(sizeDelta, desiredFillPrice)``: a direct order (buy: fill <= desired; sell: fill >= desired)."""
    d = _nonzero_int("size_delta_wad", size_delta_wad)
    return TxStep(to=market, data=_data("modifyPosition(int256,uint256)", ["int256", "uint256"],
                                        [d, _price(desired_fill_price_wad)]),
                  label=f"modifyPosition {d / SNX_UNIT:+.8g}", kind="call", usd_value=usd_value, amount_wei=abs(d),
                  gas_hint=700_000)


def close_position(market: str, desired_fill_price_wad: int, *, usd_value: float = 0.0) -> TxStep:
    return TxStep(to=market, data=_data("closePosition(uint256)", ["uint256"], [_price(desired_fill_price_wad)]),
                  label="closePosition", kind="call", usd_value=usd_value, gas_hint=700_000)


def submit_delayed_order(market: str, size_delta_wad: int, desired_time_delta_s: int, desired_fill_price_wad: int,
                         *, usd_value: float = 0.0) -> TxStep:
    """``submitDelayedOrder``: executed by a keeper after ``desired_time_delta_s`` (PerpsV2MarketDelayedIntent)."""
    d = _nonzero_int("size_delta_wad", size_delta_wad)
    return TxStep(to=market, data=_data("submitDelayedOrder(int256,uint256,uint256)", ["int256", "uint256", "uint256"],
                                        [d, int(desired_time_delta_s), _price(desired_fill_price_wad)]),
                  label=f"submitDelayedOrder {d / SNX_UNIT:+.8g}", kind="call", usd_value=usd_value,
                  amount_wei=abs(d), gas_hint=700_000)


def fill_price_wad(m: PerpsV2Market, size_delta_wad: int, price_wad: int | None = None) -> int:
    """``PerpsV2MarketBase._fillPrice``: average of the skew-premium price before and after the trade."""
    p = m.price_wad if price_wad is None else price_wad
    pd_before = snx_div(m.skew_wad, m.skew_scale_wad)
    pd_after = snx_div(m.skew_wad + size_delta_wad, m.skew_scale_wad)
    before = p + snx_mul(p, pd_before)
    after = p + snx_mul(p, pd_after)
    return snx_div(before + after, SNX_UNIT * 2)


def desired_fill_price_wad(m: PerpsV2Market, size_delta_wad: int, slippage_bps: int) -> int:
    """The worst acceptable fill: the exact fill at the read block, moved by ``slippage_bps`` against us."""
    if not 0 <= slippage_bps < 10_000:
        raise ValueError(f"slippage_bps must be in [0, 10000), got {slippage_bps}")
    fill = fill_price_wad(m, size_delta_wad)
    if size_delta_wad > 0:
        return fill * (10_000 + slippage_bps) // 10_000
    return -(-fill * (10_000 - slippage_bps) // 10_000)


def steps_for_decision(decision: SizingDecision, snap: PerpSnapshot, *, slippage_bps: int = 50) -> tuple[TxStep, ...]:
    """The unsigned calls that carry out a ``decide_perp`` decision: margin first, then the size change."""
    market = snap.market_address
    price = snap.market.price_wad
    out: list[TxStep] = []
    margin = decision.deltas_wei.get("margin_susd", 0)
    if margin:
        out.append(transfer_margin(market, margin, usd_value=abs(margin) / SNX_UNIT))
    size = decision.deltas_wei.get(f"size_{snap.market.market}", 0)
    if size:
        if abs(size) >= abs(snap.position.size_wad) and size * snap.position.size_wad < 0:
            out.append(close_position(market, desired_fill_price_wad(snap.market, -snap.position.size_wad,
                                                                     slippage_bps),
                                      usd_value=abs(snap.position.size_wad) * price / SNX_UNIT**2))
        else:
            out.append(modify_position(market, size, desired_fill_price_wad(snap.market, size, slippage_bps),
                                       usd_value=abs(size) * price / SNX_UNIT**2))
    return tuple(out)
