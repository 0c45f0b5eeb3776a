"""A fork replay that cannot start is not fatal (issue 15: "anvil exited with code 1 while starting on port N"
stopped the process): the plan is simulated by eth_call step by step against the chain, guarded by the
on-chain post-check, and the reason says so. The fork is taken from the first URL that can serve it."""

from __future__ import annotations

import pytest

from manager.errors import DevnetError
from manager.execution.simulate import fork_replay
from manager.execution.types import Preconditions

from .helpers import RECIPIENT, make_executor, transfer_plan

pytestmark = pytest.mark.chain
UNIT = 10**18


def _broken_anvil(**_kw):
    raise DevnetError("anvil exited with code 1 while starting on port 40000")


@pytest.fixture(autouse=True)
def _no_remembered_fork_failures():
    from manager.execution import simulate

    simulate._fork_down.clear()
    yield
    simulate._fork_down.clear()  # never leak "upstream down" into other tests


def test_fork_that_cannot_start_falls_back(w3, signer, repo, token, anvil, account):
    ex = make_executor(w3, signer, repo, token.address, fork_rpc_url=anvil.url)
    ex._fork_factory = _broken_anvil
    before = token.functions.balanceOf(RECIPIENT).call()
    health = {"n": 0}

    def post_check(w3_):
        health["n"] += 1
        return 2.0

    plan = transfer_plan(account.address, token.address, w3.eth.block_number, 3 * UNIT, 4 * UNIT)
    result = ex.execute(plan, post_check=post_check)
    assert result.status == "confirmed", result.reason
    assert "fork replay unavailable" in result.reason and "eth_call" in result.reason
    assert "on-chain post-condition" in result.reason
    assert token.functions.balanceOf(RECIPIENT).call() == before + 7 * UNIT
    assert health["n"] == 1 and result.post_health == 2.0  # checked on the chain after the last step


def test_a_step_that_would_revert_is_still_never_sent_without_a_fork(w3, signer, repo, token, anvil, account):
    ex = make_executor(w3, signer, repo, token.address, fork_rpc_url=anvil.url)
    ex._fork_factory = _broken_anvil
    nonce0 = w3.eth.get_transaction_count(account.address)
    balance = token.functions.balanceOf(account.address).call()
    plan = transfer_plan(account.address, token.address, w3.eth.block_number, 1 * UNIT, balance + 1)
    result = ex.execute(plan)
    assert result.status != "confirmed"
    assert w3.eth.get_transaction_count(account.address) == nonce0 + 1  # only the first (valid) step went out


def test_fork_uses_the_next_url_when_the_first_cannot_serve(w3, anvil, account, token):
    tried: list[str] = []
    from manager.devnet.anvil import Anvil

    def factory(extra_args):
        url = extra_args[1]
        tried.append(url)
        if url != anvil.url:
            raise DevnetError("anvil exited with code 1 while starting")
        return Anvil.start(extra_args=extra_args)

    plan = transfer_plan(account.address, token.address, w3.eth.block_number, UNIT)
    out = fork_replay(lambda: ["http://127.0.0.1:9", anvil.url], w3.eth.block_number, plan.steps, account.address,
                      preconditions=Preconditions(max_block_age_blocks=5), anvil_factory=factory)
    assert tried == ["http://127.0.0.1:9", anvil.url]
    assert out.fallback_reason is None and len(out.simulations) == 1
    # the URL that could not serve is not tried again for a while (a faulty upstream costs one start, not each)
    tried.clear()
    fork_replay(lambda: ["http://127.0.0.1:9", anvil.url], w3.eth.block_number, plan.steps, account.address,
                preconditions=Preconditions(max_block_age_blocks=5), anvil_factory=factory)
    assert tried == [anvil.url]
