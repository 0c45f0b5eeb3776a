"""Aave V3 read adapter: build the calls, decode the results, at ONE block.

The pool's ``POOL_REVISION`` picks the rules (``manager.protocols.aave_v3.rules``: v3.0/v3.1 and v3.6); a revision
posman does not implement is refused, naming the supported ones. v3.6 (npm ``@aave-dao/aave-v3-origin`` 3.6.0,
``POOL_REVISION`` 10) differs in what is read: e-mode categories are not named by the reserves (bits 168-175
are unused) but carry collateral / borrowable / LTV-zero bitmaps (``getEModeCategoryCollateralConfig``,
``getEModeCategory{Collateral,Borrowable,Ltvzero}Bitmap``, ``getEModeCategoryLabel``; ids 1..255 are scanned),
there is no stable debt token (its address is zero) and each reserve has a ``getReserveDeficit``. Both versions
give ``FLASHLOAN_PREMIUM_TOTAL`` (bps), carried on the market and every snapshot.

Mirrors aave-v3-core v3.0.x (npm ``@aave/core-v3`` 1.19.3):
- ``ReserveConfiguration.sol``: the reserve bitmap (LTV bits 0-15, LT 16-31, bonus 32-47, decimals
  48-55, active 56, frozen 57, borrowing 58, stable borrowing 59, paused 60, borrowable in isolation
  61, siloed 62, reserve factor 64-79, borrow cap 80-115, supply cap 116-151, liquidation protocol
  fee 152-167, e-mode category 168-175, unbacked mint cap 176-211, debt ceiling 212-251).
- ``UserConfiguration.sol``: two bits per reserve id: ``2*id`` borrowing, ``2*id+1`` collateral.
- ``Pool.getReserveData`` (``DataTypes.ReserveData``), ``Pool.getEModeCategoryData``,
  ``Pool.getUserEMode``, ``AaveOracle.getAssetsPrices`` / ``getSourceOfAsset`` / ``BASE_CURRENCY_UNIT``.

Reading is two-level: ``read_market`` (reserves, prices, e-mode categories, feeds; a few dozen calls)
and ``read_accounts`` (two calls per account for the user bitmap and e-mode, then one balance call
per used reserve). Every round runs through ``manager.chain.multicall.execute`` at the same explicit
block number. The hot per-account path encodes calldata and decodes uint256 results by hand (the
generic ABI codec would dominate the time for 10,000 accounts), caches EIP-55 checksums, builds the
snapshots without pydantic's per-call overhead and pauses the cyclic GC meanwhile
(``bench/bench_reads.py`` measures it against one ``getUserAccountData`` per account).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

from eth_hash.auto import keccak
from eth_utils import to_checksum_address

from manager.chain.batch import ReadPlan, gather, gc_paused, run_plan
from manager.chain.client import ChainClient
from manager.chain.multicall import Call, CallResult, fast_call, selector
from manager.domain import (
    RAY,
    AccountData,
    EModeCategory,
    OracleReading,
    PositionAsset,
    PositionSnapshot,
    ReserveState,
)
from manager.errors import ChainError, DataQualityError
from manager.protocols.aave_v3.rules import POOL_REVISIONS, rules_for, supported, version_for_revision
from manager.protocols.aave_v3.types import LendingPositionSnapshot
from manager.protocols.reading import AtomicWanted, OracleFeed, PositionRequest, ProtocolRead, ReadContext

ZERO = "0x0000000000000000000000000000000000000000"

SEL_BALANCE_OF = selector("balanceOf(address)")
SEL_USER_CONFIG = selector("getUserConfiguration(address)")
SEL_USER_EMODE = selector("getUserEMode(address)")
SEL_ACCOUNT_DATA = selector("getUserAccountData(address)")


def _fn(abi_name: str, target: str, fn: str, *args: Any, label: str = "") -> Call:
    return Call.from_abi(abi_name, target, fn, *args, label=label or fn)


def _addr_arg(account: str) -> bytes:
    return bytes(12) + bytes.fromhex(account[2:])


def _uint(data: bytes) -> int:
    if len(data) < 32:
        raise ValueError(f"short return data ({len(data)} bytes)")
    return int.from_bytes(data[:32], "big")


def _uint_call(target: str, sel: bytes, account: str, label: str) -> Call:
    return fast_call(target, sel + _addr_arg(account), label, _uint)


# ------------------------------------------------------------------------------------------------
# hot-path helpers (10,000 accounts per tick): same results as the generic tools, a fraction of the cost
# ------------------------------------------------------------------------------------------------
_HEX_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_CHECKSUMS: dict[str, str] = {}
_CHECKSUM_CACHE_MAX = 200_000


def _checksum(address: str) -> str:
    """``to_checksum_address`` (EIP-55) with a bounded cache: a watcher reads the same accounts each tick."""
    out = _CHECKSUMS.get(address)
    if out is None:
        if isinstance(address, str) and _HEX_ADDRESS.fullmatch(address):
            lower = address[2:].lower()
            digest = keccak(lower.encode()).hex()
            out = "0x" + "".join(c.upper() if d in "89abcdef" else c for c, d in zip(lower, digest[:40], strict=True))
        else:
            out = to_checksum_address(address)  # other input forms, and its errors
        if len(_CHECKSUMS) >= _CHECKSUM_CACHE_MAX:
            _CHECKSUMS.clear()
        _CHECKSUMS[address] = out
    return out


_set_attr = object.__setattr__


def _fast_construct(cls: Any, values: dict[str, Any]) -> Any:
    """``cls.model_construct(**values)`` for ``values`` holding every field in declaration order.

    Same object (``__dict__``, fields set, extra, private), about 4x cheaper: pydantic's version
    re-checks aliases and defaults per call. Verified against ``model_construct`` on first use per
    class; any difference (another pydantic version) falls back to ``model_construct`` for good.
    """
    ok = _FAST_OK.get(cls)
    if ok is None:
        ok = _FAST_OK[cls] = _fast_matches(cls, values)
    if not ok:
        return cls.model_construct(**values)
    obj = cls.__new__(cls)
    _set_attr(obj, "__dict__", values)
    _set_attr(obj, "__pydantic_fields_set__", set(values))
    _set_attr(obj, "__pydantic_extra__", None)
    _set_attr(obj, "__pydantic_private__", None)
    return obj


_FAST_OK: dict[type, bool] = {}


def _fast_matches(cls: Any, values: dict[str, Any]) -> bool:
    try:
        if list(values) != list(cls.model_fields):
            return False
        ref = cls.model_construct(**values)
        obj = cls.__new__(cls)
        _set_attr(obj, "__dict__", dict(values))
        _set_attr(obj, "__pydantic_fields_set__", set(values))
        _set_attr(obj, "__pydantic_extra__", None)
        _set_attr(obj, "__pydantic_private__", None)
        return (
            list(ref.__dict__.items()) == list(obj.__dict__.items())
            and ref.model_fields_set == obj.model_fields_set
            and ref.__pydantic_extra__ is None
            and ref.__pydantic_private__ is None
            and ref == obj
        )
    except Exception:
        return False


# ------------------------------------------------------------------------------------------------
# configuration bitmap
# ------------------------------------------------------------------------------------------------
def _bits(value: int, start: int, length: int) -> int:
    return (value >> start) & ((1 << length) - 1)


def decode_configuration(bitmap: int, version: str = "3.0") -> dict[str, Any]:
    """``ReserveConfigurationMap.data`` -> named fields of ``version``'s layout (``AaveRules.decode_configuration``)."""
    if version != "3.0":
        return rules_for(version).decode_configuration(bitmap)
    return {
        "ltv_bps": _bits(bitmap, 0, 16),
        "liquidation_threshold_bps": _bits(bitmap, 16, 16),
        "liquidation_bonus_bps": _bits(bitmap, 32, 16),
        "decimals": _bits(bitmap, 48, 8),
        "active": bool(_bits(bitmap, 56, 1)),
        "frozen": bool(_bits(bitmap, 57, 1)),
        "borrowing_enabled": bool(_bits(bitmap, 58, 1)),
        "stable_borrowing_enabled": bool(_bits(bitmap, 59, 1)),
        "paused": bool(_bits(bitmap, 60, 1)),
        "borrowable_in_isolation": bool(_bits(bitmap, 61, 1)),
        "siloed_borrowing": bool(_bits(bitmap, 62, 1)),
        "reserve_factor_bps": _bits(bitmap, 64, 16),
        "borrow_cap_tokens": _bits(bitmap, 80, 36),
        "supply_cap_tokens": _bits(bitmap, 116, 36),
        "liquidation_protocol_fee_bps": _bits(bitmap, 152, 16),
        "emode_category": _bits(bitmap, 168, 8),
        "debt_ceiling_cents": _bits(bitmap, 212, 40),
    }


# ------------------------------------------------------------------------------------------------
# market
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AaveMarket:
    """One Aave V3 market as read at ``block_number``."""

    block_number: int
    block_timestamp: int
    provider: str
    pool: str
    oracle: str
    data_provider: str
    base_unit: int
    reserves: dict[str, ReserveState]  # asset -> state, in reserve-id order
    reserve_by_id: dict[int, str]  # reserve id -> asset
    emodes: dict[int, EModeCategory]
    feeds: dict[str, str]  # symbol -> price source (Chainlink aggregator)
    version: str = "3.0"
    by_symbol: dict[str, str] = field(default_factory=dict)
    pool_revision: int = 1
    flash_loan_premium_bps: int | None = None  # Pool.FLASHLOAN_PREMIUM_TOTAL

    def asset(self, symbol_or_address: str) -> str:
        """Resolve a symbol (case-sensitive, then insensitive) or address to the reserve's asset."""
        if symbol_or_address.startswith("0x"):
            addr = to_checksum_address(symbol_or_address)
            if addr in self.reserves:
                return addr
        elif symbol_or_address in self.by_symbol:
            return self.by_symbol[symbol_or_address]
        else:
            for sym, known in self.by_symbol.items():
                if sym.lower() == symbol_or_address.lower():
                    return known
        import difflib

        close = difflib.get_close_matches(symbol_or_address, list(self.by_symbol), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(self.by_symbol)}"
        raise DataQualityError(
            f"unknown asset {symbol_or_address!r} in the Aave market at {self.pool}{hint}",
            asset=symbol_or_address,
        )


# Pool.POOL_REVISION -> Aave release whose rules posman's exact math and bitmap decoding mirror: the one table
# lives in manager.protocols.aave_v3.rules (1/2: v3.0.x, 3: v3.1, 10: v3.6); anything else is refused.
SUPPORTED_POOL_REVISIONS = POOL_REVISIONS
EMODE_IDS = range(1, 256)  # uint8 category ids (0 = no e-mode)


def check_revision(pool: str, revision: int | None, block_number: int) -> str:
    """The Aave version of ``pool``, or ``ChainError`` if its math is not the one posman implements."""
    if revision is None:
        raise ChainError(f"Aave pool {pool} has no readable POOL_REVISION at block {block_number}: "
                         "cannot tell which Aave version's rules apply", address=pool)
    version = version_for_revision(int(revision))
    if version is None:
        raise ChainError(
            f"Aave pool {pool} reports POOL_REVISION {revision}, whose rules posman does not implement; "
            f"supported: {supported()}",
            address=pool, revision=revision,
        )
    return version


def read_market(
    client: ChainClient, provider: str, block_number: int, *, block_timestamp: int = 0, version: str | None = None
) -> AaveMarket:
    """Reserves, prices, e-mode categories and feeds of the market behind ``provider``, at one block.

    The rules come from the pool's ``POOL_REVISION``; ``version`` (the config's pin, optional) must agree with it.
    (``market_plan`` run alone: the tick runs the same plan batched with every other protocol's reads.)
    """
    if not block_timestamp:  # every value carries its block's time (swap deadlines, oracle ages)
        block_timestamp = client.block_timestamp(block_number)
    return run_plan(client, market_plan(provider, block_number, block_timestamp=block_timestamp, version=version),
                    block_number)


def market_plan(provider: str, block_number: int, *, block_timestamp: int,
                version: str | None = None) -> ReadPlan[AaveMarket]:
    """The read plan of ``read_market`` (``manager.chain.batch``)."""
    pool, oracle, data_provider = yield from provider_plan(provider, block_number)
    return (yield from market_rest_plan(to_checksum_address(provider), pool, oracle, data_provider, block_number,
                                        block_timestamp=block_timestamp, version=version))


def provider_plan(provider: str, block_number: int) -> ReadPlan[tuple[str, str, str]]:
    """(pool, oracle, data provider) of the ``PoolAddressesProvider`` (one round)."""
    provider = to_checksum_address(provider)
    r = yield [
        _fn("aave_v3/PoolAddressesProvider", provider, "getPool"),
        _fn("aave_v3/PoolAddressesProvider", provider, "getPriceOracle"),
        _fn("aave_v3/PoolAddressesProvider", provider, "getPoolDataProvider"),
    ]
    if not all(x.success for x in r):
        raise ChainError(
            f"{provider} does not answer as an Aave V3 PoolAddressesProvider at block {block_number} "
            f"({next(x.error for x in r if not x.success)})",
            address=provider,
        )
    pool, oracle, data_provider = (to_checksum_address(x.value) for x in r)
    if int(pool, 16) == 0 or int(oracle, 16) == 0:
        raise ChainError(f"Aave PoolAddressesProvider {provider} has no pool or oracle set", address=provider)
    return pool, oracle, data_provider


def market_rest_plan(provider: str, pool: str, oracle: str, data_provider: str, block_number: int, *,
                     block_timestamp: int, version: str | None = None) -> ReadPlan[AaveMarket]:
    """The market behind a known pool / oracle: the reserve list, then every reserve (v3.2+: the e-mode
    categories alongside), then the reserves' totals (two or three rounds)."""
    r = yield [
        _fn("aave_v3/Pool", pool, "getReservesList"),
        _fn("aave_v3/AaveOracle", oracle, "BASE_CURRENCY_UNIT"),
        _fn("aave_v3/Pool", pool, "POOL_REVISION"),
        _fn("aave_v3/Pool", pool, "FLASHLOAN_PREMIUM_TOTAL"),
    ]
    revision = r[2].value if r[2].success else None
    actual = check_revision(pool, revision, block_number)
    if version is not None and version != actual:
        raise ChainError(f"Aave pool {pool} runs v{actual} (POOL_REVISION {revision}) but the config pins "
                         f"version = {version!r}; fix the [[protocols]] entry's version (or remove it)",
                         address=pool, revision=revision)
    version = actual
    rules = rules_for(version)
    assets = [to_checksum_address(a) for a in r[0].unwrap()]
    base_unit = int(r[1].unwrap())
    premium_bps = int(r[3].value) if r[3].success else None

    if rules.emode_bitmaps:  # v3.2+: the e-mode categories do not depend on the reserves: read them alongside
        (reserves, by_id, by_symbol, feeds), emodes = yield from gather(
            _reserves_plan(pool, oracle, assets, version, rules, block_number), _emodes_v32_plan(pool, EMODE_IDS))
    else:
        reserves, by_id, by_symbol, feeds, emode_data = yield from _reserves_plan(pool, oracle, assets, version,
                                                                                  rules, block_number)
        emodes = yield from _emode_prices_plan(oracle, emode_data)
    return AaveMarket(
        block_number=block_number,
        block_timestamp=block_timestamp,
        provider=provider,
        pool=pool,
        oracle=oracle,
        data_provider=data_provider,
        base_unit=base_unit,
        reserves=reserves,
        reserve_by_id=by_id,
        emodes=emodes,
        feeds=feeds,
        version=version,
        by_symbol=by_symbol,
        pool_revision=int(revision or 0),
        flash_loan_premium_bps=premium_bps,
    )


def _reserves_plan(pool: str, oracle: str, assets: Sequence[str], version: str, rules: Any,
                   block_number: int) -> ReadPlan[Any]:
    """Every reserve's data, symbol, price source, configuration and price, then its totals (v3.0: and the
    e-mode categories the reserves name). Returns (reserves, by id, by symbol, feeds[, v3.0 e-modes])."""
    per = 4
    calls: list[Call] = []
    for a in assets:
        calls += [
            _fn("aave_v3/Pool", pool, "getReserveData", a, label=f"getReserveData({a})"),
            Call.build(a, "symbol()", (), ("string",), label=f"symbol({a})"),
            _fn("aave_v3/AaveOracle", oracle, "getSourceOfAsset", a, label=f"getSourceOfAsset({a})"),
            _fn("aave_v3/Pool", pool, "getConfiguration", a, label=f"getConfiguration({a})"),
        ]
    calls.append(_fn("aave_v3/AaveOracle", oracle, "getAssetsPrices", assets, label="getAssetsPrices"))
    r = yield calls
    prices = r[-1].unwrap()
    raw: list[dict[str, Any]] = []
    for i, a in enumerate(assets):
        data = r[i * per].unwrap()
        symbol = r[i * per + 1].value if r[i * per + 1].success else a[:10]
        source = to_checksum_address(r[i * per + 2].unwrap())
        cfg_bitmap = r[i * per + 3].unwrap()
        cfg_bitmap = cfg_bitmap[0] if isinstance(cfg_bitmap, tuple) else cfg_bitmap
        raw.append(
            {
                "asset": a,
                "data": data,
                "symbol": symbol,
                "source": source,
                "cfg": decode_configuration(int(cfg_bitmap), version),
                "price": int(prices[i]),
            }
        )

    # totals (aToken supply, debt supplies, liquidity) and e-mode categories
    calls = []
    for x in raw:
        d = x["data"]
        a_token, s_token, v_token = (
            to_checksum_address(d[8]),
            to_checksum_address(d[9]),
            to_checksum_address(d[10]),
        )
        x.update(a_token=a_token, s_token=s_token, v_token=v_token)
        calls += [
            Call.build(a_token, "totalSupply()", (), ("uint256",)),
            Call.build(v_token, "totalSupply()", (), ("uint256",)),
            # v3.2+: no stable debt token (address zero); v3.3+: the reserve's bad-debt deficit in its place
            Call.build(s_token, "totalSupply()", (), ("uint256",)) if rules.stable_debt else
            _fn("aave_v36/Pool", pool, "getReserveDeficit", x["asset"], label=f"getReserveDeficit({x['asset']})"),
            # v3.1+ virtual accounting: what can be borrowed/withdrawn is the pool's own count, not a token balance
            Call.build(x["asset"], "balanceOf(address)", (a_token,), ("uint256",)) if rules.stable_debt else
            _fn("aave_v36/Pool", pool, "getVirtualUnderlyingBalance", x["asset"],
                label=f"getVirtualUnderlyingBalance({x['asset']})"),
        ]
    emode_ids = sorted({x["cfg"]["emode_category"] for x in raw if x["cfg"]["emode_category"]})
    if not rules.emode_bitmaps:
        for eid in emode_ids:
            calls.append(
                _fn("aave_v3/Pool", pool, "getEModeCategoryData", eid, label=f"getEModeCategoryData({eid})")
            )
    r = yield calls
    reserves: dict[str, ReserveState] = {}
    by_id: dict[int, str] = {}
    by_symbol: dict[str, str] = {}
    feeds: dict[str, str] = {}
    for i, x in enumerate(raw):
        d, c = x["data"], x["cfg"]
        totals = [r[i * 4 + k].unwrap() for k in range(4)]
        state = ReserveState(
            asset=x["asset"],
            symbol=x["symbol"],
            price_base=x["price"],
            a_token=x["a_token"],
            stable_debt_token=x["s_token"],
            variable_debt_token=x["v_token"],
            total_supply_wei=totals[0],
            total_variable_debt_wei=totals[1],
            total_stable_debt_wei=totals[2] if rules.stable_debt else 0,
            deficit_wei=0 if rules.stable_debt else totals[2],
            available_liquidity_wei=totals[3],
            accrued_to_treasury_scaled=int(d[12]),
            isolation_mode_total_debt_cents=int(d[14]),
            liquidity_index_ray=int(d[1]),
            variable_borrow_index_ray=int(d[3]) or RAY,
            reserve_id=int(d[7]),
            **c,
        )
        reserves[x["asset"]] = state
        by_id[int(d[7])] = x["asset"]
        by_symbol[x["symbol"]] = x["asset"]
        feeds[x["symbol"]] = x["source"]
    if rules.emode_bitmaps:
        return reserves, by_id, by_symbol, feeds
    off = len(raw) * 4
    emodes: dict[int, EModeCategory] = {eid: _decode_emode(eid, r[off + j].unwrap()) for j, eid in enumerate(emode_ids)}
    return reserves, by_id, by_symbol, feeds, emodes


def _emodes_v32_plan(pool: str, ids: Sequence[int]) -> ReadPlan[dict[int, EModeCategory]]:
    """v3.2+ liquid e-modes: ``getEModeCategoryCollateralConfig`` of every id, then for the configured ones
    (LT != 0, as ``validateSetUserEMode`` requires) the label and the collateral / borrowable / LTV-zero bitmaps."""
    ids = list(ids)
    r = yield [_fn("aave_v36/Pool", pool, "getEModeCategoryCollateralConfig", i,
                   label=f"getEModeCategoryCollateralConfig({i})") for i in ids]
    configs = {}
    for i, res in zip(ids, r, strict=True):
        cfg = res.unwrap()
        cfg = cfg[0] if isinstance(cfg, tuple) and len(cfg) == 1 else cfg
        if int(cfg[1]) != 0:
            configs[i] = cfg
    calls: list[Call] = []
    for i in configs:
        calls += [
            _fn("aave_v36/Pool", pool, "getEModeCategoryLabel", i, label=f"getEModeCategoryLabel({i})"),
            _fn("aave_v36/Pool", pool, "getEModeCategoryCollateralBitmap", i, label=f"collateralBitmap({i})"),
            _fn("aave_v36/Pool", pool, "getEModeCategoryBorrowableBitmap", i, label=f"borrowableBitmap({i})"),
            _fn("aave_v36/Pool", pool, "getEModeCategoryLtvzeroBitmap", i, label=f"ltvzeroBitmap({i})"),
        ]
    r = (yield calls) if calls else []
    out: dict[int, EModeCategory] = {}
    for k, (i, cfg) in enumerate(configs.items()):
        label, coll, borr, ltvzero = (r[4 * k + j].unwrap() for j in range(4))
        out[i] = EModeCategory(id=i, ltv_bps=int(cfg[0]), liquidation_threshold_bps=int(cfg[1]),
                               liquidation_bonus_bps=int(cfg[2]), label=str(label), collateral_bitmap=int(coll),
                               borrowable_bitmap=int(borr), ltvzero_bitmap=int(ltvzero))
    return out


def _decode_emode(eid: int, e: Sequence[Any]) -> EModeCategory:
    """``Pool.getEModeCategoryData`` (ltv, liquidationThreshold, liquidationBonus, priceSource, label)."""
    return EModeCategory(
        id=eid,
        ltv_bps=int(e[0]),
        liquidation_threshold_bps=int(e[1]),
        liquidation_bonus_bps=int(e[2]),
        price_source=to_checksum_address(e[3]),
        label=str(e[4]),
    )


def _emode_prices_plan(oracle: str, emodes: dict[int, EModeCategory]) -> ReadPlan[dict[int, EModeCategory]]:
    """v3.0 e-mode categories may carry a price source that overrides their assets' prices."""
    with_source = [e for e in emodes.values() if int(e.price_source, 16) != 0]
    if not with_source:
        return emodes
    r = yield [_fn("aave_v3/AaveOracle", oracle, "getAssetPrice", e.price_source) for e in with_source]
    out = dict(emodes)
    for e, res in zip(with_source, r, strict=True):
        out[e.id] = e.model_copy(update={"price_source_price_base": int(res.unwrap())})
    return out


def read_emode(client: ChainClient, market: AaveMarket, ids: Sequence[int], block_number: int) -> AaveMarket:
    """Add e-mode categories that users are in but no reserve belongs to (rare; still exact)."""
    return run_plan(client, emode_plan(market, ids, block_number), block_number)


def emode_plan(market: AaveMarket, ids: Sequence[int], block_number: int) -> ReadPlan[AaveMarket]:
    """The read plan of ``read_emode``."""
    missing = [i for i in ids if i and i not in market.emodes]
    if not missing:
        return market
    if rules_for(market.version).emode_bitmaps:  # every configured category is already read; these are not set
        raise DataQualityError(f"e-mode categories {missing} are not configured in the Aave pool {market.pool} "
                               f"at block {block_number}", pool=market.pool)
    r = yield [_fn("aave_v3/Pool", market.pool, "getEModeCategoryData", i) for i in missing]
    emodes = dict(market.emodes)
    for i, res in zip(missing, r, strict=True):
        emodes[i] = _decode_emode(i, res.unwrap())
    emodes = yield from _emode_prices_plan(market.oracle, emodes)
    return replace(market, emodes=emodes)


# ------------------------------------------------------------------------------------------------
# accounts
# ------------------------------------------------------------------------------------------------
def user_calls(pool: str, accounts: Sequence[str]) -> list[Call]:
    """``getUserConfiguration`` and ``getUserEMode`` of every account (two calls each, in order).

    NOTE: a watcher reads the same accounts every tick: the calls (values that depend on nothing but the pool
    and the accounts) are kept for the last few account lists and reused (a copy of the list is returned).
    """
    key = (pool, tuple(accounts))
    cached = _USER_CALLS.get(key)
    if cached is None:
        cached = []
        for a in accounts:
            cached.append(_uint_call(pool, SEL_USER_CONFIG, a, "getUserConfiguration"))
            cached.append(_uint_call(pool, SEL_USER_EMODE, a, "getUserEMode"))
        if len(_USER_CALLS) >= _CALLS_CACHE_MAX:
            _USER_CALLS.clear()  # NOTE: simple and thread-safe (reads may run from several threads)
        _USER_CALLS[key] = cached
    return list(cached)


_CALLS_CACHE_MAX = 64  # account lists (tick groups) whose user-configuration calls are kept
_USER_CALLS: dict[tuple[str, tuple[str, ...]], list[Call]] = {}
_BALANCE_CALLS: dict[tuple[Any, str, int], tuple[list[Call], list[tuple[str, str]]]] = {}
_BALANCE_CACHE_MAX = 30_000  # (account, bitmap) entries, ~2 KB each; cleared when full
_LAYOUT_IDS: dict[Any, int] = {}  # market layout (exact) -> a small id for the cache keys (never reused)


def _balance_layout(market: AaveMarket) -> Any:
    """What ``balance_calls`` depends on in the market: each reserve id's tokens and whether stable debt exists."""
    return (market.pool, tuple((rid, a, r.a_token, r.variable_debt_token, r.stable_debt_token,
                                bool(r.total_stable_debt_wei))
                               for rid, a in market.reserve_by_id.items() for r in (market.reserves[a],)))


def cached_balance_calls(market: AaveMarket, layout: Any, account: str, user_bitmap: int
                         ) -> tuple[list[Call], list[tuple[str, str]]]:
    """``balance_calls``, kept per (market layout, account, bitmap): the same position's calls are reused tick
    after tick (they only change with the bitmap or the market's tokens)."""
    key = (layout, account, user_bitmap)
    got = _BALANCE_CALLS.get(key)
    if got is None:
        got = balance_calls(market, account, user_bitmap)
        if len(_BALANCE_CALLS) >= _BALANCE_CACHE_MAX:
            _BALANCE_CALLS.clear()
        _BALANCE_CALLS[key] = got
    return got


def balance_calls(
    market: AaveMarket, account: str, user_bitmap: int
) -> tuple[list[Call], list[tuple[str, str]]]:
    """Balance reads for the reserves the user's bitmap marks; returns (calls, what each one is)."""
    calls: list[Call] = []
    what: list[tuple[str, str]] = []
    arg = _addr_arg(account)
    bitmap = user_bitmap
    rid = 0
    while bitmap:
        pair = bitmap & 3
        if pair:
            asset = market.reserve_by_id.get(rid)
            if asset is None:
                raise DataQualityError(
                    f"account {account} uses reserve id {rid}, unknown in the market at block "
                    f"{market.block_number}",
                    account=account,
                )
            r = market.reserves[asset]
            if pair & 2:  # collateral
                calls.append(fast_call(r.a_token, SEL_BALANCE_OF + arg, "aToken.balanceOf", _uint))
                what.append((asset, "collateral"))
            if pair & 1:  # borrowing
                calls.append(fast_call(r.variable_debt_token, SEL_BALANCE_OF + arg, "vDebt.balanceOf", _uint))
                what.append((asset, "variable"))
                if r.total_stable_debt_wei:
                    calls.append(
                        Call(
                            r.stable_debt_token, SEL_BALANCE_OF + arg, label="sDebt.balanceOf", decoder=_uint
                        )
                    )
                    what.append((asset, "stable"))
        bitmap >>= 2
        rid += 1
    return calls, what


def read_accounts(
    client: ChainClient,
    market: AaveMarket,
    accounts: Sequence[str],
    *,
    names: Sequence[str] | None = None,
    with_reported: bool = False,
    oracle_fresh: bool = True,
) -> tuple[list[LendingPositionSnapshot], dict[str, str]]:
    """Snapshots of ``accounts`` at ``market.block_number``.

    Returns (snapshots, errors) where errors maps account -> one-line reason for accounts whose reads
    failed (they are left out; the others are unaffected). ``with_reported`` adds the protocol's own
    ``getUserAccountData`` at the same block for cross-checks. (``accounts_plan`` run alone.)
    """
    return run_plan(client, accounts_plan(market, accounts, names=names, with_reported=with_reported,
                                          oracle_fresh=oracle_fresh), market.block_number)


UserConfigs = tuple[dict[str, tuple[int, int]], dict[str, str]]


def user_config_plan(pool: str, accounts: Sequence[str], block: int) -> ReadPlan[UserConfigs]:
    """Each account's user configuration bitmap and e-mode (one round): ({account: (bitmap, e-mode)}, errors).

    Needs only the pool: the tick reads it in the same round as the market's reserve list."""
    accounts = [_checksum(a) for a in accounts]
    r = yield user_calls(pool, accounts)
    errors: dict[str, str] = {}
    user_cfg: dict[str, tuple[int, int]] = {}
    with gc_paused():
        for i, a in enumerate(accounts):
            c, e = r[2 * i], r[2 * i + 1]
            if not (c.success and e.success):
                errors[a] = f"user configuration read failed at block {block}: {c.error or e.error}"
                continue
            user_cfg[a] = (int(c.value), int(e.value))
    return user_cfg, errors


def accounts_plan(
    market: AaveMarket,
    accounts: Sequence[str],
    *,
    names: Sequence[str] | None = None,
    with_reported: bool = False,
    oracle_fresh: bool = True,
    configs: UserConfigs | None = None,
) -> ReadPlan[tuple[list[LendingPositionSnapshot], dict[str, str]]]:
    """The read plan of ``read_accounts``: user configurations (unless ``configs`` were read already), e-mode
    categories no reserve names (rare), then one balance call per used reserve."""
    block = market.block_number
    accounts = [_checksum(a) for a in accounts]
    names = list(names) if names is not None else [""] * len(accounts)
    if configs is None:
        configs = yield from user_config_plan(market.pool, accounts, block)
    user_cfg, read_errors = configs
    errors = dict(read_errors)
    emode_ids = {e for _, e in user_cfg.values() if e}
    if emode_ids - set(market.emodes):
        market = yield from emode_plan(market, sorted(emode_ids), block)

    calls: list[Call] = []
    spans: list[tuple[str, int, list[tuple[str, str]]]] = []
    layout = _LAYOUT_IDS.setdefault(_balance_layout(market), len(_LAYOUT_IDS))
    with gc_paused():
        for a, (bitmap, _e) in user_cfg.items():
            try:
                cs, what = cached_balance_calls(market, layout, a, bitmap)
            except DataQualityError as exc:
                errors[a] = str(exc)
                continue
            spans.append((a, len(calls), what))
            calls += cs
            if with_reported:
                calls.append(
                    Call(
                        market.pool,
                        SEL_ACCOUNT_DATA + _addr_arg(a),
                        label="getUserAccountData",
                        decoder=_decode_account_data,
                    )
                )
    results = (yield calls) if calls else []
    with gc_paused():
        return _decode_accounts(market, accounts, names, user_cfg, spans, results, errors, with_reported,
                                oracle_fresh)


def _decode_accounts(market: AaveMarket, accounts: list[str], names: list[str],
                     user_cfg: dict[str, tuple[int, int]], spans: list[tuple[str, int, list[tuple[str, str]]]],
                     results: Sequence[CallResult], errors: dict[str, str], with_reported: bool,
                     oracle_fresh: bool) -> tuple[list[LendingPositionSnapshot], dict[str, str]]:
    block = market.block_number
    name_of = dict(zip(accounts, names, strict=True))
    out: list[LendingPositionSnapshot] = []
    for a, start, what in spans:
        bal: dict[str, dict[str, int]] = {}
        failed = None
        for k, (asset, kind) in enumerate(what):
            res = results[start + k]
            if not res.success:
                failed = (
                    f"{kind} balance of {market.reserves[asset].symbol} failed at block {block}: {res.error}"
                )
                break
            bal.setdefault(asset, {})[kind] = int(res.value)
        if failed:
            errors[a] = failed
            continue
        reported = None
        if with_reported:
            rep = results[start + len(what)]
            if not rep.success:
                errors[a] = f"getUserAccountData failed at block {block}: {rep.error}"
                continue
            reported = rep.value
        bitmap, emode_id = user_cfg[a]
        out.append(_snapshot(market, a, name_of[a], bitmap, emode_id, bal, reported, oracle_fresh))
    return out, errors


def _snapshot(
    market: AaveMarket,
    account: str,
    name: str,
    bitmap: int,
    emode_id: int,
    bal: dict[str, dict[str, int]],
    reported: AccountData | None,
    oracle_fresh: bool,
) -> LendingPositionSnapshot:
    assets = []
    collateral_assets = []
    rid = 0
    bm = bitmap
    while bm:
        pair = bm & 3
        if pair:
            asset = market.reserve_by_id[rid]
            b = bal.get(asset, {})
            r = market.reserves[asset]
            if pair & 2:
                collateral_assets.append(asset)
            assets.append(
                _fast_construct(PositionAsset, {
                    "asset": asset,
                    "symbol": r.symbol,
                    "collateral_wei": b.get("collateral", 0),
                    "variable_debt_wei": b.get("variable", 0),
                    "stable_debt_wei": b.get("stable", 0),
                    "collateral_enabled": bool(pair & 2),
                    "borrowing": bool(pair & 1),
                })
            )
        bm >>= 2
        rid += 1
    isolated = None
    if len(collateral_assets) == 1 and market.reserves[collateral_assets[0]].debt_ceiling_cents:
        isolated = collateral_assets[0]
    return cast(LendingPositionSnapshot, _fast_construct(LendingPositionSnapshot, {
        "name": name,
        "protocol": "aave_v3",
        "account": account,
        "block_number": market.block_number,
        "block_timestamp": market.block_timestamp,
        "oracle_fresh": oracle_fresh,
        "oracle_issues": (),
        "protocol_version": market.version,
        "base_unit": market.base_unit,
        "reserves": market.reserves,
        "assets": tuple(assets),
        "emode_category_id": emode_id,
        "emode": market.emodes.get(emode_id) if emode_id else None,
        "isolated_asset": isolated,
        "reported": reported,
        "flash_loan_premium_bps": market.flash_loan_premium_bps,
    }))


def _decode_account_data(data: bytes) -> AccountData:
    v = [int.from_bytes(data[i * 32 : (i + 1) * 32], "big") for i in range(6)]
    return AccountData(
        total_collateral_base=v[0],
        total_debt_base=v[1],
        available_borrows_base=v[2],
        current_liquidation_threshold_bps=v[3],
        ltv_bps=v[4],
        health_factor_wad=v[5],
    )


# ------------------------------------------------------------------------------------------------
# the tick: one [[protocols]] entry's positions, wallets and atomic-path reads as read plans
# ------------------------------------------------------------------------------------------------
ACCOUNT_GROUP = 1000  # accounts per gathered part of the tick's account reads (each decoded as soon as it is back)


def tick_plan(proto: Any, positions: Sequence[PositionRequest], ctx: ReadContext) -> ReadPlan[ProtocolRead]:
    """Every position of one Aave V3 market at ``ctx.block_number``: the market (3-4 small rounds), then the
    accounts' user configurations alongside the managed accounts' wallets, then their balances.

    The accounts are read in gathered groups of ``ACCOUNT_GROUP``: a group's configurations are decoded and its
    balance calls built, and its balances turned into snapshots, while the next groups' chunks are still in
    flight. A position whose account has no balance and no flag is an error (nothing to manage); one whose
    reads fail is an error too, alone. The ``[[pools]]`` token symbols must name reserves of the market.
    """
    block = ctx.block_number
    market = yield from market_plan(proto.pool_addresses_provider, block, block_timestamp=ctx.block_timestamp,
                                    version=proto.version)
    if ctx.config is not None:
        check_pool_symbols(ctx.config, market)
    accounts = [_checksum(p.account) for p in positions]
    unique = list(dict.fromkeys(accounts))
    names = [p.name for p in positions] if len(unique) == len(accounts) else None
    managed = [(p.name, a) for p, a in zip(positions, accounts, strict=True) if p.mode == "manage"]
    groups = [(unique[i:i + ACCOUNT_GROUP], names[i:i + ACCOUNT_GROUP] if names else None)
              for i in range(0, len(unique), ACCOUNT_GROUP)]
    *parts, wallets = yield from gather(*(accounts_plan(market, g, names=n) for g, n in groups),
                                        wallets_plan(market, managed))
    by_account: dict[str, LendingPositionSnapshot] = {}
    errs: dict[str, str] = {}
    for snaps, part_errors in parts:
        by_account.update((s.account, s) for s in snaps)
        errs.update(part_errors)
    out: dict[str, PositionSnapshot] = {}
    errors: dict[str, str] = {}
    for p, account in zip(positions, accounts, strict=True):
        snap = by_account.get(account)
        if snap is None:
            errors[p.name] = errs.get(account, "no snapshot")
            continue
        if not snap.assets:
            errors[p.name] = (f"account {p.account} has no position on {proto.name!r} at block "
                              f"{block} (no collateral, no debt)")
            continue
        out[p.name] = snap if snap.name == p.name else snap.model_copy(update={"name": p.name})
    return ProtocolRead(snapshots=out, errors=errors, feeds=tuple(market_feeds(market)), tokens=dict(market.by_symbol),
                        wallets={n: w for n, w in wallets.items() if n in out}, state=market)


def wallets_plan(market: AaveMarket, accounts: Sequence[tuple[str, str]]) -> ReadPlan[dict[str, dict[str, int]]]:
    """``balanceOf(account)`` of every reserve token for each (name, account): {name: {asset: wei > 0}}."""
    assets = list(market.reserves)
    if not accounts or not assets:
        return {}
    results = yield [_uint_call(a, SEL_BALANCE_OF, account, f"wallet {name}") for name, account in accounts
                     for a in assets]
    out: dict[str, dict[str, int]] = {}
    for i, (name, _account) in enumerate(accounts):
        row = results[i * len(assets) : (i + 1) * len(assets)]
        out[name] = {a: int(r.value) for a, r in zip(assets, row, strict=True) if r.success and int(r.value) > 0}
    return out


def check_pool_symbols(config: Any, market: AaveMarket) -> None:
    """``[[pools]]`` tokens given as symbols must name reserves of the market (``ConfigError`` naming the field)."""
    for i, pool in enumerate(config.pools):
        for key in ("token_in", "token_out"):
            value = getattr(pool, key)
            if value.startswith("0x"):
                continue
            try:
                market.asset(value)
            except DataQualityError as exc:
                hint = str(exc).split(";", 1)[1].strip() if ";" in str(exc) else ""
                raise config.error(("pools", i, key), f"unknown asset {value!r} (not a reserve of the "
                                   f"Aave market{'; ' + hint if hint else ''})") from None


# ReserveConfiguration: active (bit 56), paused (60), flash loans enabled (63)
def _flash_enabled(bits: int) -> bool:
    return bool((bits >> 63) & 1 and (bits >> 56) & 1 and not (bits >> 60) & 1)


def atomic_plan(market: AaveMarket | None, wanted: Sequence[AtomicWanted], kind: str
                ) -> ReadPlan[dict[str, dict[str, Any]]]:
    """The Aave side of the atomic path for every ``wanted`` position (one round), as ``AtomicReads`` fields:

    - as a flash lender (``market``, the chain's first Aave market): ``FLASHLOAN_PREMIUM_TOTAL`` and, per debt
      token of the position that is a reserve, the reserve's flash-loan bit and free liquidity;
    - the grants of positions on this protocol (``kind``): the aToken allowance owner -> executor of every
      collateral and the variable-debt credit delegation of every debt (from the snapshot's own reserves).
    A read that fails leaves its value out (the planner then takes the direct path and says why).
    """
    calls: list[Call] = []
    index: list[tuple[str, str, str]] = []  # (position, what, token) per call

    def add(call: Call, name: str, what: str, token: str = "") -> None:
        calls.append(call)
        index.append((name, what, token.lower()))

    if market is not None:
        add(Call.build(market.pool, "FLASHLOAN_PREMIUM_TOTAL()", (), ("uint128",)), "", "premium")
    for w in wanted:
        snap = w.snapshot
        if snap.protocol == kind and isinstance(snap, LendingPositionSnapshot):
            for a in snap.assets:
                r = snap.reserves.get(a.asset)
                if a.collateral_wei > 0 and r is not None and r.a_token:
                    add(Call.build(r.a_token, "allowance(address,address)", (w.owner, w.executor), ("uint256",)),
                        w.name, "withdraw", a.asset)
            for d in snap.debt_tokens():
                r = snap.reserves.get(d)
                if r is not None and r.variable_debt_token:
                    add(Call.build(r.variable_debt_token, "borrowAllowance(address,address)", (w.owner, w.executor),
                                   ("uint256",)), w.name, "borrow", d)
        if market is not None:
            for d in snap.debt_tokens():
                if d in market.reserves:
                    add(Call.build(market.pool, "getConfiguration(address)", (d,), ("uint256",)), w.name, "config", d)
    results = (yield calls) if calls else []
    premium = None
    got: dict[str, dict[str, Any]] = {w.name: {"withdraw_allowance_wei": {}, "borrow_allowance_wei": {},
                                               "aave_flash_enabled": {}} for w in wanted}
    for (name, what, token), res in zip(index, results, strict=True):
        if not res.success:
            continue
        if what == "premium":
            premium = int(res.value)
        elif what == "withdraw":
            got[name]["withdraw_allowance_wei"][token] = int(res.value)
        elif what == "borrow":
            got[name]["borrow_allowance_wei"][token] = int(res.value)
        elif what == "config":
            got[name]["aave_flash_enabled"][token] = _flash_enabled(int(res.value))
    if market is None:
        return got
    by_lower = {a.lower(): r for a, r in market.reserves.items()}
    for g in got.values():
        g["aave_pool"] = market.pool
        g["aave_premium_bps"] = premium
        g["aave_available_wei"] = {t: int(by_lower[t].available_liquidity_wei) for t in g["aave_flash_enabled"]
                                   if t in by_lower}
    return got


# ------------------------------------------------------------------------------------------------
# oracle feeds of the market
# ------------------------------------------------------------------------------------------------
def market_feeds(market: AaveMarket) -> list[OracleFeed]:
    """The ``OracleFeed`` of every reserve of an Aave market (its ``AaveOracle`` price source)."""
    return [OracleFeed(symbol=sym, feed=feed, token=market.by_symbol[sym],
                       decimals=market.reserves[market.by_symbol[sym]].decimals) for sym, feed in market.feeds.items()]


def read_oracles(
    client: ChainClient,
    market: AaveMarket,
    *,
    now_s: float,
    heartbeat_s: Any,
    max_deviation_bps: float,
    twap_window_s: int = 0,
    venue: Any = None,
    venue_proto: Any = None,
    factory: str | None = None,
    pools: Sequence[tuple[str, str, int]] = (),
) -> dict[str, OracleReading]:
    """One ``OracleReading`` per reserve symbol of an Aave market at ``market.block_number`` (the protocol-neutral
    ``manager.watchers.oracle.oracles_plan`` over the market's feeds, run alone)."""
    from manager.watchers.oracle import oracles_plan

    if factory is not None and venue is None:  # a bare Uniswap V3 factory address: the registry's default venue
        from types import SimpleNamespace

        from manager.protocols import registry

        venue, venue_proto = registry.venue(), SimpleNamespace(factory=factory, tick_lens=None)

    return run_plan(client, oracles_plan(market_feeds(market), block_number=market.block_number,
                                         block_timestamp=market.block_timestamp, now_s=now_s,
                                         heartbeat_s=heartbeat_s, max_deviation_bps=max_deviation_bps,
                                         twap_window_s=twap_window_s, venue=venue, venue_proto=venue_proto,
                                         pools=pools),
                    market.block_number)
