"""Oracle watcher on the real feeds and pools: freshness, rounds, oracle-vs-DEX deviation (spot and TWAP)."""

from __future__ import annotations

import pytest

from manager.chain.client import ChainClient
from manager.config.schema import ChainConfig
from manager.protocols.aave_v3.reads import read_market, read_oracles
from manager.watchers.oracle import reading_issues as _reading_issues

POOLS = [("WETH", "USDC", 500), ("WBTC", "USDC", 3000), ("wstETH", "WETH", 100), ("LINK", "USDC", 3000),
         ("USDC", "DAI", 100)]


@pytest.fixture(scope="module")
def client(devnet):
    cfg = ChainConfig(chain_id=31337, rpc_urls=[devnet.url], multicall=devnet.book["multicall"],
                      multicall_kind="uniswap_interface")
    return ChainClient("devnet", cfg).connect()


def _read(devnet, client, *, now_s=None, twap_window_s=0, heartbeat_s=3600, max_dev=300):
    block = devnet.w3.eth.block_number
    market = read_market(client, devnet.book["aave"]["pool_addresses_provider"], block)
    now = now_s if now_s is not None else market.block_timestamp
    return read_oracles(client, market, now_s=now, heartbeat_s=lambda s: heartbeat_s, max_deviation_bps=max_dev,
                        twap_window_s=twap_window_s, factory=devnet.book["uniswap"]["factory"], pools=POOLS)


def test_fresh_feeds_agree_with_the_pools(chain, client):
    chain.refresh_feeds()
    readings = _read(chain, client)
    assert set(readings) == {"WETH", "WBTC", "USDC", "DAI", "wstETH", "LINK"}
    weth = readings["WETH"]
    feed = chain.feed("WETH")
    assert weth.answer == feed.functions.latestAnswer().call()
    assert weth.round_id == feed.functions.latestRound().call()
    assert weth.updated_at == feed.functions.latestTimestamp().call()
    assert not weth.stale and weth.age_s <= 5
    for sym in ("WETH", "WBTC", "wstETH", "LINK"):
        r = readings[sym]
        assert r.dex_spot_price is not None and r.deviation_bps is not None and r.deviation_bps < 30, (sym, r)
        assert not r.deviating


def test_stale_after_heartbeat_then_fresh_after_a_new_round(chain, client):
    chain.refresh_feeds()
    chain.node.call("evm_increaseTime", [3601])
    chain.mine(1)
    assert _read(chain, client)["WETH"].stale
    chain.set_price("WETH", 3000.0, arbitrage=False)  # a new round
    readings = _read(chain, client)
    assert not readings["WETH"].stale and readings["WBTC"].stale


def test_oracle_moved_without_the_dex_is_deviating(chain, client):
    chain.refresh_feeds()
    chain.set_price("WETH", 2700.0, arbitrage=False)  # -10% on the oracle, pools untouched
    r = _read(chain, client)["WETH"]
    assert r.deviating and r.deviation_bps == pytest.approx(1111, rel=0.02)  # 3000 vs 2700
    chain.set_price("WETH", 2700.0, arbitrage=True)
    assert not _read(chain, client)["WETH"].deviating


def test_twap_follows_with_a_lag_and_a_real_move_is_not_flagged(chain, client):
    chain.refresh_feeds()
    chain.node.call("evm_increaseTime", [600])  # ten quiet minutes of observations at 3000
    chain.mine(1)
    chain.set_price("WETH", 3000.0)  # fresh round, pools already there
    steady = _read(chain, client, twap_window_s=300)["WETH"]
    assert steady.dex_twap_price == pytest.approx(3000, rel=2e-3) and not steady.deviating
    chain.set_price("WETH", 2400.0)  # oracle and spot move together; the 5-minute TWAP still remembers 3000
    chain.node.call("evm_increaseTime", [30])
    chain.mine(1)
    moved = _read(chain, client, twap_window_s=300)["WETH"]
    assert moved.dex_spot_price == pytest.approx(2400, rel=2e-3)
    assert moved.dex_twap_price > 2800  # the 5-minute TWAP lags the move
    assert not moved.deviating  # oracle agrees with spot: a real move, the manager must be free to act
    chain.set_price("WETH", 3300.0, arbitrage=False)  # now the oracle alone jumps: far from spot and TWAP
    assert _read(chain, client, twap_window_s=300)["WETH"].deviating


# --- regression (issue 15): a price source without latestRoundData (Aave's own adapters and mocks) was
# reported as "stale ... heartbeat 0 s". It is read through Chainlink's older latestAnswer/latestTimestamp
# when it has them, and otherwise named for what it is (freshness cannot be checked).
LATEST_ANSWER, LATEST_TIMESTAMP, DECIMALS = 0x50D25BCD, 0x8205BF6A, 0x313CE567


def _source_code(answers: dict[int, int | None]) -> str:
    """EVM code answering each 4-byte selector with a constant (or ``TIMESTAMP`` for None); else revert."""
    head = bytearray([0x60, 0x00, 0x35, 0x60, 0xE0, 0x1C])  # selector = calldata[0:4]
    n = len(answers)
    dispatch_len = n * 10 + 4  # per selector: DUP1 PUSH4 sel EQ PUSH1 dest JUMPI; then PUSH1 0 DUP1 REVERT
    bodies, dests = bytearray(), []
    for value in answers.values():
        dests.append(len(head) + dispatch_len + len(bodies))
        push = [0x42] if value is None else [0x7F, *value.to_bytes(32, "big")]  # TIMESTAMP | PUSH32 value
        bodies += bytes([0x5B, *push, 0x60, 0x00, 0x52, 0x60, 0x20, 0x60, 0x00, 0xF3])
    code = bytearray(head)
    for sel, dest in zip(answers, dests, strict=True):
        code += bytes([0x80, 0x63, *sel.to_bytes(4, "big"), 0x14, 0x60, dest, 0x57])
    code += bytes([0x60, 0x00, 0x80, 0xFD]) + bodies
    return "0x" + code.hex()


def test_source_with_latest_answer_only_is_named(chain, client):
    chain.node.call("anvil_setCode", [chain.book["feeds"]["WETH"], _source_code({LATEST_ANSWER: chain.oracle_price("WETH"),
                                                                                 DECIMALS: 8})])
    r = _read(chain, client)["WETH"]
    assert r.stale and r.answer == 3000 * 10**8
    (issue,) = _reading_issues("WETH", r)
    assert "latestRoundData" in issue and "freshness cannot be checked" in issue and "heartbeat 0" not in issue


def test_legacy_source_with_timestamp_is_checked_for_freshness(chain, client):
    chain.node.call("anvil_setCode", [chain.book["feeds"]["WETH"], _source_code(
        {LATEST_ANSWER: chain.oracle_price("WETH"), LATEST_TIMESTAMP: None, DECIMALS: 8})])
    r = _read(chain, client)["WETH"]
    assert r.answer == 3000 * 10**8 and r.updated_at == r.block_timestamp and not r.stale, r
    assert r.heartbeat_s == 3600


def test_source_without_decimals_is_named(chain, client):
    chain.node.call("anvil_setCode", [chain.book["feeds"]["WETH"], _source_code(
        {LATEST_ANSWER: chain.oracle_price("WETH"), LATEST_TIMESTAMP: None})])
    r = _read(chain, client)["WETH"]
    (issue,) = _reading_issues("WETH", r)
    assert r.stale and "has no decimals()" in issue and "heartbeat" not in issue
