"""The grants a user gives their ``PosmanExecutor``, as unsigned steps, and the grant state read from chain.

What the executor needs, per protocol (and nothing more):

- Aave V3, deleverage/close: an **aToken allowance** (``AToken.approve(executor, amount)``) on each collateral
  reserve; the executor pulls at most that many aTokens (the allowance shrinks by what it pulls), then
  withdraws them. Amount-bounded.
- Aave V3, boost: **credit delegation** (``VariableDebtToken.approveDelegation(executor, amount)``) on each debt
  reserve; the executor borrows at most that much for the owner (shrinks by what it borrows). Amount-bounded.
- Morpho Blue: ``Morpho.setAuthorization(executor, true)``; Morpho has no amount-scoped authorization, so this one
  is all-or-nothing (the executor's own code limits what it does: only the owner starts a flow, only for the owner).

Revoking sets every amount to 0 and the authorization to false. ``read_grants`` returns what is granted now.
Mirrors: aave-v3-core ``IncentivizedERC20.approve``/``allowance``, ``DebtTokenBase.approveDelegation``/
``borrowAllowance``; morpho-blue ``setAuthorization``/``isAuthorized``.

Each protocol's part lives in its own folder (``manager/protocols/<kind>/grants.py``), reached through the lending
adapters the executor contract serves (``executor_grant_calls``, ``executor_revoke_calls``, ``executor_reserves``,
``read_executor_grants``); this module keeps the shapes (``GrantSet``) and the order (registry order).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from eth_utils.address import to_checksum_address

from manager.execution.calls import selector_of
from manager.execution.types import TxStep
from manager.protocols import registry
from manager.protocols.base import NotSupported

SET_AUTHORIZATION_FN = "setAuthorization(address,bool)"
IS_AUTHORIZED_FN = "isAuthorized(address,address)"


@dataclass(frozen=True)
class GrantSet:
    """What to grant: aToken allowances and credit delegations (token units) per reserve symbol; Morpho Blues."""

    withdraw_caps_wei: Mapping[str, int] = field(default_factory=dict)  # symbol -> aToken allowance
    borrow_caps_wei: Mapping[str, int] = field(default_factory=dict)  # symbol -> credit delegation
    morpho: tuple[str, ...] = ()  # Morpho Blue addresses to authorize


def _lenders() -> list[Any]:
    """The lending adapters the executor contract serves, in registry order (each grants its own part)."""
    return [a for a in registry.adapters("lending") if a.executor_protocol_id is not None]


def grant_steps(executor: str, reserves: Mapping[str, Any], grants: GrantSet) -> list[TxStep]:
    """Unsigned steps (sent by the owner) that set exactly ``grants`` for ``executor`` (each lending adapter's
    ``executor_grant_calls``: the Aave allowances and delegations, then the Morpho authorizations)."""
    executor = to_checksum_address(executor)
    steps: list[TxStep] = []
    for adapter in _lenders():
        steps += adapter.executor_grant_calls(executor, reserves, grants)
    return steps


def revoke_steps(executor: str, reserves: Mapping[str, Any], symbols: Iterable[str],
                 morpho: Iterable[str] = ()) -> list[TxStep]:
    """Unsigned steps that set every aToken allowance and delegation of ``symbols`` to 0 and deauthorize Morpho."""
    zero = {sym: 0 for sym in symbols}
    steps = grant_steps(executor, reserves, GrantSet(withdraw_caps_wei=zero, borrow_caps_wei=zero))
    off = list(morpho)
    for adapter in _lenders():
        steps += adapter.executor_revoke_calls(to_checksum_address(executor), off)
    return [s.model_copy(update={"label": s.label.replace("grant_", "revoke_")}) for s in steps]


def read_reserves(w3: Any, pool: str, block: int | str = "latest") -> dict[str, Any]:
    """Every reserve of a pool whose grants are per reserve (Aave V3): ``{symbol: tokens}`` (the lending adapter's
    ``executor_reserves``)."""
    for adapter in _lenders():
        try:
            reserves: dict[str, Any] = adapter.executor_reserves(w3, pool, block)
        except NotSupported:
            continue
        return reserves
    raise ValueError("no lending protocol has per-reserve executor grants")


def read_grants(w3: Any, owner: str, executor: str, reserves: Mapping[str, Any],
                morpho: Iterable[str] = (), block: int | str = "latest") -> dict[str, Any]:
    """The grant state now: ``{"aave": {symbol: {withdraw_cap_wei, borrow_cap_wei}}, "morpho": {addr: bool}}``
    (keyed by each lending adapter's ``flash_kind``; its ``read_executor_grants``)."""
    owner, executor = to_checksum_address(owner), to_checksum_address(executor)
    lenders = list(morpho)
    return {str(a.flash_kind): a.read_executor_grants(w3, owner, executor, reserves=reserves, lenders=lenders,
                                                      block=block) for a in _lenders()}


def grant_selectors() -> dict[str, str]:
    """Selectors of the grant calls (for an allow-list of the CLI's own transactions)."""
    return {"approve": selector_of("approve(address,uint256)"),
            "approveDelegation": selector_of("approveDelegation(address,uint256)"),
            "setAuthorization": selector_of(SET_AUTHORIZATION_FN)}
