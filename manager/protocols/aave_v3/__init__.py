"""Aave V3: reads (snapshots) and writes (``encode``: unsigned steps for the executor)."""
