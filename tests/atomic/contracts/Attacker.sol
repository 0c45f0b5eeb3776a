// SPDX-License-Identifier: MIT
pragma solidity 0.8.19;

/// @notice Test-only attacker: calls PosmanExecutor's flash-loan callbacks while posing as the lender, and starts
///         a real Aave flash loan that names the executor as receiver.
interface IExecutorCallbacks {
    function executeOperation(address asset, uint256 amount, uint256 premium, address initiator, bytes calldata params)
        external
        returns (bool);
    function onMorphoFlashLoan(uint256 assets, bytes calldata data) external;
}

interface IAavePoolFlash {
    function flashLoanSimple(address receiver, address asset, uint256 amount, bytes calldata params, uint16 referral)
        external;
}

contract Attacker {
    function poseAsAavePool(address executor, address asset, uint256 amount, address initiator, bytes calldata params)
        external
    {
        IExecutorCallbacks(executor).executeOperation(asset, amount, 0, initiator, params);
    }

    function poseAsMorpho(address executor, uint256 amount, bytes calldata data) external {
        IExecutorCallbacks(executor).onMorphoFlashLoan(amount, data);
    }

    function flashLoanForVictim(address pool, address executor, address asset, uint256 amount, bytes calldata params)
        external
    {
        IAavePoolFlash(pool).flashLoanSimple(executor, asset, amount, params, 0);
    }

    /// @dev Acts as a fake lender: our executor calls flashLoanSimple on us when a plan names us; we call back.
    function flashLoanSimple(address receiver, address asset, uint256 amount, bytes calldata params, uint16)
        external
    {
        IExecutorCallbacks(receiver).executeOperation(asset, amount, 0, receiver, params);
    }
}

/// @notice Test-only router a plan may name: instead of swapping it calls the executor's callbacks back mid-flow.
contract ReenteringRouter {
    struct ExactInputParams {
        bytes path;
        address recipient;
        uint256 deadline;
        uint256 amountIn;
        uint256 amountOutMinimum;
    }

    function exactInput(ExactInputParams calldata) external payable returns (uint256) {
        IExecutorCallbacks(msg.sender).onMorphoFlashLoan(1, "");
        return 0;
    }
}
