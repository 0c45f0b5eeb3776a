"""On the real devnet: a restart in the middle of a plan resumes without a duplicate action, ``--dry-run``
sends nothing and says what it would send, bad configs are refused at start with one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from manager.config import load_config
from manager.demo.scenario import POSITIONS, DemoPosition, environ_for, move_eth, onchain_health
from manager.runtime.lifecycle import build_manager
from tests.e2e.helpers import CDP, ROOT, demo_config

pytestmark = pytest.mark.chain

WATCHED = next(p for p in POSITIONS if p.name == "watched")


class Crash(BaseException):
    """Stands for the process dying (kill -9) right after a signed transaction was stored."""


def _setup(net, tmp_path, positions=(CDP,), **params):
    specs = tuple(p if p.name not in params else DemoPosition(**{**p.__dict__, "params": params[p.name]})
                  for p in positions)
    return demo_config(net, tmp_path, specs, opened=positions)


def test_restart_mid_plan_resumes_without_a_duplicate_action(net, tmp_path):
    path = _setup(net, tmp_path)
    account = net.address(CDP.account_name)
    move_eth(net, 2500)  # cdp HF ~1.34 < trigger 1.35
    assert onchain_health(net, account) < 1.35
    nonce0 = net.w3.eth.get_transaction_count(account)
    cfg = load_config(path)
    env = environ_for(net, (CDP,))

    def crash_after_store(prepared):
        raise Crash(prepared.tx_hash)

    first = build_manager(cfg, environ=env, executor_tweaks=lambda ex: setattr(ex.hooks, "after_store", crash_after_store))
    with pytest.raises(Crash):
        first.runtime.tick()
    first.close()
    (plan1,) = first.repo.actions_for("cdp")
    stored = first.repo.transactions_for(plan1.plan_id)
    # the whole plan was stored (one transaction per step, consecutive nonces) before anything was sent
    assert [t.step_index for t in stored] == list(range(len(plan1.steps_json)))
    assert [t.nonce for t in stored] == list(range(nonce0, nonce0 + len(stored)))
    assert net.w3.eth.get_transaction_count(account) == nonce0  # died before the broadcast

    second = build_manager(cfg, environ=env)  # recovery re-broadcasts the stored bytes, never re-signs
    try:
        for _ in range(4):  # re-plans from fresh state until the position is back at its target
            report = second.runtime.tick()
            assert report.ok
            if report.positions["cdp"].action == "none":
                break
    finally:
        second.close()
    repo = second.repo
    plans = list(reversed(repo.actions_for("cdp")))
    assert plans[0].plan_id == plan1.plan_id and plans[0].status in ("confirmed", "failed")
    assert [t.tx_hash for t in repo.transactions_for(plan1.plan_id)] == [t.tx_hash for t in stored]  # never re-signed
    assert net.w3.eth.get_transaction_receipt(stored[0].tx_hash)["status"] == 1
    txs = [t for p in plans for t in repo.transactions_for(p.plan_id)]
    assert len({t.nonce for t in txs}) == len(txs) == len({t.tx_hash for t in txs})
    included = [t for t in txs if t.status == "included"]
    # every transaction the account ever sent is one the store knows, each mined once: nothing sent twice
    assert net.w3.eth.get_transaction_count(account) == nonce0 + len(included)
    assert all(net.w3.eth.get_transaction_receipt(t.tx_hash)["status"] == 1 for t in included)
    assert {t.status for t in txs} <= {"included", "dropped"}  # a dropped one was never re-broadcast
    assert onchain_health(net, account) >= 1.0
    assert report.positions["cdp"].action == "none"
    assert onchain_health(net, account) >= 1.6 - 0.01


def _posman(*args, env=None):
    full = {**os.environ, **(env or {}), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "manager", *args], capture_output=True, text=True, env=full,
                          cwd=ROOT, timeout=120)


def test_dry_run_sends_nothing_and_says_what_it_would_send(net, tmp_path):
    path = _setup(net, tmp_path)
    account = net.address(CDP.account_name)
    move_eth(net, 2500)
    nonce0, block0 = net.w3.eth.get_transaction_count(account), net.w3.eth.block_number
    out = _posman("run", "--config", str(path), "--dry-run", "--once", env=environ_for(net, (CDP,)))
    assert out.returncode == 0, out.stderr
    assert "DRY RUN (nothing is sent)" in out.stdout
    would = [ln for ln in out.stderr.splitlines() if "event=dry_run_would_send" in ln]
    labels = " ".join(would)
    assert would and "withdraw" in labels and "swap" in labels and "repay" in labels
    assert "event=dry_run_signed" in out.stderr and "(not sent)" in out.stderr
    assert net.w3.eth.get_transaction_count(account) == nonce0
    assert net.w3.eth.block_number == block0
    cfg = load_config(path)
    from manager.persistence import Database, Repository

    (plan,) = Repository(Database(cfg.storage.url_for(dry_run=True))).actions_for("cdp")
    assert plan.status == "dry_run"
    # a dry run keeps its own database: the real history has no trace of it
    assert cfg.storage.url_for(dry_run=True).endswith("-dryrun.sqlite")
    assert not Path(cfg.storage.url.removeprefix("sqlite:///")).exists()


def _assert_one_line_refusal(out, *fragments):
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("error: ") and "Traceback" not in out.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_bad_configs_are_refused_at_start_with_one_line(net, tmp_path):
    env = environ_for(net, (CDP,))
    crossing = _setup(net, tmp_path, cdp={"trigger_health": 1.6, "target_health": 1.5})
    _assert_one_line_refusal(_posman("run", "--config", str(crossing), "--once", env=env),
                             "posman.toml:", "positions[0].params.target_health", "bands must not cross")

    text = crossing.read_text()
    unknown = tmp_path / "unknown.toml"
    unknown.write_text(text.replace('strategy = "cdp_health"', 'strategy = "cdp_healht"')
                       .replace("trigger_health = 1.6", "trigger_health = 1.3"))
    _assert_one_line_refusal(_posman("run", "--config", str(unknown), "--once", env=env),
                             "positions[0].strategy", "unknown strategy 'cdp_healht'", "did you mean 'cdp_health'?")

    good = text.replace("trigger_health = 1.6", "trigger_health = 1.3")
    no_env = tmp_path / "noenv.toml"
    no_env.write_text(good)
    env_without = {k: v for k, v in os.environ.items() if not k.startswith("POSMAN_DEMO_KEY")}
    out = subprocess.run([sys.executable, "-m", "manager", "run", "--config", str(no_env), "--once"],
                         capture_output=True, text=True, env={**env_without, "PYTHONPATH": str(ROOT)}, cwd=ROOT,
                         timeout=120)
    _assert_one_line_refusal(out, "signers.manager1", "managed position 'cdp'", "POSMAN_DEMO_KEY_MANAGER1",
                             "is not set")

    no_signer = tmp_path / "nosigner.toml"
    no_signer.write_text(good.replace('signer = "manager1"\n', ""))
    _assert_one_line_refusal(_posman("run", "--config", str(no_signer), "--once", env=env),
                             "positions[0].mode", "needs a signer")
    assert WATCHED.mode == "watch"
