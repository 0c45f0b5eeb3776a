"""Value a swap of ``x`` input units from a pool-depth curve (or an oracle fallback), and invert it.

The watcher quotes a pool with the pool's own math at increasing input sizes (``DepthCurve``). A sale
of ``x`` wei is valued by linear interpolation between quoted points, starting at (0, 0). Quoted
outputs are concave in the input, so the interpolation under-estimates the output (it errs against
us). Sizes beyond the last quoted point cannot be valued: the curve's last input is a hard cap.

Without a curve, ``SwapModel.oracle`` values a sale at the oracle price less the pool fee and a
configured max-slippage haircut; decisions built that way say so in their reason.

``SwapModel.out_wei`` is the *guaranteed* output we plan with: the quoted output less an execution
tolerance (it becomes the swap's ``min_amount_out``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from manager.domain import DepthCurve
from manager.sizing._checks import BadInputError, finite, non_negative, positive

if TYPE_CHECKING:
    from manager.sizing.caps import SizingLimits


@dataclass(frozen=True)
class SwapModel:
    """Piecewise-linear guaranteed output ``out_wei(x_wei)``; ``xs[0] == ys[0] == 0``."""

    xs: np.ndarray  # input wei (float64), strictly increasing, xs[0] = 0
    ys: np.ndarray  # guaranteed output wei, non-decreasing, ys[0] = 0
    max_in_wei: float  # inf for the oracle fallback
    source: str  # "depth_curve" | "oracle_fallback" | "identity"
    impact_free_rate: float  # out wei per in wei at zero size before fees and tolerance (mid/oracle)

    # --- construction ---------------------------------------------------------------------------
    @classmethod
    def from_curve(cls, curve: DepthCurve, *, tolerance_bps: float = 0.0) -> SwapModel:
        tol = non_negative("swap_tolerance_bps", tolerance_bps)
        if tol >= 10_000:
            raise BadInputError(f"swap_tolerance_bps={tolerance_bps}: must be < 10000", field="swap_tolerance_bps", value=tolerance_bps)
        positive("mid_price", curve.mid_price)
        if not curve.points:
            raise BadInputError(f"points=(): depth curve {curve.pool} has no quotes", field="points", value=0)
        xs = [0.0]
        ys = [0.0]
        for i, p in enumerate(curve.points):
            if p.amount_in_wei <= xs[-1] or p.amount_out_wei < 0:
                raise BadInputError(
                    f"points[{i}]=({p.amount_in_wei}, {p.amount_out_wei}): inputs must increase and outputs be >= 0",
                    field="points", value=i,
                )
            x = float(p.amount_in_wei)
            if x <= xs[-1]:
                # NOTE: two integer inputs can round to one float (e.g. 2**60 and 2**60 + 1); keep the
                # earlier (smaller, lower-output) quote: a zero-width segment has no slope.
                continue
            xs.append(x)
            ys.append(max(float(p.amount_out_wei), ys[-1]))
        factor = 1.0 - tol / 10_000
        rate = curve.mid_price * 10.0 ** (curve.decimals_out - curve.decimals_in)
        return cls(np.array(xs), np.array(ys) * factor, xs[-1], "depth_curve", rate)

    @classmethod
    def oracle(
        cls,
        *,
        price_in_base: float,
        price_out_base: float,
        decimals_in: int,
        decimals_out: int,
        fee_bps: float,
        haircut_bps: float,
    ) -> SwapModel:
        pin = positive("price_in_base", price_in_base)
        pout = positive("price_out_base", price_out_base)
        fee = non_negative("fee_bps", fee_bps)
        cut = non_negative("max_slippage_bps", haircut_bps)
        if fee + cut >= 10_000:
            raise BadInputError(f"fee_bps+max_slippage_bps={fee + cut}: must be < 10000", field="fee_bps", value=fee)
        rate = pin / pout * 10.0 ** (decimals_out - decimals_in)
        g = (1 - fee / 10_000) * (1 - cut / 10_000)
        return cls(np.array([0.0, 1.0]), np.array([0.0, rate * g]), math.inf, "oracle_fallback", rate)

    @classmethod
    def identity(cls) -> SwapModel:
        """Collateral and debt are the same token: no swap, 1:1."""
        return cls(np.array([0.0, 1.0]), np.array([0.0, 1.0]), math.inf, "identity", 1.0)

    def with_input_fee(self, fee_bps: float) -> SwapModel:
        """The same swap after a fee taken from the sell input (e.g. a service fee of ``srcAmount/400``)."""
        f = non_negative("service_fee_bps", fee_bps) / 10_000
        if f == 0:
            return self
        if f >= 1:
            raise BadInputError(f"service_fee_bps={fee_bps}: must be < 10000", field="service_fee_bps", value=fee_bps)
        if math.isinf(self.max_in_wei):
            return SwapModel(self.xs, self.ys * (1 - f), self.max_in_wei, self.source, self.impact_free_rate * (1 - f))
        return SwapModel(self.xs / (1 - f), self.ys, self.max_in_wei / (1 - f), self.source, self.impact_free_rate * (1 - f))

    @property
    def marginal_rate(self) -> float:
        """Guaranteed output per input wei for a tiny sale (slope of the first segment)."""
        return float((self.ys[1] - self.ys[0]) / (self.xs[1] - self.xs[0]))

    # --- evaluation -----------------------------------------------------------------------------

    def out_wei(self, x_wei: float) -> float:
        """Guaranteed output for ``x_wei`` input (float; callers floor it)."""
        x = finite("amount_in_wei", x_wei)
        if x < 0:
            raise BadInputError(f"amount_in_wei={x_wei}: must be >= 0", field="amount_in_wei", value=x_wei)
        if x > self.max_in_wei * (1 + 1e-12):
            raise BadInputError(f"amount_in_wei={x_wei}: beyond the quoted depth {self.max_in_wei:.0f}",
                                field="amount_in_wei", value=x_wei)
        if math.isinf(self.max_in_wei):
            return x * float(self.ys[1])  # linear models: one slope
        return float(np.interp(x, self.xs, self.ys))

    def segments(self, start_wei: float = 0.0) -> Iterator[tuple[float, float, float, float]]:
        """Yield ``(x0, x1, y0, slope)`` for x >= ``start_wei`` (x1 may be inf)."""
        if math.isinf(self.max_in_wei):
            yield start_wei, math.inf, start_wei * float(self.ys[1]), float(self.ys[1])
            return
        for i in range(len(self.xs) - 1):
            x0, x1 = float(self.xs[i]), float(self.xs[i + 1])
            if x1 <= start_wei or x1 <= x0:
                continue
            slope = (float(self.ys[i + 1]) - float(self.ys[i])) / (x1 - x0)
            a = max(x0, start_wei)
            yield a, x1, float(self.ys[i]) + slope * (a - x0), slope

    def input_for_output(self, y_wei: float) -> float:
        """Smallest input with guaranteed output >= ``y_wei``; ``inf`` if the depth cannot deliver it."""
        y = non_negative("amount_out_wei", y_wei)
        for x0, x1, y0, slope in self.segments():
            y1 = y0 + slope * (x1 - x0) if math.isfinite(x1) else math.inf
            if y <= y1:
                return float(x0 if slope == 0 else x0 + (y - y0) / slope)
        return math.inf

    def depth_cap_wei(self, max_slippage_bps: float, fee_fraction: float = 0.0) -> float:
        """Largest input whose average price impact (vs the mid price after the fee) is <= ``max_slippage_bps``."""
        s = non_negative("max_slippage_bps", max_slippage_bps) / 10_000
        if math.isinf(self.max_in_wei):
            return math.inf
        m = self.impact_free_rate * (1 - fee_fraction) * (1 - s)  # required average out per in
        best = 0.0
        for x0, x1, y0, slope in self.segments():
            # y0 + slope*(x - x0) >= m*x on this segment
            f0 = y0 - m * x0
            f1 = y0 + slope * (x1 - x0) - m * x1
            if f1 >= 0:
                best = x1
                continue
            if f0 >= 0 and slope < m:
                best = x0 + f0 / (m - slope)
            break
        return best


def curve_sale(curve: DepthCurve, limits: SizingLimits) -> tuple[SwapModel, float]:
    """The guaranteed-output model for selling on ``curve``, and the largest input (wei) to sell on it.

    The model is the curve less ``limits.swap_tolerance_bps`` after the ``limits.service_fee_bps`` input fee;
    the cap is the largest input whose **guaranteed** output (pool fee, price impact and the tolerance all
    counted) stays within ``limits.max_slippage_bps`` of the mid price, grossed up for the service fee, never
    beyond the quoted depth. NOTE: that is the bound the execution policy checks each swap's minimum out
    against (``max_slippage_bps`` below the oracle amount, pools aligned with the oracle), so a sale sized
    here is never refused for slippage.
    """
    model = SwapModel.from_curve(curve, tolerance_bps=limits.swap_tolerance_bps).with_input_fee(limits.service_fee_bps)
    guaranteed = SwapModel.from_curve(curve, tolerance_bps=limits.swap_tolerance_bps)
    cap = guaranteed.depth_cap_wei(limits.max_slippage_bps, 0.0)
    return model, min(cap / (1 - limits.service_fee_bps / 10_000), model.max_in_wei)
