"""Shared builders for the executor tests (plans of ERC-20 transfers on the module's MintableERC20)."""

from __future__ import annotations

import uuid

from manager.execution.calls import erc20_transfer, selector_of
from manager.execution.executor import Executor, ExecutorHooks
from manager.execution.fees import FeePolicy
from manager.execution.policy import PolicyLimits
from manager.execution.signer import Signer
from manager.execution.store import ExecutionStore
from manager.execution.types import Plan, Preconditions

RECIPIENT = "0x000000000000000000000000000000000000bEEF"
TRANSFER = selector_of("transfer(address,uint256)")
APPROVE = selector_of("approve(address,uint256)")


def limits_for(token: str, **overrides) -> PolicyLimits:
    values = dict(allowed_calls={token: frozenset({TRANSFER, APPROVE})}, per_tx_usd=10_000.0, per_day_usd=50_000.0,
                  max_slippage_bps=100)
    values.update(overrides)
    return PolicyLimits(**values)


def transfer_plan(account: str, token: str, block: int, *amounts_wei: int, usd_each: float = 100.0,
                  plan_id: str | None = None, **plan_kw) -> Plan:
    steps = tuple(erc20_transfer(token, RECIPIENT, a, usd_value=usd_each) for a in amounts_wei)
    return Plan(plan_id=plan_id or f"plan-test-{uuid.uuid4().hex[:12]}", position="test-pos", kind="rebalance",
                account=account, block_number=block, steps=steps,
                preconditions=plan_kw.pop("preconditions", Preconditions(max_block_age_blocks=50)), **plan_kw)


def make_executor(w3, signer: Signer, repo, token: str, *, dry_run: bool = False, hooks: ExecutorHooks | None = None,
                  fork_rpc_url: str, limits: PolicyLimits | None = None, fee_policy: FeePolicy | None = None,
                  **submitter_kw) -> Executor:
    store = ExecutionStore(repo)
    executor = Executor(w3, signer, store, limits=limits or limits_for(token), fee_policy=fee_policy or FeePolicy(),
                        fork_rpc_url=fork_rpc_url, dry_run=dry_run, hooks=hooks)
    executor.submitter.poll_interval_s = 0.02
    for key, value in submitter_kw.items():
        setattr(executor.submitter, key, value)
    return executor
