"""The aave_v3 adapter: everything the pipeline needs from this protocol (see manager.protocols.base)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from manager.protocols.aave_v3.config import AaveV3Config
from manager.protocols.aave_v3.types import LendingPositionSnapshot
from manager.protocols.base import (
    AtomicDebt,
    CallCheck,
    Calls,
    ContractCheck,
    InitPart,
    LendingAdapter,
    PositionWiring,
    PostCheck,
    WiringEnv,
)

if TYPE_CHECKING:
    from manager.chain.batch import ReadPlan
    from manager.protocols.reading import AtomicWanted, PositionRequest, ProtocolRead, ReadContext


class AaveV3Adapter(LendingAdapter):
    kind: ClassVar[str] = "aave_v3"
    snapshot_type: ClassVar[type[Any] | None] = LendingPositionSnapshot
    config_model: ClassVar[type[Any]] = AaveV3Config

    # ------------------------------------------------------------------------------------------------
    # wiring: config, start-up, planning, allow-list, fees (wiring branch)
    # ------------------------------------------------------------------------------------------------
    title: ClassVar[str] = "Aave V3"
    strategies: ClassVar[frozenset[str]] = frozenset({"cdp_health", "vault_leverage"})
    flash_kind: ClassVar[str | None] = "aave"  # FlashSource.kind of its flash loans
    executor_protocol_id: ClassVar[int | None] = 0  # PosmanExecutor's Protocol.AAVE_V3
    supports_collateral_switch: ClassVar[bool] = True
    read_required_fields: ClassVar[tuple[str, ...]] = ("pool_addresses_provider",)

    def revert_reason(self, text: str) -> str | None:
        from manager.protocols.aave_v3.errors import AAVE_ERRORS

        if text not in AAVE_ERRORS:
            return None
        name, description = AAVE_ERRORS[text]
        return f"Aave error {text} {name} ({description})"

    def custom_error(self, selector_hex: str, body: bytes) -> str | None:
        from eth_abi.abi import decode

        from manager.protocols.aave_v3.errors import custom_error

        known = custom_error(selector_hex)
        if known is None:
            return None
        name, types = known
        try:
            args = decode(list(types), body) if types else ()
        except Exception:
            args = ()
        return f"Aave error {name}({', '.join(str(a) for a in args)})"

    def contract_checks(self) -> Sequence[ContractCheck]:
        return [ContractCheck("pool_addresses_provider", "an Aave V3 PoolAddressesProvider",
                              (CallCheck("getPool()", "address"), CallCheck("getPriceOracle()", "address")))]

    def _pool(self, env: WiringEnv, proto: Any) -> tuple[str, list[str]]:
        """(Pool, reserves) of ``proto``'s market, read once per start (``env.cache``)."""
        from manager.protocols.aave_v3.wiring import aave_pool

        key = (self.kind, proto.name)
        if key not in env.cache:
            env.cache[key] = aave_pool(env.client.w3, proto.pool_addresses_provider)
        pool: tuple[str, list[str]] = env.cache[key]
        return pool

    def wire_position(self, env: WiringEnv, pos: Any, proto: Any) -> PositionWiring:
        from manager.protocols.aave_v3.plan import PlanContext
        from manager.protocols.aave_v3.wiring import health_reader

        assert env.venue is not None  # needs_venue: the start-up refuses a chain without one
        pool, _reserves = self._pool(env, proto)
        ctx = PlanContext(pool=pool, router=env.venue.router, account=pos.account,
                          max_slippage_bps=env.max_slippage_bps, fees_pips=env.venue.fees_pips,
                          router_kind=env.venue.router_kind, atomic=env.atomic)
        return PositionWiring(ctx, health_reader(pool, pos.account), self.allowed_calls(env, proto))

    def allowed_calls(self, env: WiringEnv, proto: Any) -> Calls:
        from manager.protocols.aave_v3.plan import allowed_calls

        if env.venue is None:
            return {}
        pool, reserves = self._pool(env, proto)
        return allowed_calls(pool, env.venue.router, reserves, env.venue.router_kind)

    def action_selectors(self) -> set[str]:
        from manager.protocols.aave_v3.plan import allowed_calls

        zero, one, two = "0x" + "00" * 20, "0x" + "00" * 19 + "01", "0x" + "00" * 19 + "02"
        return {s.lower() for sels in allowed_calls(zero, one, [two]).values() for s in sels}

    def write_functions(self) -> tuple[str, ...]:
        from manager.protocols.aave_v3.plan import POOL_FUNCTIONS

        return POOL_FUNCTIONS

    def post_health_reader(self, chain_cfg: Any, proto: Any, account: str) -> PostCheck:
        from manager.protocols.aave_v3.wiring import provider_health_reader

        return provider_health_reader(proto.pool_addresses_provider, account)

    def build_steps(self, decision: Any, snapshot: Any, ctx: Any) -> tuple[Any, ...]:
        from manager.protocols.aave_v3.plan import build_steps

        return build_steps(decision, snapshot, ctx)

    def flash_option(self, w3: Any, lender: str, asset: str, block: int | str = "latest") -> Any:
        from manager.protocols.aave_v3.flash import aave_flash_option

        return aave_flash_option(w3, lender, asset, block)

    def flash_lender(self, env: WiringEnv, proto: Any) -> tuple[str, str] | None:
        return str(self.flash_kind), self._pool(env, proto)[0]

    def atomic_debt(self, snapshot: Any, reads: Any) -> AtomicDebt | str:
        debts = [(a.variable_debt_wei + a.stable_debt_wei, a) for a in snapshot.assets
                 if a.variable_debt_wei + a.stable_debt_wei > 0]
        if not debts:
            return "no debt"
        debt_asset = max(debts, key=lambda d: d[0] * snapshot.reserves[d[1].asset].price_base
                         / 10**snapshot.reserves[d[1].asset].decimals)[1].asset
        debt_wei = next(d for d, a in debts if a.asset == debt_asset)
        r = snapshot.reserves[debt_asset]
        debt_usd = debt_wei * r.price_base / 10**r.decimals / snapshot.base_unit
        for a in snapshot.assets:
            if a.collateral_wei > 0 and a.collateral_enabled:
                allowed = reads.withdraw_allowance_wei.get(a.asset.lower(), 0)
                if allowed < a.collateral_wei:
                    return (f"executor's {a.symbol} aToken allowance {allowed} < collateral {a.collateral_wei}"
                            " (grant more with posman executor grant)")
        return AtomicDebt(debt_asset, debt_wei, debt_usd)

    def atomic_target(self, snapshot: Any, ctx: Any) -> Any:
        from manager.atomic.encode import LendingTarget

        return LendingTarget(self.kind, ctx.pool)

    def leg_price(self, snapshot: Any, asset: str) -> tuple[int, int]:
        r = snapshot.reserves[asset]
        return int(r.price_base), int(r.decimals)

    def liquidation_loss_usd(self, snapshot: Any) -> float | None:
        import logging

        from manager.protocols.aave_v3.liquidation import liquidation_loss_usd

        try:
            loss: float | None = liquidation_loss_usd(snapshot)
            return loss
        except Exception as exc:  # a snapshot the exact math refuses: fall back to the bonus estimate
            logging.getLogger("posman.execution.fees").warning("event=liquidation_loss_unavailable reason=%r",
                                                               str(exc)[:200])
            return None

    def debt_and_bonus(self, snapshot: Any) -> tuple[float, int] | None:
        reserves = getattr(snapshot, "reserves", None)
        assets = getattr(snapshot, "assets", None)
        base_unit = getattr(snapshot, "base_unit", None)
        if not isinstance(reserves, dict) or assets is None or not base_unit:
            return None
        debt_usd, bonus = 0.0, 0
        emode = getattr(snapshot, "emode", None)
        for a in assets:
            r = reserves.get(a.asset)
            if r is None:
                continue
            debt = a.variable_debt_wei + a.stable_debt_wei
            debt_usd += debt * r.price_base / 10**r.decimals / base_unit
            if a.collateral_enabled and a.collateral_wei > 0:
                in_emode = emode is not None and (
                    (emode.collateral_bitmap >> r.reserve_id) & 1 == 1
                    if emode.collateral_bitmap is not None and r.reserve_id >= 0
                    else r.emode_category == emode.id)
                bonus = max(bonus, emode.liquidation_bonus_bps if in_emode and emode is not None
                            else r.liquidation_bonus_bps)
        return debt_usd, bonus

    # ------------------------------------------------------------------ posman init / posman executor
    def init_markets(self, entry: Mapping[str, Any]) -> list[dict[str, Any]]:
        return list(entry.get(self.kind) or [])

    def init_market(self, market: Mapping[str, Any], chain: str) -> InitPart:
        from manager.protocols.common import kebab

        name = kebab(str(market["market"]))
        lines = [
            "[[protocols]]",
            f"# Aave V3 market {market['market']} (@aave-dao/aave-address-book): pool {market.get('pool')},",
            f"# oracle {market.get('oracle')}, data provider {market.get('data_provider')} (discovered on-chain from "
            "the provider).",
            f'name = "{name}"',
            f'kind = "{self.kind}"',
            f'chain = "{chain}"',
            f'pool_addresses_provider = "{market["pool_addresses_provider"]}"',
            "# version: \"3.0\" (default) or \"3.1\"; the pool's POOL_REVISION is checked on every read and",
            "# later versions (v3.2+) are refused rather than computed with the wrong rounding.",
            "",
        ]
        return InitPart(lines, [(name, name.removeprefix("aave-v3-"))])

    def executor_grant_calls(self, executor: str, reserves: Mapping[str, Any], grants: Any) -> list[Any]:
        from manager.protocols.aave_v3.grants import grant_calls

        return grant_calls(executor, reserves, grants)

    def executor_reserves(self, w3: Any, pool: str, block: int | str = "latest") -> dict[str, Any]:
        from manager.protocols.aave_v3.grants import read_reserves

        return dict(read_reserves(w3, pool, block))

    def read_executor_grants(self, w3: Any, owner: str, executor: str, *, reserves: Mapping[str, Any],
                             lenders: Sequence[str], block: int | str = "latest") -> dict[str, Any]:
        from manager.protocols.aave_v3.grants import read_state

        return dict(read_state(w3, owner, executor, reserves, block))

    def executor_grant_steps(self, w3: Any, proto: Any, pos: Any, signer_cfg: Any, *,
                             withdraw_caps: Sequence[str] = (), borrow_caps: Sequence[str] = ()) -> list[Any]:
        from manager.protocols.aave_v3.grants import grant_steps

        return grant_steps(w3, proto, pos, signer_cfg, withdraw_caps=withdraw_caps, borrow_caps=borrow_caps)

    def executor_revoke_steps(self, w3: Any, proto: Any, signer_cfg: Any) -> list[Any]:
        from manager.protocols.aave_v3.grants import revoke_steps

        return revoke_steps(w3, proto, signer_cfg)

    def executor_grants_doc(self, w3: Any, proto: Any, signer_cfg: Any) -> dict[str, Any]:
        from manager.protocols.aave_v3.grants import grants_doc

        return grants_doc(w3, proto, signer_cfg)

    def print_executor_grants(self, doc: Mapping[str, Any]) -> list[str]:
        from manager.protocols.aave_v3.grants import grant_lines

        return grant_lines(doc)

    # ------------------------------------------------------------------------------------------------
    # reads: read plan, decode, health view, status row, oracle checks (tick branch)
    # ------------------------------------------------------------------------------------------------
    # The snapshot type is ``manager.protocols.aave_v3.types.LendingPositionSnapshot`` (its ``health_view``,
    # ``oracle_symbols`` and ``debt_tokens`` are the protocol-neutral views); the reads are in ``reads.py``.
    def read_plan(self, proto: Any, positions: Sequence[PositionRequest], ctx: ReadContext) -> ReadPlan[ProtocolRead]:
        """The tick's read plan of one market's positions (``reads.tick_plan``); ``state`` is the ``AaveMarket``."""
        from manager.protocols.aave_v3.reads import tick_plan

        return tick_plan(proto, positions, ctx)

    def atomic_plan(self, proto: Any, state: Any, wanted: Sequence[AtomicWanted]) -> ReadPlan[dict[str, dict[str, Any]]]:
        """Flash liquidity (as the chain's Aave lender ``state``) and this protocol's executor grants."""
        from manager.protocols.aave_v3.reads import atomic_plan

        return atomic_plan(state, wanted, self.kind)

    def check_contracts(self, client: Any, proto: Any, block: int) -> None:
        """The entry's addresses provider is a contract (``ChainError`` otherwise)."""
        client.require_contract(proto.pool_addresses_provider, f"protocol {proto.name!r} pool_addresses_provider",
                                block=block)

    def price_usd(self, client: Any, proto: Any, symbol: str, block: int) -> float | None:
        """``AaveOracle`` USD price of the reserve ``symbol`` at ``block`` (None: not a reserve)."""
        from manager.protocols.aave_v3.reads import read_market

        market = read_market(client, proto.pool_addresses_provider, block, version=proto.version)
        asset = market.by_symbol.get(symbol)
        return None if asset is None else market.reserves[asset].price_base / market.base_unit

    def status_row(self, snap: Any) -> dict[str, Any]:
        """The ``posman status`` row (``manager.protocols.aave_v3.status.status_row``)."""
        from manager.protocols.aave_v3.status import status_row

        return status_row(snap)
