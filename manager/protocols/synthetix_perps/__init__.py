"""Synthetix PerpsV2: reads (``reads``: market + position snapshots at one block) and writes (``encode``:
unsigned margin / size / close steps for the executor).

Pure: ``math`` (the exact PerpsV2 margin math, the margin-band decision) and ``model`` (``SynthetixPerpModel``, the
``manager.sizing.perp.PerpModel`` a ``PerpSnapshot`` hands out).
"""
