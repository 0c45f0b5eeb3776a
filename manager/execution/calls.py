"""ABI-encode a contract call from the project's stored ABIs (``contracts_abi/``), without a node.

``encode_call("erc20/MintableERC20", "approve", [spender, amount_wei])`` returns the calldata hex
(selector + arguments). Overloads are resolved by argument count; tuples are passed as Python tuples.
Also the generic ERC-20 steps (exact ``approve``, ``transfer``) used by every protocol encoder.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from eth_abi import encode as abi_encode
from eth_utils import function_signature_to_4byte_selector, to_checksum_address

from manager.chain.abi import abi_function
from manager.execution.types import TxStep

UNLIMITED_APPROVAL_WEI = 2**255


def selector_of(signature: str) -> str:
    """``"transfer(address,uint256)"`` -> ``"0xa9059cbb"``."""
    return "0x" + function_signature_to_4byte_selector(signature).hex()


@cache
def _function(abi_name: str, fn_name: str, n_args: int) -> tuple[bytes, tuple[str, ...]]:
    types, _outputs = abi_function(abi_name, fn_name, n_args)
    return function_signature_to_4byte_selector(f"{fn_name}({','.join(types)})"), types


def encode_call(abi_name: str, fn_name: str, args: Sequence[Any]) -> str:
    """Calldata hex for ``fn_name(*args)`` of the ABI ``abi_name``."""
    selector, types = _function(abi_name, fn_name, len(args))
    return "0x" + (selector + abi_encode(list(types), list(args))).hex()


def _positive(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer (wei), got {value!r}")
    return value


def erc20_approve(token: str, spender: str, amount_wei: int, *, usd_value: float = 0.0, label: str = "") -> TxStep:
    """``token.approve(spender, amount_wei)`` for an exact amount; unlimited approvals are refused."""
    _positive("amount_wei", amount_wei)
    if amount_wei >= UNLIMITED_APPROVAL_WEI:
        raise ValueError("approvals are for exact amounts; an unlimited approval is never encoded")
    spender = to_checksum_address(spender)
    return TxStep(
        to=token,
        data=encode_call("erc20/MintableERC20", "approve", [spender, amount_wei]),
        label=label or f"approve {amount_wei} to {spender}",
        kind="approve",
        usd_value=usd_value,
        token=to_checksum_address(token),
        amount_wei=amount_wei,
        approval_amount_wei=amount_wei,
        spender=spender,
        gas_hint=80_000,
    )


def erc20_transfer(token: str, to: str, amount_wei: int, *, usd_value: float = 0.0, label: str = "") -> TxStep:
    """``token.transfer(to, amount_wei)``."""
    _positive("amount_wei", amount_wei)
    return TxStep(
        to=token,
        data=encode_call("erc20/MintableERC20", "transfer", [to_checksum_address(to), amount_wei]),
        label=label or f"transfer {amount_wei}",
        kind="transfer",
        usd_value=usd_value,
        token=to_checksum_address(token),
        amount_wei=amount_wei,
        gas_hint=80_000,
    )
