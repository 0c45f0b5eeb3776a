"""Batched reads at ONE explicit block: multicall contracts or a JSON-RPC batch of ``eth_call``.

Build ``Call`` values (target, calldata, how to decode the return data, a label), then
``execute(client, calls, block_number)`` returns one ``CallResult`` per call, in order, all read at
``block_number``. Three transports:

- ``multicall3``: ``Multicall3.aggregate3((target, allowFailure=true, callData)[])`` (mds1/multicall,
  ``Multicall3.sol``), with a ``getBlockNumber()`` call appended to prove the node served the block
  asked for.
- ``uniswap_interface``: ``UniswapInterfaceMulticall.multicall((target, gasLimit, callData)[])``
  (Uniswap v3-periphery ``contracts/lens/UniswapInterfaceMulticall.sol``), which returns
  ``(blockNumber, (success, gasUsed, returnData)[])``; ``blockNumber`` must equal the block asked for.
- ``rpc_batch``: a JSON-RPC batch of plain ``eth_call`` at the block (where no multicall exists).

Calls are sent in chunks of ``multicall_chunk_size``, every chunk at the same block. One failing
call does not sink the batch: its result has ``success=False`` and the revert decoded where possible
(``Error(string)``, ``Panic(uint256)``, else the raw selector). A chunk that fails as a whole (out of
gas, the node refusing it) is split in halves and retried down to single calls. A transient RPC
failure is not split: it propagates as ``RpcError`` (the client has already retried and failed over).

Speed (10,000 Aave accounts are ~50,000 calls per tick, see ``bench/bench_reads.py``): up to
``MAX_PARALLEL_CHUNKS`` chunks are in flight at once (results stay in call order), and the multicall
arguments and results are encoded/decoded by hand (checked against eth_abi in the tests) because
the generic codec cost more than the node's execution of the calls.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from manager.chain.client import ChainClient, RpcResponseError
from manager.errors import ChainError, DataQualityError

log = logging.getLogger("posman.chain.multicall")

Transport = Literal["multicall3", "uniswap_interface", "rpc_batch"]

# Selectors (first 4 bytes of keccak256 of the signature).
AGGREGATE3_SELECTOR = bytes.fromhex("82ad56cb")  # aggregate3((address,bool,bytes)[])
GET_BLOCK_NUMBER_SELECTOR = bytes.fromhex("42cbb15c")  # getBlockNumber()
UNISWAP_MULTICALL_SELECTOR = bytes.fromhex("1749e1e3")  # multicall((address,uint256,bytes)[])
ERROR_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)
PANIC_SELECTOR = bytes.fromhex("4e487b71")  # Panic(uint256)

DEFAULT_CALL_GAS = 5_000_000  # per-call gas limit for UniswapInterfaceMulticall
MAX_PARALLEL_CHUNKS = 16  # upper bound; the chain's ``max_parallel_requests`` (default 3) applies

# Solidity panic codes (docs.soliditylang.org, "Panic via assert and Error via require").
PANIC_CODES = {
    0x00: "generic compiler panic",
    0x01: "assert failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division or modulo by zero",
    0x21: "invalid enum value",
    0x22: "bad storage byte array encoding",
    0x31: "pop on empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to a zero-initialized internal function",
}


_new_object = object.__new__
_set_attr = object.__setattr__


def selector(signature: str) -> bytes:
    """4-byte function selector of ``"name(type,...)"``."""
    from eth_hash.auto import keccak

    return keccak(signature.encode())[:4]


def encode_signature(signature: str, args: Sequence[Any] = ()) -> bytes:
    """Calldata of ``"name(type,...)"`` called with ``args``: selector + ABI-encoded arguments."""
    from eth_abi import encode

    types = _split_types(signature[signature.index("(") + 1 : signature.rindex(")")])
    return selector(signature) + (encode(types, list(args)) if types else b"")


@dataclass(frozen=True)
class Call:
    """One read: ``calldata`` sent to ``target``; the return data decoded as ``output_types``.

    ``output_types`` are eth_abi type strings (``("uint256",)``, ``("(address,uint128)",)``); a single
    output decodes to the value itself, several to a tuple, none to ``None``. ``decoder`` replaces
    the default decoding entirely (it receives the raw return bytes). ``raw=True`` returns the bytes.
    """

    target: str
    calldata: bytes
    output_types: tuple[str, ...] = ()
    label: str = ""
    decoder: Callable[[bytes], Any] | None = field(default=None, compare=False)
    raw: bool = False
    gas_limit: int = DEFAULT_CALL_GAS

    @classmethod
    def from_fn(cls, fn: Any, label: str | None = None, *, decoder: Callable[[bytes], Any] | None = None,
                gas_limit: int = DEFAULT_CALL_GAS) -> Call:
        """A call from a bound web3 contract function: ``Call.from_fn(token.functions.balanceOf(a))``."""
        from eth_utils.abi import collapse_if_tuple

        if not getattr(fn, "address", None):
            raise ValueError(f"{fn!r} is not bound to a contract address")
        data = fn._encode_transaction_data()
        outputs = tuple(collapse_if_tuple(dict(o)) for o in fn.abi.get("outputs", []))
        args = ", ".join(repr(a) for a in (fn.args or ()))
        return cls(
            target=fn.address,
            calldata=bytes.fromhex(data[2:]),
            output_types=outputs,
            label=label if label is not None else f"{fn.fn_name}({args})",
            decoder=decoder,
            gas_limit=gas_limit,
        )

    @classmethod
    def build(cls, target: str, signature: str, args: Sequence[Any] = (), output_types: Sequence[str] = (),
              label: str | None = None, **kwargs: Any) -> Call:
        """A call from a signature: ``Call.build(token, "balanceOf(address)", [a], ["uint256"])``."""
        data = encode_signature(signature, args)
        return cls(target=target, calldata=data, output_types=tuple(output_types),
                   label=label if label is not None else signature, **kwargs)

    @classmethod
    def from_abi(cls, abi_name: str, target: str, fn_name: str, *args: Any, label: str | None = None) -> Call:
        """A call of ``fn_name`` as declared in ``contracts_abi/<abi_name>.json`` (overloads by arg count).

        ``Call.from_abi("erc20/MintableERC20", token, "balanceOf", account)``; no web3 contract object.
        """
        from eth_abi import encode
        from eth_utils import to_checksum_address

        from manager.chain.abi import abi_function

        inputs, outputs = abi_function(abi_name, fn_name, len(args))
        data = selector(f"{fn_name}({','.join(inputs)})") + (encode(list(inputs), list(args)) if inputs else b"")
        return cls(target=to_checksum_address(target), calldata=data, output_types=outputs,
                   label=label if label is not None else f"{fn_name}({', '.join(str(a) for a in args)})")

    def decode(self, data: bytes) -> Any:
        """The decoded return value (raises on malformed data)."""
        if self.decoder is not None:
            return self.decoder(data)
        if self.raw:
            return data
        if not self.output_types:
            return None
        from eth_abi import decode

        values = decode(list(self.output_types), data)
        return values[0] if len(values) == 1 else tuple(values)


def fast_call(target: str, calldata: bytes, label: str, decoder: Callable[[bytes], Any]) -> Call:
    """``Call(target, calldata, label=label, decoder=decoder)``, about 3x cheaper (tens of thousands per tick).

    NOTE: fills the frozen dataclass's ``__dict__`` directly (its ``__init__`` goes through
    ``object.__setattr__`` once per field); equal to the constructor's result in every field.
    """
    obj = _new_object(Call)
    obj.__dict__.update(target=target, calldata=calldata, output_types=(), label=label, decoder=decoder, raw=False,
                        gas_limit=DEFAULT_CALL_GAS)
    return obj  # type: ignore[no-any-return]


@dataclass(frozen=True)
class CallResult:
    """The outcome of one ``Call`` at ``block_number``.

    ``success`` False means the call reverted (``error`` says why, ``revert_data`` holds the raw
    bytes) or its return data could not be decoded (e.g. the target has no code).
    """

    label: str
    success: bool
    block_number: int
    value: Any = None
    error: str | None = None
    revert_data: bytes = b""
    gas_used: int | None = None

    def unwrap(self) -> Any:
        """The value, or ``DataQualityError`` naming the call and the block."""
        if not self.success:
            raise DataQualityError(f"read {self.label or '<call>'} failed at block {self.block_number}: {self.error}",
                                   label=self.label, block_number=self.block_number, error=self.error)
        return self.value


def _split_types(inputs: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in inputs:
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def decode_revert(data: bytes) -> str:
    """A readable reason from revert data: ``Error(string)``, ``Panic(uint256)`` or the selector."""
    from eth_abi import decode

    if not data:
        return "reverted without data"
    try:
        if data[:4] == ERROR_SELECTOR:
            return f"reverted: {decode(['string'], data[4:])[0]}"
        if data[:4] == PANIC_SELECTOR:
            code = decode(["uint256"], data[4:])[0]
            return f"panic 0x{code:02x} ({PANIC_CODES.get(code, 'unknown panic code')})"
    except Exception:  # malformed payload: fall through to the raw form
        pass
    if len(data) >= 4:
        return f"reverted with custom error 0x{data[:4].hex()}" + (f" (+{len(data) - 4} bytes)" if len(data) > 4 else "")
    return f"reverted with data 0x{data.hex()}"


def _result(call: Call, block_number: int, ok: bool, data: bytes, gas_used: int | None = None) -> CallResult:
    if not ok:
        reason = decode_revert(data)
        if not data and gas_used is not None and gas_used >= call.gas_limit * 63 // 64:
            reason = f"out of gas (used {gas_used} of gas_limit {call.gas_limit})"
        return CallResult(call.label, False, block_number, error=reason, revert_data=data, gas_used=gas_used)
    try:
        value = call.decode(data)
    except Exception as exc:
        reason = "empty return data (is the target a contract?)" if not data else f"{type(exc).__name__}: {exc}"
        return CallResult(call.label, False, block_number, error=f"cannot decode return data as "
                          f"({','.join(call.output_types)}): {reason}", revert_data=b"", gas_used=gas_used)
    return CallResult(call.label, True, block_number, value=value, gas_used=gas_used)


# ------------------------------------------------------------------------------------------------
# encodings (pure: tested without a node)
# ------------------------------------------------------------------------------------------------
# NOTE: the four functions below encode/decode by hand instead of with eth_abi: for batches of
# thousands of calls the generic codec dominated the read time (~10x slower). The layout is the
# standard ABI head/tail encoding; tests/chain/test_multicall.py checks it against eth_abi.
_WORD = 32
_ZERO_WORD = bytes(32)
_TRUE_WORD = (1).to_bytes(32, "big")
_TARGET_WORDS: dict[str, bytes] = {}


def _address_word(target: str) -> bytes:
    """The 32-byte ABI word of an address (validated like eth_abi on first sight, then cached)."""
    word = _TARGET_WORDS.get(target)
    if word is None:
        from eth_utils import is_address

        if not isinstance(target, str) or not is_address(target):
            from eth_abi.exceptions import EncodingTypeError

            raise EncodingTypeError(f"Value {target!r} cannot be encoded as an address")
        word = bytes(12) + bytes.fromhex(target[2:])
        if len(_TARGET_WORDS) < 100_000:
            _TARGET_WORDS[target] = word
    return word


def _uint_word(value: int) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**256:
        from eth_abi.exceptions import ValueOutOfBounds

        raise ValueOutOfBounds(f"Value {value!r} cannot be encoded as a uint256")
    return value.to_bytes(32, "big")


_OFFSET_3_WORDS = (3 * _WORD).to_bytes(32, "big")


def _encode_tuple_array(items: Sequence[tuple[bytes, bytes]]) -> bytes:
    """ABI ``(address,<word>,bytes)[]`` as the only argument; items are (address word + word, bytes).

    The first two words of each tuple come pre-joined (callers cache them per target): with the
    usual 36-byte calldata every tail is then one join of four pieces.
    """
    n = len(items)
    heads: list[bytes] = []
    tails: list[bytes] = []
    offset = n * _WORD
    from_len = _LENGTH_PADS.get
    for words, data in items:
        heads.append(offset.to_bytes(32, "big"))
        size = len(data)
        length_pad = from_len(size)
        if length_pad is None:
            length_pad = _length_pad(size)
        tail = b"".join((words, _OFFSET_3_WORDS, length_pad[0], data, length_pad[1]))
        tails.append(tail)
        offset += len(tail)
    return b"".join((_WORD.to_bytes(32, "big"), n.to_bytes(32, "big"), *heads, *tails))


_LENGTH_PADS: dict[int, tuple[bytes, bytes]] = {}


def _length_pad(size: int) -> tuple[bytes, bytes]:
    """(length word, zero padding) of a ``bytes`` value of ``size`` bytes (cached for small sizes)."""
    pair = (size.to_bytes(32, "big"), bytes(-size % _WORD))
    if size <= 4096:
        _LENGTH_PADS[size] = pair
    return pair


def _decode_error(message: str) -> Exception:
    from eth_abi.exceptions import InsufficientDataBytes

    return InsufficientDataBytes(message)


def _read_word(data: bytes, pos: int) -> int:
    if pos < 0 or pos + _WORD > len(data):
        raise _decode_error(f"need 32 bytes at offset {pos}, have {len(data)} bytes")
    return int.from_bytes(data[pos : pos + _WORD], "big")


def _decode_tuple_array(data: bytes, array_pos: int, with_gas: bool) -> list[Any]:
    """ABI ``(bool,[uint256,]bytes)[]`` starting at ``array_pos`` (its length word).

    One tight loop (tens of thousands of items per tick): every offset and length is bounds-checked
    like eth_abi does, bools must be 0/1 and the padding after each ``bytes`` must be zero.
    """
    size = len(data)
    n = _read_word(data, array_pos)
    base = array_pos + _WORD
    if base + n * _WORD > size:
        raise _decode_error(f"array of {n} items at offset {array_pos} runs past the end ({size} bytes)")
    from_bytes = int.from_bytes
    bytes_head = 2 * _WORD if with_gas else _WORD
    out: list[Any] = []
    append = out.append
    for i in range(n):
        head = base + i * _WORD
        item = base + from_bytes(data[head : head + _WORD], "big")
        if item + bytes_head + _WORD > size:
            raise _decode_error(f"item {i} at offset {item} runs past the end ({size} bytes)")
        flag = from_bytes(data[item : item + _WORD], "big")
        if flag > 1:
            _bad_bool(item, flag)
        pos = item + from_bytes(data[item + bytes_head : item + bytes_head + _WORD], "big")
        if pos + _WORD > size:
            raise _decode_error(f"bytes of item {i} at offset {pos} run past the end ({size} bytes)")
        length = from_bytes(data[pos : pos + _WORD], "big")
        start = pos + _WORD
        end = start + length
        pad = -length % _WORD
        if end + pad > size:
            raise _decode_error(f"bytes of length {length} at offset {pos} run past the end ({size} bytes)")
        if pad and data[end : end + pad] != _ZERO_WORD[:pad]:
            _bad_padding(pos)
        if with_gas:
            append((flag == 1, from_bytes(data[item + _WORD : item + 2 * _WORD], "big"), data[start:end]))
        else:
            append((flag == 1, data[start:end]))
    return out


def _bad_bool(pos: int, value: int) -> None:
    from eth_abi.exceptions import NonEmptyPaddingBytes

    raise NonEmptyPaddingBytes(f"bool word at offset {pos} is {value:#x}")


def _bad_padding(pos: int) -> None:
    from eth_abi.exceptions import NonEmptyPaddingBytes

    raise NonEmptyPaddingBytes(f"non-zero padding after bytes at offset {pos}")


def encode_aggregate3(calls: Sequence[Call], multicall: str | None = None) -> bytes:
    """``aggregate3`` calldata; with ``multicall`` set, ``getBlockNumber()`` is appended as last call."""
    items = [(_address_word(c.target) + _TRUE_WORD, bytes(c.calldata)) for c in calls]
    if multicall is not None:
        items.append((_address_word(multicall) + _ZERO_WORD, GET_BLOCK_NUMBER_SELECTOR))
    return AGGREGATE3_SELECTOR + _encode_tuple_array(items)


def decode_aggregate3(data: bytes) -> list[tuple[bool, bytes]]:
    data = bytes(data)
    return _decode_tuple_array(data, _read_word(data, 0), with_gas=False)


def encode_uniswap_multicall(calls: Sequence[Call]) -> bytes:
    words: dict[tuple[str, int], bytes] = {}
    items = []
    for c in calls:
        key = (c.target, c.gas_limit)
        pre = words.get(key)
        if pre is None:
            pre = words[key] = _address_word(c.target) + _uint_word(c.gas_limit)
        items.append((pre, bytes(c.calldata)))
    return UNISWAP_MULTICALL_SELECTOR + _encode_tuple_array(items)


def decode_uniswap_multicall(data: bytes) -> tuple[int, list[tuple[bool, int, bytes]]]:
    data = bytes(data)
    block_number = _read_word(data, 0)
    return block_number, _decode_tuple_array(data, _read_word(data, _WORD), with_gas=True)


# ------------------------------------------------------------------------------------------------
# execution
# ------------------------------------------------------------------------------------------------
def execute(
    client: ChainClient,
    calls: Sequence[Call],
    block_number: int,
    *,
    transport: Transport | None = None,
    chunk_size: int | None = None,
    gas: int | None = None,
) -> list[CallResult]:
    """Run ``calls`` at ``block_number``; one ``CallResult`` per call, in order.

    ``transport`` defaults to the chain's ``multicall_kind``; ``chunk_size`` to its
    ``multicall_chunk_size``; ``gas`` is the gas of each multicall ``eth_call`` (node default if None).
    Raises ``DataQualityError`` if a multicall reports another block than ``block_number``, and
    ``RpcError`` on transport failures that survived the client's retries.
    """
    out: list[CallResult] = []
    for _start, results in execute_chunks(client, calls, block_number, transport=transport, chunk_size=chunk_size,
                                          gas=gas):
        out.extend(results)
    return out


def execute_chunks(
    client: ChainClient,
    calls: Sequence[Call],
    block_number: int,
    *,
    transport: Transport | None = None,
    chunk_size: int | None = None,
    gas: int | None = None,
) -> Iterator[tuple[int, list[CallResult]]]:
    """``execute``, chunk by chunk: ``(index of the chunk's first call, its results)`` in call order, each as soon
    as it is there (the caller may decode one chunk while the next ones are still in flight: the window of
    requests in flight is kept full by the worker threads, not by the caller). The first failing chunk, in
    order, raises when it is reached."""
    if isinstance(block_number, bool) or not isinstance(block_number, int) or block_number < 0:
        raise TypeError(f"block_number must be an explicit non-negative int, got {block_number!r}")
    kind: Transport = transport or client.config.multicall_kind
    size = chunk_size or client.config.multicall_chunk_size
    starts = list(range(0, len(calls), size))
    chunks = [list(calls[start : start + size]) for start in starts]
    cap = getattr(client.config, "max_parallel_requests", MAX_PARALLEL_CHUNKS) if client is not None else MAX_PARALLEL_CHUNKS
    workers = max(1, min(int(cap), MAX_PARALLEL_CHUNKS, len(chunks)))
    if workers <= 1:
        for start, chunk in zip(starts, chunks, strict=True):
            yield start, _run_chunk(client, chunk, block_number, kind, gas)
        return
    # NOTE: a few chunks in flight at once: the node executes one while this process encodes the
    # next and decodes the last (about 2x for 10,000 accounts). Results keep the call order; the
    # first failing chunk (in order) raises, as it would sequentially.
    window = _Window(chunks, workers, lambda chunk: _run_chunk(client, chunk, block_number, kind, gas))
    try:
        for i, start in enumerate(starts):
            yield start, window.result(i)
    finally:
        window.cancel()


class _Window:
    """A sliding window of ``workers`` chunk requests in flight on the shared pool: each finished request starts
    the next chunk (so the window stays full whatever the consumer does); ``result(i)`` waits for chunk ``i``."""

    def __init__(self, chunks: list[list[Call]], workers: int, run: Callable[[list[Call]], list[CallResult]]) -> None:
        self._chunks = chunks
        self._run = run
        self._lock = threading.Lock()
        self._next = 0
        self._cancelled = False
        self._futures: list[Any] = [None] * len(chunks)
        self._ready = [threading.Event() for _ in chunks]
        for _ in range(workers):
            self._submit_next()

    def _submit_next(self) -> None:
        with self._lock:
            if self._cancelled or self._next >= len(self._chunks):
                return
            i = self._next
            self._next += 1
            future = _chunk_pool().submit(self._run, self._chunks[i])
            self._futures[i] = future
        self._ready[i].set()
        future.add_done_callback(lambda _f: self._submit_next())

    def result(self, i: int) -> list[CallResult]:
        self._ready[i].wait()
        return self._futures[i].result()  # type: ignore[no-any-return]

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            futures = [f for f in self._futures if f is not None]
        for f in futures:
            f.cancel()


_POOL: Any = None
_POOL_LOCK = threading.Lock()


def _chunk_pool() -> Any:
    """One long-lived thread pool: stable threads keep their keep-alive HTTP sessions (web3 caches
    a session per thread), so parallel chunks do not open new connections on every ``execute``."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            from concurrent.futures import ThreadPoolExecutor

            _POOL = ThreadPoolExecutor(max_workers=MAX_PARALLEL_CHUNKS, thread_name_prefix="multicall")
        return _POOL


BLOCK_MISMATCH_RETRIES = 2


def _run_chunk(client: ChainClient, chunk: list[Call], block_number: int, kind: Transport,
               gas: int | None) -> list[CallResult]:
    # NOTE: a load-balanced endpoint may serve one request from a node a block ahead ("answered at block N+1,
    # asked for N"): ask again (the client may fail over) before refusing the chunk.
    for attempt in range(BLOCK_MISMATCH_RETRIES + 1):
        try:
            return _run_chunk_once(client, chunk, block_number, kind, gas)
        except DataQualityError as exc:
            if "got_block_number" not in exc.context or attempt == BLOCK_MISMATCH_RETRIES:
                raise
            log.warning("chain %s: %s; asking again", client.name, exc)
            client.note_bad_answer()
    raise AssertionError("unreachable")


def _run_chunk_once(client: ChainClient, chunk: list[Call], block_number: int, kind: Transport,
                    gas: int | None) -> list[CallResult]:
    try:
        if kind == "rpc_batch":
            return _via_rpc_batch(client, chunk, block_number)
        if kind == "multicall3":
            return _via_multicall3(client, chunk, block_number, gas)
        return _via_uniswap(client, chunk, block_number, gas)
    except RpcResponseError as exc:  # the chunk failed as a whole: split and retry
        if len(chunk) == 1:
            call = chunk[0]
            return [CallResult(call.label, False, block_number,
                               error=f"{kind} failed for this call alone: {exc.context.get('rpc_message', exc)}")]
        mid = len(chunk) // 2
        return (_run_chunk(client, chunk[:mid], block_number, kind, gas)
                + _run_chunk(client, chunk[mid:], block_number, kind, gas))


def _multicall_data(client: ChainClient, data: bytes, kind: str) -> bytes:
    if not data:
        raise ChainError(
            f"chain '{client.name}': multicall {client.config.multicall} returned no data at all: is a "
            f"{kind} contract deployed there? (check chains.{client.name}.multicall / multicall_kind)",
            chain=client.name, address=client.config.multicall,
        )
    return data


def _check_block(client: ChainClient, got: int, want: int) -> None:
    if got != want:
        raise DataQualityError(
            f"chain '{client.name}': multicall answered at block {got}, asked for block {want}",
            chain=client.name, block_number=want, got_block_number=got,
        )


def _via_multicall3(client: ChainClient, chunk: list[Call], block_number: int, gas: int | None) -> list[CallResult]:
    address = client.config.multicall
    data = client.eth_call(address, encode_aggregate3(chunk, multicall=address), block_number, gas=gas)
    results = decode_aggregate3(_multicall_data(client, data, "multicall3"))
    if len(results) != len(chunk) + 1:
        raise DataQualityError(f"aggregate3 returned {len(results)} results for {len(chunk) + 1} calls",
                               chain=client.name, block_number=block_number)
    ok, ret = results.pop()
    from eth_abi import decode

    _check_block(client, int(decode(["uint256"], ret)[0]) if ok else -1, block_number)
    return [_result(c, block_number, ok, ret) for c, (ok, ret) in zip(chunk, results, strict=True)]


def _via_uniswap(client: ChainClient, chunk: list[Call], block_number: int, gas: int | None) -> list[CallResult]:
    data = client.eth_call(client.config.multicall, encode_uniswap_multicall(chunk), block_number, gas=gas)
    got_block, results = decode_uniswap_multicall(_multicall_data(client, data, "uniswap_interface"))
    _check_block(client, got_block, block_number)
    if len(results) != len(chunk):
        raise DataQualityError(f"multicall returned {len(results)} results for {len(chunk)} calls",
                               chain=client.name, block_number=block_number)
    out: list[CallResult] = []
    append = out.append
    new, set_dict = _new_object, _set_attr
    for c, (ok, gas_used, ret) in zip(chunk, results, strict=True):
        decoder = c.decoder
        if ok and decoder is not None:  # the common case, without the generic path's checks
            try:
                value = decoder(ret)
            except Exception:
                append(_result(c, block_number, ok, ret, gas_used))  # the decode failure, described
                continue
            obj = new(CallResult)  # = _ok_result(c.label, block_number, value, gas_used), inlined
            set_dict(obj, "__dict__", {"label": c.label, "success": True, "block_number": block_number,
                                       "value": value, "error": None, "revert_data": b"", "gas_used": gas_used})
            append(obj)
        else:
            append(_result(c, block_number, ok, ret, gas_used))
    return out


def _ok_result(label: str, block_number: int, value: Any, gas_used: int | None) -> CallResult:
    """``CallResult(label, True, block_number, value=value, gas_used=gas_used)``, about 2x cheaper.

    NOTE: fills the frozen dataclass's ``__dict__`` directly (its ``__init__`` goes through
    ``object.__setattr__`` once per field); equal to the constructor's result in every field.
    """
    obj = _new_object(CallResult)
    _set_attr(obj, "__dict__", {"label": label, "success": True, "block_number": block_number, "value": value,
                                "error": None, "revert_data": b"", "gas_used": gas_used})
    return obj


def _via_rpc_batch(client: ChainClient, chunk: list[Call], block_number: int) -> list[CallResult]:
    block = hex(block_number)
    responses = client.batch([("eth_call", [{"to": c.target, "data": "0x" + c.calldata.hex()}, block]) for c in chunk])
    out = []
    for call, resp in zip(chunk, responses, strict=True):
        if "error" in resp:
            err = resp["error"]
            raw = err.get("data")
            raw = raw.get("data") if isinstance(raw, dict) else raw
            revert = bytes.fromhex(raw[2:]) if isinstance(raw, str) and raw.startswith("0x") else b""
            msg = str(err.get("message", err))
            if revert or "revert" in msg.lower():
                out.append(_result(call, block_number, False, revert))
            else:
                out.append(CallResult(call.label, False, block_number, error=f"eth_call failed: {msg}"))
            continue
        result = resp.get("result") or "0x"
        out.append(_result(call, block_number, True, bytes.fromhex(result[2:])))
    return out
