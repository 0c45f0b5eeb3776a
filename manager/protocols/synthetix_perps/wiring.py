"""Synthetix PerpsV2 start-up wiring: the post-state health check of the fork replay (remaining liquidatable
margin / liquidation margin, ``manager.protocols.synthetix_perps.math.snx_perp_health``). Moved here from
``manager.runtime.lifecycle``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def perp_health_reader(chain_cfg: Any, proto: Any, account: str) -> Callable[[Any], float]:
    """``post_check`` for a PerpsV2 position: remaining liquidatable margin / liquidation margin."""
    from manager.protocols.common import block_ts, client_on
    from manager.protocols.synthetix_perps.math import snx_perp_health
    from manager.protocols.synthetix_perps.reads import PerpsV2Addresses, read_perps

    addrs = PerpsV2Addresses(market=proto.market, settings=proto.settings, exchange_rates=proto.exchange_rates,
                             susd=proto.susd, name=proto.name)

    def read(w3: Any) -> float:
        block = int(w3.eth.block_number)
        (snap,), _ = read_perps(client_on(w3, chain_cfg), addrs, [account], block, market_key=proto.market_key,
                                block_timestamp=block_ts(w3, block), with_reported=False)
        return float(snx_perp_health(snap.market, snap.position, snap.market.price_wad, snap.block_timestamp))

    return read


__all__ = ["perp_health_reader"]
