"""The two Uniswap V3 routers posman swaps through: which kind an address is, and the calls each kind takes.

- ``swap_router``: the original ``SwapRouter`` (``v3-periphery`` 1.x ``ISwapRouter``): ``exactInput((bytes path,
  address recipient, uint256 deadline, uint256 amountIn, uint256 amountOutMinimum))``, the deadline in the params
  (``PeripheryValidation.checkDeadline``: ``require(block.timestamp <= deadline, 'Transaction too old')``).
- ``swap_router02``: ``SwapRouter02`` (``swap-router-contracts`` ``IV3SwapRouter``, the router
  ``@uniswap/sdk-core`` lists per chain, so what ``posman init`` writes): ``exactInput((bytes path, address
  recipient, uint256 amountIn, uint256 amountOutMinimum))``, no deadline field; the deadline comes from the
  wrapper ``multicall(uint256 deadline, bytes[] data)`` (``MulticallExtended``, same ``checkDeadline``).
  ``amountIn == 0`` means "the router's own balance" (``Constants.CONTRACT_BALANCE``) and recipients
  ``address(1)`` / ``address(2)`` mean "msg.sender" / "the router": posman never encodes either.

Detection (``detect_router_kind``, at one block, read-only ``eth_call``s, nothing sent):

- no code at the address (an EOA, nothing deployed) -> refused;
- ``swap_router``: the original's ``exactInput`` with ``deadline = 0`` reverts ``'Transaction too old'`` (the
  function exists) and ``factoryV2()`` does not answer;
- ``swap_router02``: ``multicall(uint256,bytes[])`` with ``deadline = 0`` reverts ``'Transaction too old'`` and
  ``factoryV2()`` and ``positionManager()`` answer with an address;
- both routers answer ``factory()`` (the V3 factory) and ``WETH9()``; when the configured factory is given,
  the router's must equal it;
- anything else (a token, a pool, the Quoter or the position manager, which also have ``factory()`` and
  ``WETH9()``) -> refused: "is neither a SwapRouter nor a SwapRouter02".
"""

from __future__ import annotations

from typing import Any, Literal

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import to_checksum_address

from manager.errors import ConfigError

RouterKind = Literal["swap_router", "swap_router02"]
ROUTER_KINDS: tuple[str, ...] = ("swap_router", "swap_router02")
ABI_OF: dict[str, str] = {"swap_router": "uniswap_v3/SwapRouter", "swap_router02": "uniswap_v3/SwapRouter02"}
TITLE_OF = {"swap_router": "SwapRouter (v3-periphery, deadline in the params)",
            "swap_router02": "SwapRouter02 (swap-router-contracts, deadline via multicall)"}

# Param tuples of the path swaps, per kind: (types, index of amount, index of limit, index of deadline or None).
PATH_PARAMS: dict[str, tuple[str, int, int, int | None]] = {
    "swap_router": ("(bytes,address,uint256,uint256,uint256)", 3, 4, 2),
    "swap_router02": ("(bytes,address,uint256,uint256)", 2, 3, None),
}
_SINGLE_PARAMS = {
    "swap_router": "(address,address,uint24,address,uint256,uint256,uint256,uint160)",
    "swap_router02": "(address,address,uint24,address,uint256,uint256,uint160)",
}
SWAP_FUNCTIONS = ("exactInput", "exactOutput", "exactInputSingle", "exactOutputSingle")
MULTICALL_DEADLINE_SIGNATURE = "multicall(uint256,bytes[])"
# Router batch calls posman never sends bare (policy refuses them; only the deadline multicall of one swap passes).
OTHER_MULTICALL_SIGNATURES = ("multicall(bytes[])", "multicall(bytes32,bytes[])")


def _selector(signature: str) -> str:
    from eth_utils import function_signature_to_4byte_selector

    return "0x" + function_signature_to_4byte_selector(signature).hex()


def check_kind(kind: str) -> str:
    if kind not in ROUTER_KINDS:
        raise ValueError(f"router kind must be one of {', '.join(ROUTER_KINDS)}, got {kind!r}")
    return kind


def swap_signature(kind: str, function: str) -> str:
    """``"exactInput((bytes,address,uint256,uint256))"`` for ``kind`` and one of ``SWAP_FUNCTIONS``."""
    check_kind(kind)
    if function in ("exactInput", "exactOutput"):
        return f"{function}({PATH_PARAMS[kind][0]})"
    if function in ("exactInputSingle", "exactOutputSingle"):
        return f"{function}({_SINGLE_PARAMS[kind]})"
    raise ValueError(f"unknown swap function {function!r}; known: {', '.join(SWAP_FUNCTIONS)}")


MULTICALL_DEADLINE = _selector(MULTICALL_DEADLINE_SIGNATURE)
OTHER_MULTICALLS = frozenset(_selector(s) for s in OTHER_MULTICALL_SIGNATURES)
# selector -> (kind, function) of every swap function of both routers (their selectors all differ)
SWAP_SELECTORS: dict[str, tuple[str, str]] = {
    _selector(swap_signature(k, f)): (k, f) for k in ROUTER_KINDS for f in SWAP_FUNCTIONS
}


def router_selectors(kind: str, functions: tuple[str, ...] = ("exactInput",)) -> set[str]:
    """The router selectors an allow-list needs for posman's direct swaps on a router of ``kind``.

    ``swap_router``: the swap functions themselves. ``swap_router02``: the functions (the calls inside) and
    ``multicall(uint256,bytes[])``, the deadline wrapper every direct swap is sent in (policy unwraps it and checks
    the one swap inside)."""
    out = {_selector(swap_signature(kind, f)) for f in functions}
    if kind == "swap_router02":
        out.add(MULTICALL_DEADLINE)
    return out


def encode_path_swap(kind: str, function: str, *, path: bytes, recipient: str, deadline_unix_s: int,
                     amount_wei: int, limit_wei: int) -> str:
    """Calldata of ``exactInput``/``exactOutput`` on a router of ``kind``, as posman sends it directly.

    ``swap_router``: the call with the deadline in its params. ``swap_router02``: ``multicall(deadline,
    [exactInput(params without deadline)])``."""
    if function not in ("exactInput", "exactOutput"):
        raise ValueError(f"path swaps are exactInput/exactOutput, got {function!r}")
    if amount_wei <= 0:
        raise ValueError(f"swap amount must be > 0 (SwapRouter02 reads 0 as 'the router's balance'), got {amount_wei}")
    recipient = to_checksum_address(recipient)
    if int(recipient, 16) in (1, 2):
        raise ValueError(f"recipient {recipient} is a SwapRouter02 placeholder (msg.sender / the router itself)")
    inner = encode_inner_swap(kind, function, path=path, recipient=recipient, deadline_unix_s=deadline_unix_s,
                              amount_wei=amount_wei, limit_wei=limit_wei)
    if kind == "swap_router":
        return inner
    return wrap_deadline(deadline_unix_s, [inner])


def encode_inner_swap(kind: str, function: str, *, path: bytes, recipient: str, deadline_unix_s: int,
                      amount_wei: int, limit_wei: int) -> str:
    """The bare ``exactInput``/``exactOutput`` call of ``kind`` (what a contract calling the router sends)."""
    types, _a, _l, deadline_at = PATH_PARAMS[check_kind(kind)]
    params: tuple[Any, ...] = (bytes(path), to_checksum_address(recipient), amount_wei, limit_wei)
    if deadline_at is not None:
        params = (*params[:deadline_at], deadline_unix_s, *params[deadline_at:])
    selector = _selector(f"{function}({types})")
    return selector + abi_encode([types], [params]).hex()


def wrap_deadline(deadline_unix_s: int, calls: list[str]) -> str:
    """``SwapRouter02.multicall(uint256 deadline, bytes[] data)`` calldata (the router reverts after ``deadline``)."""
    if not isinstance(deadline_unix_s, int) or deadline_unix_s <= 0:
        raise ValueError(f"a SwapRouter02 swap needs a positive deadline (unix s), got {deadline_unix_s!r}")
    data = [bytes.fromhex(c.removeprefix("0x")) for c in calls]
    return MULTICALL_DEADLINE + abi_encode(["uint256", "bytes[]"], [deadline_unix_s, data]).hex()


def decode_path_swap(selector: str, data_hex: str) -> tuple[str, str, dict[str, Any]] | None:
    """``(kind, function, {path, recipient, deadline_unix_s | None, amount_wei, limit_wei})`` of a bare path swap
    call, or None when ``selector`` is not ``exactInput``/``exactOutput`` of either router or the data is bad."""
    known = SWAP_SELECTORS.get(selector.lower())
    if known is None or known[1] not in ("exactInput", "exactOutput"):
        return None
    kind, function = known
    types, amount_at, limit_at, deadline_at = PATH_PARAMS[kind]
    try:
        (params,) = abi_decode([types], bytes.fromhex(data_hex.removeprefix("0x")[8:]))
    except Exception:
        return None
    return kind, function, {"path": params[0], "recipient": to_checksum_address(params[1]),
                            "deadline_unix_s": params[deadline_at] if deadline_at is not None else None,
                            "amount_wei": params[amount_at], "limit_wei": params[limit_at]}


def unwrap_deadline(data_hex: str) -> tuple[int, list[str]] | None:
    """``(deadline, [inner calldata hex])`` of a ``multicall(uint256,bytes[])`` call, None when it is not one."""
    raw = data_hex.removeprefix("0x")
    if "0x" + raw[:8].lower() != MULTICALL_DEADLINE:
        return None
    try:
        deadline, calls = abi_decode(["uint256", "bytes[]"], bytes.fromhex(raw[8:]))
    except Exception:
        return None
    return int(deadline), ["0x" + bytes(c).hex() for c in calls]


# ------------------------------------------------------------------------------------------------ detection
_TOO_OLD = "Transaction too old"
_ERROR_STRING = bytes.fromhex("08c379a0")  # Error(string)


def _reverted_with(client: Any, to: str, data: str, block: Any, reason: str) -> bool:
    """True when ``eth_call(to, data)`` reverts with ``Error(reason)``; False on success or any other revert."""
    from manager.chain.client import CallReverted

    try:
        client.eth_call(to, bytes.fromhex(data.removeprefix("0x")), block)
    except CallReverted as exc:
        raw = bytes(getattr(exc, "revert_data", b"") or b"")
        if raw[:4] == _ERROR_STRING:
            try:
                (text,) = abi_decode(["string"], raw[4:])
            except Exception:
                return False
            return str(text) == reason
        return reason in str(getattr(exc, "rpc_message", ""))
    return False


def _address_view(client: Any, to: str, signature: str, block: Any) -> str | None:
    """The address a ``view`` without arguments returns, or None when it reverts / answers something else."""
    from manager.chain.client import CallReverted

    try:
        out = client.eth_call(to, bytes.fromhex(_selector(signature)[2:]), block)
    except CallReverted:
        return None
    if len(out) != 32 or any(out[:12]):
        return None
    return to_checksum_address("0x" + out[12:].hex())


def detect_router_kind(client: Any, router: str, *, factory: str | None = None, block: Any = "latest") -> str:
    """``"swap_router"`` or ``"swap_router02"`` for the contract at ``router`` (see the module docstring).

    ``client`` is a ``manager.chain.client.ChainClient``. Raises a one-line ``ConfigError`` naming the address
    and what was found when it is neither, or when its ``factory()`` is not ``factory`` (when given). RPC
    failures propagate as the client's errors (they say nothing about the router)."""
    router = to_checksum_address(router)
    expected = ("expected a Uniswap V3 SwapRouter (v3-periphery) or SwapRouter02 (swap-router-contracts)")
    if not client.get_code(router, block):
        raise ConfigError(f"swap_router {router}: no contract at this address at block {block} (an account without "
                          f"code, or nothing deployed); {expected}", address=router, field="swap_router")
    probe_v1 = encode_inner_swap("swap_router", "exactInput", path=b"", recipient=router, deadline_unix_s=0,
                                 amount_wei=0, limit_wei=0)
    probe_02 = MULTICALL_DEADLINE + abi_encode(["uint256", "bytes[]"], [0, []]).hex()
    is_v1 = _reverted_with(client, router, probe_v1, block, _TOO_OLD)
    is_02 = _reverted_with(client, router, probe_02, block, _TOO_OLD)
    factory_v2 = _address_view(client, router, "factoryV2()", block)
    position_manager = _address_view(client, router, "positionManager()", block)
    v3_factory = _address_view(client, router, "factory()", block)
    weth = _address_view(client, router, "WETH9()", block)
    kind: str | None = None
    if is_v1 and not is_02 and factory_v2 is None:
        kind = "swap_router"
    elif is_02 and not is_v1 and factory_v2 is not None and position_manager is not None:
        kind = "swap_router02"
    if kind is None or v3_factory is None or weth is None:
        found = ", ".join(f"{name}: {'yes' if ok else 'no'}" for name, ok in (
            ("exactInput with a deadline", is_v1), ("multicall(deadline, data)", is_02),
            ("factoryV2()", factory_v2 is not None), ("factory()", v3_factory is not None), ("WETH9()", weth is not None)))
        raise ConfigError(f"swap_router {router} is neither a SwapRouter nor a SwapRouter02 ({found}); {expected}",
                          address=router, field="swap_router")
    if factory is not None and v3_factory != to_checksum_address(factory):
        raise ConfigError(f"swap_router {router} is a {kind} of the V3 factory {v3_factory}, not of the configured "
                          f"factory {to_checksum_address(factory)}", address=router, field="swap_router")
    return kind


def resolve_router_kind(client: Any, router: str, configured: str | None, *, factory: str | None = None,
                        block: Any = "latest") -> str:
    """The router's kind as detected on chain; a configured ``router_kind`` must agree (else ``ConfigError``)."""
    detected = detect_router_kind(client, router, factory=factory, block=block)
    if configured is not None and configured != detected:
        raise ConfigError(f"router_kind = \"{configured}\" but swap_router {to_checksum_address(router)} is a "
                          f"{detected} ({TITLE_OF[detected]}); set router_kind = \"{detected}\" or remove it",
                          field="router_kind", value=configured)
    return detected


__all__ = ["ABI_OF", "MULTICALL_DEADLINE", "ROUTER_KINDS", "SWAP_SELECTORS", "RouterKind", "check_kind",
           "decode_path_swap", "detect_router_kind", "encode_inner_swap", "encode_path_swap", "resolve_router_kind",
           "router_selectors", "swap_signature", "unwrap_deadline", "wrap_deadline"]


def configured_router_kind(cfg: Any, uni: Any, client: Any) -> str:
    """``resolve_router_kind`` for a ``[[protocols]]`` ``uniswap_v3`` entry of ``cfg`` (start-up); a refusal is
    one ``ConfigError`` line pointing at the entry's ``swap_router`` (or ``router_kind``) line."""
    index = next(i for i, p in enumerate(cfg.protocols) if p is uni)
    try:
        return resolve_router_kind(client, uni.swap_router, uni.router_kind, factory=uni.factory)
    except ConfigError as exc:
        key = "router_kind" if exc.context.get("field") == "router_kind" else "swap_router"
        raise cfg.error(("protocols", index, key), exc.message) from None
