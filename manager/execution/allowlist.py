"""The executor's allow-list, as the user can read and configure it.

Per signer: the contracts its managed positions' protocols need (derived: the Aave ``Pool`` behind the
configured ``PoolAddressesProvider`` and ``approve`` on its reserve tokens, the configured Uniswap
``SwapRouter``'s ``exactInput``, the Morpho Blue contract and its market's two tokens, a PerpsV2 market proxy),
each with exactly the functions posman's plans call on it; plus every address of ``[limits]
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
    """Every selector a posman plan may call (the union of the derived allow-lists' functions)."""
    from manager.execution.planner import allowed_calls, morpho_allowed_calls, perp_allowed_calls

    zero, one, two = "0x" + "00" * 20, "0x" + "00" * 19 + "01", "0x" + "00" * 19 + "02"
    out: set[str] = set()
    for calls in (allowed_calls(zero, one, [two]), morpho_allowed_calls(zero, one, [two]), perp_allowed_calls(zero)):
        for sels in calls.values():
            out |= {s.lower() for s in sels}
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
    from manager.execution.planner import allowed_calls, merge_calls, morpho_allowed_calls, perp_allowed_calls
    from manager.runtime.lifecycle import _aave_pool, _morpho_params

    clients = dict(clients or {})
    per_signer: dict[str, list[dict[str, set[str]]]] = {}
    for pos in cfg.positions:
        if pos.mode != "manage" or pos.signer is None:
            continue
        proto = cfg.protocol(pos.protocol)
        if proto.chain not in clients:
            clients[proto.chain] = ChainClient.from_config(cfg, proto.chain).connect()
        client = clients[proto.chain]
        router = next((p.swap_router for p in cfg.protocols if p.kind == "uniswap_v3" and p.chain == proto.chain), None)
        lists = per_signer.setdefault(pos.signer, [])
        if proto.kind == "synthetix_perps":
            lists.append(perp_allowed_calls(proto.market))
        elif proto.kind == "morpho_blue" and router is not None:
            params = _morpho_params(client, proto)
            lists.append(morpho_allowed_calls(proto.morpho, router, [params.loan_token, params.collateral_token]))
        elif proto.kind == "aave_v3" and router is not None:
            pool, reserves = _aave_pool(client.w3, proto.pool_addresses_provider)
            lists.append(allowed_calls(pool, router, reserves))
    return {signer: with_allowed_contracts(merge_calls(*lists), cfg.limits.allowed_contracts)
            for signer, lists in per_signer.items()}


def function_names() -> dict[str, str]:
    """selector -> ``name(types)`` of every function posman's plans may call (for printing)."""
    from manager.execution.calls import selector_of
    from manager.execution.planner import PERP_FUNCTIONS

    sigs = ["supply(address,uint256,address,uint16)", "withdraw(address,uint256,address)",
            "borrow(address,uint256,uint256,uint16,address)", "repay(address,uint256,uint256,address)",
            "exactInput((bytes,address,uint256,uint256,uint256))", "approve(address,uint256)", *PERP_FUNCTIONS]
    from manager.protocols.morpho_blue import abi as morpho_abi

    sigs += list(morpho_abi.WRITE_FUNCTIONS)
    return {selector_of(s).lower(): s for s in sigs}
