"""The sizing core must stay pure: no web3, DB or scheduler imports (STYLE.md rule 1)."""

import subprocess
import sys

FORBIDDEN = ("web3", "eth_account", "sqlmodel", "sqlalchemy", "apscheduler", "requests", "aiohttp")


def test_sizing_core_imports_no_io_libraries():
    code = (
        "import sys, pkgutil, importlib, manager.sizing as s\n"
        "for m in pkgutil.walk_packages(s.__path__, 'manager.sizing.'):\n"
        "    importlib.import_module(m.name)\n"
        "import strategies\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"sizing core imported I/O libraries: {out.stdout.strip()}"
