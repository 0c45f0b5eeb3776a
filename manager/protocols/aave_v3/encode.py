"""Aave V3 write encoders: unsigned ``TxStep`` calls on the Pool (the executor signs and sends them).

Mirrors ``aave-v3-core`` v1.19 ``contracts/interfaces/IPool.sol``:
``supply(asset, amount, onBehalfOf, referralCode)``, ``withdraw(asset, amount, to)``,
``borrow(asset, amount, interestRateMode, referralCode, onBehalfOf)``,
``repay(asset, amount, interestRateMode, onBehalfOf)``, ``repayWithATokens(asset, amount, interestRateMode)``,
``setUserUseReserveAsCollateral(asset, useAsCollateral)``, ``setUserEMode(categoryId)``. The same signatures hold on
aave-v3-origin v3.6.0 (``interestRateMode`` must be 2 there: stable debt was removed in v3.2); every encoder is
executed on the devnet's v3.6 market (``tests/execution/test_encoders_onchain.py``).

Approvals are exact amounts (``approve_for_pool``), never unlimited. ``amount_wei`` is in the asset's
smallest unit; ``type(uint256).max`` (``MAX_AMOUNT``) means "all" for withdraw/repay, as in the Pool.
Interest rate mode 2 is variable (the only mode this manager uses; 1 = stable is deprecated).
"""

from __future__ import annotations

from typing import Any

from eth_utils import to_checksum_address

from manager.domain import UINT256_MAX
from manager.execution.calls import encode_call, erc20_approve
from manager.execution.types import TxStep

POOL_ABI = "aave_v3/Pool"
MAX_AMOUNT = UINT256_MAX
VARIABLE_RATE = 2


def _amount(amount_wei: int, *, allow_max: bool) -> int:
    if isinstance(amount_wei, bool) or not isinstance(amount_wei, int) or amount_wei <= 0:
        raise ValueError(f"amount_wei must be a positive integer, got {amount_wei!r}")
    if amount_wei > UINT256_MAX or (amount_wei == UINT256_MAX and not allow_max):
        raise ValueError("amount_wei out of range")
    return amount_wei


def approve_for_pool(pool: str, asset: str, amount_wei: int, *, usd_value: float = 0.0) -> TxStep:
    """``asset.approve(pool, amount_wei)``: exactly what the next supply/repay pulls."""
    return erc20_approve(asset, pool, amount_wei, usd_value=usd_value, label=f"approve pool {amount_wei}")


def _pool_step(pool: str, fn: str, args: list[Any], *, kind: str, asset: str | None, amount_wei: int | None,
               gas_hint: int, usd_value: float = 0.0, label: str | None = None) -> TxStep:
    """One ``Pool.<fn>(args)`` call as an unsigned step."""
    return TxStep(
        to=pool,
        data=encode_call(POOL_ABI, fn, args),
        label=label or f"{fn} {amount_wei}",
        kind=kind,  # type: ignore[arg-type]
        usd_value=usd_value,
        token=asset,
        amount_wei=amount_wei,
        gas_hint=gas_hint,
    )


def supply(pool: str, asset: str, amount_wei: int, on_behalf_of: str, *, referral_code: int = 0,
           usd_value: float = 0.0) -> TxStep:
    """``Pool.supply``: pull ``amount_wei`` of ``asset`` from the sender, credit aTokens to ``on_behalf_of``."""
    args = [to_checksum_address(asset), _amount(amount_wei, allow_max=False), to_checksum_address(on_behalf_of),
            referral_code]
    return _pool_step(pool, "supply", args, kind="supply", asset=asset, amount_wei=amount_wei, gas_hint=300_000,
                      usd_value=usd_value)


def withdraw(pool: str, asset: str, amount_wei: int, to: str, *, usd_value: float = 0.0) -> TxStep:
    """``Pool.withdraw``: burn aTokens, send ``amount_wei`` (``MAX_AMOUNT`` = all) of ``asset`` to ``to``."""
    args = [to_checksum_address(asset), _amount(amount_wei, allow_max=True), to_checksum_address(to)]
    return _pool_step(pool, "withdraw", args, kind="withdraw", asset=asset, amount_wei=amount_wei, gas_hint=350_000,
                      usd_value=usd_value)


def borrow(pool: str, asset: str, amount_wei: int, on_behalf_of: str, *, interest_rate_mode: int = VARIABLE_RATE,
           referral_code: int = 0, usd_value: float = 0.0) -> TxStep:
    """``Pool.borrow`` (variable rate by default)."""
    args = [to_checksum_address(asset), _amount(amount_wei, allow_max=False), interest_rate_mode, referral_code,
            to_checksum_address(on_behalf_of)]
    return _pool_step(pool, "borrow", args, kind="borrow", asset=asset, amount_wei=amount_wei, gas_hint=400_000,
                      usd_value=usd_value)


def repay(pool: str, asset: str, amount_wei: int, on_behalf_of: str, *, interest_rate_mode: int = VARIABLE_RATE,
          usd_value: float = 0.0) -> TxStep:
    """``Pool.repay`` from the sender's wallet (``MAX_AMOUNT`` = the whole debt); needs an approval first."""
    args = [to_checksum_address(asset), _amount(amount_wei, allow_max=True), interest_rate_mode,
            to_checksum_address(on_behalf_of)]
    return _pool_step(pool, "repay", args, kind="repay", asset=asset, amount_wei=amount_wei, gas_hint=300_000,
                      usd_value=usd_value)


def repay_with_a_tokens(pool: str, asset: str, amount_wei: int, *, interest_rate_mode: int = VARIABLE_RATE,
                        usd_value: float = 0.0) -> TxStep:
    """``Pool.repayWithATokens``: repay debt in ``asset`` by burning the sender's aTokens of it."""
    args = [to_checksum_address(asset), _amount(amount_wei, allow_max=True), interest_rate_mode]
    return _pool_step(pool, "repayWithATokens", args, kind="repay_with_a_tokens", asset=asset,
                      amount_wei=amount_wei, gas_hint=300_000, usd_value=usd_value)


def set_use_reserve_as_collateral(pool: str, asset: str, use_as_collateral: bool) -> TxStep:
    """``Pool.setUserUseReserveAsCollateral``."""
    args = [to_checksum_address(asset), bool(use_as_collateral)]
    return _pool_step(pool, "setUserUseReserveAsCollateral", args, kind="set_collateral", asset=asset,
                      amount_wei=None, gas_hint=150_000, label=f"set collateral {bool(use_as_collateral)}")


__all__ = [
    "MAX_AMOUNT",
    "VARIABLE_RATE",
    "approve_for_pool",
    "borrow",
    "repay",
    "repay_with_a_tokens",
    "set_use_reserve_as_collateral",
    "supply",
    "withdraw",
]


def set_user_emode(pool: str, category_id: int) -> TxStep:
    """``Pool.setUserEMode(categoryId)`` (0 = leave e-mode). Check it first with ``aave_v3.math.emode_switch``:
    v3.6 refuses a category where a borrowed asset is not borrowable or an enabled collateral has LTV 0."""
    if isinstance(category_id, bool) or not isinstance(category_id, int) or not 0 <= category_id <= 255:
        raise ValueError(f"category_id must be an integer in 0..255, got {category_id!r}")
    return _pool_step(pool, "setUserEMode", [category_id], kind="call", asset=None, amount_wei=None,
                      gas_hint=200_000, label=f"set e-mode {category_id}")


__all__ += ["set_user_emode"]
