"""Reads and the interest accrual equal the contract's own bookkeeping, to the unit, on real Morpho.sol."""

from __future__ import annotations

import pytest

from manager.protocols.morpho_blue.status import status_row
from tests.morpho.conftest import morpho_contract, params_of, read_one


def test_snapshot_equals_raw_views(devnet, client):
    acct = devnet.address("manager4")
    snap = read_one(devnet, client, acct, "WETH/USDC")
    m = morpho_contract(devnet)
    mid = bytes.fromhex(snap.market_id[2:])
    block = snap.block_number
    tsa, tss, tba, tbs, last, fee = m.functions.market(mid).call(block_identifier=block)
    assert (snap.market.total_supply_assets, snap.market.total_supply_shares, snap.market.total_borrow_assets,
            snap.market.total_borrow_shares, snap.last_update, snap.fee_wad) == (tsa, tss, tba, tbs, last, fee)
    ss, bs, coll = m.functions.position(mid, acct).call(block_identifier=block)
    assert (snap.position.supply_shares, snap.position.borrow_shares, snap.position.collateral_wei) == (ss, bs, coll)
    assert snap.params == params_of(devnet, "WETH/USDC")
    assert snap.loan_symbol == "USDC" and snap.collateral_symbol == "WETH"
    assert snap.oracle_fresh and snap.loan_price_usd == 1.0 and snap.collateral_price_usd == 3000.0


@pytest.mark.parametrize("key,elapsed_s", [("WETH/USDC", 1), ("WETH/USDC", 86_400 * 90), ("wstETH/USDC", 3_600),
                                           ("WBTC/USDC", 86_400 * 400)])
def test_accrual_is_exact(chain, client, key, elapsed_s):
    """market_at(t) == the totals Morpho books when accrueInterest is mined at t (fee path included)."""
    snap = read_one(chain, client, chain.address("manager3" if key != "WETH/USDC" else "manager4"), key)
    t = snap.block_timestamp + elapsed_s
    expected = snap.market_at(t)
    m = morpho_contract(chain)
    chain.node.call("evm_setNextBlockTimestamp", [t])
    chain.transact(m.functions.accrueInterest(snap.params.as_tuple()))
    tsa, tss, tba, tbs, last, _fee = m.functions.market(bytes.fromhex(snap.market_id[2:])).call()
    assert last == t
    assert (expected.total_supply_assets, expected.total_supply_shares, expected.total_borrow_assets,
            expected.total_borrow_shares) == (tsa, tss, tba, tbs)
    assert tba > snap.market.total_borrow_assets


def test_status_row(devnet, client):
    snap = read_one(devnet, client, devnet.address("manager4"), "WETH/USDC")
    row = status_row(snap)
    assert row["protocol"] == "morpho_blue" and row["liquidation_threshold"] == 0.915 == row["ltv"]
    assert row["collateral_usd"] == pytest.approx(30_000)
    assert row["debt_usd"] == pytest.approx(23_000, rel=1e-6)
    assert row["health_factor"] == pytest.approx(30_000 * 0.915 / 23_000, rel=1e-6)
    liq = row["liquidation_prices"]["WETH"]
    assert liq == pytest.approx(23_000 / (10 * 0.915), rel=1e-6)
    assert row["distance_to_liquidation_pct"] == pytest.approx((1 - liq / 3000) * 100, rel=1e-6)
    assert row["available_borrows_usd"] == pytest.approx(30_000 * 0.915 - 23_000, rel=1e-6)
    assert row["oracle_fresh"] is True


def test_config_entry_and_read_positions(devnet, client, tmp_path):
    """A ``kind = "morpho_blue"`` entry loads, and ``read_positions`` reads its positions at one block."""
    from manager.config import load_config
    from manager.protocols.morpho_blue.reads import read_positions

    mid = devnet.book["morpho"]["markets"]["WETH/USDC"]["id"]
    acct = devnet.address("manager4")
    path = tmp_path / "c.toml"
    path.write_text(f"""version = 1
[chains.devnet]
chain_id = 31337
rpc_urls = ["{devnet.url}"]
[[protocols]]
name = "morpho-weth"
kind = "morpho_blue"
chain = "devnet"
morpho = "{devnet.book["morpho"]["morpho"]}"
market_id = "{mid.upper().replace("0X", "0x")}"
[[positions]]
name = "m4"
protocol = "morpho-weth"
account = "{acct}"
""")
    cfg = load_config(path)
    proto = cfg.protocol("morpho-weth")
    assert proto.market_id == mid and devnet.book["morpho"]["morpho"] in cfg.allowed_contracts("devnet")
    (snap,) = read_positions(client, proto, cfg.positions, devnet.w3.eth.block_number)
    assert snap.name == "m4" and snap.account == acct and snap.position.borrow_shares > 0


def test_loan_model_after_equals_morpho_bookkeeping(chain, client):
    """``MorphoLoanModel.after`` (the one solver's view of a borrow / repay / collateral move) books exactly what
    Morpho.sol books: shares minted up on a borrow, burned down on a repay, and the health ``_isHealthy`` reads."""
    acct = chain.address("manager4")
    snap = read_one(chain, client, acct, "WETH/USDC")
    m = morpho_contract(chain)
    params = snap.params.as_tuple()
    approve = [{"type": "function", "name": "approve", "stateMutability": "nonpayable", "outputs": [{"type": "bool"}],
                "inputs": [{"name": "spender", "type": "address"}, {"name": "amount", "type": "uint256"}]}]
    token = {"USDC": chain.w3.eth.contract(address=snap.params.loan_token, abi=approve),
             "WETH": chain.w3.eth.contract(address=snap.params.collateral_token, abi=approve)}
    steps = (("borrow", "USDC", 2_345 * 10**6 + 7), ("repay", "USDC", 1_111 * 10**6 + 3),
             ("withdraw", "WETH", 10**18 + 5), ("supply", "WETH", 3 * 10**17 + 1))
    for kind, sym, amount in steps:
        if kind in ("repay", "supply"):
            chain.transact(token[sym].functions.approve(m.address, amount), sender=acct)
        head = chain.w3.eth.get_block("latest")["timestamp"]
        t = head + 1
        model = snap.model_copy(update={"block_timestamp": t}).loan_model()  # the market accrued to the tx's block
        signed = -amount if kind in ("repay", "withdraw") else amount
        expected = (model.after(None, {sym: signed}) if sym == "USDC" else model.after({sym: signed}))
        call = {"borrow": m.functions.borrow(params, amount, 0, acct, acct),
                "repay": m.functions.repay(params, amount, 0, acct, b""),
                "withdraw": m.functions.withdrawCollateral(params, amount, acct, acct),
                "supply": m.functions.supplyCollateral(params, amount, acct, b"")}[kind]
        chain.node.call("evm_setNextBlockTimestamp", [t])
        chain.transact(call, sender=acct)
        snap = read_one(chain, client, acct, "WETH/USDC")
        assert snap.block_timestamp == t
        got = snap.loan_model()
        assert got.position == expected.position, kind
        assert (got.market.total_borrow_assets, got.market.total_borrow_shares) == (
            expected.market.total_borrow_assets, expected.market.total_borrow_shares), kind
        assert got.health_wad() == expected.health_wad(), kind
