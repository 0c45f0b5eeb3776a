"""Morpho Blue start-up wiring: the market's ``MarketParams`` (the allow-list's token approvals), the allow-list
of Morpho plans, and the post-state health check of the fork replay (interest accrued to the block, read with
this folder's reads). Moved here from ``manager.runtime.lifecycle`` / ``manager.execution.planner``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from manager.errors import DataQualityError
from manager.execution.calls import selector_of


def morpho_params(client: Any, proto: Any) -> Any:
    """The market's ``MarketParams`` (``idToMarketParams``), for the allow-list's token approvals."""
    from manager.chain.multicall import execute
    from manager.protocols.morpho_blue.reads import decode_params, params_calls

    block = int(client.block_number())
    res = execute(client, params_calls(proto.morpho, [proto.market_id]), block)
    return decode_params(res[0], proto.market_id)


def morpho_allowed_calls(morpho: str, router: str, tokens: Iterable[str],
                         router_kind: str = "swap_router") -> dict[str, set[str]]:
    """The allow-list of Morpho Blue plans: Morpho's write selectors, the router's swap, exact approvals."""
    from manager.protocols.morpho_blue.encode import allowed_selectors
    from manager.protocols.uniswap_v3.router import router_selectors

    calls: dict[str, set[str]] = {morpho: {s.lower() for s in allowed_selectors()},
                                  router: router_selectors(router_kind)}
    for token in tokens:
        calls.setdefault(token, set()).add(selector_of("approve(address,uint256)"))
    return calls


def morpho_health_reader(chain_cfg: Any, proto: Any, account: str) -> Callable[[Any], float]:
    """``post_check`` for a Morpho Blue position: its health (interest accrued to the block) read with the adapter."""
    from manager.protocols.common import block_ts, client_on
    from manager.protocols.morpho_blue.reads import PositionRef, read_snapshots

    def read(w3: Any) -> float:
        block = int(w3.eth.block_number)
        snaps, errors = read_snapshots(client_on(w3, chain_cfg), proto.morpho,
                                       [PositionRef(name="post_check", account=account, market_id=proto.market_id)],
                                       block, block_timestamp=block_ts(w3, block))
        if errors or not snaps:
            raise DataQualityError(f"post-state read of Morpho position {account} failed: {errors}")
        return float(snaps[0].health_factor())

    return read


__all__ = ["morpho_allowed_calls", "morpho_health_reader", "morpho_params"]
