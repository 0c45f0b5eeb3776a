"""In-process ``posman`` runs for the hardening tests: the same ``manager.cli.main`` a user's process runs,
without a subprocess per case (fast), and the one-line error contract."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from manager.cli import main

BASE_CONFIG = """\
[chains.devnet]
chain_id = 31337
rpc_urls = ["http://127.0.0.1:9"]
request_timeout_s = 1
max_retries = 0

[[protocols]]
name = "aave"
kind = "aave_v3"
chain = "devnet"
pool_addresses_provider = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"

[signers.alice]
address = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
key_env = "POSMAN_KEY_ALICE"

[[positions]]
name = "alice"
protocol = "aave"
account = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
mode = "manage"
strategy = "cdp_health"
signer = "alice"
"""


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(list(argv))
        except SystemExit as exc:  # argparse exits
            rc = exc.code if isinstance(exc.code, int) else 2
    return rc, out.getvalue(), err.getvalue()


def one_line(rc: int, err: str) -> str:
    """The single ``error: ...`` line of a failed run (non-zero exit, no traceback, no internal error)."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc != 0, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err and not any(x.startswith("internal error:") for x in lines)
    return lines[0]


def write(tmp: Path, text: str, name: str = "c.toml") -> Path:
    p = tmp / name
    p.write_text(text)
    return p
