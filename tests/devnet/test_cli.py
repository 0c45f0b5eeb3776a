"""`posman devnet up|price|down` as a user runs them: real processes, one-line errors, no orphans."""

from __future__ import annotations

import json
import os
import socket
import tomllib

import pytest

from tests.cli_helpers import one_line_error, posman


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    state = tmp_path_factory.mktemp("devnet")
    up = posman("devnet", "up", "--state-dir", str(state), "--block-time", "0")
    assert up.returncode == 0, up.stderr
    yield state
    posman("devnet", "down", "--state-dir", str(state))


def test_up_writes_info_and_config(running):
    info = json.loads((running / "devnet.json").read_text())
    for key in ("rpc_url", "chain_id", "multicall"):
        assert info[key]
    for key in ("pool", "pool_addresses_provider", "oracle", "data_provider", "pool_configurator"):
        assert info["aave"][key].startswith("0x") and info["aave_v30"][key].startswith("0x")
        assert info["aave"][key] != info["aave_v30"][key]
    assert (info["aave"]["version"], info["aave"]["pool_revision"]) == ("3.6", 10)  # the default market
    assert (info["aave_v30"]["version"], info["aave_v30"]["pool_revision"]) == ("3.0", 1)
    for key in ("factory", "router", "quoter"):
        assert info["uniswap"][key].startswith("0x")
    assert set(info["tokens"]) >= {"WETH", "WBTC", "USDC", "DAI", "wstETH"} and set(info["feeds"]) == set(info["tokens"])
    assert info["accounts"]["alice"]["address"].startswith("0x") and info["accounts"]["alice"]["private_key"]
    cfg = tomllib.loads((running / "devnet.toml").read_text())
    (aave,) = [p for p in cfg["protocols"] if p["kind"] == "aave_v3"]
    assert aave["pool_addresses_provider"] == info["aave"]["pool_addresses_provider"] and aave["version"] == "3.6"
    assert {p["name"] for p in cfg["positions"]} >= {"alice", "bob", "carol"}
    from manager.config import load_config

    assert len(load_config(running / "devnet.toml").positions) == len(cfg["positions"])


def test_seeded_health_levels(running):
    from web3 import Web3

    from manager.chain.abi import load_abi

    info = json.loads((running / "devnet.json").read_text())
    w3 = Web3(Web3.HTTPProvider(info["rpc_url"]))
    pool = w3.eth.contract(address=info["aave"]["pool"], abi=load_abi("aave_v3/Pool"))
    hfs = {n: pool.functions.getUserAccountData(info["accounts"][n]["address"]).call()[5] / 1e18
           for n in ("alice", "bob", "carol", "dave")}
    assert min(hfs.values()) < 1.25 and max(hfs.values()) > 1.8, hfs


def test_price_moves_the_aave_oracle(running):
    proc = posman("devnet", "price", "--state-dir", str(running), "WBTC", "55000")
    assert proc.returncode == 0, proc.stderr
    assert "Aave oracle reports 55000 USD" in proc.stdout


@pytest.mark.parametrize(("symbol", "usd", "needle"), [("NOPE", "1", "unknown asset 'NOPE'"),
                                                       ("WETH", "-1", "positive"),
                                                       ("WETH", "abc", "must be a number")])
def test_price_bad_input(running, symbol, usd, needle):
    line = one_line_error(posman("devnet", "price", "--state-dir", str(running), symbol, usd))
    assert needle in line


def test_up_twice_refused(running):
    assert "already running" in one_line_error(posman("devnet", "up", "--state-dir", str(running)))


def test_taken_port_is_reported(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        line = one_line_error(posman("devnet", "up", "--state-dir", str(tmp_path), "--port", str(port)))
    assert f"port {port}" in line and "taken" in line


def test_missing_npm_parts_tell_user_to_set_up(tmp_path):
    line = one_line_error(posman("devnet", "up", "--state-dir", str(tmp_path),
                                  env={"POSMAN_ANVIL": str(tmp_path / "no-anvil")}))
    assert "make setup" in line


def test_down_stops_the_process(tmp_path):
    assert posman("devnet", "up", "--state-dir", str(tmp_path), "--block-time", "0").returncode == 0
    pid = json.loads((tmp_path / "devnet.json").read_text())["anvil"]["pid"]
    assert posman("devnet", "down", "--state-dir", str(tmp_path)).returncode == 0
    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    line = one_line_error(posman("devnet", "price", "--state-dir", str(tmp_path), "WETH", "1000"))
    assert "not reachable" in line
