"""Morpho Blue: reads (snapshots at one block), writes (``encode``: unsigned steps), status rows, plans.

The pure health/share/interest math lives in ``manager.protocols.morpho_blue.math``; this package only builds
calls, decodes results and encodes transactions.
"""
