"""Execution: plan -> policy -> simulate -> fork replay -> sign -> store -> broadcast -> track -> record.

Modules (imported on demand; this package init imports nothing heavy):

- ``types``     TxStep (unsigned call), SwapBounds, Preconditions, Plan, FeeQuote, PreparedTx, results
- ``calls``     ABI encoding from ``contracts_abi/``; exact ERC-20 approve/transfer steps
- ``planner``   SizingDecision -> Plan (Aave V3 / Uniswap V3, Morpho, perps)
- ``policy``    allow-list of (contract, selector), exact approvals, USD caps, slippage vs oracle
- ``simulate``  eth_call/estimateGas at a pinned block, revert decoding (Aave codes named), fork replay
- ``signer``    the only holder of the key (env var or encrypted keystore); never printed or serialised
- ``nonce``     the one nonce owner per account
- ``fees``      EIP-1559 quotes by urgency, caps/clamp, RBF bumps, fee budget
- ``submit``    sign, broadcast, wait for receipt, replace-by-fee, revert detection
- ``reconcile`` restart recovery: stored pending txs vs the chain, never re-signed
- ``store``     the executor's adapter over ``manager.persistence.Repository``
- ``executor``  ``Executor.execute(plan)`` (the one dry-run branch) and ``Executor.recover()``
"""
