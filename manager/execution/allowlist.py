"""The executor's allow-list, as the user can read and configure it.

Per signer: the contracts its managed positions' protocols need (derived: the Aave ``Pool`` behind the
configured ``PoolAddressesProvider`` and ``approve`` on its reserve tokens, the configured Uniswap
``SwapRouter``'s ``exactInput``, the Morpho Blue contract and its market's two tokens, a PerpsV2 market proxy),
each with exactly the functions posman's plans call on it (each protocol adapter's ``allowed_calls``); plus every address of ``[limits]
allowed_contracts``, on which posman's own action functions (the union of the derived selectors, never
anything else, e.g. never ``transfer``) are allowed. Nothing outside this list is ever sent: the policy refuses
any step whose ``(to, selector)`` is not in it (``manager.execution.policy.check_plan``).

``posman allowlist --config FILE [--json]`` prints it; ``build_manager`` gives each executor the same list.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from eth_utils import to_checksum_address


def action_selectors() -> set[str]:
    """Every selector a posman plan may call (the union of every managed adapter's ``action_selectors``)."""
    from manager.protocols import registry

    out: set[str] = set()
    for adapter in registry.managed():
        out |= {s.lower() for s in adapter.action_selectors()}
    return out


def with_allowed_contracts(derived: Mapping[str, Iterable[str]], allowed_contracts: Iterable[str]) -> dict[str, set[str]]:
    """``derived`` plus each of ``allowed_contracts`` with posman's action functions (addresses checksummed)."""
    out: dict[str, set[str]] = {}
    for address, sels in derived.items():
        out.setdefault(to_checksum_address(address), set()).update(s.lower() for s in sels)
    extra = action_selectors()
    for address in allowed_contracts:
        out.setdefault(to_checksum_address(address), set()).update(extra)
    return out


def signer_allow_lists(cfg: Any, clients: Mapping[str, Any] | None = None) -> dict[str, dict[str, set[str]]]:
    """``{signer: {contract: selectors}}`` for every signer of a managed position (reads the chain once)."""
    from manager.chain.client import ChainClient
    from manager.execution.planner import merge_calls
    from manager.protocols import registry
    from manager.protocols.base import VenueWiring, WiringEnv

    clients = dict(clients or {})
    cache: dict[Any, Any] = {}
    per_signer: dict[str, list[dict[str, set[str]]]] = {}
    venue_kinds = [a.kind for a in registry.adapters("venue")]
    for i, pos in enumerate(cfg.positions):
        if pos.mode != "manage" or pos.signer is None:
            continue
        proto = cfg.protocol(pos.protocol)
        if proto.chain not in clients:
            clients[proto.chain] = ChainClient.from_config(cfg, proto.chain).connect()
        client = clients[proto.chain]
        venue = next((p for p in cfg.protocols if p.kind in venue_kinds and p.chain == proto.chain), None)
        env = WiringEnv(cfg=cfg, client=client, index=i, cache=cache)
        if venue is not None:
            # NOTE: the router's default kind here (as before issue 13); the run detects it on chain
            env.venue = VenueWiring(kind=venue.kind, proto=venue, router=registry.adapter_of(venue).router_of(venue),
                                    router_kind="swap_router")
        lists = per_signer.setdefault(pos.signer, [])
        adapter = registry.adapter_of(proto)
        if adapter.family in ("lending", "perp"):
            calls = adapter.allowed_calls(env, proto)
            if calls:
                lists.append(calls)
    return {signer: with_allowed_contracts(merge_calls(*lists), cfg.limits.allowed_contracts)
            for signer, lists in per_signer.items()}


def function_names() -> dict[str, str]:
    """selector -> ``name(types)`` of every function posman's plans may call (for printing)."""
    from manager.execution.calls import selector_of
    from manager.protocols import registry

    sigs: list[str] = []
    for adapter in registry.managed():
        sigs += list(adapter.write_functions())
    for venue in registry.adapters("venue"):
        sigs += list(venue.swap_functions())
    sigs.append("approve(address,uint256)")
    return {selector_of(s).lower(): s for s in dict.fromkeys(sigs)}
