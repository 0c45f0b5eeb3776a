"""Helpers several adapters share (no protocol in here): a client on the node a post-state check reads, and
a block's timestamp there."""

from __future__ import annotations

from typing import Any


def client_on(w3: Any, chain_cfg: Any) -> Any:
    """A ``ChainClient`` on the node ``w3`` talks to (the fork replay's anvil, or the chain itself)."""
    from manager.chain.client import ChainClient

    url = getattr(w3.provider, "endpoint_uri", None) or chain_cfg.rpc_urls[0]
    return ChainClient("post_check", chain_cfg.model_copy(update={"rpc_urls": [str(url)]}))


def block_ts(w3: Any, block: int) -> int:
    """The timestamp of ``block`` on the node ``w3`` talks to."""
    stamp = w3.eth.get_block(block)["timestamp"]
    return int(stamp, 16) if isinstance(stamp, str) else int(stamp)


__all__ = ["block_ts", "client_on", "kebab"]


def kebab(name: str) -> str:
    """``AaveV3EthereumLido`` -> ``aave-v3-ethereum-lido`` (a ``[[protocols]]`` name from a market name)."""
    import re

    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", name).lower()[:64]
