"""`posman multicall deploy` on the devnet (which has no Multicall3): the creation is simulated, sent, and the
deployed contract is the canonical Multicall3 (the table's creation code is viem's, byte for byte the tests'
copy); a config using it is read by `posman status` like the devnet's own."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from manager.data import load_table
from tests.cli_helpers import one_line_error, posman, posman_here

TESTS_COPY = Path(__file__).resolve().parents[1] / "chain" / "data" / "Multicall3.creation.hex"


def test_creation_code_is_the_canonical_one():
    code = load_table()["multicall3_creation_code"]
    assert code == TESTS_COPY.read_text().strip()
    assert hashlib.sha256(TESTS_COPY.read_bytes()).hexdigest() == \
        "07048d029c96d0d000a6b5a1c023c0df621c0221cd07cd259bdd4474870d505e"


def test_deploy_on_the_devnet_then_status_reads_through_it(live, tmp_path, capsys, monkeypatch):
    net, d, info = live
    url = info["rpc_url"]
    spare = info["accounts"]["spare3"]
    with net.reverted():
        assert posman_here(capsys, "multicall", "check", "--rpc-url", url).returncode == 1  # none at the canonical address
        assert "exactly one of --key-env" in one_line_error(
            posman_here(capsys, "multicall", "deploy", "--rpc-url", url, "--from", spare["address"]))
        proc = posman("multicall", "deploy", "--rpc-url", url, "--from", spare["address"], "--key-env", "DEPLOY_KEY",
                      "--json", env={"DEPLOY_KEY": spare["private_key"]})  # a real process: the key from its env
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout)
        assert spare["private_key"][2:] not in proc.stdout + proc.stderr
        receipt = net.w3.eth.get_transaction_receipt(out["tx_hash"])
        assert receipt["status"] == 1 and receipt["contractAddress"] == out["address"]
        check = posman_here(capsys, "multicall", "check", "--rpc-url", url, "--address", out["address"])
        assert check.returncode == 0 and "answers" in check.stdout
        # a config reading through the deployed Multicall3 (aggregate3) sees what the devnet's own config sees
        mine = dict(info, multicall=out["address"], multicall_kind="multicall3")
        (tmp_path / "devnet.json").write_text(json.dumps(mine))
        cfg = tmp_path / "mc3.toml"
        init = posman_here(capsys, "init", "--rpc-url", url, "--addresses", str(tmp_path / "devnet.json"), "--account",
                      f"carol={info['accounts']['carol']['address']}", "--out", str(cfg))
        assert init.returncode == 0, init.stderr
        assert f'multicall = "{out["address"]}"' in cfg.read_text() and 'multicall_kind = "multicall3"' in cfg.read_text()
        rows = json.loads(posman_here(capsys, "status", "--config", str(cfg), "--json").stdout)
        theirs = {r["name"]: r for r in json.loads(posman_here(capsys, "status", "--config", str(d / "devnet.toml"), "--json").stdout)}
        (carol,) = rows
        assert carol["health_factor_wad"] == theirs["carol"]["health_factor_wad"]
