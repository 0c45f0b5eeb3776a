"""The Morpho Blue functions this adapter calls, as signatures (mirrors ``src/interfaces/IMorpho.sol`` v1.0.0).

``MarketParams`` is ``(address loanToken, address collateralToken, address oracle, address irm, uint256 lltv)``
and a market's id is ``keccak256(abi.encode(marketParams))`` (``src/libraries/MarketParamsLib.sol``).
Views (``IMorphoStaticTyping``): ``market(id)`` returns six ``uint128`` (totalSupplyAssets,
totalSupplyShares, totalBorrowAssets, totalBorrowShares, lastUpdate, fee); ``position(id, user)`` returns
(``uint256`` supplyShares, ``uint128`` borrowShares, ``uint128`` collateral); ``idToMarketParams(id)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from manager.chain.multicall import encode_signature

MARKET_PARAMS = "(address,address,address,address,uint256)"
MARKET = "(uint128,uint128,uint128,uint128,uint128,uint128)"

# views
MARKET_FN = "market(bytes32)"
POSITION_FN = "position(bytes32,address)"
ID_TO_MARKET_PARAMS_FN = "idToMarketParams(bytes32)"
PRICE_FN = "price()"  # IOracle
BORROW_RATE_VIEW_FN = f"borrowRateView({MARKET_PARAMS},{MARKET})"  # IIrm
# writes
SUPPLY_FN = f"supply({MARKET_PARAMS},uint256,uint256,address,bytes)"
SUPPLY_COLLATERAL_FN = f"supplyCollateral({MARKET_PARAMS},uint256,address,bytes)"
WITHDRAW_COLLATERAL_FN = f"withdrawCollateral({MARKET_PARAMS},uint256,address,address)"
BORROW_FN = f"borrow({MARKET_PARAMS},uint256,uint256,address,address)"
REPAY_FN = f"repay({MARKET_PARAMS},uint256,uint256,address,bytes)"
LIQUIDATE_FN = f"liquidate({MARKET_PARAMS},address,uint256,uint256,bytes)"
ACCRUE_INTEREST_FN = f"accrueInterest({MARKET_PARAMS})"

WRITE_FUNCTIONS = (SUPPLY_COLLATERAL_FN, WITHDRAW_COLLATERAL_FN, BORROW_FN, REPAY_FN)


def calldata(signature: str, args: Sequence[Any]) -> str:
    """``0x`` + selector + ABI-encoded ``args`` for ``signature``."""
    return "0x" + encode_signature(signature, args).hex()
