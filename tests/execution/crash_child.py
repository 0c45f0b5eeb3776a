"""Child process for the crash-safety test: executes one transfer plan and SIGKILLs itself right after
the signed transaction is broadcast (``after_broadcast``) or right after it is stored (``after_store``).

Usage: python -m tests.execution.crash_child <rpc_url> <db_url> <token> <plan_id> <block> <amount_wei> <mode>
The key comes from the environment variable ``POSMAN_TEST_EXEC_KEY``, as in production.
"""

from __future__ import annotations

import logging
import os
import signal
import sys

from web3 import Web3

from manager.execution.executor import ExecutorHooks
from manager.execution.signer import Signer
from manager.persistence import Database, Repository
from tests.execution.helpers import make_executor, transfer_plan


def main(argv: list[str]) -> int:
    rpc_url, db_url, token, plan_id, block, amount, mode, address = argv
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    w3 = Web3(Web3.HTTPProvider(rpc_url))
    signer = Signer.from_env(key_env="POSMAN_TEST_EXEC_KEY", expected_address=address)
    repo = Repository(Database(db_url))

    def die(prepared) -> None:
        print(f"killing self after {mode}: {prepared.tx_hash}", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    hooks = ExecutorHooks(**{mode: die})
    executor = make_executor(w3, signer, repo, token, fork_rpc_url=rpc_url, hooks=hooks)
    plan = transfer_plan(signer.address, token, int(block), int(amount), plan_id=plan_id)
    result = executor.execute(plan)
    print(f"not killed: {result.status}", flush=True)
    return 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
