"""Run ``posman`` as a user does (a real process) and check the one-line error contract."""

from __future__ import annotations

import os
import subprocess
import sys


def posman(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "manager", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    """The single ``error: ...`` line of a failed command (non-zero exit, no traceback, nothing else)."""
    assert proc.returncode != 0, proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def posman_here(capsys, *args: str) -> subprocess.CompletedProcess:
    """``posman ...`` in this process (``manager.cli.main``, the console script's code path) without an
    interpreter start; same result shape as ``posman``. For tests that call the CLI many times."""
    from manager.cli import main

    capsys.readouterr()
    code = main(list(args))
    out = capsys.readouterr()
    return subprocess.CompletedProcess(["posman", *args], code, out.out, out.err)
