"""The morpho_blue adapter: everything the pipeline needs from this protocol (see manager.protocols.base)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from manager.protocols.base import (
    AtomicDebt,
    CallCheck,
    Calls,
    ContractCheck,
    LendingAdapter,
    PositionWiring,
    PostCheck,
    WiringEnv,
)
from manager.protocols.morpho_blue.config import MorphoBlueConfig
from manager.protocols.morpho_blue.types import MorphoPositionSnapshot

if TYPE_CHECKING:
    from manager.chain.batch import ReadPlan
    from manager.protocols.reading import AtomicWanted, PositionRequest, ProtocolRead, ReadContext


class MorphoBlueAdapter(LendingAdapter):
    kind: ClassVar[str] = "morpho_blue"
    snapshot_type: ClassVar[type[Any] | None] = MorphoPositionSnapshot
    config_model: ClassVar[type[Any]] = MorphoBlueConfig

    # ------------------------------------------------------------------------------------------------
    # wiring: config, start-up, planning, allow-list, fees (wiring branch)
    # ------------------------------------------------------------------------------------------------
    title: ClassVar[str] = "Morpho Blue"
    strategies: ClassVar[frozenset[str]] = frozenset({"cdp_health"})
    flash_kind: ClassVar[str | None] = "morpho"  # FlashSource.kind of its flash loans
    executor_protocol_id: ClassVar[int | None] = 1  # PosmanExecutor's Protocol.MORPHO_BLUE
    executor_target_has_market: ClassVar[bool] = True

    def contract_checks(self) -> Sequence[ContractCheck]:
        return [ContractCheck("morpho", "a Morpho Blue contract", (CallCheck("owner()"),))]

    def wire_position(self, env: WiringEnv, pos: Any, proto: Any) -> PositionWiring:
        from manager.protocols.morpho_blue.plan import MorphoPlanContext

        assert env.venue is not None  # needs_venue: the start-up refuses a chain without one
        calls = self.allowed_calls(env, proto)
        ctx = MorphoPlanContext(morpho=proto.morpho, router=env.venue.router, account=pos.account,
                                max_slippage_bps=env.max_slippage_bps, fees_pips=env.venue.fees_pips,
                                router_kind=env.venue.router_kind, atomic=env.atomic)
        return PositionWiring(ctx, self.post_health_reader(env.cfg.chains[proto.chain], proto, pos.account), calls)

    def allowed_calls(self, env: WiringEnv, proto: Any) -> Calls:
        from manager.protocols.morpho_blue.wiring import morpho_allowed_calls, morpho_params

        if env.venue is None:
            return {}
        key = (self.kind, proto.name)  # the market's MarketParams, read once per start (``env.cache``)
        if key not in env.cache:
            env.cache[key] = morpho_params(env.client, proto)
        params = env.cache[key]
        return morpho_allowed_calls(proto.morpho, env.venue.router, [params.loan_token, params.collateral_token],
                                    env.venue.router_kind)

    def action_selectors(self) -> set[str]:
        from manager.protocols.morpho_blue.wiring import morpho_allowed_calls

        zero, one, two = "0x" + "00" * 20, "0x" + "00" * 19 + "01", "0x" + "00" * 19 + "02"
        return {s.lower() for sels in morpho_allowed_calls(zero, one, [two]).values() for s in sels}

    def write_functions(self) -> tuple[str, ...]:
        from manager.protocols.morpho_blue import abi as morpho_abi

        return tuple(morpho_abi.WRITE_FUNCTIONS)

    def post_health_reader(self, chain_cfg: Any, proto: Any, account: str) -> PostCheck:
        from manager.protocols.morpho_blue.wiring import morpho_health_reader

        return morpho_health_reader(chain_cfg, proto, account)

    def build_steps(self, decision: Any, snapshot: Any, ctx: Any) -> tuple[Any, ...]:
        from manager.errors import NeverSubmitError
        from manager.execution.planner import UnplannableDecision
        from manager.protocols.morpho_blue.plan import build_steps

        try:
            return build_steps(decision, snapshot, ctx)
        except NeverSubmitError as exc:
            raise UnplannableDecision(str(exc)) from exc

    def flash_option(self, w3: Any, lender: str, asset: str, block: int | str = "latest") -> Any:
        from manager.protocols.morpho_blue.flash import morpho_flash_option

        return morpho_flash_option(w3, lender, asset, block)

    def flash_lender(self, env: WiringEnv, proto: Any) -> tuple[str, str] | None:
        return str(self.flash_kind), proto.morpho

    def atomic_debt(self, snapshot: Any, reads: Any) -> AtomicDebt | str:
        from manager.protocols.morpho_blue import math as mm

        debt_wei = mm.borrowed_assets(snapshot.market_now, snapshot.position)
        debt_usd = debt_wei * (snapshot.loan_price_usd or 0.0) / 10**snapshot.loan_decimals
        if not reads.morpho_authorized:
            return "executor not authorized on Morpho Blue (setAuthorization)"
        return AtomicDebt(snapshot.params.loan_token, debt_wei, debt_usd)

    def atomic_target(self, snapshot: Any, ctx: Any) -> Any:
        from manager.atomic.encode import LendingTarget

        return LendingTarget(self.kind, snapshot.morpho, snapshot.params.as_tuple())

    def leg_price(self, snapshot: Any, asset: str) -> tuple[int, int]:
        # Morpho oracle: collateral in loan units scaled 1e36 + dL - dC; loan priced at 10**(36 + dL - dC).
        if asset.lower() == snapshot.params.collateral_token.lower():
            return int(snapshot.market.oracle_price), int(snapshot.collateral_decimals)
        return 10 ** (36 + snapshot.loan_decimals - snapshot.collateral_decimals), int(snapshot.loan_decimals)

    # ------------------------------------------------------------------ posman init / posman executor
    def init_lines(self, entry: Mapping[str, Any], chain: str) -> list[str]:
        morpho = entry.get(self.kind)
        if not morpho:
            return []
        return ["# Morpho Blue (from @morpho-org/blue-sdk) is deployed here. A Morpho market is one [[protocols]] "
                "entry;",
                "# fill in the market id (keccak256(abi.encode(MarketParams)), e.g. from the Morpho app) to watch it:",
                "# [[protocols]]", "# name = \"morpho-MARKET\"", f"# kind = \"{self.kind}\"", f"# chain = \"{chain}\"",
                f"# morpho = \"{morpho['morpho']}\"", "# market_id = \"0x...\"", ""]

    def executor_grant_calls(self, executor: str, reserves: Mapping[str, Any], grants: Any) -> list[Any]:
        from manager.protocols.morpho_blue.grants import authorization_step

        return [authorization_step(m, executor, True) for m in grants.morpho]

    def executor_revoke_calls(self, executor: str, lenders: Sequence[str]) -> list[Any]:
        from manager.protocols.morpho_blue.grants import authorization_step

        return [authorization_step(m, executor, False) for m in lenders]

    def read_executor_grants(self, w3: Any, owner: str, executor: str, *, reserves: Mapping[str, Any],
                             lenders: Sequence[str], block: int | str = "latest") -> dict[str, Any]:
        from manager.protocols.morpho_blue.grants import read_state

        return dict(read_state(w3, owner, executor, lenders, block))

    def executor_grant_steps(self, w3: Any, proto: Any, pos: Any, signer_cfg: Any, *,
                             withdraw_caps: Sequence[str] = (), borrow_caps: Sequence[str] = ()) -> list[Any]:
        from manager.protocols.morpho_blue.grants import grant_steps

        return grant_steps(w3, proto, signer_cfg)

    def executor_revoke_steps(self, w3: Any, proto: Any, signer_cfg: Any) -> list[Any]:
        from manager.protocols.morpho_blue.grants import revoke_steps

        return revoke_steps(w3, proto, signer_cfg)

    def executor_grants_doc(self, w3: Any, proto: Any, signer_cfg: Any) -> dict[str, Any]:
        from manager.protocols.morpho_blue.grants import grants_doc

        return grants_doc(w3, proto, signer_cfg)

    def print_executor_grants(self, doc: Mapping[str, Any]) -> list[str]:
        from manager.protocols.morpho_blue.grants import grant_lines

        return grant_lines(doc)

    # ------------------------------------------------------------------------------------------------
    # reads: read plan, decode, health view, status row, oracle checks (tick branch)
    # ------------------------------------------------------------------------------------------------
    # The snapshot type is ``manager.protocols.morpho_blue.types.MorphoPositionSnapshot``; reads in ``reads.py``.
    def read_plan(self, proto: Any, positions: Sequence[PositionRequest], ctx: ReadContext) -> ReadPlan[ProtocolRead]:
        """The tick's read plan of one market's positions (``reads.tick_plan``)."""
        from manager.protocols.morpho_blue.reads import tick_plan

        return tick_plan(proto, positions, ctx)

    def atomic_plan(self, proto: Any, state: Any, wanted: Sequence[AtomicWanted]) -> ReadPlan[dict[str, dict[str, Any]]]:
        """Morpho Blue as the chain's flash lender (``proto.morpho``) and this protocol's executor grants."""
        from manager.protocols.morpho_blue.reads import atomic_plan

        return atomic_plan(proto.morpho, wanted, self.kind)

    def check_contracts(self, client: Any, proto: Any, block: int) -> None:
        """Nothing beyond the start-up checks (``chain.verify``)."""

    def status_row(self, snap: Any) -> dict[str, Any]:
        """The ``posman status`` row (``manager.protocols.morpho_blue.status.status_row``)."""
        from manager.protocols.morpho_blue.status import status_row

        return status_row(snap)
