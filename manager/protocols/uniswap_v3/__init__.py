"""Uniswap V3 (v3-core 1.0.1, v3-periphery 1.4.4): pool reads, exact swap math, pool depth.

- ``state``: ``PoolState``, everything a swap simulation needs, read at one block (pure).
- ``math``: integer port of the v3-core libraries and of ``UniswapV3Pool.swap``'s loop (pure).
- ``depth``: how much can be sold before the average price moves by k bps; depth curves (pure).
- ``reads``: the calls that read a pool at one block, and their decoding into ``PoolState``.
- ``encode``: unsigned swap steps with oracle-derived bounds, on either router kind.
- ``router``: the two routers (SwapRouter, SwapRouter02): kind detection at one block, calldata of each kind.

This ``__init__`` imports nothing so that importing the pure modules never pulls in web3.
"""
