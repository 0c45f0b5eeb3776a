"""The allow-list the user reads (``posman allowlist``) is the one every executor enforces: the contracts
derived from the configured protocols plus ``[limits] allowed_contracts`` (issue 15: the latter had no effect),
and nothing outside it is ever sent."""

from __future__ import annotations

import json

import pytest
from eth_utils import to_checksum_address

from manager.config import load_config
from manager.demo.scenario import POSITIONS, environ_for, write_config
from manager.errors import PolicyViolation
from manager.execution.allowlist import action_selectors, signer_allow_lists
from manager.execution.calls import selector_of
from manager.execution.policy import check_plan
from manager.execution.types import Plan, TxStep
from manager.runtime.lifecycle import build_manager
from tests.hardening.support import cli

SPECS = tuple(p for p in POSITIONS if p.name in ("cdp", "morpho", "perp"))
EXTRA = "0x00000000000000000000000000000000000000E1"
OUTSIDE = "0x00000000000000000000000000000000000000E2"


@pytest.fixture()
def setup(chain, tmp_path):
    path = tmp_path / "posman.toml"
    write_config(path, chain, webhook_url=None, smtp_port=None, db_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
                 positions=SPECS)
    text = path.read_text().replace("emergency_health = 1.05", f'emergency_health = 1.05\nallowed_contracts = ["{EXTRA}"]', 1)
    path.write_text(text)
    return chain, path, load_config(path)


def _plan(to: str, data: str) -> Plan:
    step = TxStep(to=to_checksum_address(to), data=data, label="probe", usd_value=1.0)
    return Plan(plan_id="probe", position="cdp", account="0x" + "11" * 20, block_number=1, steps=(step,))


def test_command_shows_what_every_executor_enforces(setup):
    net, path, cfg = setup
    rc, out, err = cli("allowlist", "--config", str(path), "--json")
    assert rc == 0, err
    shown = json.loads(out)
    expected = signer_allow_lists(cfg)
    assert set(shown) == {"manager1", "manager4", "spare1"} == set(expected)
    book = net.book
    pool = to_checksum_address(book["aave"]["pool"])
    router = to_checksum_address(book["uniswap"]["router"])
    assert "withdraw(address,uint256,address)" in shown["manager1"][pool]
    assert shown["manager1"][router] == ["exactInput((bytes,address,uint256,uint256,uint256))"]
    for signer in shown:
        assert to_checksum_address(EXTRA) in shown[signer]  # the user's allowed_contracts are in
        assert to_checksum_address(OUTSIDE) not in shown[signer]
    manager = build_manager(cfg, environ=environ_for(net, SPECS))
    try:
        for signer, ex in manager.executors.items():
            assert {a: set(s) for a, s in ex.limits.allowed_calls.items()} == expected[signer]
        ex = manager.executors["manager1"]
        approve = selector_of("approve(address,uint256)") + "00" * 31 + "01" + "00" * 31 + "05"
        check_plan(_plan(EXTRA, approve), ex.limits)  # allowed_contracts: posman's action functions
        with pytest.raises(PolicyViolation, match="not allow-listed"):
            check_plan(_plan(OUTSIDE, approve), ex.limits)
        transfer = selector_of("transfer(address,uint256)") + "00" * 64
        assert transfer[:10] not in action_selectors()
        with pytest.raises(PolicyViolation, match="not allow-listed"):
            check_plan(_plan(EXTRA, transfer), ex.limits)  # never other functions, even on an allowed contract
    finally:
        manager.close()
    rc, out, _ = cli("allowlist", "--config", str(path))
    assert rc == 0 and "[allowed_contracts]" in out and "[derived]" in out
