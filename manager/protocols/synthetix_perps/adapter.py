"""The synthetix_perps adapter: everything the pipeline needs from this protocol (see manager.protocols.base)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from manager.protocols.base import (
    CallCheck,
    Calls,
    ContractCheck,
    PerpAdapter,
    PositionWiring,
    PostCheck,
    WiringEnv,
)
from manager.protocols.synthetix_perps.config import SynthetixPerpsConfig
from manager.protocols.synthetix_perps.types import PerpSnapshot

if TYPE_CHECKING:
    from manager.chain.batch import ReadPlan
    from manager.protocols.reading import PositionRequest, ProtocolRead, ReadContext


class SynthetixPerpsAdapter(PerpAdapter):
    kind: ClassVar[str] = "synthetix_perps"
    snapshot_type: ClassVar[type[Any] | None] = PerpSnapshot
    config_model: ClassVar[type[Any]] = SynthetixPerpsConfig

    # ------------------------------------------------------------------------------------------------
    # wiring: config, start-up, planning, allow-list, fees (wiring branch)
    # ------------------------------------------------------------------------------------------------
    title: ClassVar[str] = "Synthetix PerpsV2"
    strategies: ClassVar[frozenset[str]] = frozenset({"perp_margin"})

    def contract_checks(self) -> Sequence[ContractCheck]:
        return [ContractCheck("market", "a Synthetix PerpsV2 market proxy",
                              (CallCheck("marketKey()"), CallCheck("baseAsset()"))),
                ContractCheck("settings", "Synthetix PerpsV2MarketSettings"),
                ContractCheck("exchange_rates", "Synthetix ExchangeRates"),
                ContractCheck("susd", "the sUSD token", (CallCheck("decimals()"), CallCheck("totalSupply()")))]

    def wire_position(self, env: WiringEnv, pos: Any, proto: Any) -> PositionWiring:
        from manager.protocols.synthetix_perps.plan import PerpPlanContext

        ctx = PerpPlanContext(account=pos.account, max_slippage_bps=env.max_slippage_bps)
        return PositionWiring(ctx, self.post_health_reader(env.cfg.chains[proto.chain], proto, pos.account),
                              self.allowed_calls(env, proto))

    def allowed_calls(self, env: WiringEnv, proto: Any) -> Calls:
        from manager.protocols.synthetix_perps.plan import perp_allowed_calls

        return perp_allowed_calls(proto.market)

    def action_selectors(self) -> set[str]:
        from manager.protocols.synthetix_perps.plan import perp_allowed_calls

        return {s.lower() for sels in perp_allowed_calls("0x" + "00" * 20).values() for s in sels}

    def write_functions(self) -> tuple[str, ...]:
        from manager.protocols.synthetix_perps.plan import PERP_FUNCTIONS

        return PERP_FUNCTIONS

    def post_health_reader(self, chain_cfg: Any, proto: Any, account: str) -> PostCheck:
        from manager.protocols.synthetix_perps.wiring import perp_health_reader

        return perp_health_reader(chain_cfg, proto, account)

    def build_steps(self, decision: Any, snapshot: Any, ctx: Any) -> tuple[Any, ...]:
        from manager.protocols.synthetix_perps.plan import build_steps

        return build_steps(decision, snapshot, ctx)

    # ------------------------------------------------------------------------------------------------
    # reads: read plan, decode, health view, status row, oracle checks (tick branch)
    # ------------------------------------------------------------------------------------------------
    # The snapshot type is ``manager.protocols.synthetix_perps.types.PerpSnapshot``; reads in ``reads.py``.
    def read_plan(self, proto: Any, positions: Sequence[PositionRequest], ctx: ReadContext) -> ReadPlan[ProtocolRead]:
        """The tick's read plan of one market's positions (``reads.tick_plan``)."""
        from manager.protocols.synthetix_perps.reads import tick_plan

        return tick_plan(proto, positions, ctx)

    def check_contracts(self, client: Any, proto: Any, block: int) -> None:
        """Nothing beyond the start-up checks (``chain.verify``)."""

    def status_row(self, snap: Any) -> dict[str, Any]:
        """The ``posman status`` row (``manager.protocols.synthetix_perps.status.perp_status_row``; its oracle issues ride on the snapshot)."""
        from manager.protocols.synthetix_perps.status import perp_status_row

        return perp_status_row(snap, tuple(snap.oracle_issues))
