"""The aave_v3 adapter: everything the pipeline needs from this protocol (see manager.protocols.base)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from manager.protocols.base import LendingAdapter

if TYPE_CHECKING:
    from manager.chain.batch import ReadPlan
    from manager.protocols.reading import AtomicWanted, PositionRequest, ProtocolRead, ReadContext


class AaveV3Adapter(LendingAdapter):
    kind: ClassVar[str] = "aave_v3"
    config_model: ClassVar[type[Any]] = object  # set by the wiring branch (the config model moves here)

    # ------------------------------------------------------------------------------------------------
    # wiring: config, start-up, planning, allow-list, fees (wiring branch)
    # ------------------------------------------------------------------------------------------------

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
