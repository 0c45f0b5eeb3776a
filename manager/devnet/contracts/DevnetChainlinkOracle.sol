// SPDX-License-Identifier: GPL-2.0-or-later
pragma solidity 0.8.19;

import {IOracle} from "@morpho-org/morpho-blue/src/interfaces/IOracle.sol";

/// @dev The part of Chainlink's AggregatorV3Interface this oracle reads.
interface IChainlinkFeed {
    function decimals() external view returns (uint8);
    function latestRoundData()
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound);
}

/// @title DevnetChainlinkOracle (posman devnet)
/// @notice A Morpho Blue oracle reading one Chainlink-style feed pair (collateral/USD and loan/USD) and
/// returning the price of 1 collateral unit in loan units scaled by 1e36 + loanDecimals - collateralDecimals
/// (Morpho Blue `IOracle.price()`).
/// @dev Written for the posman devnet. It follows the shape of Morpho's `MorphoChainlinkOracleV2`
/// (morpho-org/morpho-blue-oracles): `SCALE_FACTOR = 10 ** (36 + dL + dQuoteFeed - dC - dBaseFeed)` and
/// `price = SCALE_FACTOR * baseAnswer / quoteAnswer` (rounded down), with the same public getters
/// (`BASE_FEED_1`, `QUOTE_FEED_1`, `SCALE_FACTOR`) so readers can discover the feeds. One feed per side,
/// no vaults, no staleness check (Morpho's oracle has none either: consumers check `updatedAt`).
contract DevnetChainlinkOracle is IOracle {
    IChainlinkFeed public immutable BASE_FEED_1;
    IChainlinkFeed public immutable QUOTE_FEED_1;
    uint256 public immutable SCALE_FACTOR;

    constructor(IChainlinkFeed baseFeed, IChainlinkFeed quoteFeed, uint256 collateralDecimals, uint256 loanDecimals) {
        BASE_FEED_1 = baseFeed;
        QUOTE_FEED_1 = quoteFeed;
        SCALE_FACTOR = 10 ** (36 + loanDecimals + quoteFeed.decimals() - collateralDecimals - baseFeed.decimals());
    }

    /// @inheritdoc IOracle
    function price() external view returns (uint256) {
        return SCALE_FACTOR * _answer(BASE_FEED_1) / _answer(QUOTE_FEED_1);
    }

    function _answer(IChainlinkFeed feed) internal view returns (uint256) {
        (, int256 answer,,,) = feed.latestRoundData();
        require(answer >= 0, "negative answer");
        return uint256(answer);
    }
}
