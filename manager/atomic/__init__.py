"""posman's own atomic executor: one transaction per protective action (flash loan, repay first, withdraw,
swap, repay the flash loan, final health checked on chain). See ``manager/atomic/README.md``.

- ``contracts/PosmanExecutor.sol``: the contract (one per user; owner = the user's signer).
- ``encode``: pure builders of the unsigned ``TxStep`` calls (deleverage, boost, close) and the allow-list.
- ``deploy``: compile (npm solc 0.8.19, cached) and deploy an executor for a signer.
- ``grants``: the grant / revoke steps (aToken allowance, credit delegation, Morpho authorization) and their state.
- ``reads``: the flash-loan sources at a block (premium, enabled, liquidity) and the cheapest that can lend.
"""
