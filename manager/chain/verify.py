"""Check, once per chain at start, that every configured contract address is a contract and answers as what
the config says it is (a multicall, an Aave ``PoolAddressesProvider``, a Uniswap factory / router / quoter,
a Morpho Blue, a PerpsV2 market proxy and its settings, exchange rates and sUSD).

Each check is a plain ``eth_call`` (not the multicall: the multicall is itself checked first, so that a
missing multicall is never blamed on another contract). A failure is a ``ConfigError`` pointing at the
config key (file:line), naming the address, the chain and what it failed to answer; a transient RPC failure
propagates as ``RpcError`` (the caller retries).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_utils import function_signature_to_4byte_selector

from manager.chain.client import CallReverted, ChainClient, RpcResponseError
from manager.errors import ConfigError

Loc = tuple[str | int, ...]


def _word_address(data: bytes) -> str | None:
    if len(data) < 32 or any(data[:12]):
        return None
    value = data[12:32]
    return None if not any(value) else "0x" + value.hex()


class _Checker:
    def __init__(self, cfg: Any, chain: str, client: ChainClient, block: int) -> None:
        self.cfg, self.chain, self.client, self.block = cfg, chain, client, block

    def fail(self, loc: Loc, address: str, message: str) -> ConfigError:
        return self.cfg.error(loc, f"{address} on chain '{self.chain}' {message}")

    def code(self, loc: Loc, address: str, what: str) -> None:
        if not self.client.get_code(address, self.block):
            raise self.fail(loc, address, f"is not a contract (no code at block {self.block}); expected {what}")

    def call(self, loc: Loc, address: str, what: str, signature: str, args: bytes = b"") -> bytes:
        data = function_signature_to_4byte_selector(signature) + args
        try:
            out = self.client.eth_call(address, data, self.block)
        except CallReverted:
            raise self.fail(loc, address, f"is not {what}: {signature} reverted") from None
        except RpcResponseError as exc:
            raise self.fail(loc, address, f"is not {what}: {signature} failed ({exc})") from None
        if len(out) < 32:
            raise self.fail(loc, address, f"is not {what}: {signature} returned {len(out)} bytes")
        return out

    def address_answer(self, loc: Loc, address: str, what: str, signature: str, *,
                       equals: str | None = None) -> str:
        out = self.call(loc, address, what, signature)
        got = _word_address(out)
        if got is None:
            raise self.fail(loc, address, f"is not {what}: {signature} returned no address")
        if equals is not None and got.lower() != equals.lower():
            raise self.fail(loc, address, f"is not {what} of this config: {signature} is {got}, expected {equals}")
        if not self.client.get_code(got, self.block):
            raise self.fail(loc, address, f"is not {what}: {signature} is {got}, which has no code")
        return got


def verify_chain(cfg: Any, chain: str, client: ChainClient, *, block: int | None = None) -> None:
    """Raise ``ConfigError`` unless every contract configured on ``chain`` is what the config says."""
    block = int(client.block_number()) if block is None else block
    c = _Checker(cfg, chain, client, block)
    ch = cfg.chains[chain]
    loc: Loc = ("chains", chain, "multicall")
    kind = ch.multicall_kind
    c.code(loc, ch.multicall, f"a {kind} multicall (check chains.{chain}.multicall / multicall_kind)")
    c.call(loc, ch.multicall, f"a {kind} multicall",
           "getBlockNumber()" if kind == "multicall3" else "getCurrentBlockTimestamp()")
    for i, proto in enumerate(cfg.protocols):
        if proto.chain != chain:
            continue
        for check in _checks_of(proto):
            address = getattr(proto, check.field)
            if address is None:
                continue
            at: Loc = ("protocols", i, check.field)
            c.code(at, address, check.what)
            for call in check.calls:
                if call.answers == "address":
                    c.address_answer(at, address, check.what, call.signature)
                elif call.answers == "field":
                    c.address_answer(at, address, check.what, call.signature,
                                     equals=getattr(proto, str(call.equals_field)))
                else:
                    c.call(at, address, check.what, call.signature, call.args)


def _checks_of(proto: Any) -> Sequence[Any]:
    """The ``ContractCheck``s of a protocol entry (its adapter's ``contract_checks``; none for an unknown kind)."""
    from manager.protocols import registry

    adapter = registry.find_adapter(proto)
    return adapter.contract_checks() if adapter is not None else []
