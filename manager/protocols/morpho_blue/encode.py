"""Morpho Blue write encoders: unsigned ``TxStep`` calls on ``Morpho`` (the executor signs and sends them).

Mirrors morpho-blue v1.0.0 ``src/interfaces/IMorpho.sol`` / ``src/Morpho.sol``:
``supplyCollateral(marketParams, assets, onBehalf, data)``,
``withdrawCollateral(marketParams, assets, onBehalf, receiver)``,
``borrow(marketParams, assets, shares, onBehalf, receiver)``,
``repay(marketParams, assets, shares, onBehalf, data)`` and ``supply(...)`` (loan-token liquidity).

``borrow`` and ``repay`` take exactly one of assets / shares (``UtilsLib.exactlyOneZero``):
- borrow by assets mints ``toSharesUp(assets)`` shares; by shares it sends ``toAssetsDown(shares)``;
- repay by assets burns ``toSharesDown(assets)`` shares (dust shares may remain); repay by shares pulls
  ``toAssetsUp(shares)`` -- the way to close a position exactly (approve that amount, rounded up).
Approvals are exact (``approve_for_morpho``), never unlimited. Callback ``data`` is always empty.
"""

from __future__ import annotations

from eth_utils import to_checksum_address

from manager.domain import UINT256_MAX
from manager.execution.calls import erc20_approve, selector_of
from manager.execution.types import TxStep
from manager.protocols.morpho_blue import abi
from manager.protocols.morpho_blue.types import MarketParams


def _positive(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0 or value >= UINT256_MAX:
        raise ValueError(f"{name} must be a positive integer below 2**256-1, got {value!r}")
    return value


def _one_of(assets_wei: int, shares: int) -> tuple[int, int]:
    if (assets_wei == 0) == (shares == 0):
        raise ValueError(f"exactly one of assets_wei / shares must be non-zero (got {assets_wei}, {shares})")
    if assets_wei:
        return _positive("assets_wei", assets_wei), 0
    return 0, _positive("shares", shares)


def approve_for_morpho(morpho: str, token: str, amount_wei: int, *, usd_value: float = 0.0) -> TxStep:
    """``token.approve(morpho, amount_wei)``: exactly what the next supplyCollateral/repay pulls."""
    return erc20_approve(token, morpho, amount_wei, usd_value=usd_value, label=f"approve morpho {amount_wei}")


def supply_collateral(morpho: str, params: MarketParams, assets_wei: int, on_behalf_of: str, *,
                      usd_value: float = 0.0) -> TxStep:
    """``Morpho.supplyCollateral``: pull ``assets_wei`` of the collateral token (no interest accrual)."""
    data = abi.calldata(abi.SUPPLY_COLLATERAL_FN, [params.as_tuple(), _positive("assets_wei", assets_wei),
                                                   to_checksum_address(on_behalf_of), b""])
    return TxStep(to=morpho, data=data, label=f"supplyCollateral {assets_wei}", kind="supply", usd_value=usd_value,
                  token=params.collateral_token, amount_wei=assets_wei, gas_hint=150_000)


def withdraw_collateral(morpho: str, params: MarketParams, assets_wei: int, on_behalf_of: str, receiver: str, *,
                        usd_value: float = 0.0) -> TxStep:
    """``Morpho.withdrawCollateral``: the position must stay healthy afterwards (``INSUFFICIENT_COLLATERAL``)."""
    data = abi.calldata(abi.WITHDRAW_COLLATERAL_FN, [params.as_tuple(), _positive("assets_wei", assets_wei),
                                                     to_checksum_address(on_behalf_of), to_checksum_address(receiver)])
    return TxStep(to=morpho, data=data, label=f"withdrawCollateral {assets_wei}", kind="withdraw",
                  usd_value=usd_value, token=params.collateral_token, amount_wei=assets_wei, gas_hint=200_000)


def borrow(morpho: str, params: MarketParams, on_behalf_of: str, receiver: str, *, assets_wei: int = 0,
           shares: int = 0, usd_value: float = 0.0) -> TxStep:
    """``Morpho.borrow`` by assets (shares minted rounding up) or by shares (assets sent rounding down)."""
    a, s = _one_of(assets_wei, shares)
    data = abi.calldata(abi.BORROW_FN, [params.as_tuple(), a, s, to_checksum_address(on_behalf_of),
                                        to_checksum_address(receiver)])
    what = f"{a} assets" if a else f"{s} shares"
    return TxStep(to=morpho, data=data, label=f"borrow {what}", kind="borrow", usd_value=usd_value,
                  token=params.loan_token, amount_wei=a or None, gas_hint=250_000)


def repay(morpho: str, params: MarketParams, on_behalf_of: str, *, assets_wei: int = 0, shares: int = 0,
          usd_value: float = 0.0) -> TxStep:
    """``Morpho.repay`` by assets (burns ``toSharesDown``) or by shares (pulls ``toAssetsUp``); approve first."""
    a, s = _one_of(assets_wei, shares)
    data = abi.calldata(abi.REPAY_FN, [params.as_tuple(), a, s, to_checksum_address(on_behalf_of), b""])
    what = f"{a} assets" if a else f"{s} shares"
    return TxStep(to=morpho, data=data, label=f"repay {what}", kind="repay", usd_value=usd_value,
                  token=params.loan_token, amount_wei=a or None, gas_hint=200_000)


def supply(morpho: str, params: MarketParams, assets_wei: int, on_behalf_of: str, *, usd_value: float = 0.0) -> TxStep:
    """``Morpho.supply`` of the loan token by assets (lender side)."""
    data = abi.calldata(abi.SUPPLY_FN, [params.as_tuple(), _positive("assets_wei", assets_wei), 0,
                                        to_checksum_address(on_behalf_of), b""])
    return TxStep(to=morpho, data=data, label=f"supply {assets_wei}", kind="supply", usd_value=usd_value,
                  token=params.loan_token, amount_wei=assets_wei, gas_hint=200_000)


def allowed_selectors() -> set[str]:
    """The Morpho selectors plans built from these encoders use (for the executor's allow-list)."""
    return {selector_of(s) for s in abi.WRITE_FUNCTIONS}


__all__ = ["allowed_selectors", "approve_for_morpho", "borrow", "repay", "supply", "supply_collateral",
           "withdraw_collateral"]
