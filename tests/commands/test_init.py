"""`posman init`: the address table is what its npm sources say, and the config init writes is accepted by the
loader unchanged, with the table's addresses, for every known chain; on the devnet (its devnet.json as the
address table) `posman status` reads the written config and finds the same health as the devnet's own config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from manager.commands.init import Account, pick_markets, protocol_name, render_config
from manager.config import load_config, parse_config
from manager.data import TABLE_PATH, chain_entry, load_table
from manager.data.gen_addresses import generate
from tests.cli_helpers import one_line_error, posman, posman_here

ALICE = "0x1111111111111111111111111111111111111111"
BOB = "0x2222222222222222222222222222222222222222"


def test_committed_table_equals_regenerated_from_pinned_npm_packages():
    table = json.loads(TABLE_PATH.read_text())
    pins = json.loads((Path(__file__).resolve().parents[2] / "package.json").read_text())["dependencies"]
    assert table["sources"] == {k: pins[k] for k in table["sources"]}  # versions recorded = versions pinned
    assert TABLE_PATH.read_text() == generate()


def test_table_has_the_main_markets():
    table = load_table()
    eth = chain_entry(table, 1)
    assert eth["aave_v3"][0]["market"] == "AaveV3Ethereum" and eth["morpho_blue"]["morpho"]
    assert eth["multicall3"] == "0xcA11bde05977b3631167028862bE2a173976CA11"
    assert {1, 10, 137, 8453, 42161} <= {int(k) for k, c in table["chains"].items() if c["aave_v3"]}


def test_every_known_chain_gives_a_config_the_loader_accepts_with_the_table_addresses():
    table = load_table()
    accounts = [Account("me", ALICE)]
    for entry in table["chains"].values():
        markets = pick_markets(entry, ["all"])
        cfg = parse_config(render_config(entry, accounts, markets, rpc_urls=[], sources=table["sources"]))
        chain = cfg.chains[entry["name"]]
        assert chain.chain_id == entry["chain_id"]
        if entry["multicall3"]:
            assert chain.multicall == entry["multicall3"] and chain.multicall_kind == "multicall3"
        aave = {p.name: p.pool_addresses_provider for p in cfg.protocols if p.kind == "aave_v3"}
        assert aave == {protocol_name(m["market"]): m["pool_addresses_provider"] for m in markets}
        uni = [p for p in cfg.protocols if p.kind == "uniswap_v3"]
        if entry["uniswap_v3"]:
            (u,) = uni
            t = entry["uniswap_v3"]
            assert (u.factory, u.swap_router, u.quoter, u.tick_lens) == (t["factory"], t["swap_router_02"], t["quoter"],
                                                                         t["tick_lens"])
            assert u.router_kind == "swap_router02"  # sdk-core's router is SwapRouter02; posman speaks it
        assert len(cfg.positions) == len(markets) and all(p.mode == "watch" for p in cfg.positions)


def test_init_known_chain_offline(tmp_path, capsys):
    out = tmp_path / "me.toml"
    proc = posman("init", "--chain-id", "8453", "--account", ALICE, "--account", f"bob={BOB}", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "missing  no signer" in proc.stdout
    cfg = load_config(out)  # accepted unchanged
    base = chain_entry(load_table(), 8453)
    (aave,) = [p for p in cfg.protocols if p.kind == "aave_v3"]
    assert aave.pool_addresses_provider == base["aave_v3"][0]["pool_addresses_provider"]
    assert cfg.chains["base"].multicall == base["multicall3"]
    assert sorted(p.account for p in cfg.positions) == [ALICE, BOB]
    (u,) = [p for p in cfg.protocols if p.kind == "uniswap_v3"]
    assert (u.swap_router, u.router_kind) == (base["uniswap_v3"]["swap_router_02"], "swap_router02")
    assert 'router_kind = "swap_router02"' in out.read_text()
    # never overwrites without --force; bad input is one line
    again = posman_here(capsys, "init", "--chain-id", "8453", "--account", ALICE, "--out", str(out))
    assert one_line_error(again) == f"error: {out} exists; pass --force to overwrite it"
    assert posman_here(capsys, "init", "--chain-id", "8453", "--account", ALICE, "--out", str(out), "--force").returncode == 0
    assert "not an address" in one_line_error(posman_here(capsys, "init", "--chain-id", "1", "--account", "0x12", "--out",
                                                     str(tmp_path / "x.toml")))
    assert "is not in the address table" in one_line_error(posman_here(capsys, "init", "--chain-id", "7", "--account", ALICE,
                                                                   "--out", str(tmp_path / "x.toml")))
    assert "no such Aave V3 market" in one_line_error(posman_here(capsys, "init", "--chain-id", "1", "--account", ALICE,
                                                             "--market", "AaveV3Nowhere", "--out",
                                                             str(tmp_path / "x.toml")))


@pytest.mark.chain
def test_init_on_the_devnet_is_accepted_by_status(live, tmp_path, capsys):
    _net, d, info = live
    (tmp_path / "devnet.json").write_text(json.dumps(info))
    alice, carol = info["accounts"]["alice"]["address"], info["accounts"]["carol"]["address"]
    out = tmp_path / "mine.toml"
    proc = posman_here(capsys, "init", "--rpc-url", info["rpc_url"], "--addresses", str(tmp_path / "devnet.json"),
                  "--account", f"alice={alice}", "--account", f"carol={carol}", "--out", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["chain_id"] == info["chain_id"] and report["checked"]
    assert report["positions"] == ["alice-devnet", "carol-devnet"]
    assert any("no signer" in m for m in report["missing"])
    assert not [m for m in report["missing"] if "no code" in m or "read failed" in m], report["missing"]
    cfg = load_config(out)
    assert cfg.chains["devnet"].multicall == info["multicall"]
    (u,) = [p for p in cfg.protocols if p.kind == "uniswap_v3"]
    assert (u.swap_router, u.router_kind) == (info["uniswap"]["router"], "swap_router")  # the devnet's v1 router
    assert f"uniswap.swap_router {u.swap_router} is a swap_router:" in " ".join(report["ok"])
    assert cfg.pools, "the pools of the positions' collateral/debt pairs are watched"
    mine = json.loads(posman_here(capsys, "status", "--config", str(out), "--json").stdout)
    theirs = {r["name"]: r for r in json.loads(posman_here(capsys, "status", "--config", str(d / "devnet.toml"), "--json").stdout)}
    for row in mine:
        seed = row["name"].removesuffix("-devnet")
        assert row["account"] == theirs[seed]["account"] and row["block_number"] == theirs[seed]["block_number"]
        assert row["health_factor_wad"] == theirs[seed]["health_factor_wad"]


@pytest.mark.chain
def test_init_writes_and_checks_swap_router02_and_names_a_router_that_is_neither(live, tmp_path, capsys):
    _net, _d, info = live
    alice = info["accounts"]["alice"]["address"]
    outcomes = {}
    for name, router02 in (("real", info["uniswap"]["router02"]), ("quoter", info["uniswap"]["quoter"])):
        table = {**info, "uniswap": {**info["uniswap"], "router": None, "router02": router02}}  # like sdk-core's
        (tmp_path / f"{name}.json").write_text(json.dumps(table))
        out = tmp_path / f"{name}.toml"
        proc = posman_here(capsys, "init", "--rpc-url", info["rpc_url"], "--addresses", str(tmp_path / f"{name}.json"),
                           "--account", f"alice={alice}", "--out", str(out), "--json")
        assert proc.returncode == 0, proc.stderr
        (u,) = [p for p in load_config(out).protocols if p.kind == "uniswap_v3"]
        assert (u.swap_router, u.router_kind) == (router02, "swap_router02")
        outcomes[name] = json.loads(proc.stdout)
    assert f"uniswap.swap_router {info['uniswap']['router02']} is a swap_router02:" in " ".join(outcomes["real"]["ok"])
    assert not [m for m in outcomes["real"]["missing"] if "swap_router" in m]
    (bad,) = [m for m in outcomes["quoter"]["missing"] if "swap_router" in m]
    assert "is neither a SwapRouter nor a SwapRouter02" in bad and "managed positions cannot swap" in bad


@pytest.mark.chain
def test_find_pools_finds_the_pool_of_a_pair_and_skips_pairs_without_one(live):
    from manager.chain.client import ChainClient
    from manager.commands.init import find_pools

    _net, d, info = live
    cfg = load_config(d / "devnet.toml")
    client = ChainClient.from_config(cfg, "devnet").connect()
    block = client.block_number()
    weth, usdc = info["tokens"]["WETH"], info["tokens"]["USDC"]
    nowhere = "0x000000000000000000000000000000000000dEaD"
    found = find_pools(client, info["uniswap"]["factory"], {(weth, usdc, "WETH", "USDC"), (weth, nowhere, "WETH", "X")},
                       block)
    assert list(found) == [("WETH", "USDC")]
    fees = {int(k.split("/")[2]) for k in info["uniswap"]["pools"] if set(k.split("/")[:2]) == {"WETH", "USDC"}}
    assert found[("WETH", "USDC")] in fees
