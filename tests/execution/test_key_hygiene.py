"""The private key appears in no log line, printed output, error message, repr, result or database row.

Runs the executor through success, revert, policy refusal, dry run and a bad-key load with every logger
at DEBUG, then searches the captured logs, stdout/stderr, every error/result string, and the raw bytes
of the SQLite files (main file, WAL and shared memory) for the key in any spelling.
"""

from __future__ import annotations

import logging

import pytest

from manager.errors import PosmanError
from manager.execution.signer import Signer
from manager.execution.types import Preconditions

from .conftest import KEY_ENV
from .helpers import limits_for, make_executor, transfer_plan

pytestmark = pytest.mark.chain


def _spellings(key_hex: str) -> list[bytes]:
    body = key_hex.removeprefix("0x")
    raw = bytes.fromhex(body)
    return [body.lower().encode(), body.upper().encode(), raw, body.lower().encode("utf-16-le")]


def test_key_never_leaks(w3, anvil, token, account, repo, db_path, caplog, capsys, monkeypatch):
    caplog.set_level(logging.DEBUG)
    key_hex = account.key.hex()
    monkeypatch.setenv(KEY_ENV, key_hex)
    signer = Signer.from_env(key_env=KEY_ENV, expected_address=account.address)
    texts: list[str] = [repr(signer), str(signer)]

    live = make_executor(w3, signer, repo, token.address, fork_rpc_url=anvil.url)
    texts.append(repr(live))
    block = w3.eth.block_number
    ok = live.execute(transfer_plan(account.address, token.address, block, 10**18))
    assert ok.status == "confirmed"
    reverting = live.execute(transfer_plan(account.address, token.address, block, 10**30))
    assert reverting.status == "refused"
    refused = make_executor(w3, signer, repo, token.address, fork_rpc_url=anvil.url,
                            limits=limits_for(token.address, per_tx_usd=1.0)).execute(
        transfer_plan(account.address, token.address, w3.eth.block_number, 10**18))
    assert refused.status == "refused"
    dry = make_executor(w3, signer, repo, token.address, fork_rpc_url=anvil.url, dry_run=True).execute(
        transfer_plan(account.address, token.address, w3.eth.block_number, 10**18))
    assert dry.status == "dry_run"
    band = live.execute(transfer_plan(account.address, token.address, w3.eth.block_number, 10**18,
                                      preconditions=Preconditions(target_band=(1.4, 1.6))))
    assert band.status == "refused" and "no post-state check" in band.reason
    for result in (ok, reverting, refused, dry, band):
        texts += [repr(result), result.model_dump_json(), result.reason]

    # errors on the way in: wrong address, unparsable key, signing failure
    for make in (
        lambda: Signer.from_env(key_env=KEY_ENV, expected_address="0x" + "11" * 20),
        lambda: Signer.from_env(key_env="X", expected_address=account.address, environ={"X": key_hex[:-2] + "zz"}),
        lambda: signer.sign_transaction({"to": "nope", "nonce": 1}),
    ):
        with pytest.raises(PosmanError) as err:
            make()
        texts += [str(err.value), repr(err.value), repr(err.value.context)]
        logging.getLogger("posman.test").exception("logged with traceback", exc_info=err.value)

    out, errout = capsys.readouterr()
    texts += [caplog.text, out, errout]
    texts += [r.getMessage() for r in caplog.records]
    haystack = "\n".join(texts).encode()
    needles = _spellings(key_hex)
    for needle in needles:
        assert needle not in haystack

    repo.db.dispose()  # flush the WAL into the file as well; both are searched
    files = [p for p in db_path.parent.iterdir() if p.name.startswith(db_path.name)]
    assert files and any(p.stat().st_size > 0 for p in files)
    for path in files:
        data = path.read_bytes()
        for needle in needles:
            assert needle not in data, f"key material found in {path.name}"
    # sanity: the search does find what is there (signed txs are stored)
    signed = repo.transactions_for(ok.plan_id)[0].raw_tx_hex
    assert any(signed[2:].encode() in p.read_bytes() for p in files)
