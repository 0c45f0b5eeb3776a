"""`posman executor deploy|grant|revoke|show` against the devnet, run as a user runs it (a real process)."""

from __future__ import annotations

import json
import re

import pytest

from manager.devnet.artifacts import Deployer
from manager.devnet.cli import render_config
from manager.devnet.deploy import fund_and_supply, token_units
from tests.atomic import helpers as H
from tests.cli_helpers import one_line_error, posman

pytestmark = [pytest.mark.chain]
KEY_ENV = "POSMAN_TEST_EXECUTOR_KEY"


def _config(net, d, user: str, executor: str | None = None) -> str:
    text = render_config(net.info(), d).replace("max_head_age_s = 300", "max_head_age_s = 604800")
    signer = f'[signers.spare3]\naddress = "{user}"\nkey_env = "{KEY_ENV}"\n'
    if executor:
        signer += f'executor = "{executor}"\n'
    text = text.replace("[[protocols]]", signer + "\n[[protocols]]", 1)
    text += (f'\n[[positions]]\nname = "spare3"\nprotocol = "aave"\naccount = "{user}"\nmode = "manage"\n'
             'strategy = "cdp_health"\nsigner = "spare3"\n[positions.params]\ntrigger_health = 1.25\n'
             'target_health = 1.5\nupper_health = 2.5\n')
    path = d / "executor.toml"
    path.write_text(text)
    return str(path)


def test_deploy_grant_show_revoke(chain, tmp_path):
    net = chain
    user, key = net.accounts["spare3"]
    d = Deployer(net.w3, net.address("deployer"))
    fund_and_supply(d, net.w3, net.book, user, [("WETH", 5)])
    pool = d.at("Pool", net.book["aave"]["pool"])
    d.send(pool.functions.borrow(net.book["tokens"]["USDC"], token_units(6_000, 6), 2, 0, user), sender=user)
    env = {KEY_ENV: key}

    path = _config(net, tmp_path, user)
    err = one_line_error(posman("executor", "show", "--config", path, env=env))
    assert "signers.spare3.executor is not set" in err and "posman executor deploy" in err

    nonce0 = net.w3.eth.get_transaction_count(user)
    proc = posman("executor", "deploy", "--config", path, "--dry-run", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "dry run: would send deploy PosmanExecutor" in proc.stdout
    assert net.w3.eth.get_transaction_count(user) == nonce0  # simulated only

    proc = posman("executor", "deploy", "--config", path, env=env)
    assert proc.returncode == 0, proc.stderr
    executor = re.search(r'executor = "(0x[0-9a-fA-F]{40})"', proc.stdout).group(1)
    ex = H.contract(net, "posman/PosmanExecutor", executor)
    assert ex.functions.OWNER().call() == user

    path = _config(net, tmp_path, user, executor)
    proc = posman("executor", "grant", "--config", path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "sent grant_withdraw_WETH" in proc.stdout and "sent grant_borrow_USDC" in proc.stdout
    r = H.reserves(net)
    a_weth = H.erc20(net, r["WETH"].a_token)
    coll = a_weth.functions.balanceOf(user).call()
    allowance = a_weth.functions.allowance(user, executor).call()
    assert coll <= allowance <= coll * 10_100 // 10_000 + 1  # the balance + 1 %, bounded
    delegation = H.contract(net, "aave_v3/VariableDebtToken", r["USDC"].variable_debt_token).functions \
        .borrowAllowance(user, executor).call()
    debt = H.debt_of(net, user, "USDC")
    assert debt - debt // 10**5 <= delegation <= debt  # the debt when granted (interest accrues since)

    proc = posman("executor", "show", "--config", path, "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    (doc,) = json.loads(proc.stdout)
    assert doc["executor"] == executor and doc["owner"] == user
    assert int(doc["aave"]["WETH"]["withdraw_cap_wei"]) == allowance
    assert int(doc["aave"]["USDC"]["borrow_cap_wei"]) == delegation

    # another key for this signer is refused before anything is simulated or sent
    bad = one_line_error(posman("executor", "revoke", "--config", path, env={KEY_ENV: net.accounts["bob"][1]}))
    assert "signers.spare3" in bad and "refusing to sign with the wrong key" in bad

    proc = posman("executor", "revoke", "--config", path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert a_weth.functions.allowance(user, executor).call() == 0
    (doc,) = json.loads(posman("executor", "show", "--config", path, "--json", env=env).stdout)
    assert all(g["withdraw_cap_wei"] == "0" and g["borrow_cap_wei"] == "0" for g in doc["aave"].values())
    assert "nothing to revoke" in posman("executor", "revoke", "--config", path, env=env).stdout


def test_grant_caps_and_a_bad_cap_is_one_line(chain, tmp_path):
    net = chain
    user, key = net.accounts["frank"]  # the devnet deployed and granted frank's executor
    executor = H.executor_of(net, "frank")
    path = _config(net, tmp_path, user, executor).replace('name = "spare3"', 'name = "frank3"')
    text = open(path).read().replace("spare3", "frank3")
    open(path, "w").write(text)
    env = {KEY_ENV: key}
    err = one_line_error(posman("executor", "grant", "--config", path, "--withdraw-cap", "WETH=lots", env=env))
    assert "--withdraw-cap 'WETH=lots'" in err
    err = one_line_error(posman("executor", "grant", "--config", path, "--borrow-cap", "XYZ=1", env=env))
    assert "SYM one of" in err
    proc = posman("executor", "grant", "--config", path, "--withdraw-cap", "WETH=1.5", "--borrow-cap", "DAI=0",
                  env=env)
    assert proc.returncode == 0, proc.stderr
    a_weth = H.erc20(net, H.reserves(net)["WETH"].a_token)
    assert a_weth.functions.allowance(user, executor).call() == 15 * 10**17


def test_an_executor_that_is_not_the_signers_is_refused(chain, tmp_path):
    net = chain
    user, key = net.accounts["frank"]
    env = {KEY_ENV: key}
    # carol's executor: a PosmanExecutor, but not frank's
    path = _config(net, tmp_path, user, H.executor_of(net, "carol"))
    err = one_line_error(posman("executor", "show", "--config", path, env=env))
    assert f"belongs to {net.address('carol')}, not to the signer {user}" in err
    # an address without code
    path = _config(net, tmp_path, user, net.address("spare2"))
    err = one_line_error(posman("executor", "grant", "--config", path, env=env))
    assert "no contract at that address" in err
