"""Pure sizing core: exact and vectorized health math, sizes, caps, deleverage/boost solvers, risk.

Lending decisions go through ``solver`` (one deleverage/boost solver) over a per-protocol ``loan`` model.

Imports only the standard library, numpy, scipy and ``manager.domain`` / ``manager.errors``.
"""
