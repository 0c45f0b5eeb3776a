"""Morpho Blue: reads (snapshots at one block), writes (``encode``: unsigned steps), status rows, plans.

Pure (the pure core imports them; no web3 at module level): ``math`` (the health / shares / interest math of
``Morpho.sol``), ``decide`` (deleverage rounds as a decision), ``atomic`` / ``automations`` (the atomic sale, the
close by shares), ``loan`` (``MorphoLoanModel``, the ``manager.sizing.loan.LoanModel`` a snapshot hands out).
"""
