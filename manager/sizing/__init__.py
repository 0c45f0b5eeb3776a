"""Pure sizing core: exact and vectorized health math, sizes, caps, deleverage/boost solvers, risk.

Imports only the standard library, numpy, scipy and ``manager.domain`` / ``manager.errors``.
"""
