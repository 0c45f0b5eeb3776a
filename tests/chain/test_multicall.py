"""Batched reads at one block on a real anvil, through every transport; encodings without a node."""

from __future__ import annotations

import pytest
from eth_abi import encode

from manager.chain.multicall import (
    AGGREGATE3_SELECTOR,
    GET_BLOCK_NUMBER_SELECTOR,
    UNISWAP_MULTICALL_SELECTOR,
    Call,
    CallResult,
    decode_aggregate3,
    decode_revert,
    decode_uniswap_multicall,
    encode_aggregate3,
    encode_uniswap_multicall,
    execute,
    selector,
)
from manager.config.types import MULTICALL3_ADDRESS
from manager.errors import ChainError, DataQualityError

from .conftest import ALICE, BOB, Devnet, Proxy

TRANSPORTS = ["uniswap_interface", "multicall3", "rpc_batch"]


def client_for(devnet: Devnet, transport: str, url: str | None = None, **overrides):
    if transport == "multicall3":  # the default config: Multicall3 at its canonical address
        return devnet.client(url, multicall=MULTICALL3_ADDRESS, multicall_kind="multicall3", **overrides)
    return devnet.client(url, **overrides)


def balance_call(devnet: Devnet, who: str, label: str = "") -> Call:
    return Call.build(devnet.token, "balanceOf(address)", [who], ["uint256"], label=label or f"balance {who[:6]}")


# ------------------------------------------------------------------------------------------------
# selectors and encodings (no node)
# ------------------------------------------------------------------------------------------------
def test_selectors_match_the_abis():
    assert selector("aggregate3((address,bool,bytes)[])") == AGGREGATE3_SELECTOR
    assert selector("getBlockNumber()") == GET_BLOCK_NUMBER_SELECTOR
    assert selector("multicall((address,uint256,bytes)[])") == UNISWAP_MULTICALL_SELECTOR
    from manager.chain.abi import load_abi

    names = {f["name"] for f in load_abi("multicall/Multicall3")} | {
        f["name"] for f in load_abi("multicall/UniswapInterfaceMulticall")}
    assert {"aggregate3", "getBlockNumber", "multicall"} <= names


def test_aggregate3_round_trip():
    a = Call("0x" + "11" * 20, b"\x01\x02", ("uint256",))
    b = Call("0x" + "22" * 20, b"", ())
    data = encode_aggregate3([a, b], multicall=MULTICALL3_ADDRESS)
    assert data[:4] == AGGREGATE3_SELECTOR
    from eth_abi import decode

    (items,) = decode(["(address,bool,bytes)[]"], data[4:])
    assert [(t.lower(), ok, d) for t, ok, d in items] == [
        ("0x" + "11" * 20, True, b"\x01\x02"), ("0x" + "22" * 20, True, b""),
        (MULTICALL3_ADDRESS.lower(), False, GET_BLOCK_NUMBER_SELECTOR)]
    answer = encode(["(bool,bytes)[]"], [[(True, encode(["uint256"], [7])), (False, b"")]])
    assert decode_aggregate3(answer) == [(True, encode(["uint256"], [7])), (False, b"")]


def test_uniswap_multicall_round_trip():
    a = Call("0x" + "11" * 20, b"\xaa", gas_limit=123)
    data = encode_uniswap_multicall([a])
    assert data[:4] == UNISWAP_MULTICALL_SELECTOR
    answer = encode(["uint256", "(bool,uint256,bytes)[]"], [42, [(True, 900, b"\x01")]])
    assert decode_uniswap_multicall(answer) == (42, [(True, 900, b"\x01")])


def test_decode_revert():
    assert decode_revert(b"") == "reverted without data"
    assert decode_revert(bytes.fromhex("08c379a0") + encode(["string"], ["nope"])) == "reverted: nope"
    assert decode_revert(bytes.fromhex("4e487b71") + encode(["uint256"], [0x11])) == (
        "panic 0x11 (arithmetic overflow or underflow)")
    assert decode_revert(bytes.fromhex("deadbeef") + b"\x00" * 32) == "reverted with custom error 0xdeadbeef (+32 bytes)"


def test_call_build_and_decode():
    call = Call.build("0x" + "11" * 20, "f(address,(uint256,bool))", ["0x" + "22" * 20, (5, True)],
                      ["uint256", "(address,bool)"])
    assert call.calldata[:4] == selector("f(address,(uint256,bool))")
    out = call.decode(encode(["uint256", "(address,bool)"], [9, ("0x" + "33" * 20, False)]))
    assert out == (9, ("0x" + "33" * 20, False))
    assert Call("0x" + "11" * 20, b"", raw=True).decode(b"\x01") == b"\x01"
    assert CallResult("x", True, 1, value=3).unwrap() == 3
    with pytest.raises(DataQualityError, match=r"read x failed at block 1: boom"):
        CallResult("x", False, 1, error="boom").unwrap()


# ------------------------------------------------------------------------------------------------
# on anvil
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_reads_at_an_older_block_see_the_state_of_that_block(devnet: Devnet, transport: str):
    client = client_for(devnet, transport).connect()
    devnet.mint(ALICE, 1_000)
    old_block = devnet.block_number()
    devnet.mint(ALICE, 500)
    devnet.mint(BOB, 7)
    devnet.mine(5)
    calls = [balance_call(devnet, ALICE), balance_call(devnet, BOB)]
    old = execute(client, calls, old_block, transport=transport)
    assert [r.value for r in old] == [1_000, 0]
    assert all(r.success and r.block_number == old_block for r in old)
    new = execute(client, calls, devnet.block_number(), transport=transport)
    assert [r.value for r in new] == [1_500, 7]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_one_failing_call_does_not_sink_the_batch(devnet: Devnet, transport: str):
    client = client_for(devnet, transport).connect()
    devnet.mint(ALICE, 100)
    block = devnet.block_number()
    calls = [
        balance_call(devnet, ALICE, "alice"),
        Call.build(devnet.token, "transferFrom(address,address,uint256)", [ALICE, BOB, 10**9], ["bool"],
                   label="too big"),
        Call.build(ALICE, "balanceOf(address)", [ALICE], ["uint256"], label="not a contract"),
        balance_call(devnet, BOB, "bob"),
    ]
    results = execute(client, calls, block, transport=transport)
    assert [r.label for r in results] == ["alice", "too big", "not a contract", "bob"]
    assert [r.success for r in results] == [True, False, False, True]
    assert results[0].value == 100 and results[3].value == 0
    assert results[1].error == "reverted: ERC20: transfer amount exceeds balance"
    assert results[1].revert_data[:4] == bytes.fromhex("08c379a0")
    assert "empty return data (is the target a contract?)" in (results[2].error or "")
    with pytest.raises(DataQualityError, match=rf"read too big failed at block {block}"):
        results[1].unwrap()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_chunking_keeps_order_and_block(devnet: Devnet, proxy: Proxy, transport: str):
    client = client_for(devnet, transport, url=proxy.url, multicall_chunk_size=5).connect()
    holders = [f"0x{i:040x}" for i in range(1, 24)]
    for i, who in enumerate(holders[:3]):
        devnet.mint(who, i + 1)
    block = devnet.block_number()
    devnet.mint(holders[0], 1_000)  # after the block: must not be seen
    proxy.requests.clear()
    results = execute(client, [balance_call(devnet, h, h) for h in holders], block, transport=transport)
    assert [r.label for r in results] == holders
    assert [r.value for r in results] == [1, 2, 3] + [0] * 20
    if transport == "rpc_batch":
        assert all(isinstance(r, list) and len(r) <= 5 for r in proxy.requests) and len(proxy.requests) == 5
        params = [item["params"][1] for batch in proxy.requests for item in batch]
    else:
        assert proxy.methods() == ["eth_call"] * 5  # ceil(23 / 5) chunks
        params = [r["params"][1] for r in proxy.requests]
    assert set(params) == {hex(block)}  # every chunk at the same explicit block


@pytest.mark.parametrize("transport", ["uniswap_interface", "multicall3"])
def test_chunk_failing_as_a_whole_is_split(devnet: Devnet, proxy: Proxy, transport: str):
    client = client_for(devnet, transport, url=proxy.url, multicall_chunk_size=40).connect()
    devnet.mint(ALICE, 5)
    block = devnet.block_number()
    calls = [Call.build(devnet.token, "balanceOf(address)", [ALICE], ["uint256"], label=str(i), gas_limit=30_000)
             for i in range(16)]
    proxy.requests.clear()
    results = execute(client, calls, block, transport=transport, gas=55_000)  # too little gas for 16 or 8, enough for 4
    assert [r.value for r in results] == [5] * 16 and all(r.success for r in results)
    assert len(proxy.requests) == 1 + 2 + 4  # 16 failed whole, then both 8s, then four 4s passed
    assert [r.label for r in results] == [str(i) for i in range(16)]


def test_single_call_failing_alone_is_reported_not_raised(devnet: Devnet):
    client = client_for(devnet, "uniswap_interface").connect()
    results = execute(client, [balance_call(devnet, ALICE, "alone")], devnet.block_number(), gas=30_000)
    assert results[0].success is False and "failed for this call alone" in (results[0].error or "")


def test_multicall_answering_another_block_is_refused(devnet: Devnet, proxy: Proxy):
    client = client_for(devnet, "uniswap_interface", url=proxy.url).connect()
    old_block = devnet.block_number()
    devnet.mine(3)

    def to_latest(payload):  # a node that ignores the block parameter
        if isinstance(payload, dict) and payload.get("method") == "eth_call":
            payload["params"][1] = "latest"
        return payload

    proxy.rewrite = to_latest
    with pytest.raises(DataQualityError, match=rf"multicall answered at block {old_block + 3}, asked for block {old_block}"):
        execute(client, [balance_call(devnet, ALICE)], old_block)


def test_multicall3_block_check_too(devnet: Devnet, proxy: Proxy):
    client = client_for(devnet, "multicall3", url=proxy.url).connect()
    old_block = devnet.block_number()
    devnet.mine(2)
    proxy.rewrite = lambda p: (p["params"].__setitem__(1, "latest") or p) if p.get("method") == "eth_call" else p
    with pytest.raises(DataQualityError, match=rf"asked for block {old_block}"):
        execute(client, [balance_call(devnet, ALICE)], old_block)


def test_missing_multicall_contract_is_a_chain_error(devnet: Devnet):
    client = devnet.client(multicall=ALICE).connect()  # an account, not a contract
    with pytest.raises(ChainError, match=r"multicall .* returned no data at all: is a uniswap_interface contract deployed"):
        execute(client, [balance_call(devnet, ALICE)], devnet.block_number())


def test_from_web3_contract_function(devnet: Devnet):
    client = client_for(devnet, "uniswap_interface").connect()
    devnet.mint(BOB, 42)
    token = client.w3.eth.contract(address=devnet.token, abi=devnet.token_abi)
    calls = [Call.from_fn(token.functions.balanceOf(BOB)), Call.from_fn(token.functions.decimals(), label="dec"),
             Call.from_fn(token.functions.symbol())]
    assert calls[0].label == f"balanceOf('{BOB}')" and calls[0].output_types == ("uint256",)
    results = execute(client, calls, devnet.block_number())
    assert [r.value for r in results] == [42, 6, "TUSD"]


def test_block_number_must_be_explicit(devnet: Devnet):
    client = devnet.client()
    with pytest.raises(TypeError, match="explicit"):
        execute(client, [], "latest")  # type: ignore[arg-type]
    assert execute(client, [], 0) == []


def test_sub_call_out_of_gas_is_named(devnet: Devnet):
    client = client_for(devnet, "uniswap_interface").connect()
    call = Call.build(devnet.token, "balanceOf(address)", [ALICE], ["uint256"], label="starved", gas_limit=500)
    (result,) = execute(client, [call], devnet.block_number())
    assert result.success is False and result.error == f"out of gas (used {result.gas_used} of gas_limit 500)"


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_parallel_chunks_respect_max_parallel_requests(monkeypatch, limit):
    import threading
    import time as _time
    from types import SimpleNamespace

    from manager.chain import multicall as mc

    state = {"now": 0, "peak": 0}
    lock = threading.Lock()

    def fake_run_chunk(client, chunk, block_number, kind, gas):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        _time.sleep(0.02)
        with lock:
            state["now"] -= 1
        return [mc.CallResult(label=c.label, success=True, block_number=block_number, value=c.label) for c in chunk]

    monkeypatch.setattr(mc, "_run_chunk", fake_run_chunk)
    cfg = SimpleNamespace(multicall_kind="uniswap_interface", multicall_chunk_size=2, max_parallel_requests=limit)
    client = SimpleNamespace(config=cfg)
    calls = [mc.Call(target="0x" + "11" * 20, calldata=b"", label=str(i)) for i in range(20)]
    out = mc.execute(client, calls, 7)
    assert [r.value for r in out] == [str(i) for i in range(20)]  # call order kept
    assert state["peak"] == limit


def test_multicall_answering_the_next_block_once_is_asked_again(devnet: Devnet, proxy: Proxy):
    """Regression (issue 15): "multicall answered at block 695, asked for block 694" failed two ticks; a
    load-balanced node serving one request a block ahead is asked again (failing over when it can)."""
    client = client_for(devnet, "uniswap_interface", url=proxy.url).connect()
    devnet.mint(ALICE, 7)
    old_block = devnet.block_number()
    devnet.mine(1)
    calls_seen = {"n": 0}

    def first_to_latest(payload):
        if isinstance(payload, dict) and payload.get("method") == "eth_call":
            calls_seen["n"] += 1
            if calls_seen["n"] == 1:
                payload["params"][1] = "latest"
        return payload

    proxy.rewrite = first_to_latest
    (result,) = execute(client, [balance_call(devnet, ALICE)], old_block)
    assert result.success and result.value >= 7 and result.block_number == old_block
    assert calls_seen["n"] == 2
