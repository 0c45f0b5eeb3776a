"""posman: a self-hosted on-chain DeFi position manager.

Read (watchers) -> decide (pure sizing core and strategies) -> act (executor) are separate packages.
"""

__version__ = "0.1.0"
