"""Synthetix PerpsV2: reads (``reads``: market + position snapshots at one block) and writes (``encode``:
unsigned margin / size / close steps for the executor). Exact math lives in ``manager.sizing.perp``."""
