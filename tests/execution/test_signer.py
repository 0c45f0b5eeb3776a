"""Signer: env key and encrypted keystore, address checks, and no key material in repr/errors/pickles."""

from __future__ import annotations

import copy
import json
import pickle

import pytest
from eth_account import Account

from manager.execution.signer import Signer, SignerError

KEY_ENV = "POSMAN_TEST_SIGNER_KEY"
PW_ENV = "POSMAN_TEST_SIGNER_PW"


@pytest.fixture
def acct():
    return Account.create()


def _tx(nonce: int = 0) -> dict:
    return {"to": "0x" + "22" * 20, "value": 1, "gas": 21_000, "maxFeePerGas": 10**9,
            "maxPriorityFeePerGas": 10**8, "nonce": nonce, "chainId": 31337, "type": 2, "data": "0x"}


def test_from_env_signs_for_the_configured_address(acct, monkeypatch):
    monkeypatch.setenv(KEY_ENV, acct.key.hex())
    signer = Signer.from_env(key_env=KEY_ENV, expected_address=acct.address.lower())
    assert signer.address == acct.address
    raw, tx_hash = signer.sign_transaction(_tx())
    assert Account.recover_transaction(raw) == acct.address
    assert tx_hash.startswith("0x") and len(tx_hash) == 66


def test_from_keystore_with_password_from_env(acct, tmp_path, monkeypatch):
    path = tmp_path / "key.json"
    path.write_text(json.dumps(Account.encrypt(acct.key, "correct horse", iterations=2)))
    monkeypatch.setenv(PW_ENV, "correct horse")
    signer = Signer.from_keystore(path, password_env=PW_ENV, expected_address=acct.address)
    assert signer.address == acct.address
    assert Account.recover_transaction(signer.sign_transaction(_tx())[0]) == acct.address


def test_wrong_keystore_password_is_refused_without_secrets(acct, tmp_path, monkeypatch):
    path = tmp_path / "key.json"
    path.write_text(json.dumps(Account.encrypt(acct.key, "correct horse", iterations=2)))
    monkeypatch.setenv(PW_ENV, "wrong battery")
    with pytest.raises(SignerError) as err:
        Signer.from_keystore(path, password_env=PW_ENV, expected_address=acct.address)
    assert "wrong battery" not in str(err.value) and acct.key.hex() not in str(err.value)
    assert err.value.__context__ is None and err.value.__cause__ is None


def test_address_mismatch_is_refused(acct, monkeypatch):
    monkeypatch.setenv(KEY_ENV, acct.key.hex())
    other = Account.create().address
    with pytest.raises(SignerError, match="refusing to sign with the wrong key") as err:
        Signer.from_env(key_env=KEY_ENV, expected_address=other)
    assert acct.key.hex() not in str(err.value)


def test_missing_env_and_bad_key_errors_hold_no_key(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(SignerError, match=f"{KEY_ENV} .* not set"):
        Signer.from_env(key_env=KEY_ENV, expected_address="0x" + "11" * 20)
    bad = "0x" + "ff" * 32  # above the curve order: not a valid key
    monkeypatch.setenv(KEY_ENV, bad)
    with pytest.raises(SignerError) as err:
        Signer.from_env(key_env=KEY_ENV, expected_address="0x" + "11" * 20)
    assert "ff" * 32 not in str(err.value) and "ff" * 32 not in repr(err.value.context)
    assert err.value.__context__ is None


def test_signer_never_shows_or_serialises_its_key(acct, monkeypatch):
    monkeypatch.setenv(KEY_ENV, acct.key.hex())
    signer = Signer.from_env(key_env=KEY_ENV, expected_address=acct.address)
    key_hex = acct.key.hex().removeprefix("0x")
    for text in (repr(signer), str(signer), f"{signer}", f"{signer!r}"):
        assert key_hex not in text.lower() and acct.address in text
    with pytest.raises(TypeError):
        pickle.dumps(signer)
    with pytest.raises(TypeError):
        copy.deepcopy(signer)
    with pytest.raises(TypeError):
        copy.copy(signer)
    assert not hasattr(signer, "__dict__")  # slots only: vars(signer) cannot dump it


def test_sign_failure_is_reraised_without_key(acct, monkeypatch):
    from manager.errors import NeverSubmitError

    monkeypatch.setenv(KEY_ENV, acct.key.hex())
    signer = Signer.from_env(key_env=KEY_ENV, expected_address=acct.address)
    with pytest.raises(NeverSubmitError) as err:
        signer.sign_transaction({"to": "not an address", "nonce": 0})
    assert acct.key.hex().removeprefix("0x") not in str(err.value)
    assert err.value.__context__ is None
