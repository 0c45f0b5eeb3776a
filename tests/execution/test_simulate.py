"""Simulation: revert decoding (Error(string), Aave numeric codes named, Panic, custom errors) and the
fork replay's post-state band check on a real anvil fork."""

from __future__ import annotations

import pytest
from eth_abi import encode

from manager.errors import SimulationFailed
from manager.execution.calls import erc20_transfer
from manager.execution.simulate import decode_revert, fork_replay, simulate_step
from manager.execution.types import Preconditions
from manager.protocols.aave_v3.errors import AAVE_ERRORS

from .helpers import RECIPIENT


def _error(text: str) -> str:
    return "0x08c379a0" + encode(["string"], [text]).hex()


def test_aave_codes_are_named():
    assert decode_revert(_error("35")) == (
        "Aave error 35 HEALTH_FACTOR_LOWER_THAN_LIQUIDATION_THRESHOLD "
        "(Health factor is lesser than the liquidation threshold)"
    )
    assert decode_revert(_error("26")).startswith("Aave error 26 INVALID_AMOUNT")
    assert len(AAVE_ERRORS) == 90 and AAVE_ERRORS["91"][0] == "FLASHLOAN_DISABLED"


def test_error_string_panic_custom_and_empty():
    assert decode_revert(_error("ERC20: transfer amount exceeds balance")) == (
        "Error('ERC20: transfer amount exceeds balance')")
    assert decode_revert("0x4e487b71" + encode(["uint256"], [0x11]).hex()) == (
        "Panic(0x11: arithmetic overflow or underflow)")
    assert decode_revert(bytes.fromhex("deadbeef" + "00" * 32)).startswith("custom error 0xdeadbeef")
    assert decode_revert(None, "execution reverted") == "execution reverted"
    assert decode_revert("0x") == "reverted without a reason"


@pytest.mark.chain
def test_simulate_step_names_the_revert(w3, token, account):
    step = erc20_transfer(token.address, RECIPIENT, 10**30)
    with pytest.raises(SimulationFailed) as err:
        simulate_step(w3, step, account.address, where="0")
    assert err.value.reason == "Error('ERC20: transfer amount exceeds balance')"
    ok = simulate_step(w3, erc20_transfer(token.address, RECIPIENT, 1), account.address)
    assert ok.gas_estimate > 21_000 and ok.gas_limit > ok.gas_estimate and ok.block_number == w3.eth.block_number


@pytest.mark.chain
def test_fork_replay_applies_steps_and_checks_the_band(w3, anvil, token, account):
    steps = [erc20_transfer(token.address, RECIPIENT, 10**18), erc20_transfer(token.address, RECIPIENT, 10**18)]
    before = token.functions.balanceOf(RECIPIENT).call()
    block = w3.eth.block_number

    def recipient_tokens(fw3) -> float:  # stands in for a health read: the post-state of the fork
        return fw3.eth.contract(address=token.address, abi=token.abi).functions.balanceOf(RECIPIENT).call() / 1e18

    expected = before / 1e18 + 2
    replay = fork_replay(anvil.url, block, steps, account.address,
                         preconditions=Preconditions(target_band=(expected - 0.01, expected + 0.01)),
                         post_check=recipient_tokens)
    assert replay.post_health == pytest.approx(expected) and len(replay.gas_used) == 2
    # the real chain is untouched
    assert token.functions.balanceOf(RECIPIENT).call() == before and w3.eth.block_number == block
    with pytest.raises(SimulationFailed, match=r"misses the target band \[1.4000, 1.6000\]"):
        fork_replay(anvil.url, block, steps, account.address,
                    preconditions=Preconditions(target_band=(1.4, 1.6)), post_check=recipient_tokens)
    with pytest.raises(SimulationFailed, match="below the minimum"):
        fork_replay(anvil.url, block, steps, account.address,
                    preconditions=Preconditions(min_post_health=expected + 1), post_check=recipient_tokens)
