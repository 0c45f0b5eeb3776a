"""`posman status` as a user runs it: exact numbers on the real contracts, one-line errors on bad input."""

from __future__ import annotations

import json
import socket

import pytest

from tests.cli_helpers import one_line_error, posman


def test_status_json_equals_get_user_account_data(live):
    net, d, info = live
    proc = posman("status", "--config", str(d / "devnet.toml"), "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    aave = [r for r in rows if r["protocol"] == "aave_v3"]
    assert {r["name"] for r in aave} == {"alice", "bob", "carol", "dave", "erin", "frank", "gina"}
    morpho = [r for r in rows if r["protocol"] == "morpho_blue"]
    assert len(morpho) == 3 and all(1.0 < r["health_factor"] < 2.0 for r in morpho)
    pool = net.contract("aave_v3/Pool", info["aave"]["pool"])
    for r in aave:
        for key in ("name", "protocol", "account", "block_number", "collateral_usd", "debt_usd", "health_factor",
                    "ltv", "liquidation_threshold", "available_borrows_usd", "liquidation_prices",
                    "distance_to_liquidation_pct", "oracle_fresh"):
            assert key in r
        onchain = pool.functions.getUserAccountData(r["account"]).call(block_identifier=r["block_number"])
        assert r["total_collateral_base"] == onchain[0]
        assert r["total_debt_base"] == onchain[1]
        assert r["available_borrows_base"] == onchain[2]
        assert round(r["liquidation_threshold"] * 10_000) == onchain[3]
        assert round(r["ltv"] * 10_000) == onchain[4]
        assert int(r["health_factor_wad"]) == onchain[5]
        assert r["oracle_fresh"] is True
    carol = next(r for r in rows if r["name"] == "carol")
    assert carol["health_factor"] < 1.25 and carol["liquidation_prices"]["WETH"] == pytest.approx(2530.12, abs=0.01)
    # v3.6 rules, the pool's flash-loan premium, and the worst liquidation under the v3.3+ rules
    assert {r["protocol_version"] for r in aave} == {"3.6"} and {r["flash_loan_premium_bps"] for r in aave} == {5}
    liq = carol["liquidation"]
    assert (liq["collateral"], liq["debt"], liq["close_factor"], liq["liquidatable_now"]) == ("WETH", "USDC", 0.5,
                                                                                               False)
    assert liq["max_repay"] == pytest.approx(21_000, rel=1e-3) and liq["loss_usd"] > 0


def test_status_json_equals_get_user_account_data_on_v30(live, tmp_path):
    """The same exactness on the v3.0 market (``aave_v30``), for a position opened there."""
    from manager.devnet.artifacts import Deployer
    from manager.devnet.deploy import fund_and_supply

    net, d, info = live
    snap = net.snapshot()
    try:
        user = net.address("spare3")
        book = {**net.book, "aave": net.book["aave_v30"]}
        fund_and_supply(Deployer(net.w3, net.address("deployer")), net.w3, book, user, [("WETH", 4), ("WBTC", 0.1)])
        pool = net.contract("aave_v3/Pool", info["aave_v30"]["pool"])
        net.transact(pool.functions.borrow(net.book["tokens"]["USDC"], 9_000 * 10**6, 2, 0, user), sender=user)
        cfg = (d / "devnet.toml").read_text().replace(info["aave"]["pool_addresses_provider"],
                                                      info["aave_v30"]["pool_addresses_provider"])
        cfg = cfg.replace('version = "3.6"', 'version = "3.0"')
        cfg = cfg[: cfg.index("[[positions]]")]  # the seeded positions live on the v3.6 market
        cfg += f'\n[[positions]]\nname = "old"\nprotocol = "aave"\naccount = "{user}"\nmode = "watch"\n' \
               'strategy = "alert_only"\n'
        (tmp_path / "v30.toml").write_text(cfg)
        proc = posman("status", "--config", str(tmp_path / "v30.toml"), "--json")
        assert proc.returncode == 0, proc.stderr
        (row,) = [r for r in json.loads(proc.stdout) if r["name"] == "old"]
        onchain = pool.functions.getUserAccountData(user).call(block_identifier=row["block_number"])
        assert (row["total_collateral_base"], row["total_debt_base"], row["available_borrows_base"],
                int(row["health_factor_wad"])) == (onchain[0], onchain[1], onchain[2], onchain[5])
        assert row["protocol_version"] == "3.0" and row["flash_loan_premium_bps"] == 9
    finally:
        net.revert(snap)


def test_status_table(live):
    _net, d, _info = live
    proc = posman("status", "--config", str(d / "devnet.toml"))
    assert proc.returncode == 0, proc.stderr
    assert "carol" in proc.stdout and "1.1857" in proc.stdout


def test_stale_oracle_is_reported(live, tmp_path):
    net, d, _info = live
    snap = net.snapshot()
    try:
        net.node.call("evm_increaseTime", [90_000])  # past the 86,400 s heartbeat, no new round
        net.mine(1)
        proc = posman("status", "--config", str(d / "devnet.toml"), "--json")
        rows = json.loads(proc.stdout)
        assert all(r["oracle_fresh"] is False for r in rows)
        assert any("stale" in issue for r in rows for issue in r["oracle_issues"])
    finally:
        net.revert(snap)


def _config(tmp_path, text):
    path = tmp_path / "c.toml"
    path.write_text(text)
    return str(path)


def test_bad_inputs(live, tmp_path):
    _net, d, info = live
    good = (d / "devnet.toml").read_text()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    cases = {
        "unreachable": (good.replace(info["rpc_url"], f"http://127.0.0.1:{dead}"), "127.0.0.1"),
        "chain id": (good.replace("chain_id = 31337", "chain_id = 1"), "chain id"),
        "not a contract": (good.replace(info["aave"]["pool_addresses_provider"], info["accounts"]["spare3"]["address"]),
                           "not a contract"),
        "no position": (good.replace(info["accounts"]["alice"]["address"], info["accounts"]["spare2"]["address"]),
                        "has no position"),
        "unknown asset": (good.replace('token_in = "LINK"', 'token_in = "LNK"', 1), "unknown asset 'LNK'"),
        "malformed": (good.replace("[storage]", "[storage"), "invalid TOML"),
        "unknown key": (good.replace("max_retries = 3", "max_retrys = 3"), "max_retries"),
    }
    for name, (text, needle) in cases.items():
        line = one_line_error(posman("status", "--config", _config(tmp_path, text)))
        assert needle in line, (name, line)
        if name in ("malformed", "unknown key", "unknown asset"):
            assert ":" in line.split("error: ", 1)[1].split(" ", 1)[0], (name, line)  # file:line


def test_missing_config_file(tmp_path):
    assert "does not exist" in one_line_error(posman("status", "--config", str(tmp_path / "nope.toml")))


def test_lending_position_hedged_with_a_perp_shows_one_view(live):
    _net, d, _info = live
    proc = posman("status", "--config", str(d / "devnet.toml"), "--json")
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    alice, perp = rows["alice"], rows["perp_alice_eth"]  # 10 WETH long on Aave, short 5 ETH perp
    assert alice["hedge"] == perp["hedge"]
    h = alice["hedge"]
    assert h["underlying"] == "ETH" and h["hedge_ratio"] == pytest.approx(0.5, abs=1e-6)
    assert h["net_exposure_usd"]["ETH"] == pytest.approx(30_000 - 15_000, rel=1e-6)  # collateral - perp short
    assert h["liquidation_move_down"] < 0 < h["liquidation_move_up"]
    assert h["binding_leg_down"] == "lending" and h["binding_leg_up"] == "perp"
    assert "hedge" not in rows["bob"]
    table = posman("status", "--config", str(d / "devnet.toml")).stdout
    assert "hedge alice + perp_alice_eth" in table
