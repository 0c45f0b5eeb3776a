"""`posman plan` (issue 4): what the core would do now for each managed position; nothing is sent."""

from __future__ import annotations

import json

from tests.cli_helpers import one_line_error, posman

WAD = 10**18


def _managed_config(d, info, strategy_params: str) -> str:
    carol = info["accounts"]["carol"]["address"]
    text = (d / "devnet.toml").read_text()
    watch = f'name = "carol"\nprotocol = "aave"\naccount = "{carol}"\nmode = "watch"\nstrategy = "alert_only"'
    assert watch in text
    text = text.replace(watch, f'name = "carol"\nprotocol = "aave"\naccount = "{carol}"\nmode = "manage"\n'
                               f'strategy = "cdp_health"\nsigner = "carol"\n[positions.params]\n{strategy_params}')
    text = text.replace("[[protocols]]", f'[signers.carol]\naddress = "{carol}"\nkey_env = "POSMAN_KEY_CAROL"\n\n'
                                         "[[protocols]]", 1)
    path = d / "plan.toml"
    path.write_text(text)
    return str(path)


def test_plan_sizes_a_deleverage_from_pool_depth_and_sends_nothing(live):
    net, d, info = live
    path = _managed_config(d, info, "trigger_health = 1.25\ntarget_health = 1.5")
    carol = info["accounts"]["carol"]["address"]
    block, nonce = net.w3.eth.block_number, net.w3.eth.get_transaction_count(carol)
    proc = posman("plan", "--config", path, "--json", env={"POSMAN_KEY_CAROL": info["accounts"]["carol"]["private_key"]})
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)
    assert row["position"] == "carol" and row["action"] == "deleverage" and row["feasible"]
    assert 1.18 < row["health"] < 1.19 and row["projected_health"] >= 1.5 - 1e-3
    kinds = [s["kind"] for s in row["steps"]]
    assert kinds[:3] == ["withdraw", "swap", "repay"] and {s["symbol"] for s in row["steps"]} == {"WETH", "USDC"}
    assert "no depth curve" not in row["reason"]  # sized from the real pool, read at the same block
    assert net.w3.eth.block_number == block and net.w3.eth.get_transaction_count(carol) == nonce  # nothing sent


def test_plan_refuses_crossing_bands_in_one_line(live):
    _net, d, info = live
    path = _managed_config(d, info, "trigger_health = 1.6\ntarget_health = 1.5")
    line = one_line_error(posman("plan", "--config", path,
                                 env={"POSMAN_KEY_CAROL": info["accounts"]["carol"]["private_key"]}))
    assert "plan.toml:" in line and "target_health" in line
