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
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from eth_utils import to_checksum_address

from manager.execution.calls import encode_call, selector_of
from manager.execution.types import TxStep

SET_AUTHORIZATION_FN = "setAuthorization(address,bool)"
IS_AUTHORIZED_FN = "isAuthorized(address,address)"


@dataclass(frozen=True)
class AaveReserveTokens:
    """One Aave reserve's tokens (from ``getReserveData``)."""

    symbol: str
    asset: str
    a_token: str
    variable_debt_token: str


@dataclass(frozen=True)
class GrantSet:
    """What to grant: aToken allowances and credit delegations (token units) per reserve symbol; Morpho Blues."""

    withdraw_caps_wei: Mapping[str, int] = field(default_factory=dict)  # symbol -> aToken allowance
    borrow_caps_wei: Mapping[str, int] = field(default_factory=dict)  # symbol -> credit delegation
    morpho: tuple[str, ...] = ()  # Morpho Blue addresses to authorize


def grant_steps(executor: str, reserves: Mapping[str, AaveReserveTokens], grants: GrantSet) -> list[TxStep]:
    """Unsigned steps (sent by the owner) that set exactly ``grants`` for ``executor``."""
    executor = to_checksum_address(executor)
    steps: list[TxStep] = []
    for sym, amount in sorted(grants.withdraw_caps_wei.items()):
        r = _reserve(reserves, sym)
        steps.append(TxStep(to=r.a_token, data=encode_call("aave_v3/AToken", "approve", [executor, amount]),
                            label=f"grant_withdraw_{sym}", kind="approve", token=r.a_token, amount_wei=amount,
                            approval_amount_wei=amount, spender=executor))
    for sym, amount in sorted(grants.borrow_caps_wei.items()):
        r = _reserve(reserves, sym)
        steps.append(TxStep(to=r.variable_debt_token,
                            data=encode_call("aave_v3/VariableDebtToken", "approveDelegation", [executor, amount]),
                            label=f"grant_borrow_{sym}", kind="call", token=r.variable_debt_token, amount_wei=amount,
                            spender=executor))
    for morpho in grants.morpho:
        steps.append(_authorization(morpho, executor, True))
    return steps


def revoke_steps(executor: str, reserves: Mapping[str, AaveReserveTokens], symbols: Iterable[str],
                 morpho: Iterable[str] = ()) -> list[TxStep]:
    """Unsigned steps that set every aToken allowance and delegation of ``symbols`` to 0 and deauthorize Morpho."""
    zero = {sym: 0 for sym in symbols}
    steps = grant_steps(executor, reserves, GrantSet(withdraw_caps_wei=zero, borrow_caps_wei=zero))
    steps += [_authorization(m, executor, False) for m in morpho]
    return [s.model_copy(update={"label": s.label.replace("grant_", "revoke_")}) for s in steps]


def read_reserves(w3: Any, pool: str, block: int | str = "latest") -> dict[str, AaveReserveTokens]:
    """Every reserve of an Aave V3 pool: ``{symbol: tokens}`` (v3.0 ``ReserveData`` / v3.6 ``ReserveDataLegacy``)."""
    from manager.chain.abi import load_abi

    p = w3.eth.contract(address=to_checksum_address(pool), abi=load_abi("aave_v3/Pool"))
    out = {}
    for asset in p.functions.getReservesList().call(block_identifier=block):
        data = p.functions.getReserveData(asset).call(block_identifier=block)
        erc20 = w3.eth.contract(address=asset, abi=load_abi("erc20/MintableERC20"))
        sym = erc20.functions.symbol().call(block_identifier=block)
        out[sym] = AaveReserveTokens(symbol=sym, asset=asset, a_token=data[8], variable_debt_token=data[10])
    return out


def read_grants(w3: Any, owner: str, executor: str, reserves: Mapping[str, AaveReserveTokens],
                morpho: Iterable[str] = (), block: int | str = "latest") -> dict[str, Any]:
    """The grant state now: ``{"aave": {symbol: {withdraw_cap_wei, borrow_cap_wei}}, "morpho": {addr: bool}}``."""
    from manager.chain.abi import load_abi

    owner, executor = to_checksum_address(owner), to_checksum_address(executor)
    aave: dict[str, dict[str, int]] = {}
    for sym, r in sorted(reserves.items()):
        a = w3.eth.contract(address=r.a_token, abi=load_abi("aave_v3/AToken"))
        v = w3.eth.contract(address=r.variable_debt_token, abi=load_abi("aave_v3/VariableDebtToken"))
        aave[sym] = {"withdraw_cap_wei": int(a.functions.allowance(owner, executor).call(block_identifier=block)),
                     "borrow_cap_wei": int(v.functions.borrowAllowance(owner, executor).call(block_identifier=block))}
    morpho_state = {}
    for m in morpho:
        ret = w3.eth.call({"to": to_checksum_address(m),
                           "data": _calldata(IS_AUTHORIZED_FN, ["address", "address"], [owner, executor])},
                          block_identifier=block)
        morpho_state[to_checksum_address(m)] = bool(int.from_bytes(bytes(ret)[-32:], "big"))
    return {"aave": aave, "morpho": morpho_state}


def _authorization(morpho: str, executor: str, on: bool) -> TxStep:
    return TxStep(to=to_checksum_address(morpho),
                  data=_calldata(SET_AUTHORIZATION_FN, ["address", "bool"], [executor, on]),
                  label=f"grant_morpho_{'on' if on else 'off'}", kind="call")


def _calldata(signature: str, types: list[str], args: list[Any]) -> str:
    from eth_abi import encode

    return selector_of(signature) + encode(types, args).hex()


def _reserve(reserves: Mapping[str, AaveReserveTokens], sym: str) -> AaveReserveTokens:
    if sym not in reserves:
        raise ValueError(f"unknown Aave reserve {sym!r}; the pool lists: {', '.join(sorted(reserves))}")
    return reserves[sym]


def grant_selectors() -> dict[str, str]:
    """Selectors of the grant calls (for an allow-list of the CLI's own transactions)."""
    return {"approve": selector_of("approve(address,uint256)"),
            "approveDelegation": selector_of("approveDelegation(address,uint256)"),
            "setAuthorization": selector_of(SET_AUTHORIZATION_FN)}
