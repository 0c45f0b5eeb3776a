"""Synthetix PerpsV2 read adapter: build the calls, decode the results, at ONE block.

Mirrors synthetix 2.102.1:
- ``PerpsV2MarketViews.sol`` (routed by the market's ``ProxyPerpsV2``): ``assetPrice``, ``marketKey``,
  ``marketSkew``, ``marketSize``, ``fundingLastRecomputed``, ``fundingRateLastRecomputed``,
  ``fundingSequenceLength``, ``fundingSequence(i)``, ``positions(account)`` (``IPerpsV2MarketBaseTypes.Position``:
  id, lastFundingIndex, margin, lastPrice, size), and the protocol's own figures kept for checks:
  ``remainingMargin``, ``accruedFunding``, ``profitLoss``, ``notionalValue``, ``liquidationPrice``
  (approximate), ``liquidationFee``, ``canLiquidate``, ``accessibleMargin``.
- ``PerpsV2MarketSettings.sol``: per-market ``skewScale``, ``maxFundingVelocity``,
  ``liquidationPremiumMultiplier``, ``liquidationBufferRatio``, ``takerFee``, ``makerFee``, ``maxLeverage``
  and the global ``liquidationFeeRatio``, ``minKeeperFee``, ``maxKeeperFee``, ``keeperLiquidationFee``,
  ``minInitialMargin``.
- ``ExchangeRates.currencyKeyDecimals(asset)`` (the feed's decimals: the price grid).

Two rounds, both at the same explicit block: (1) market, settings, positions, wallets and reported
views; (2) ``fundingSequence`` at the last index and at every position's ``lastFundingIndex``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils import to_checksum_address

from manager.chain.batch import ReadPlan, run_plan
from manager.chain.client import ChainClient
from manager.chain.multicall import Call, CallResult
from manager.domain import PositionSnapshot
from manager.errors import DataQualityError, PosmanError
from manager.protocols.reading import PositionRequest, ProtocolRead, ReadContext
from manager.protocols.synthetix_perps.math import PerpsV2Market, PerpsV2Position
from manager.protocols.synthetix_perps.types import PerpSnapshot

POSITION_T = "(uint64,uint64,uint128,uint128,int128)"


def b32(text: str) -> bytes:
    return text.encode().ljust(32, b"\0")


def _key(raw: bytes) -> str:
    return bytes(raw).rstrip(b"\0").decode(errors="replace")


@dataclass(frozen=True)
class PerpsV2Addresses:
    """Where one market lives (``book["synthetix"]`` on the devnet, or a config on a real chain)."""

    market: str  # the market's ProxyPerpsV2
    settings: str  # PerpsV2MarketSettings
    exchange_rates: str  # ExchangeRates
    susd: str  # sUSD ProxyERC20 (wallet balances)
    name: str = ""  # "ETH"

    @classmethod
    def from_book(cls, snx: dict[str, Any], market: str) -> PerpsV2Addresses:
        return cls(market=snx["markets"][market]["proxy"], settings=snx["perps_settings"],
                   exchange_rates=snx["exchange_rates"], susd=snx["susd"], name=market)


@dataclass(frozen=True)
class ReportedPerp:
    """The protocol's own views for one account at the read block (for checks and display)."""

    remaining_margin_wad: int
    accrued_funding_wad: int
    pnl_wad: int
    notional_wad: int
    liquidation_price_wad: int  # the approximate view
    liquidation_fee_wad: int
    can_liquidate: bool
    accessible_margin_wad: int


_MARKET_CALLS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("assetPrice()", "assetPrice", ("uint256", "bool")),
    ("marketKey()", "marketKey", ("bytes32",)),
    ("baseAsset()", "baseAsset", ("bytes32",)),
    ("marketSkew()", "marketSkew", ("int128",)),
    ("marketSize()", "marketSize", ("uint128",)),
    ("fundingLastRecomputed()", "fundingLastRecomputed", ("uint32",)),
    ("fundingRateLastRecomputed()", "fundingRateLastRecomputed", ("int128",)),
    ("fundingSequenceLength()", "fundingSequenceLength", ("uint256",)),
)
_MARKET_PARAMS = ("skewScale", "maxFundingVelocity", "liquidationPremiumMultiplier", "liquidationBufferRatio",
                  "takerFee", "makerFee", "maxLeverage")
_GLOBAL_PARAMS = ("liquidationFeeRatio", "minKeeperFee", "maxKeeperFee", "keeperLiquidationFee", "minInitialMargin")
_REPORTED = (
    ("remainingMargin", "(uint256,bool)"), ("accruedFunding", "(int256,bool)"), ("profitLoss", "(int256,bool)"),
    ("notionalValue", "(int256,bool)"), ("liquidationPrice", "(uint256,bool)"), ("liquidationFee", "uint256"),
    ("canLiquidate", "bool"), ("accessibleMargin", "(uint256,bool)"),
)


def build_market_calls(a: PerpsV2Addresses, market_key: str) -> list[Call]:
    """Round 1, market part: state of the market and its settings (``market_key`` like "sETHPERP")."""
    calls = [Call.build(a.market, sig, [], out, label=label) for sig, label, out in _MARKET_CALLS]
    calls += [Call.build(a.settings, f"{p}(bytes32)", [b32(market_key)], ["uint256"], label=p) for p in _MARKET_PARAMS]
    calls += [Call.build(a.settings, f"{p}()", [], ["uint256"], label=p) for p in _GLOBAL_PARAMS]
    return calls


def build_account_calls(a: PerpsV2Addresses, account: str, *, with_reported: bool = True) -> list[Call]:
    acct = to_checksum_address(account)
    calls = [Call.build(a.market, "positions(address)", [acct], [POSITION_T], label=f"positions({acct})"),
             Call.build(a.susd, "balanceOf(address)", [acct], ["uint256"], label=f"sUSD.balanceOf({acct})")]
    if with_reported:
        calls += [Call.build(a.market, f"{fn}(address)", [acct], [out], label=f"{fn}({acct})") for fn, out in _REPORTED]
    return calls


def _ok(results: Sequence[CallResult]) -> list[Any]:
    return [r.unwrap() for r in results]


def decode_market(a: PerpsV2Addresses, values: Sequence[Any], *, block_number: int, block_timestamp: int,
                  funding_sequence_last_wad: int, price_decimals: int) -> PerpsV2Market:
    n = len(_MARKET_CALLS)
    (price, invalid), key, _asset, skew, size, last_ts, last_rate, seq_len = values[:n]
    mp = dict(zip(_MARKET_PARAMS, values[n : n + len(_MARKET_PARAMS)], strict=True))
    gp = dict(zip(_GLOBAL_PARAMS, values[n + len(_MARKET_PARAMS) :], strict=True))
    return PerpsV2Market(
        market=a.name, market_key=_key(key), block_number=block_number, block_timestamp=block_timestamp,
        price_wad=int(price), price_invalid=bool(invalid), skew_wad=int(skew), market_size_wad=int(size),
        funding_last_recomputed_s=int(last_ts), funding_rate_last_recomputed_wad=int(last_rate),
        funding_sequence_last_wad=funding_sequence_last_wad, funding_sequence_length=int(seq_len),
        skew_scale_wad=int(mp["skewScale"]), max_funding_velocity_wad=int(mp["maxFundingVelocity"]),
        liquidation_premium_multiplier_wad=int(mp["liquidationPremiumMultiplier"]),
        liquidation_buffer_ratio_wad=int(mp["liquidationBufferRatio"]),
        taker_fee_wad=int(mp["takerFee"]), maker_fee_wad=int(mp["makerFee"]), max_leverage_wad=int(mp["maxLeverage"]),
        liquidation_fee_ratio_wad=int(gp["liquidationFeeRatio"]), min_keeper_fee_wad=int(gp["minKeeperFee"]),
        max_keeper_fee_wad=int(gp["maxKeeperFee"]), keeper_liquidation_fee_wad=int(gp["keeperLiquidationFee"]),
        min_initial_margin_wad=int(gp["minInitialMargin"]), price_decimals=price_decimals,
    )


def decode_reported(values: Sequence[Any]) -> ReportedPerp:
    rm, af, pnl, notional, lp, lf, can, am = values
    return ReportedPerp(remaining_margin_wad=int(rm[0]), accrued_funding_wad=int(af[0]), pnl_wad=int(pnl[0]),
                        notional_wad=int(notional[0]), liquidation_price_wad=int(lp[0]), liquidation_fee_wad=int(lf),
                        can_liquidate=bool(can), accessible_margin_wad=int(am[0]))


def read_perps(client: ChainClient, a: PerpsV2Addresses, accounts: Sequence[str], block_number: int, *,
               market_key: str | None = None, block_timestamp: int | None = None, with_reported: bool = True,
               names: Sequence[str] | None = None) -> tuple[list[PerpSnapshot], dict[str, ReportedPerp]]:
    """Snapshots of ``accounts`` in one market at ``block_number`` (two multicall rounds at that block).

    Returns (snapshots in the order of ``accounts``, {account: the protocol's own views}). Raises
    ``DataQualityError`` when a read fails or the market reports an empty funding sequence.
    """
    if block_timestamp is None:
        block_timestamp = client.block_timestamp(block_number)
    return run_plan(client, perps_plan(a, accounts, block_number, market_key=market_key,
                                       block_timestamp=block_timestamp, with_reported=with_reported, names=names),
                    block_number)


def perps_plan(a: PerpsV2Addresses, accounts: Sequence[str], block_number: int, *, market_key: str | None = None,
               block_timestamp: int, with_reported: bool = True, names: Sequence[str] | None = None,
               oracle_symbol: str = "") -> ReadPlan[tuple[list[PerpSnapshot], dict[str, ReportedPerp]]]:
    """The read plan of ``read_perps`` (two rounds; three without ``market_key``). ``oracle_symbol``: the oracle
    symbol of the market's asset, carried by every snapshot (``PerpSnapshot.oracle_symbol``)."""
    if market_key is None:
        market_key = _key((yield [Call.build(a.market, "marketKey()", [], ["bytes32"])])[0].unwrap())
    mcalls = build_market_calls(a, market_key)
    asset_call = Call.build(a.market, "baseAsset()", [], ["bytes32"], label="baseAsset")
    per_acct = [build_account_calls(a, acct, with_reported=with_reported) for acct in accounts]
    flat = mcalls + [asset_call] + [c for cs in per_acct for c in cs]
    res = yield flat
    mvals = _ok(res[: len(mcalls)])
    base_asset = res[len(mcalls)].unwrap()
    off = len(mcalls) + 1
    seq_len = int(mvals[7])
    if seq_len < 1:
        raise DataQualityError(f"{a.name or a.market}: empty funding sequence at block {block_number} "
                               "(market state not initialized)", block_number=block_number, market=a.market)
    positions: list[tuple[Any, int, list[Any]]] = []
    for cs in per_acct:
        vals = _ok(res[off : off + len(cs)])
        off += len(cs)
        positions.append((vals[0], int(vals[1]), vals[2:]))
    # round 2: funding sequence entries (last, and each position's lastFundingIndex) + the feed decimals
    round2 = [Call.build(a.market, "fundingSequence(uint256)", [seq_len - 1], ["int128"], label="fundingSequence(last)"),
              Call.build(a.exchange_rates, "currencyKeyDecimals(bytes32)", [bytes(base_asset)], ["uint8"],
                         label="currencyKeyDecimals")]
    round2 += [Call.build(a.market, "fundingSequence(uint256)", [int(p[0][1])], ["int128"],
                          label=f"fundingSequence({int(p[0][1])})") for p in positions]
    r2 = _ok((yield round2))
    decimals = int(r2[1]) or 18
    market = decode_market(a, mvals, block_number=block_number, block_timestamp=block_timestamp,
                           funding_sequence_last_wad=int(r2[0]), price_decimals=decimals)
    snaps: list[PerpSnapshot] = []
    reported: dict[str, ReportedPerp] = {}
    for i, (account, (pos, wallet, rep)) in enumerate(zip(accounts, positions, strict=True)):
        pid, idx, margin, last_price, size = (int(x) for x in pos)
        acct = str(to_checksum_address(account))
        position = PerpsV2Position(account=acct, id=pid, last_funding_index=idx, margin_wad=margin,
                                   last_price_wad=last_price, size_wad=size, funding_at_index_wad=int(r2[2 + i]))
        snaps.append(PerpSnapshot(name=(names[i] if names else f"{a.name}:{acct}"), account=acct, market=market,
                                  position=position, market_address=to_checksum_address(a.market),
                                  susd_address=to_checksum_address(a.susd), wallet_susd_wad=wallet,
                                  block_number=block_number, block_timestamp=block_timestamp,
                                  oracle_symbol=oracle_symbol))
        if with_reported:
            reported[acct] = decode_reported(rep)
    return snaps, reported


# ------------------------------------------------------------------------------------------------
# the tick: one [[protocols]] entry (one market) as a read plan
# ------------------------------------------------------------------------------------------------
def addresses_of(proto: Any) -> PerpsV2Addresses:
    """The market's addresses from its ``[[protocols]]`` entry."""
    return PerpsV2Addresses(market=proto.market, settings=proto.settings, exchange_rates=proto.exchange_rates,
                            susd=proto.susd, name=(proto.market_key or proto.name).removeprefix("s")
                            .removesuffix("PERP"))


def tick_plan(proto: Any, positions: Sequence[PositionRequest], ctx: ReadContext) -> ReadPlan[ProtocolRead]:
    """Every position of one PerpsV2 market at ``ctx.block_number`` (two rounds). A failed read fails the market's
    positions (each one an error), never the tick; an account without margin or size is an error too."""
    block = ctx.block_number
    try:
        snaps, _reported = yield from perps_plan(
            addresses_of(proto), [p.account for p in positions], block, market_key=proto.market_key,
            block_timestamp=ctx.block_timestamp, with_reported=False, names=[p.name for p in positions],
            oracle_symbol=proto.asset or "")
    except PosmanError as exc:
        return ProtocolRead(errors={p.name: f"{proto.name}: {' '.join(str(exc).split())[:300]}" for p in positions})
    out: dict[str, PositionSnapshot] = {}
    errors: dict[str, str] = {}
    for p, snap in zip(positions, snaps, strict=True):
        if snap.position.size_wad == 0 and snap.position.margin_wad == 0:
            errors[p.name] = f"account {p.account} has no position on {proto.name!r} at block {block}"
            continue
        out[p.name] = snap
    return ProtocolRead(snapshots=out, errors=errors)
