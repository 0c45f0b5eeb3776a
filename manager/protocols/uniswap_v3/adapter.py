"""The uniswap_v3 adapter: everything the pipeline needs from this protocol (see manager.protocols.base)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from manager.protocols.base import (
    CallCheck,
    ContractCheck,
    VenueAdapter,
)
from manager.protocols.uniswap_v3.config import UniswapV3Config


class UniswapV3Adapter(VenueAdapter):
    kind: ClassVar[str] = "uniswap_v3"
    config_model: ClassVar[type[Any]] = UniswapV3Config

    # ------------------------------------------------------------------------------------------------
    # wiring: config, start-up, planning, allow-list, fees (wiring branch)
    # ------------------------------------------------------------------------------------------------
    title: ClassVar[str] = "Uniswap V3"

    def contract_checks(self) -> Sequence[ContractCheck]:
        fee_500 = (500).to_bytes(32, "big")
        return [ContractCheck("factory", "a Uniswap V3 factory",
                              (CallCheck("feeAmountTickSpacing(uint24)", args=fee_500),)),
                ContractCheck("swap_router", "a Uniswap V3 SwapRouter or SwapRouter02",
                              (CallCheck("factory()", "field", "factory"), CallCheck("WETH9()", "address"))),
                ContractCheck("quoter", "a Uniswap V3 QuoterV2", (CallCheck("factory()", "field", "factory"),)),
                ContractCheck("tick_lens", "a Uniswap V3 TickLens")]

    def router_of(self, proto: Any) -> str:
        return str(proto.swap_router)

    def router_kind(self, cfg: Any, proto: Any, client: Any) -> str:
        from manager.protocols.uniswap_v3.router import configured_router_kind

        return configured_router_kind(cfg, proto, client)

    def describe_router(self, client: Any, proto: Any, block: int) -> str:
        from manager.protocols.uniswap_v3.router import TITLE_OF, resolve_router_kind

        kind = resolve_router_kind(client, proto.swap_router, proto.router_kind, factory=proto.factory, block=block)
        return f"{kind}: {TITLE_OF[kind]}"

    def swap_selectors(self, router_kind: str) -> set[str]:
        from manager.protocols.uniswap_v3.router import router_selectors

        return router_selectors(router_kind)

    def swap_functions(self) -> tuple[str, ...]:
        from manager.protocols.uniswap_v3.router import swap_signature

        return (swap_signature("swap_router", "exactInput"),)

    def swap_codec(self) -> Any:
        from manager.protocols.uniswap_v3 import router

        return router

    def swap_encoder(self) -> Any:
        from manager.protocols.uniswap_v3 import encode

        return encode

    def find_pools(self, client: Any, factory: str, pairs: set[tuple[str, str, str, str]],
                   block: int) -> dict[tuple[str, str], int]:
        from manager.protocols.uniswap_v3.wiring import find_pools

        return find_pools(client, factory, pairs, block)

    # ------------------------------------------------------------------ posman init
    def init_multicall(self, entry: Mapping[str, Any]) -> tuple[str, str] | None:
        uni = entry.get(self.kind)
        if uni and uni.get("interface_multicall"):
            return (str(uni["interface_multicall"]),
                    "# No Multicall3 known on this chain: Uniswap's UniswapInterfaceMulticall (from @uniswap/sdk-core).")
        return None

    def init_lines(self, entry: Mapping[str, Any], chain: str) -> list[str]:
        from manager.protocols.uniswap_v3.wiring import init_lines

        return init_lines(entry.get(self.kind), chain, self.kind)

    # ------------------------------------------------------------------------------------------------
    # reads: read plan, decode, health view, status row, oracle checks (tick branch)
    # ------------------------------------------------------------------------------------------------

    # ------------------------------------------------------------------------------------------------
    # reads: the oracle check's DEX prices and the sizing core's depth curves (the tick reader)
    # ------------------------------------------------------------------------------------------------
    def pool_lookup_calls(self, proto: Any, pairs: Sequence[tuple[str, str, int]]) -> list[Any]:
        """One call per (token a, token b, fee) answering the pool's address (``UniswapV3Factory.getPool``;
        the zero address when there is none)."""
        from manager.chain.multicall import Call

        return [Call.build(proto.factory, "getPool(address,address,uint24)", (a, b, fee), ("address",), label="getPool")
                for a, b, fee in pairs]

    def pool_price_calls(self, pool: str, twap_window_s: int) -> list[Any]:
        """The calls whose results ``pool_usd_prices`` needs (the pool's header, and its TWAP when the window > 0)."""
        from manager.protocols.uniswap_v3.reads import pool_calls

        return pool_calls(pool, twap_window_s=twap_window_s)

    def pool_usd_prices(self, pool: str, results: Sequence[Any], twap_window_s: int, token: str, decimals: int,
                        other_decimals: int, other_usd: float) -> tuple[float, float | None] | None:
        """USD price of ``token`` implied by ``pool``'s spot price and TWAP, given the other token's USD price
        (``results``: those of ``pool_price_calls``); None when the pool's header could not be read."""
        import math

        from manager.protocols.uniswap_v3.reads import HEADER_FUNCTIONS, decode_pool_header

        if not all(x.success for x in results[: len(HEADER_FUNCTIONS)]):
            return None
        header = decode_pool_header(pool, results, twap_window_s)
        is_0 = header.token0.lower() == token.lower()
        d0, d1 = (decimals, other_decimals) if is_0 else (other_decimals, decimals)

        def price_of(p1_per_0_raw: float) -> float:
            p = float(p1_per_0_raw * 10 ** (d0 - d1))  # token1 per token0, human units
            return p * other_usd if is_0 else (1 / p) * other_usd

        spot = price_of((header.sqrt_price_x96 / 2**96) ** 2)
        twap = price_of(math.pow(1.0001, header.twap_tick)) if header.twap_tick is not None else None
        return spot, twap

    def pool_curve_plan(self, proto: Any, token_in: str, token_out: str, fee_pips: int, block: int,
                        k_bps: Sequence[int]) -> Any:
        """The read plan (``manager.chain.batch``) of ``pool_curve``: the same curve, in three rounds that many
        pools share (``TickReader.depth`` runs every pool's plan in ONE ``run_plans``):

        1. ``UniswapV3Factory.getPool(token_in, token_out, fee)`` and ``feeAmountTickSpacing(fee)``;
        2. the pool's header, both tokens' decimals / symbols and its whole tick bitmap (``reads.pool_plan``
           with the pair's sorted tokens and that spacing);
        3. ``TickLens.getPopulatedTicksInWord`` of every word with bits set.

        Raises ``NoPool`` (not a ``PosmanError``: callers skip the venue) when the factory has none or no TickLens
        is configured; ``block`` is the runner's (kept for the signature of ``pool_curve``)."""
        from manager.chain.multicall import Call
        from manager.protocols.base import NoPool
        from manager.protocols.uniswap_v3.depth import depth_curve
        from manager.protocols.uniswap_v3.reads import pool_plan

        if proto.tick_lens is None:
            raise NoPool("no tick_lens configured: pool depth cannot be read")
        spacing_call = Call.build(proto.factory, "feeAmountTickSpacing(uint24)", (fee_pips,), ("int24",),
                                  label="feeAmountTickSpacing")
        addr_res, spacing_res = yield [*self.pool_lookup_calls(proto, [(token_in, token_out, fee_pips)]), spacing_call]
        addr = addr_res.unwrap()
        if int(addr, 16) == 0:
            raise NoPool(f"no {fee_pips}-pip pool for {token_in}/{token_out}")
        spacing = int(spacing_res.unwrap()) if spacing_res.success else None
        state = yield from pool_plan(addr, proto.tick_lens, twap_window_s=0, tokens=(token_in, token_out),
                                     tick_spacing=spacing or None)
        zero_for_one = state.token0.lower() == token_in.lower()
        # NOTE: 48 sizes (log-spaced) keep the linear interpolation between quotes within a few bps of the pool,
        # so a sale lands at its target instead of well above it (the interpolation errs against us).
        return depth_curve(state, zero_for_one, k_bps=list(k_bps), grid_points=48)

    def pool_curve(self, client: Any, proto: Any, token_in: str, token_out: str, fee_pips: int, block: int,
                   k_bps: Sequence[int]) -> Any:
        """The ``DepthCurve`` of the (token_in, token_out, fee) pool selling ``token_in`` at ``block``, from the
        pool's own tick math; ``NoPool`` when the factory has none (or no TickLens is configured). ``run_plan``
        of ``pool_curve_plan`` (one pool alone)."""
        from manager.chain.batch import run_plan

        return run_plan(client, self.pool_curve_plan(proto, token_in, token_out, fee_pips, block, k_bps), block)

    def can_quote_depth(self, proto: Any) -> bool:
        """Whether ``pool_curve`` can read depth with this entry (Uniswap V3 needs its TickLens)."""
        return proto.tick_lens is not None

