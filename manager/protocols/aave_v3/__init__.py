"""Aave V3: reads (snapshots) and writes (``encode``: unsigned steps for the executor).

Pure (the pure core imports them; no web3 at module level): ``math`` (the exact ``getUserAccountData`` integer
math of each pool revision), ``rules`` (what differs per revision), ``liquidation`` (``liquidationCall``),
``deleverage`` / ``boost`` / ``atomic`` / ``automations`` (its sizing engines), ``loan`` (``AaveLoanModel``, the
``manager.sizing.loan.LoanModel`` a snapshot hands out), ``vector`` (float health over many snapshots), ``types``.
"""
