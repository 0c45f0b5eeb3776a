"""Uniswap V3 as the swap venue of ``posman init``: the deepest pool of each pair, and the ``[[protocols]]``
entry written for the chain's deployment (from the address table). Moved here from ``manager.commands.init``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

FEE_TIERS_PIPS = (100, 500, 3000, 10000)  # Uniswap V3 fee tiers (UniswapV3Factory.feeAmountTickSpacing)


def find_pools(client: Any, factory: str, pairs: set[tuple[str, str, str, str]], block: int) -> dict[tuple[str, str], int]:
    """For every (token_in, token_out, symbol_in, symbol_out): the fee tier of the pool with the most
    in-range liquidity at ``block`` ((symbol_in, symbol_out) -> fee_pips); pairs without a pool are left out."""
    from manager.chain.abi import load_abi

    w3 = client.w3
    fac = w3.eth.contract(address=factory, abi=load_abi("uniswap_v3/UniswapV3Factory"))
    pool_abi = load_abi("uniswap_v3/UniswapV3Pool")
    zero = "0x0000000000000000000000000000000000000000"
    out: dict[tuple[str, str], int] = {}
    for a, b, sa, sb in sorted(pairs):
        best: tuple[int, int] | None = None
        for fee in FEE_TIERS_PIPS:
            pool = fac.functions.getPool(a, b, fee).call(block_identifier=block)
            if pool == zero:
                continue
            liq = w3.eth.contract(address=pool, abi=pool_abi).functions.liquidity().call(block_identifier=block)
            if liq > 0 and (best is None or liq > best[0]):
                best = (liq, fee)
        if best is not None:
            out[(sa, sb)] = best[1]
    return out


def init_lines(uni: Mapping[str, Any] | None, chain: str, kind: str) -> list[str]:
    """The ``[[protocols]]`` entry of the chain's Uniswap V3 deployment (``uni``: its address-table entry), or
    the comment saying that none is known."""
    if not (uni and uni.get("factory")):
        return [f"# No Uniswap V3 deployment is known on this chain: managed positions need one (kind = \"{kind}\")",
                "# to swap collateral; watching works without it.", ""]
    router = uni.get("swap_router") or uni.get("swap_router_02")
    L = ["[[protocols]]", "# Uniswap V3 (from @uniswap/sdk-core): oracle-vs-DEX checks, pool depth and swaps.",
         'name = "uniswap"', f'kind = "{kind}"', f'chain = "{chain}"', f'factory = "{uni["factory"]}"']
    if uni.get("swap_router"):
        L += ["# The original SwapRouter (v3-periphery): swaps are exactInput(path, recipient, deadline, ...).",
              f'swap_router = "{router}"', 'router_kind = "swap_router"']
        if uni.get("swap_router_02"):
            L.append(f'# SwapRouter02 is deployed too: swap_router = "{uni["swap_router_02"]}" with '
                     'router_kind = "swap_router02".')
    else:
        L += ["# SwapRouter02 (sdk-core's SWAP_ROUTER_02_ADDRESSES): posman sends each swap as",
              "# multicall(deadline, [exactInput(path, recipient, amountIn, amountOutMinimum)]) and the atomic",
              "# executor's legs call its exactInput. router_kind is checked against the chain at start-up",
              "# (remove it to let posman detect the kind).",
              f'swap_router = "{router}"', 'router_kind = "swap_router02"']
    L += ["# Quoter (sdk-core's quoterAddress); posman does not call it at run time.", f'quoter = "{uni["quoter"]}"']
    if uni.get("tick_lens"):
        L += ["# TickLens: reads a pool's initialized ticks in one call per bitmap word; it is what lets a",
              "# deleverage size its swaps from real pool depth.", f'tick_lens = "{uni["tick_lens"]}"']
    else:
        L += ["# No TickLens is known for this chain: without it swaps are not sized from pool depth.",
              '# tick_lens = "0x..."']
    L.append("")
    return L


__all__ = ["FEE_TIERS_PIPS", "find_pools", "init_lines"]
