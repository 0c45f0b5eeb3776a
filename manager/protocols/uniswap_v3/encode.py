"""Uniswap V3 swap encoders: unsigned ``exactInput``/``exactOutput`` steps on either router kind.

``router_kind`` (see ``manager.protocols.uniswap_v3.router``) picks the calldata:

- ``"swap_router"`` (default): ``v3-periphery`` ``contracts/SwapRouter.sol`` (``ExactInputParams{path, recipient,
  deadline, amountIn, amountOutMinimum}``, ``ExactOutputParams{path, recipient, deadline, amountOut,
  amountInMaximum}``), the deadline in the params;
- ``"swap_router02"``: ``swap-router-contracts`` ``SwapRouter02`` / ``IV3SwapRouter`` (the same params without
  ``deadline``), sent as ``multicall(uint256 deadline, bytes[] [that one call])`` so the router still reverts
  after the deadline (``MulticallExtended``).

Paths follow ``libraries/Path.sol`` (token (20 bytes) | fee (3 bytes) | token ...; reversed for exactOutput).
The step's ``SwapBounds`` are the same for both kinds; policy decodes either calldata against them.

The bounds come from the **oracle** price and the max slippage, never from the pool's own spot price
(a manipulated pool would otherwise set its own limit):

- exact in:  ``min_out = floor(amount_in * p_in * 10^dec_out * (1e4 - s) / (p_out * 10^dec_in * 1e4))``
- exact out: ``max_in = ceil(amount_out * p_out * 10^dec_in * (1e4 + s) / (p_in * 10^dec_out * 1e4))``

``p_in``/``p_out`` are oracle prices of the two tokens in one common base (e.g. ``AaveOracle`` USD 1e8).
Rounding goes against us: we expect the least out and allow for the most in. ``s`` (bps) must cover the
pool fee plus price impact; the executor's policy refuses plans whose bounds exceed the configured max.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_utils import to_checksum_address

from manager.execution.types import SwapBounds, TxStep
from manager.protocols.uniswap_v3.router import check_kind, encode_path_swap

ROUTER_ABI = "uniswap_v3/SwapRouter"  # router_kind "swap_router"; "swap_router02": uniswap_v3/SwapRouter02
BPS = 10_000
FEE_TIERS_PIPS = (100, 500, 3000, 10000)


def _check_prices(price_in_base: int, price_out_base: int) -> None:
    for name, value in (("price_in_base", price_in_base), ("price_out_base", price_out_base)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name} must be a positive integer oracle price, got {value!r}")


def _check_slippage(slippage_bps: int) -> None:
    if isinstance(slippage_bps, bool) or not isinstance(slippage_bps, int) or not 0 <= slippage_bps < BPS:
        raise ValueError(f"slippage_bps must be an integer in [0, 10000), got {slippage_bps!r}")


def oracle_amount_out_wei(
    amount_in_wei: int, *, price_in_base: int, price_out_base: int, decimals_in: int, decimals_out: int
) -> int:
    """Output at the oracle price (no fee, no impact), rounded down."""
    _check_prices(price_in_base, price_out_base)
    return int(amount_in_wei * price_in_base * 10**decimals_out // (price_out_base * 10**decimals_in))


def min_amount_out_wei(
    amount_in_wei: int,
    *,
    price_in_base: int,
    price_out_base: int,
    decimals_in: int,
    decimals_out: int,
    slippage_bps: int,
) -> int:
    """The least output accepted for ``amount_in_wei`` at the oracle price less ``slippage_bps`` (floor)."""
    _check_prices(price_in_base, price_out_base)
    _check_slippage(slippage_bps)
    num = amount_in_wei * price_in_base * 10**decimals_out * (BPS - slippage_bps)
    return int(num // (price_out_base * 10**decimals_in * BPS))


def oracle_amount_in_wei(
    amount_out_wei: int, *, price_in_base: int, price_out_base: int, decimals_in: int, decimals_out: int
) -> int:
    """Input needed at the oracle price (no fee, no impact), rounded up."""
    _check_prices(price_in_base, price_out_base)
    num = amount_out_wei * price_out_base * 10**decimals_in
    return int(-(-num // (price_in_base * 10**decimals_out)))


def max_amount_in_wei(
    amount_out_wei: int,
    *,
    price_in_base: int,
    price_out_base: int,
    decimals_in: int,
    decimals_out: int,
    slippage_bps: int,
) -> int:
    """The most input allowed to get ``amount_out_wei`` at the oracle price plus ``slippage_bps`` (ceil)."""
    _check_prices(price_in_base, price_out_base)
    _check_slippage(slippage_bps)
    num = amount_out_wei * price_out_base * 10**decimals_in * (BPS + slippage_bps)
    return int(-(-num // (price_in_base * 10**decimals_out * BPS)))


def encode_path(tokens: Sequence[str], fees_pips: Sequence[int]) -> bytes:
    """``token0 | fee0 | token1 | fee1 | token2 ...`` (Path.sol). ``len(tokens) == len(fees) + 1``."""
    if len(tokens) < 2 or len(tokens) != len(fees_pips) + 1:
        raise ValueError(f"a path needs n >= 2 tokens and n - 1 fees, got {len(tokens)} and {len(fees_pips)}")
    out = bytearray()
    for i, token in enumerate(tokens):
        out += bytes.fromhex(to_checksum_address(token)[2:])
        if i < len(fees_pips):
            fee = fees_pips[i]
            if not 0 < fee < 2**24:
                raise ValueError(f"fee {fee} is not a uint24 fee in pips")
            out += fee.to_bytes(3, "big")
    return bytes(out)


def _swap_step(
    router: str,
    fn: str,
    *,
    path: bytes,
    tokens: Sequence[str],
    recipient: str,
    deadline_unix_s: int,
    amount_wei: int,
    limit_wei: int,
    label: str,
    spend_wei: int,
    usd_value: float,
    router_kind: str,
    **bounds: Any,
) -> TxStep:
    """The router step for ``fn(path, recipient, [deadline,] amount, limit)`` on a router of ``router_kind``;
    ``spend_wei`` of ``tokens[0]`` at most leaves the sender; ``bounds`` are the mode-specific ``SwapBounds``."""
    token_in, token_out = to_checksum_address(tokens[0]), to_checksum_address(tokens[-1])
    data = encode_path_swap(check_kind(router_kind), fn, path=path, recipient=recipient,
                            deadline_unix_s=deadline_unix_s, amount_wei=amount_wei, limit_wei=limit_wei)
    return TxStep(
        to=router,
        data=data,
        label=label,
        kind="swap",
        usd_value=usd_value,
        token=token_in,
        amount_wei=spend_wei,
        gas_hint=250_000 + 100_000 * (len(tokens) - 2),
        swap=SwapBounds(token_in=token_in, token_out=token_out, deadline_unix_s=deadline_unix_s, **bounds),
    )


def exact_input(
    router: str,
    *,
    tokens: Sequence[str],
    fees_pips: Sequence[int],
    recipient: str,
    amount_in_wei: int,
    price_in_base: int,
    price_out_base: int,
    decimals_in: int,
    decimals_out: int,
    slippage_bps: int,
    deadline_unix_s: int,
    usd_value: float = 0.0,
    router_kind: str = "swap_router",
) -> TxStep:
    """``exactInput`` (on a router of ``router_kind``): sell exactly ``amount_in_wei`` of ``tokens[0]`` for
    ``tokens[-1]``.

    ``amountOutMinimum`` is the oracle-derived ``min_amount_out_wei`` (see the module docstring).
    The sender must have approved the router for ``amount_in_wei`` of ``tokens[0]``.
    """
    if amount_in_wei <= 0:
        raise ValueError("amount_in_wei must be > 0")
    min_out = min_amount_out_wei(
        amount_in_wei,
        price_in_base=price_in_base,
        price_out_base=price_out_base,
        decimals_in=decimals_in,
        decimals_out=decimals_out,
        slippage_bps=slippage_bps,
    )
    if min_out <= 0:
        raise ValueError("the oracle-derived minimum output is 0: amount too small to swap safely")
    oracle_out = oracle_amount_out_wei(
        amount_in_wei,
        price_in_base=price_in_base,
        price_out_base=price_out_base,
        decimals_in=decimals_in,
        decimals_out=decimals_out,
    )
    return _swap_step(
        router, "exactInput", path=encode_path(tokens, fees_pips), tokens=tokens, recipient=recipient,
        deadline_unix_s=deadline_unix_s, amount_wei=amount_in_wei, limit_wei=min_out,
        label=f"swap exactInput {amount_in_wei} -> min {min_out}", spend_wei=amount_in_wei, usd_value=usd_value,
        router_kind=router_kind, mode="exact_in", amount_in_wei=amount_in_wei, min_amount_out_wei=min_out,
        oracle_amount_out_wei=oracle_out, slippage_bps=slippage_bps,
    )


def exact_output(
    router: str,
    *,
    tokens: Sequence[str],
    fees_pips: Sequence[int],
    recipient: str,
    amount_out_wei: int,
    price_in_base: int,
    price_out_base: int,
    decimals_in: int,
    decimals_out: int,
    slippage_bps: int,
    deadline_unix_s: int,
    usd_value: float = 0.0,
    router_kind: str = "swap_router",
) -> TxStep:
    """``exactOutput`` (on a router of ``router_kind``): buy exactly ``amount_out_wei`` of ``tokens[-1]`` paying ``tokens[0]``.

    ``tokens``/``fees_pips`` are given in trade order (in -> out); the encoded path is reversed as
    the router expects. ``amountInMaximum`` is the oracle-derived ``max_amount_in_wei``; the sender must
    have approved the router for that maximum.
    """
    if amount_out_wei <= 0:
        raise ValueError("amount_out_wei must be > 0")
    max_in = max_amount_in_wei(
        amount_out_wei,
        price_in_base=price_in_base,
        price_out_base=price_out_base,
        decimals_in=decimals_in,
        decimals_out=decimals_out,
        slippage_bps=slippage_bps,
    )
    oracle_in = oracle_amount_in_wei(
        amount_out_wei,
        price_in_base=price_in_base,
        price_out_base=price_out_base,
        decimals_in=decimals_in,
        decimals_out=decimals_out,
    )
    return _swap_step(
        router, "exactOutput", path=encode_path(list(reversed(tokens)), list(reversed(fees_pips))), tokens=tokens,
        recipient=recipient, deadline_unix_s=deadline_unix_s, amount_wei=amount_out_wei, limit_wei=max_in,
        label=f"swap exactOutput {amount_out_wei} <- max {max_in}", spend_wei=max_in, usd_value=usd_value,
        router_kind=router_kind, mode="exact_out", amount_out_wei=amount_out_wei, max_amount_in_wei=max_in,
        oracle_amount_in_wei=oracle_in, slippage_bps=slippage_bps,
    )


__all__ = [
    "encode_path",
    "exact_input",
    "exact_output",
    "max_amount_in_wei",
    "min_amount_out_wei",
    "oracle_amount_in_wei",
    "oracle_amount_out_wei",
]
