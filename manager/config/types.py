"""Reusable annotated types for the config schema: addresses (EIP-55), names, env var names.

Address checksums use ``eth_hash`` (keccak) only, not ``eth_utils``/``web3``, so loading a config
stays fast for short CLI commands.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

_HEX_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
PRIVATE_KEY_LIKE = re.compile(r"(0x)?[0-9a-fA-F]{64}")
"""32 bytes of hex: what a private key looks like (never echoed in errors, refused as an env var name)."""

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
MULTICALL3_ADDRESS = "0xcA11bde05977b3631167028862bE2a173976CA11"


def to_checksum(address: str) -> str:
    """EIP-55 checksum of a 0x-prefixed 40-hex-digit address (case of the input ignored)."""
    from eth_hash.auto import keccak

    lower = address[2:].lower()
    digest = keccak(lower.encode()).hex()
    return "0x" + "".join(c.upper() if int(digest[i], 16) >= 8 else c for i, c in enumerate(lower))


def check_address(value: str) -> str:
    """Validate a hex address and return it checksummed.

    All-lowercase or all-uppercase hex carries no checksum and is accepted; mixed case must be a
    correct EIP-55 checksum (a wrong one usually means a typo in the address).
    """
    if not isinstance(value, str) or not _HEX_ADDRESS.fullmatch(value):
        raise ValueError("not a hex address (expected 0x followed by 40 hex digits)")
    body = value[2:]
    checksummed = to_checksum(value)
    if body != body.lower() and body != body.upper() and value != checksummed:
        raise ValueError(
            "bad EIP-55 checksum (mixed-case address whose case does not match its checksum: "
            "check it for a typo, or write it all lowercase)"
        )
    return checksummed


def is_hex_address(value: str) -> bool:
    return bool(_HEX_ADDRESS.fullmatch(value))


def _check_env_name(value: str) -> str:
    if PRIVATE_KEY_LIKE.fullmatch(value):
        raise ValueError(
            "this looks like a private key, not an environment variable name; "
            "secrets never go in the config file"
        )
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        raise ValueError("not an environment variable name (letters, digits and _ only)")
    return value


Address = Annotated[str, AfterValidator(check_address)]
"""A contract or account address; stored EIP-55 checksummed."""

Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
"""A name used to refer to a config entry (chain, protocol, position, signer)."""

EnvVarName = Annotated[str, AfterValidator(_check_env_name)]
"""The name of an environment variable that holds a secret (never the secret itself)."""

Bps = Annotated[int, Field(ge=0, le=10_000)]
"""Basis points, 0..10000 (1e4 = 100%)."""
