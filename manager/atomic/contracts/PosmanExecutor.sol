// SPDX-License-Identifier: MIT
pragma solidity 0.8.19;

/// @title PosmanExecutor
/// @notice One user's atomic protective actions on an Aave V3 (v3.0 .. v3.6) or Morpho Blue position:
///         deleverage, boost, close and collateral switch in one transaction, funded by a flash loan (Aave `flashLoanSimple` or
///         Morpho Blue's fee-free `flashLoan`), with the owner's final health checked on chain.
/// @dev    Authorization model (see manager/atomic/README.md):
///         - `OWNER` (immutable) is the user's EOA, the only account that can start anything, and the only
///           account whose position this contract touches (`onBehalfOf = OWNER` everywhere, never a parameter).
///         - The user grants this contract exactly what a flow needs: an aToken allowance (withdraw), a
///           variable-debt-token credit delegation (boost), or Morpho `setAuthorization`; all revocable.
///         - Flash-loan callbacks run only inside a flow this contract started: `_flow` holds
///           `keccak256(abi.encode(lender, data))` of the one flash loan in flight; a callback whose sender or data
///           differ reverts, and so does a second callback. Aave callbacks also need `initiator == address(this)`.
///         - Every approval is exact and is reset to zero before the flow ends; every token left is sent to OWNER.
///         Mirrors: Aave V3 IPool / IFlashLoanSimpleReceiver (aave-v3-origin src/contracts/interfaces), Morpho Blue
///         IMorpho / IMorphoFlashLoanCallback and `_isHealthy` (morpho-blue src/Morpho.sol), Uniswap V3
///         ISwapRouter.exactInput (v3-periphery) and IV3SwapRouter.exactInput (swap-router-contracts, SwapRouter02).
contract PosmanExecutor {
    // ---------------------------------------------------------------- types

    /// @notice Morpho Blue market parameters (`MarketParams`; zero for Aave).
    struct MarketParams {
        address loanToken;
        address collateralToken;
        address oracle;
        address irm;
        uint256 lltv;
    }

    /// @notice One Uniswap V3 `exactInput` through `router`; `amountIn == type(uint256).max` spends this
    ///         contract's whole balance of the path's first token. `routerKind`: ROUTER_V1 (the original
    ///         SwapRouter, deadline in the params) or ROUTER_02 (SwapRouter02 / IV3SwapRouter, no deadline field).
    struct Leg {
        address router;
        bytes path;
        uint256 amountIn;
        uint256 minOut;
        uint8 routerKind;
    }

    /// @notice Leg router kinds (manager/protocols/uniswap_v3/router.py: "swap_router", "swap_router02").
    uint8 public constant ROUTER_V1 = 0;
    uint8 public constant ROUTER_02 = 1;

    /// @notice A leg delivered less than its `minOut` (measured here, whatever the router says).
    error LegOutTooLow(uint256 index, uint256 out, uint256 minOut);

    /// @notice A whole protective action. Amount fields by action:
    ///         DELEVERAGE: flash+repay `flashAmount` of `debtAsset`, withdraw `collateralAmount` of `collateralAsset`.
    ///         BOOST: flash `flashAmount`, swap it to collateral, supply at least `collateralAmount`, borrow back.
    ///         CLOSE: both amounts ignored (the whole debt and the whole collateral, read on chain); the owner must
    ///         receive at least `minOut` of `outAsset` (the debt or the collateral asset).
    ///         SWITCH (Aave only): `debtAsset` is the NEW collateral B (the flash-borrowed asset), `collateralAsset`
    ///         the OLD collateral A: flash `flashAmount` of B, supply it for OWNER, withdraw `collateralAmount` of A
    ///         (max = all), swap A -> B, repay the flash loan, supply any B left for OWNER; OWNER's debt is untouched.
    struct Plan {
        uint8 flashKind; // FLASH_AAVE | FLASH_MORPHO
        address lender; // Aave Pool or Morpho Blue that lends the flash loan
        uint8 protocol; // PROTOCOL_AAVE | PROTOCOL_MORPHO: where OWNER's position is
        address pool; // Aave Pool or Morpho Blue holding the position
        MarketParams market; // Morpho position only
        address debtAsset;
        address collateralAsset;
        uint256 flashAmount;
        uint256 collateralAmount;
        Leg[] legs;
        uint256 minHealthWad; // revert when OWNER's final health is below
        uint256 maxHealthWad; // revert when above (0 = no upper bound)
        address outAsset; // CLOSE only
        uint256 minOut; // CLOSE only
        uint256 deadline; // unix seconds; 0 = none
        bytes32 planId; // the manager's plan id (logged)
    }

    // ---------------------------------------------------------------- constants, state

    uint8 public constant DELEVERAGE = 0;
    uint8 public constant BOOST = 1;
    uint8 public constant CLOSE = 2;
    uint8 public constant SWITCH = 3;
    uint8 public constant FLASH_AAVE = 0;
    uint8 public constant FLASH_MORPHO = 1;
    uint8 public constant PROTOCOL_AAVE = 0;
    uint8 public constant PROTOCOL_MORPHO = 1;
    uint256 private constant VARIABLE_RATE = 2;
    uint256 private constant WAD = 1e18;
    uint256 private constant ORACLE_PRICE_SCALE = 1e36; // Morpho ConstantsLib
    uint256 private constant VIRTUAL_SHARES = 1e6; // Morpho SharesMathLib
    uint256 private constant VIRTUAL_ASSETS = 1;
    bytes32 private constant CALLBACK_DONE = bytes32(uint256(1));

    /// @notice The user: the only caller of every entry point and the only account acted for.
    address public immutable OWNER;

    /// @dev 0 = idle; keccak256(abi.encode(lender, data)) while a flash loan is in flight; 1 after its callback.
    bytes32 private _flow;

    // ---------------------------------------------------------------- events, errors

    /// @notice One action landed: `healthWad` is OWNER's final health (type(uint256).max without debt).
    event Executed(bytes32 indexed planId, uint8 indexed action, uint256 flashAmount, uint256 healthWad);
    /// @notice `sweep` sent `amount` of `token` to OWNER.
    event Swept(address indexed token, uint256 amount);

    error NotOwner();
    error FlowActive();
    error UnexpectedCallback();
    error BadInitiator();
    error CallbackNotRun();
    error Expired(uint256 deadline);
    error BadPlan(string what);
    error BadLeg(uint256 index);
    error HealthTooLow(uint256 healthWad, uint256 minHealthWad);
    error HealthTooHigh(uint256 healthWad, uint256 maxHealthWad);
    error FlashNotCovered(uint256 balance, uint256 owed);
    error SupplyTooLow(uint256 supplied, uint256 minSupply);
    error OutTooLow(uint256 out, uint256 minOut);
    error TokenCallFailed(address token);

    modifier onlyOwner() {
        if (msg.sender != OWNER) revert NotOwner();
        _;
    }

    /// @param owner The user's EOA (the position's account); fixed for the contract's life.
    constructor(address owner) {
        if (owner == address(0)) revert BadPlan("owner");
        OWNER = owner;
    }

    // ---------------------------------------------------------------- entry points (owner only)

    /// @notice Flash-borrow the debt, repay OWNER's debt first, withdraw collateral, swap it, repay the flash loan,
    ///         repay more debt with any surplus, check OWNER's final health.
    function deleverage(Plan calldata plan) external onlyOwner {
        if (plan.flashAmount == 0 || plan.collateralAmount == 0) revert BadPlan("amounts");
        _run(DELEVERAGE, plan, plan.flashAmount);
    }

    /// @notice Flash-borrow the debt asset, swap it to collateral, supply it for OWNER, borrow the flash loan back
    ///         (plus premium) for OWNER, repay the flash loan, check OWNER's final health.
    function boost(Plan calldata plan) external onlyOwner {
        if (plan.flashAmount == 0) revert BadPlan("amounts");
        _run(BOOST, plan, plan.flashAmount);
    }

    /// @notice Repay the whole debt of `debtAsset` with a flash loan, withdraw the whole `collateralAsset`, swap, repay
    ///         the flash loan; everything left goes to OWNER, at least `minOut` of `outAsset`.
    function close(Plan calldata plan) external onlyOwner {
        if (plan.outAsset != plan.debtAsset && plan.outAsset != plan.collateralAsset) revert BadPlan("outAsset");
        if (plan.protocol == PROTOCOL_MORPHO) IMorpho(plan.pool).accrueInterest(plan.market);
        uint256 debt = _debtOf(plan);
        if (debt == 0) revert BadPlan("no debt");
        _run(CLOSE, plan, debt);
    }

    /// @notice Move OWNER's Aave collateral from `collateralAsset` (A) to `debtAsset` (B) in one transaction:
    ///         flash-borrow B, supply it for OWNER first (health only rises), pull + withdraw A, swap A -> B, repay
    ///         the flash loan, supply the B left for OWNER; OWNER's final health must be >= `minHealthWad` (>= 1e18).
    function switchCollateral(Plan calldata plan) external onlyOwner {
        if (plan.protocol != PROTOCOL_AAVE) revert BadPlan("protocol");
        if (plan.debtAsset == plan.collateralAsset) revert BadPlan("assets");
        if (plan.flashAmount == 0 || plan.collateralAmount == 0) revert BadPlan("amounts");
        if (plan.minHealthWad < WAD) revert BadPlan("floor");
        _run(SWITCH, plan, plan.flashAmount);
    }

    /// @notice Send this contract's whole balance of `token` to OWNER (nothing should ever stay here).
    function sweep(address token) external onlyOwner {
        if (_flow != 0) revert FlowActive();
        uint256 amount = IERC20(token).balanceOf(address(this));
        if (amount != 0) _transfer(token, OWNER, amount);
        emit Swept(token, amount);
    }

    // ---------------------------------------------------------------- flash-loan callbacks

    /// @notice Aave V3 `flashLoanSimple` callback (IFlashLoanSimpleReceiver).
    function executeOperation(address asset, uint256 amount, uint256 premium, address initiator, bytes calldata params)
        external
        returns (bool)
    {
        if (initiator != address(this)) revert BadInitiator();
        _enterCallback(params);
        (uint8 action, Plan memory plan) = abi.decode(params, (uint8, Plan));
        if (asset != plan.debtAsset) revert UnexpectedCallback();
        _act(action, plan, amount, premium);
        _approve(asset, msg.sender, amount + premium); // the pool pulls it after we return
        return true;
    }

    /// @notice Morpho Blue `flashLoan` callback (IMorphoFlashLoanCallback); Morpho's flash loans have no fee.
    function onMorphoFlashLoan(uint256 assets, bytes calldata data) external {
        _enterCallback(data);
        (uint8 action, Plan memory plan) = abi.decode(data, (uint8, Plan));
        _act(action, plan, assets, 0);
        _approve(plan.debtAsset, msg.sender, assets); // Morpho pulls it after we return
    }

    // ---------------------------------------------------------------- the flow

    function _run(uint8 action, Plan calldata plan, uint256 flashAmount) private {
        if (_flow != 0) revert FlowActive();
        if (plan.deadline != 0 && block.timestamp > plan.deadline) revert Expired(plan.deadline);
        if (plan.legs.length == 0) revert BadPlan("legs");
        if (plan.protocol == PROTOCOL_MORPHO) {
            if (plan.market.loanToken != plan.debtAsset || plan.market.collateralToken != plan.collateralAsset) {
                revert BadPlan("market");
            }
        } else if (plan.protocol != PROTOCOL_AAVE) {
            revert BadPlan("protocol");
        }
        Plan memory p = plan;
        p.flashAmount = flashAmount;
        bytes memory data = abi.encode(action, p);
        _flow = keccak256(abi.encode(plan.lender, data));
        if (plan.flashKind == FLASH_AAVE) {
            IAavePool(plan.lender).flashLoanSimple(address(this), plan.debtAsset, flashAmount, data, 0);
        } else if (plan.flashKind == FLASH_MORPHO) {
            IMorpho(plan.lender).flashLoan(plan.debtAsset, flashAmount, data);
        } else {
            revert BadPlan("flashKind");
        }
        if (_flow != CALLBACK_DONE) revert CallbackNotRun();
        _flow = 0;
        _resetAllowance(plan.debtAsset, plan.lender);
        uint256 outReceived = _returnLeftovers(plan);
        if (action == CLOSE && outReceived < plan.minOut) revert OutTooLow(outReceived, plan.minOut);
        uint256 health = healthOf(plan.protocol, plan.pool, plan.market);
        if (health < plan.minHealthWad) revert HealthTooLow(health, plan.minHealthWad);
        if (plan.maxHealthWad != 0 && health > plan.maxHealthWad) revert HealthTooHigh(health, plan.maxHealthWad);
        emit Executed(plan.planId, action, flashAmount, health);
    }

    /// @dev Accept exactly one callback, from the lender of the flash loan in flight, carrying our own data.
    function _enterCallback(bytes calldata data) private {
        if (_flow == 0 || _flow == CALLBACK_DONE || keccak256(abi.encode(msg.sender, data)) != _flow) {
            revert UnexpectedCallback();
        }
        _flow = CALLBACK_DONE;
    }

    /// @dev Inside the flash loan: `amount` of the debt asset is here, `amount + premium` must be here at the end.
    function _act(uint8 action, Plan memory plan, uint256 amount, uint256 premium) private {
        uint256 owed = amount + premium;
        if (action == SWITCH) {
            // new collateral first: OWNER's health only rises before the old collateral moves
            _supplyAsset(plan, plan.debtAsset, amount);
            _withdraw(plan, plan.collateralAmount);
            _swapAll(plan, plan.collateralAsset, plan.debtAsset);
            uint256 got = IERC20(plan.debtAsset).balanceOf(address(this));
            if (got < owed) revert FlashNotCovered(got, owed);
            if (got > owed) _supplyAsset(plan, plan.debtAsset, got - owed);
            return;
        }
        if (action == BOOST) {
            _swapAll(plan, plan.debtAsset, plan.collateralAsset);
            uint256 supplied = IERC20(plan.collateralAsset).balanceOf(address(this));
            if (supplied < plan.collateralAmount || supplied == 0) revert SupplyTooLow(supplied, plan.collateralAmount);
            _supply(plan, supplied);
            uint256 have = IERC20(plan.debtAsset).balanceOf(address(this));
            if (have < owed) _borrow(plan, owed - have);
        } else {
            // repay first: OWNER's health only rises before any collateral moves
            _repayUpTo(plan, amount);
            _withdraw(plan, action == CLOSE ? type(uint256).max : plan.collateralAmount);
            _swapAll(plan, plan.collateralAsset, plan.debtAsset);
        }
        uint256 balance = IERC20(plan.debtAsset).balanceOf(address(this));
        if (balance < owed) revert FlashNotCovered(balance, owed);
        if (balance > owed && action != BOOST) _repayUpTo(plan, balance - owed);
    }

    /// @dev Run every leg (tokenIn -> tokenOut), each approved exactly and reset afterwards, each delivering at
    ///      least its `minOut` (the router's `amountOutMinimum`, and this contract's own balance check).
    ///      ROUTER_V1 gets `deadline = block.timestamp` (the plan's own `deadline` was checked at the start);
    ///      ROUTER_02 has no deadline field. `amountIn` is never 0 here (SwapRouter02 reads 0 as its own balance).
    function _swapAll(Plan memory plan, address tokenIn, address tokenOut) private {
        for (uint256 i = 0; i < plan.legs.length; ++i) {
            Leg memory leg = plan.legs[i];
            bytes memory path = leg.path;
            if (path.length < 43 || (path.length - 20) % 23 != 0) revert BadLeg(i);
            if (_firstToken(path) != tokenIn || _lastToken(path) != tokenOut) revert BadLeg(i);
            if (leg.routerKind != ROUTER_V1 && leg.routerKind != ROUTER_02) revert BadLeg(i);
            uint256 amountIn = leg.amountIn == type(uint256).max ? IERC20(tokenIn).balanceOf(address(this)) : leg.amountIn;
            if (amountIn == 0) continue;
            uint256 before = IERC20(tokenOut).balanceOf(address(this));
            _approve(tokenIn, leg.router, amountIn);
            if (leg.routerKind == ROUTER_V1) {
                ISwapRouter(leg.router).exactInput(
                    ISwapRouter.ExactInputParams({
                        path: path,
                        recipient: address(this),
                        deadline: block.timestamp,
                        amountIn: amountIn,
                        amountOutMinimum: leg.minOut
                    })
                );
            } else {
                IV3SwapRouter(leg.router).exactInput(
                    IV3SwapRouter.ExactInputParams({
                        path: path,
                        recipient: address(this),
                        amountIn: amountIn,
                        amountOutMinimum: leg.minOut
                    })
                );
            }
            _resetAllowance(tokenIn, leg.router);
            uint256 got = IERC20(tokenOut).balanceOf(address(this)) - before;
            if (got < leg.minOut) revert LegOutTooLow(i, got, leg.minOut);
        }
    }

    /// @dev Send every debt / collateral token left here to OWNER; returns what OWNER got of `plan.outAsset`.
    function _returnLeftovers(Plan calldata plan) private returns (uint256 outReceived) {
        uint256 debtLeft = IERC20(plan.debtAsset).balanceOf(address(this));
        if (debtLeft != 0) _transfer(plan.debtAsset, OWNER, debtLeft);
        uint256 collLeft = IERC20(plan.collateralAsset).balanceOf(address(this));
        if (collLeft != 0) _transfer(plan.collateralAsset, OWNER, collLeft);
        return plan.outAsset == plan.debtAsset ? debtLeft : plan.outAsset == plan.collateralAsset ? collLeft : 0;
    }

    // ---------------------------------------------------------------- lending adapters (onBehalfOf = OWNER)

    /// @dev Repay up to `maxAmount` of OWNER's debt (never more than owed; nothing when nothing is owed).
    function _repayUpTo(Plan memory plan, uint256 maxAmount) private {
        if (plan.protocol == PROTOCOL_AAVE) {
            uint256 debt = IERC20(IAavePool(plan.pool).getReserveData(plan.debtAsset).variableDebtTokenAddress)
                .balanceOf(OWNER);
            uint256 amount = maxAmount < debt ? maxAmount : debt;
            if (amount == 0) return;
            _approve(plan.debtAsset, plan.pool, amount);
            IAavePool(plan.pool).repay(plan.debtAsset, amount, VARIABLE_RATE, OWNER);
        } else {
            IMorpho morpho = IMorpho(plan.pool);
            morpho.accrueInterest(plan.market); // no-op when already accrued in this block
            (, uint256 shares,) = morpho.position(_id(plan.market), OWNER);
            if (shares == 0 || maxAmount == 0) return;
            uint256 debt = _morphoBorrowed(morpho, plan.market, shares);
            if (maxAmount >= debt) {
                _approve(plan.debtAsset, plan.pool, debt);
                morpho.repay(plan.market, 0, shares, OWNER, ""); // exact full repay: pulls toAssetsUp(shares)
            } else {
                _approve(plan.debtAsset, plan.pool, maxAmount);
                morpho.repay(plan.market, maxAmount, 0, OWNER, "");
            }
        }
        _resetAllowance(plan.debtAsset, plan.pool);
    }

    /// @dev Move `amount` (max = all) of OWNER's collateral here as the underlying token.
    function _withdraw(Plan memory plan, uint256 amount) private {
        if (plan.protocol == PROTOCOL_AAVE) {
            address aToken = IAavePool(plan.pool).getReserveData(plan.collateralAsset).aTokenAddress;
            if (amount == type(uint256).max) amount = IERC20(aToken).balanceOf(OWNER);
            // aTokens under OWNER's allowance (it shrinks by what is pulled); Aave checks OWNER's health on transfer
            _transferFrom(aToken, OWNER, address(this), amount);
            IAavePool(plan.pool).withdraw(plan.collateralAsset, type(uint256).max, address(this));
        } else {
            if (amount == type(uint256).max) (,, amount) = IMorpho(plan.pool).position(_id(plan.market), OWNER);
            IMorpho(plan.pool).withdrawCollateral(plan.market, amount, OWNER, address(this));
        }
    }

    /// @dev Supply `amount` of `asset` to the Aave Pool for OWNER (collateral switch).
    function _supplyAsset(Plan memory plan, address asset, uint256 amount) private {
        _approve(asset, plan.pool, amount);
        IAavePool(plan.pool).supply(asset, amount, OWNER, 0);
        _resetAllowance(asset, plan.pool);
    }

    function _supply(Plan memory plan, uint256 amount) private {
        _approve(plan.collateralAsset, plan.pool, amount);
        if (plan.protocol == PROTOCOL_AAVE) {
            IAavePool(plan.pool).supply(plan.collateralAsset, amount, OWNER, 0);
        } else {
            IMorpho(plan.pool).supplyCollateral(plan.market, amount, OWNER, "");
        }
        _resetAllowance(plan.collateralAsset, plan.pool);
    }

    /// @dev Borrow `amount` for OWNER to this contract (Aave: credit delegation; Morpho: authorization).
    function _borrow(Plan memory plan, uint256 amount) private {
        if (plan.protocol == PROTOCOL_AAVE) {
            IAavePool(plan.pool).borrow(plan.debtAsset, amount, VARIABLE_RATE, 0, OWNER);
        } else {
            IMorpho(plan.pool).borrow(plan.market, amount, 0, OWNER, address(this));
        }
    }

    function _debtOf(Plan calldata plan) private view returns (uint256) {
        if (plan.protocol == PROTOCOL_AAVE) {
            return IERC20(IAavePool(plan.pool).getReserveData(plan.debtAsset).variableDebtTokenAddress).balanceOf(OWNER);
        }
        (, uint256 shares,) = IMorpho(plan.pool).position(_id(plan.market), OWNER);
        return shares == 0 ? 0 : _morphoBorrowed(IMorpho(plan.pool), plan.market, shares);
    }

    // ---------------------------------------------------------------- health (views)

    /// @notice OWNER's health factor (WAD) on `pool`: Aave `getUserAccountData(OWNER).healthFactor`; Morpho
    ///         `wDivDown(wMulDown(mulDivDown(collateral, price, 1e36), lltv), toAssetsUp(borrowShares))` as in
    ///         `Morpho._isHealthy` (market totals as stored: call after an accrual in the same block).
    ///         type(uint256).max without debt.
    function healthOf(uint8 protocol, address pool, MarketParams memory market) public view returns (uint256) {
        if (protocol == PROTOCOL_AAVE) {
            (,,,,, uint256 hf) = IAavePool(pool).getUserAccountData(OWNER);
            return hf;
        }
        (, uint256 shares, uint256 collateral) = IMorpho(pool).position(_id(market), OWNER);
        if (shares == 0) return type(uint256).max;
        uint256 borrowed = _morphoBorrowed(IMorpho(pool), market, shares);
        uint256 maxBorrow = collateral * IMorphoOracle(market.oracle).price() / ORACLE_PRICE_SCALE * market.lltv / WAD;
        return maxBorrow * WAD / borrowed;
    }

    function _morphoBorrowed(IMorpho morpho, MarketParams memory market, uint256 shares) private view returns (uint256) {
        (,, uint256 totalAssets, uint256 totalShares,,) = morpho.market(_id(market));
        uint256 num = shares * (totalAssets + VIRTUAL_ASSETS);
        uint256 den = totalShares + VIRTUAL_SHARES;
        return (num + den - 1) / den; // toAssetsUp
    }

    function _id(MarketParams memory market) private pure returns (bytes32) {
        return keccak256(abi.encode(market)); // MarketParamsLib.id
    }

    // ---------------------------------------------------------------- paths, tokens

    function _firstToken(bytes memory path) private pure returns (address token) {
        assembly {
            token := shr(96, mload(add(path, 32)))
        }
    }

    function _lastToken(bytes memory path) private pure returns (address token) {
        uint256 length = path.length;
        assembly {
            token := shr(96, mload(add(add(path, 12), length)))
        }
    }

    function _approve(address token, address spender, uint256 amount) private {
        _call(token, abi.encodeWithSelector(IERC20.approve.selector, spender, amount));
    }

    function _resetAllowance(address token, address spender) private {
        if (IERC20(token).allowance(address(this), spender) != 0) _approve(token, spender, 0);
    }

    function _transfer(address token, address to, uint256 amount) private {
        _call(token, abi.encodeWithSelector(IERC20.transfer.selector, to, amount));
    }

    function _transferFrom(address token, address from, address to, uint256 amount) private {
        _call(token, abi.encodeWithSelector(IERC20.transferFrom.selector, from, to, amount));
    }

    /// @dev ERC-20 call that accepts tokens returning nothing (USDT) and rejects `false`.
    function _call(address token, bytes memory data) private {
        (bool ok, bytes memory ret) = token.call(data);
        if (!ok || (ret.length != 0 && !abi.decode(ret, (bool))) || token.code.length == 0) {
            revert TokenCallFailed(token);
        }
    }
}

interface IERC20 {
    function balanceOf(address account) external view returns (uint256);
    function allowance(address owner, address spender) external view returns (uint256);
    function approve(address spender, uint256 amount) external returns (bool);
    function transfer(address to, uint256 amount) external returns (bool);
    function transferFrom(address from, address to, uint256 amount) external returns (bool);
}

/// @dev Aave V3 Pool, the functions used (same signatures in v3.0 and v3.6; v3.6 returns `ReserveDataLegacy`
///      from getReserveData, whose layout equals v3.0's `ReserveData`).
interface IAavePool {
    struct ReserveData {
        uint256 configuration;
        uint128 liquidityIndex;
        uint128 currentLiquidityRate;
        uint128 variableBorrowIndex;
        uint128 currentVariableBorrowRate;
        uint128 currentStableBorrowRate;
        uint40 lastUpdateTimestamp;
        uint16 id;
        address aTokenAddress;
        address stableDebtTokenAddress;
        address variableDebtTokenAddress;
        address interestRateStrategyAddress;
        uint128 accruedToTreasury;
        uint128 unbacked;
        uint128 isolationModeTotalDebt;
    }

    function flashLoanSimple(address receiver, address asset, uint256 amount, bytes calldata params, uint16 referral)
        external;
    function supply(address asset, uint256 amount, address onBehalfOf, uint16 referral) external;
    function withdraw(address asset, uint256 amount, address to) external returns (uint256);
    function borrow(address asset, uint256 amount, uint256 rateMode, uint16 referral, address onBehalfOf) external;
    function repay(address asset, uint256 amount, uint256 rateMode, address onBehalfOf) external returns (uint256);
    function getUserAccountData(address user)
        external
        view
        returns (uint256, uint256, uint256, uint256, uint256, uint256 healthFactor);
    function getReserveData(address asset) external view returns (ReserveData memory);
    function FLASHLOAN_PREMIUM_TOTAL() external view returns (uint128);
}

/// @dev Morpho Blue (morpho-blue src/interfaces/IMorpho.sol), the functions used.
interface IMorpho {
    function flashLoan(address token, uint256 assets, bytes calldata data) external;
    function accrueInterest(PosmanExecutor.MarketParams memory marketParams) external;
    function repay(PosmanExecutor.MarketParams memory marketParams, uint256 assets, uint256 shares, address onBehalf,
        bytes calldata data) external returns (uint256, uint256);
    function withdrawCollateral(PosmanExecutor.MarketParams memory marketParams, uint256 assets, address onBehalf,
        address receiver) external;
    function supplyCollateral(PosmanExecutor.MarketParams memory marketParams, uint256 assets, address onBehalf,
        bytes calldata data) external;
    function borrow(PosmanExecutor.MarketParams memory marketParams, uint256 assets, uint256 shares, address onBehalf,
        address receiver) external returns (uint256, uint256);
    function position(bytes32 id, address user) external view returns (uint256, uint128, uint128);
    function market(bytes32 id) external view returns (uint128, uint128, uint128, uint128, uint128, uint128);
}

interface IMorphoOracle {
    function price() external view returns (uint256);
}

/// @dev Uniswap V3 SwapRouter (v3-periphery 1.x, with deadline).
interface ISwapRouter {
    struct ExactInputParams {
        bytes path;
        address recipient;
        uint256 deadline;
        uint256 amountIn;
        uint256 amountOutMinimum;
    }

    function exactInput(ExactInputParams calldata params) external payable returns (uint256 amountOut);
}

/// @dev Uniswap SwapRouter02's V3 part (swap-router-contracts 1.x IV3SwapRouter: no deadline field).
interface IV3SwapRouter {
    struct ExactInputParams {
        bytes path;
        address recipient;
        uint256 amountIn;
        uint256 amountOutMinimum;
    }

    function exactInput(ExactInputParams calldata params) external payable returns (uint256 amountOut);
}
