"""Several venues for one sale: every configured pool / fee tier (and two-hop routes) between two tokens.

A sale of ``X`` wei of token A for token B may go through several Uniswap V3 pools (fee tiers) and, when A has
no direct pool to B, through a third token (A -> C -> B). Each venue is a ``DepthCurve`` (the watcher quotes it
with the pool's own math at one block) turned into a guaranteed-output ``SwapModel`` and capped at the input
whose average price impact stays within ``limits.max_slippage_bps`` (``depth.curve_sale``).

``VenueSet`` merges the venues into one guaranteed-output model by **greedy marginal-price equalisation**: the
next wei always goes to the venue whose next curve segment pays the most. Quoted outputs are concave in the
input, so this is the best split of any total (for piecewise-linear concave curves greedy is optimal), and the
merged model is itself piecewise linear: the existing solvers (``deleverage``, ``boost``) size on it unchanged.
``VenueSet.legs(start, amount)`` then splits one sale into integer per-venue legs, each valued on its venue's
curve **after** the plan's earlier sales (``start`` is what the plan already sold into the set), with a minimum
out that is the floor of its own guaranteed output.

The total slippage of a split stays within the limit: every venue's own average stays within it, so the
weighted average does too. ``compose_curves`` builds the two-hop curve of A -> C -> B from the A -> C and C -> B
curves (the second hop valued at the first hop's guaranteed output, so it errs against us).

Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import heapq
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from manager.domain import DepthCurve, QuotePoint
from manager.sizing._checks import BadInputError
from manager.sizing.caps import SizingLimits
from manager.sizing.depth import SwapModel, curve_sale

ORACLE_MARGIN_BPS = 1.0  # the oracle-bound cap stays this far inside max_slippage_bps

# A depth entry: one curve (one pool) or every venue for the pair.
DepthEntry = DepthCurve | Sequence[DepthCurve]


@dataclass(frozen=True)
class Venue:
    """One pool (or route) for the sale: its guaranteed-output model and its slippage cap on the input."""

    model: SwapModel
    cap_wei: float
    tokens: tuple[str, ...] = ()  # route token addresses, token_in ... token_out (empty: oracle fallback)
    fees_pips: tuple[int, ...] = ()
    pool: str = ""

    @property
    def label(self) -> str:
        hops = len(self.fees_pips)
        if hops > 1:
            return "via " + "/".join(t[:8] for t in self.tokens[1:-1]) + f" ({'/'.join(map(str, self.fees_pips))})"
        return f"{self.pool[:10]} ({self.fees_pips[0] if self.fees_pips else '-'} pips)"


@dataclass(frozen=True)
class Leg:
    """One integer leg of a split sale."""

    venue: int
    amount_in_wei: int
    min_out_wei: int
    tokens: tuple[str, ...]
    fees_pips: tuple[int, ...]


@dataclass(frozen=True)
class VenueSet:
    """Venues of one (token_in, token_out) sale, merged into one model (see the module docstring)."""

    venues: tuple[Venue, ...]
    model: SwapModel
    cap_wei: float
    # merged segments in order: (venue index, venue input at start, venue input at end)
    pieces: tuple[tuple[int, float, float], ...] = ()

    @classmethod
    def single(cls, model: SwapModel, cap_wei: float, venue: Venue | None = None) -> VenueSet:
        v = venue or Venue(model=model, cap_wei=cap_wei)
        return cls(venues=(v,), model=model, cap_wei=cap_wei, pieces=())

    @classmethod
    def merge(cls, venues: Sequence[Venue]) -> VenueSet:
        """The greedy merge of ``venues`` (each used up to its own cap)."""
        vs = tuple(v for v in venues if v.cap_wei > 0)
        if not vs:
            vs = tuple(venues[:1])
            return cls(venues=vs, model=vs[0].model, cap_wei=0.0, pieces=()) if vs else cls._empty()
        if len(vs) == 1:
            return cls(venues=vs, model=vs[0].model, cap_wei=vs[0].cap_wei, pieces=())
        if any(math.isinf(v.cap_wei) for v in vs):
            raise BadInputError("cannot split a sale across an unbounded (oracle-valued) venue", field="venues",
                                value=len(vs))
        segs: list[list[tuple[float, float, float]]] = []
        for v in vs:
            out: list[tuple[float, float, float]] = []
            for x0, x1, _y0, slope in v.model.segments():
                if x0 >= v.cap_wei:
                    break
                out.append((x0, min(x1, v.cap_wei), slope))
            segs.append(out)
        heap = [(-s[0][2], i, 0) for i, s in enumerate(segs) if s]
        heapq.heapify(heap)
        xs, ys = [0.0], [0.0]
        pieces: list[tuple[int, float, float]] = []
        while heap:
            _, i, n = heapq.heappop(heap)
            x0, x1, slope = segs[i][n]
            if x1 > x0:
                xs.append(xs[-1] + (x1 - x0))
                ys.append(ys[-1] + slope * (x1 - x0))
                pieces.append((i, x0, x1))
            if n + 1 < len(segs[i]):
                heapq.heappush(heap, (-segs[i][n + 1][2], i, n + 1))
        rate = max(v.model.impact_free_rate for v in vs)
        model = SwapModel(np.array(xs), np.array(ys), xs[-1], "depth_curve", rate)
        return cls(venues=vs, model=model, cap_wei=xs[-1], pieces=tuple(pieces))

    @classmethod
    def _empty(cls) -> VenueSet:
        raise BadInputError("no venue for the sale", field="venues", value=0)

    @property
    def split(self) -> bool:
        return len(self.venues) > 1

    def allocation(self, x_wei: float) -> list[float]:
        """Each venue's input when the set has sold ``x_wei`` in total."""
        if not self.pieces:
            return [x_wei]
        alloc = [0.0] * len(self.venues)
        left = x_wei
        for i, a, b in self.pieces:
            if left <= 0:
                break
            take = min(b - a, left)
            alloc[i] = a + take
            left -= take
        return alloc

    def legs(self, start_wei: float, amount_wei: int) -> list[Leg]:
        """Integer legs for selling ``amount_wei`` after ``start_wei`` already sold into the set this plan."""
        before = self.allocation(start_wei)
        after = self.allocation(start_wei + amount_wei)
        shares = [max(0.0, a - b) for a, b in zip(after, before, strict=True)]
        # NOTE: float shares of an 1e18-sized sale are not exact: the largest leg takes the integer remainder,
        # so the legs always sum to the sale exactly.
        ints = [min(amount_wei, max(0, math.floor(s))) for s in shares]
        top = max(range(len(shares)), key=lambda i: shares[i])
        ints[top] = 0
        ints[top] = max(0, amount_wei - sum(ints))
        out: list[Leg] = []
        for i, x in enumerate(ints):
            if x <= 0:
                continue
            v = self.venues[i]
            u0 = before[i]
            hi = min(u0 + x, v.model.max_in_wei)
            y = v.model.out_wei(hi) - (v.model.out_wei(u0) if u0 > 0 else 0.0)
            out.append(Leg(venue=i, amount_in_wei=x, min_out_wei=max(0, math.floor(y)), tokens=v.tokens,
                           fees_pips=v.fees_pips))
        return out

    def describe(self) -> str:
        return ", ".join(v.label for v in self.venues)


def curves_of(entry: DepthEntry | None) -> tuple[DepthCurve, ...]:
    if entry is None:
        return ()
    if isinstance(entry, DepthCurve):
        return (entry,)
    return tuple(entry)


def venue_of(curve: DepthCurve, limits: SizingLimits, oracle_rate: float | None = None) -> Venue:
    """One venue: the curve's guaranteed-output model and its cap (``depth.curve_sale``). With ``oracle_rate``
    (out wei per in wei at the oracle) the cap also keeps the guaranteed output within ``max_slippage_bps`` of
    the oracle amount: the policy checks each leg against the oracle, and a pool (or a route's middle pool)
    may sit a few bps off it."""
    model, cap = curve_sale(curve, limits)
    if oracle_rate is not None and math.isfinite(oracle_rate) and oracle_rate > 0:
        guaranteed = SwapModel.from_curve(curve, tolerance_bps=limits.swap_tolerance_bps)
        at_oracle = dataclasses.replace(guaranteed, impact_free_rate=oracle_rate)
        # NOTE: 1 bp inside the limit: the legs' floored minimum outs and the policy's integer oracle amount
        # must not land a wei over it
        limit = max(0.0, limits.max_slippage_bps - ORACLE_MARGIN_BPS)
        cap = min(cap, at_oracle.depth_cap_wei(limit, 0.0) / (1 - limits.service_fee_bps / 10_000))
    tokens, fees = curve.route
    return Venue(model=model, cap_wei=cap, tokens=tuple(tokens), fees_pips=tuple(fees), pool=curve.pool)


def venue_set(curves: Iterable[DepthCurve], limits: SizingLimits, oracle_rate: float | None = None) -> VenueSet | None:
    """The merged venues of ``curves`` (None when there is none); ``oracle_rate``: see ``venue_of``."""
    vs = [venue_of(c, limits, oracle_rate) for c in curves]
    if not vs:
        return None
    return VenueSet.merge(vs)


def lookup(depth: Mapping[tuple[str, str], DepthEntry] | None, keys: Iterable[tuple[str, str]]) -> tuple[DepthCurve, ...]:
    """Every curve stored under the first of ``keys`` present in ``depth``."""
    if not depth:
        return ()
    for k in keys:
        if k in depth and depth[k] is not None:
            return curves_of(depth[k])
    return ()


def compose_curves(first: DepthCurve, second: DepthCurve) -> DepthCurve:
    """The two-hop route ``first.token_in -> first.token_out (= second.token_in) -> second.token_out``.

    Each point of ``first`` is carried through ``second`` at the first hop's quoted output, linearly
    interpolated on ``second`` (concave, so the interpolation under-estimates); points whose middle amount is
    beyond ``second``'s quoted depth are dropped. Mid prices multiply; the fee is the compound of both fees.
    """
    if first.token_out.lower() != second.token_in.lower():
        raise BadInputError(f"compose_curves: {first.symbol_out or first.token_out} is not the input of the second "
                            f"hop ({second.symbol_in or second.token_in})", field="second", value=second.pool)
    xs2 = [0.0] + [float(p.amount_in_wei) for p in second.points]
    ys2 = [0.0] + [float(p.amount_out_wei) for p in second.points]
    points: list[QuotePoint] = []
    last_in = 0
    for p in first.points:
        mid_amount = float(p.amount_out_wei)
        if mid_amount > xs2[-1]:
            break
        out = math.floor(float(np.interp(mid_amount, xs2, ys2)))
        if p.amount_in_wei > last_in:
            points.append(QuotePoint(amount_in_wei=p.amount_in_wei, amount_out_wei=max(0, out)))
            last_in = p.amount_in_wei
    t1, f1 = first.route
    t2, f2 = second.route
    fee = 1 - (1 - first.fee_pips / 1e6) * (1 - second.fee_pips / 1e6)
    return DepthCurve(
        pool=f"{first.pool}>{second.pool}", token_in=first.token_in, token_out=second.token_out,
        symbol_in=first.symbol_in, symbol_out=second.symbol_out, decimals_in=first.decimals_in,
        decimals_out=second.decimals_out, fee_pips=round(fee * 1e6), block_number=first.block_number,
        mid_price=first.mid_price * second.mid_price, points=tuple(points),
        path=tuple(t1) + tuple(t2[1:]), path_fees_pips=tuple(f1) + tuple(f2),
        hops=(first.hops or (first,)) + (second.hops or (second,)),
    )


HopKey = tuple[str, str, int]  # (token_in, token_out, fee) of one pool hop, lower-case addresses


def hop_key(curve: DepthCurve) -> HopKey:
    return (curve.token_in.lower(), curve.token_out.lower(), int(curve.fee_pips))


def shift_curve(curve: DepthCurve, used_in_wei: float) -> DepthCurve | None:
    """The one-hop ``curve`` after ``used_in_wei`` was already sold into its pool: output of the next sale is
    ``out(used + x) - out(used)`` (interpolated, so it errs against us). The mid stays the pool's price
    before any sale (what slippage is measured against). None when the quoted depth is used up."""
    if used_in_wei <= 0:
        return curve
    xs = [0.0] + [float(p.amount_in_wei) for p in curve.points]
    ys = [0.0] + [float(p.amount_out_wei) for p in curve.points]
    if used_in_wei >= xs[-1]:
        return None
    y_used = float(np.interp(used_in_wei, xs, ys))
    pts = [QuotePoint(amount_in_wei=math.floor(x - used_in_wei), amount_out_wei=max(0, math.floor(y - y_used)))
           for x, y in zip(xs, ys, strict=True) if x - used_in_wei >= 1]
    out: list[QuotePoint] = []
    for p in pts:
        if not out or p.amount_in_wei > out[-1].amount_in_wei:
            out.append(p)
    if not out:
        return None
    return curve.model_copy(update={"points": tuple(out), "depth_at_bps": {}})


class DepthLedger:
    """What the tick's earlier decisions already sell through each pool hop, so a later decision of the same
    tick values its own sales after theirs (they all land in the same block).

    ``shifted(depth)`` gives every curve after the recorded sales (a route: each of its hops shifted, then
    recomposed); ``record(decision_steps, depth)`` adds a decision's swap legs, hop by hop (the input of a
    route's second hop is the first hop's quoted output).
    """

    def __init__(self) -> None:
        self.used: dict[HopKey, float] = {}
        self.curves: dict[HopKey, DepthCurve] = {}

    def _remember(self, curve: DepthCurve) -> None:
        for hop in curve.hops or (curve,):
            self.curves.setdefault(hop_key(hop), hop)

    def shift(self, curve: DepthCurve) -> DepthCurve | None:
        self._remember(curve)
        if curve.hops:
            hops = [shift_curve(h, self.used.get(hop_key(h), 0.0)) for h in curve.hops]
            if any(h is None for h in hops):
                return None
            if all(h is o for h, o in zip(hops, curve.hops, strict=True)):
                return curve
            route = hops[0]
            for h in hops[1:]:
                route = compose_curves(route, h)  # type: ignore[arg-type]
            return route if route.points else None  # type: ignore[union-attr]
        return shift_curve(curve, self.used.get(hop_key(curve), 0.0))

    def shifted(self, depth: Mapping[tuple[str, str], DepthEntry]) -> dict[tuple[str, str], DepthEntry]:
        out: dict[tuple[str, str], DepthEntry] = {}
        for key, entry in depth.items():
            curves = [c for c in (self.shift(c) for c in curves_of(entry)) if c is not None]
            if curves:
                out[key] = curves[0] if len(curves) == 1 else tuple(curves)
        return out

    def record(self, steps: Iterable[object], depth: Mapping[tuple[str, str], DepthEntry]) -> None:
        for st in steps:
            if getattr(st, "kind", "") != "swap" or not getattr(st, "asset_out", None):
                continue
            tokens, fees = tuple(getattr(st, "path", ()) or ()), tuple(getattr(st, "fees_pips", ()) or ())
            if not tokens:  # a plain sale through the pair's one curve
                curves = lookup(depth, ((st.asset, st.asset_out), (st.symbol, st.symbol_out)))  # type: ignore[attr-defined]
                if len(curves) != 1:
                    continue
                tokens, fees = curves[0].route
                self._remember(curves[0])
            amount = float(st.amount_wei)  # type: ignore[attr-defined]
            for i, fee in enumerate(fees):
                key = (tokens[i].lower(), tokens[i + 1].lower(), int(fee))
                before = self.used.get(key, 0.0)
                self.used[key] = before + amount
                hop = self.curves.get(key)
                if hop is None or i + 1 == len(fees):
                    continue
                xs = [0.0] + [float(p.amount_in_wei) for p in hop.points]
                ys = [0.0] + [float(p.amount_out_wei) for p in hop.points]
                amount = float(np.interp(before + amount, xs, ys) - np.interp(before, xs, ys))


__all__ = ["DepthEntry", "DepthLedger", "Leg", "Venue", "VenueSet", "compose_curves", "curves_of", "hop_key",
           "lookup", "shift_curve", "venue_of", "venue_set"]
