"""``posman executor grant|revoke|show`` for Aave V3 positions: per collateral reserve an aToken allowance
(default: the current collateral balance + 1 %), per debt reserve a credit delegation (default: none unless the
position boosts (``upper_health`` set): then its current debt); ``--withdraw-cap`` / ``--borrow-cap`` override.
The unsigned steps come from ``manager.atomic.grants``. Moved here from ``manager.commands.executor``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from manager.errors import ConfigError

GRANT_MARGIN_BPS = 100  # the default withdraw cap: the collateral balance + 1 % (interest accrues until used)


# ------------------------------------------------------------------------------------------------ the grants
# aToken allowance (``AToken.approve(executor, amount)``) per collateral reserve, credit delegation
# (``VariableDebtToken.approveDelegation(executor, amount)``) per debt reserve; both amount-bounded and shrinking
# by what the executor pulls / borrows. Mirrors aave-v3-core ``IncentivizedERC20.approve``/``allowance``,
# ``DebtTokenBase.approveDelegation``/``borrowAllowance``. (Moved here from ``manager.atomic.grants``.)
@dataclass(frozen=True)
class AaveReserveTokens:
    """One Aave reserve's tokens (from ``getReserveData``)."""

    symbol: str
    asset: str
    a_token: str
    variable_debt_token: str


def read_reserves(w3: Any, pool: str, block: int | str = "latest") -> dict[str, AaveReserveTokens]:
    """Every reserve of an Aave V3 pool: ``{symbol: tokens}`` (v3.0 ``ReserveData`` / v3.6 ``ReserveDataLegacy``)."""
    from eth_utils.address import to_checksum_address

    from manager.chain.abi import load_abi

    p = w3.eth.contract(address=to_checksum_address(pool), abi=load_abi("aave_v3/Pool"))
    out = {}
    for asset in p.functions.getReservesList().call(block_identifier=block):
        data = p.functions.getReserveData(asset).call(block_identifier=block)
        erc20 = w3.eth.contract(address=asset, abi=load_abi("erc20/MintableERC20"))
        sym = erc20.functions.symbol().call(block_identifier=block)
        out[sym] = AaveReserveTokens(symbol=sym, asset=asset, a_token=data[8], variable_debt_token=data[10])
    return out


def _reserve(reserves: Mapping[str, AaveReserveTokens], sym: str) -> AaveReserveTokens:
    if sym not in reserves:
        raise ValueError(f"unknown Aave reserve {sym!r}; the pool lists: {', '.join(sorted(reserves))}")
    return reserves[sym]


def grant_calls(executor: str, reserves: Mapping[str, AaveReserveTokens], grants: Any) -> list[Any]:
    """The steps setting ``grants.withdraw_caps_wei`` (aToken allowances) then ``grants.borrow_caps_wei`` (credit
    delegations), by symbol in order, for the checksummed ``executor``."""
    from manager.execution.calls import encode_call
    from manager.execution.types import TxStep

    steps: list[Any] = []
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
    return steps


def read_state(w3: Any, owner: str, executor: str, reserves: Mapping[str, AaveReserveTokens],
               block: int | str = "latest") -> dict[str, dict[str, int]]:
    """``{symbol: {withdraw_cap_wei, borrow_cap_wei}}`` granted now (checksummed ``owner`` / ``executor``)."""
    from manager.chain.abi import load_abi

    out: dict[str, dict[str, int]] = {}
    for sym, r in sorted(reserves.items()):
        a = w3.eth.contract(address=r.a_token, abi=load_abi("aave_v3/AToken"))
        v = w3.eth.contract(address=r.variable_debt_token, abi=load_abi("aave_v3/VariableDebtToken"))
        out[sym] = {"withdraw_cap_wei": int(a.functions.allowance(owner, executor).call(block_identifier=block)),
                    "borrow_cap_wei": int(v.functions.borrowAllowance(owner, executor).call(block_identifier=block))}
    return out


# ------------------------------------------------------------------------------------------------ the commands


def reserves_of(w3: Any, proto: Any) -> tuple[str, dict[str, Any]]:
    """``(Pool, {symbol: AaveReserveTokens})`` of the market behind the entry's addresses provider."""
    from manager.chain.abi import load_abi

    provider = w3.eth.contract(address=proto.pool_addresses_provider, abi=load_abi("aave_v3/PoolAddressesProvider"))
    pool = provider.functions.getPool().call()
    return pool, read_reserves(w3, pool)


def balances(w3: Any, reserves: Mapping[str, Any], account: str) -> dict[str, tuple[int, int, int]]:
    """{symbol: (aToken balance, variable debt, decimals)} of ``account``."""
    from manager.chain.abi import load_abi

    out = {}
    for sym, r in reserves.items():
        a = w3.eth.contract(address=r.a_token, abi=load_abi("aave_v3/AToken"))
        v = w3.eth.contract(address=r.variable_debt_token, abi=load_abi("aave_v3/VariableDebtToken"))
        out[sym] = (int(a.functions.balanceOf(account).call()), int(v.functions.balanceOf(account).call()),
                    int(a.functions.decimals().call()))
    return out


def caps(items: Sequence[str], what: str, decimals: Mapping[str, int]) -> dict[str, int]:
    """``SYM=TOKENS`` overrides -> {symbol: amount in token units}; a bad one is one ``ConfigError`` line."""
    out = {}
    for item in items:
        sym, sep, amount = item.partition("=")
        if not sep or sym not in decimals:
            raise ConfigError(f"--{what} {item!r}: expected SYM=TOKENS with SYM one of {', '.join(sorted(decimals))}")
        try:
            tokens = Decimal(amount)
        except InvalidOperation:
            raise ConfigError(f"--{what} {item!r}: {amount!r} is not a number of tokens") from None
        if not tokens.is_finite() or tokens < 0:
            raise ConfigError(f"--{what} {item!r}: the amount must be a non-negative number of tokens")
        out[sym] = int(tokens * (Decimal(10) ** decimals[sym]))
    return out


def grant_steps(w3: Any, proto: Any, pos: Any, signer_cfg: Any, *, withdraw_caps: Sequence[str] = (),
                borrow_caps: Sequence[str] = ()) -> list[Any]:
    """The aToken allowances / credit delegations that differ from what is granted now."""
    from manager.atomic.grants import GrantSet, read_grants
    from manager.atomic.grants import grant_steps as steps_of

    executor, owner = signer_cfg.executor, signer_cfg.address
    _pool, reserves = reserves_of(w3, proto)
    bal = balances(w3, reserves, owner)
    decimals = {sym: b[2] for sym, b in bal.items()}
    withdraw = {sym: b[0] * (10_000 + GRANT_MARGIN_BPS) // 10_000 for sym, b in bal.items() if b[0]}
    boosts = pos.params.get("upper_health") is not None
    borrow = {sym: b[1] for sym, b in bal.items() if b[1]} if boosts else {}
    withdraw.update(caps(withdraw_caps, "withdraw-cap", decimals))
    borrow.update(caps(borrow_caps, "borrow-cap", decimals))
    current = read_grants(w3, owner, executor, reserves)["aave"]
    withdraw = {s: v for s, v in withdraw.items() if current[s]["withdraw_cap_wei"] != v}
    borrow = {s: v for s, v in borrow.items() if current[s]["borrow_cap_wei"] != v}
    return steps_of(executor, reserves, GrantSet(withdraw_caps_wei=withdraw, borrow_caps_wei=borrow))


def revoke_steps(w3: Any, proto: Any, signer_cfg: Any) -> list[Any]:
    """Every non-zero allowance / delegation back to 0."""
    from manager.atomic.grants import GrantSet, read_grants
    from manager.atomic.grants import grant_steps as steps_of

    executor, owner = signer_cfg.executor, signer_cfg.address
    _pool, reserves = reserves_of(w3, proto)
    current = read_grants(w3, owner, executor, reserves)["aave"]
    withdraw = {s: 0 for s, g in current.items() if g["withdraw_cap_wei"]}
    borrow = {s: 0 for s, g in current.items() if g["borrow_cap_wei"]}
    steps = steps_of(executor, reserves, GrantSet(withdraw_caps_wei=withdraw, borrow_caps_wei=borrow))
    return [s.model_copy(update={"label": s.label.replace("grant_", "revoke_")}) for s in steps]


def grants_doc(w3: Any, proto: Any, signer_cfg: Any) -> dict[str, Any]:
    """``{"aave": {symbol: caps, collateral and debt}}`` of every reserve with a grant or a balance."""
    from manager.atomic.grants import read_grants

    executor, owner = signer_cfg.executor, signer_cfg.address
    _pool, reserves = reserves_of(w3, proto)
    bal = balances(w3, reserves, owner)
    grants = read_grants(w3, owner, executor, reserves)["aave"]
    return {"aave": {
        sym: {"withdraw_cap_wei": str(g["withdraw_cap_wei"]), "borrow_cap_wei": str(g["borrow_cap_wei"]),
              "collateral_wei": str(bal[sym][0]), "debt_wei": str(bal[sym][1]), "decimals": bal[sym][2]}
        for sym, g in grants.items() if g["withdraw_cap_wei"] or g["borrow_cap_wei"] or bal[sym][0] or bal[sym][1]
    }}


def grant_lines(d: Mapping[str, Any]) -> list[str]:
    """The lines ``posman executor show`` prints for ``grants_doc``."""
    if not d["aave"]:
        return ["  Aave: no grants, no position"]
    out = []
    for sym, g in d["aave"].items():
        unit = 10 ** g["decimals"]
        out.append(f"  Aave {sym:<7} withdraw cap {int(g['withdraw_cap_wei']) / unit:>16,.6f} "
                   f"(collateral {int(g['collateral_wei']) / unit:,.6f})   borrow cap "
                   f"{int(g['borrow_cap_wei']) / unit:>16,.6f} (debt {int(g['debt_wei']) / unit:,.6f})")
    return out


__all__ = [
    "GRANT_MARGIN_BPS",
    "AaveReserveTokens",
    "balances",
    "caps",
    "grant_calls",
    "grant_lines",
    "grant_steps",
    "grants_doc",
    "read_reserves",
    "read_state",
    "reserves_of",
    "revoke_steps",
]
