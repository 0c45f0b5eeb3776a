"""The one holder of a private key: loads it from the environment or an encrypted keystore and signs.

Sources (STYLE.md 6: secrets only from the environment or an encrypted keystore):

- ``Signer.from_env(key_env=..., expected_address=...)``: a hex private key in an environment variable.
- ``Signer.from_keystore(path, password_env=..., expected_address=...)``: an eth-account (Web3 Secret
  Storage v3) JSON keystore; its password in an environment variable.

The derived address must equal the configured one, or loading fails (``SignerError``).

Key hygiene: the key lives only inside an ``eth_account`` ``LocalAccount`` held in a name-mangled slot;
``repr``/``str`` show the address only; pickling, copying and pydantic/JSON serialisation are refused;
errors raised here never include key or password material (eth-account errors are re-raised by type
name only and raised outside the ``except`` block, so the original message is not chained).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, NoReturn

from manager.errors import NeverSubmitError, StopError

log = logging.getLogger("posman.execution.signer")


class SignerError(StopError):
    """The signing key cannot be loaded or does not match the configured address."""


class SigningFailed(NeverSubmitError):
    """A transaction could not be signed (never broadcast it)."""


def _checksum(address: str) -> str:
    from eth_utils import is_hex_address, to_checksum_address

    if not isinstance(address, str) or not is_hex_address(address):
        raise SignerError("expected_address is not a hex address", field="address")
    return to_checksum_address(address)


class Signer:
    """Signs transactions for exactly one address. Never serialised, never printed with its key."""

    __slots__ = ("__account", "address", "source")

    def __init__(self, account: Any, *, expected_address: str, source: str) -> None:
        expected = _checksum(expected_address)
        if account.address != expected:
            # NOTE: the derived address is public information; the key is not mentioned.
            raise SignerError(
                f"signer from {source} has address {account.address}, but the config says {expected}; "
                "refusing to sign with the wrong key",
                source=source,
                address=expected,
                derived_address=account.address,
            )
        self.__account = account
        self.address: str = expected
        self.source: str = source  # e.g. "env:POSMAN_KEY" or "keystore:/path/key.json" (no secrets)

    # --- constructors --------------------------------------------------------------------------
    @classmethod
    def from_env(cls, *, key_env: str, expected_address: str, environ: dict[str, str] | None = None) -> Signer:
        """Load a hex private key from the environment variable ``key_env``."""
        env = os.environ if environ is None else environ
        raw = env.get(key_env)
        if not raw:
            raise SignerError(f"environment variable {key_env} (signer key) is not set or empty", key_env=key_env)
        return cls(_account_from_key(raw.strip(), f"env:{key_env}"), expected_address=expected_address,
                   source=f"env:{key_env}")

    @classmethod
    def from_keystore(
        cls,
        path: str | Path,
        *,
        password_env: str,
        expected_address: str,
        environ: dict[str, str] | None = None,
    ) -> Signer:
        """Decrypt an encrypted JSON keystore with the password in ``password_env``."""
        env = os.environ if environ is None else environ
        path = Path(path).expanduser()
        source = f"keystore:{path}"
        password = env.get(password_env)
        if password is None:
            raise SignerError(f"environment variable {password_env} (keystore password) is not set",
                              password_env=password_env)
        try:
            keyfile = json.loads(path.read_text())
        except FileNotFoundError:
            raise SignerError(f"keystore file {path} does not exist", path=str(path)) from None
        except (OSError, ValueError) as exc:
            raise SignerError(f"keystore file {path} is not readable JSON ({type(exc).__name__})",
                              path=str(path)) from None
        from eth_account import Account

        failure: str | None = None
        key: Any = None
        try:
            key = Account.decrypt(keyfile, password)
        except Exception as exc:  # wrong password, bad MAC, unsupported KDF...
            failure = type(exc).__name__
        if failure is not None:
            # NOTE: raised outside the except block so the original error is not even in __context__.
            raise SignerError(
                f"cannot decrypt keystore {path} with the password in {password_env} "
                f"({failure}: wrong password or corrupt file)",
                path=str(path),
            )
        try:
            return cls(_account_from_key(key, source), expected_address=expected_address, source=source)
        finally:
            del key

    @classmethod
    def from_config(cls, signer_config: Any, *, environ: dict[str, str] | None = None) -> Signer:
        """Build from a ``manager.config.schema.SignerConfig`` (address, key_env | keystore + password_env)."""
        if getattr(signer_config, "key_env", None):
            return cls.from_env(key_env=signer_config.key_env, expected_address=signer_config.address,
                                environ=environ)
        if getattr(signer_config, "keystore", None) and getattr(signer_config, "password_env", None):
            return cls.from_keystore(signer_config.keystore, password_env=signer_config.password_env,
                                     expected_address=signer_config.address, environ=environ)
        raise SignerError("signer config needs key_env, or keystore plus password_env")

    # --- signing -------------------------------------------------------------------------------
    def sign_transaction(self, tx: dict[str, Any]) -> tuple[bytes, str]:
        """Sign an EIP-1559 transaction dict; returns ``(raw_signed_bytes, tx_hash_hex)``."""
        failure: str | None = None
        try:
            signed = self.__account.sign_transaction(tx)
        except Exception as exc:
            failure = type(exc).__name__
        if failure is not None:
            raise SigningFailed(
                f"signing failed for nonce {tx.get('nonce')} to {tx.get('to')}: {failure}",
                nonce=tx.get("nonce"),
            )
        return bytes(signed.raw_transaction), "0x" + bytes(signed.hash).hex()

    # --- hygiene -------------------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"Signer(address={self.address}, source={self.source})"

    __str__ = __repr__

    def _refuse(self, *_: Any, **__: Any) -> NoReturn:
        raise TypeError("a Signer holds a private key and cannot be copied, pickled or serialised")

    __reduce__ = _refuse
    __reduce_ex__ = _refuse
    __getstate__ = _refuse
    __copy__ = _refuse
    __deepcopy__ = _refuse


def _account_from_key(key: Any, source: str) -> Any:
    from eth_account import Account

    failure: str | None = None
    try:
        return Account.from_key(key)
    except Exception as exc:
        failure = type(exc).__name__
    # NOTE: eth-keys messages can echo the input; only the type name is kept, raised outside the
    # except block so the original error (and its message) is not reachable through __context__.
    raise SignerError(f"the key from {source} is not a valid secp256k1 private key ({failure})",
                      source=source)
