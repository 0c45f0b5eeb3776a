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
