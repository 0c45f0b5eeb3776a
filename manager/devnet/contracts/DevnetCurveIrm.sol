// SPDX-License-Identifier: GPL-2.0-or-later
pragma solidity 0.8.19;

import {IIrm} from "@morpho-org/morpho-blue/src/interfaces/IIrm.sol";
import {MarketParams, Market} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";

/// @title DevnetCurveIrm -- devnet IRM, not Morpho's AdaptiveCurveIrm
/// @notice An interest-rate model written for the posman devnet (Morpho's AdaptiveCurveIrm is not in
/// the npm package). It uses the *curve* of AdaptiveCurveIrm (target utilization 90%, steepness 4) with a
/// FIXED rate at target: the rate never adapts over time. Stateless: `borrowRate == borrowRateView`.
/// @dev With u = totalBorrowAssets / totalSupplyAssets (WAD, rounded down):
///   err = (u - 0.9) / 0.9 when u <= 0.9, else (u - 0.9) / 0.1            (WAD, signed)
///   rate = rateAtTarget * (1 + (1 - 1/4) * err)   when err < 0
///   rate = rateAtTarget * (1 + (4 - 1) * err)     when err >= 0
/// All divisions round down (Solidity integer division).
contract DevnetCurveIrm is IIrm {
    int256 internal constant WAD = 1e18;
    int256 public constant CURVE_STEEPNESS = 4e18;
    int256 public constant TARGET_UTILIZATION = 0.9e18;
    /// @notice Borrow rate per second at target utilization (WAD): 4% a year.
    int256 public constant RATE_AT_TARGET = 0.04e18 / int256(365 days);

    function borrowRateView(MarketParams memory, Market memory market) public pure returns (uint256) {
        int256 utilization = market.totalSupplyAssets > 0
            ? int256(uint256(market.totalBorrowAssets) * uint256(WAD) / uint256(market.totalSupplyAssets))
            : int256(0);
        int256 errNormFactor = utilization > TARGET_UTILIZATION ? WAD - TARGET_UTILIZATION : TARGET_UTILIZATION;
        int256 err = (utilization - TARGET_UTILIZATION) * WAD / errNormFactor;
        int256 coeff = err < 0 ? WAD - WAD * WAD / CURVE_STEEPNESS : CURVE_STEEPNESS - WAD;
        return uint256((coeff * err / WAD + WAD) * RATE_AT_TARGET / WAD);
    }

    function borrowRate(MarketParams memory marketParams, Market memory market) external pure returns (uint256) {
        return borrowRateView(marketParams, market);
    }
}
