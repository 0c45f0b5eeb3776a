"""The sizing core must stay pure: no web3, DB or scheduler imports (STYLE.md rule 1).

The protocols' exact math lives in their folders (``manager/protocols/<kind>/``, issue 13); those modules are
part of the pure core too, listed here one by one (a protocol folder also holds reads and encoders, which may
import web3).
"""

import subprocess
import sys

FORBIDDEN = ("web3", "eth_account", "sqlmodel", "sqlalchemy", "apscheduler", "requests", "aiohttp")

# every pure module moved out of manager/sizing into a protocol folder (and the pure modules beside them)
PURE_PROTOCOL_MODULES = (
    "manager.protocols.aave_v3.atomic",
    "manager.protocols.aave_v3.automations",
    "manager.protocols.aave_v3.boost",
    "manager.protocols.aave_v3.deleverage",
    "manager.protocols.aave_v3.liquidation",
    "manager.protocols.aave_v3.loan",
    "manager.protocols.aave_v3.math",
    "manager.protocols.aave_v3.rules",
    "manager.protocols.aave_v3.types",
    "manager.protocols.aave_v3.vector",
    "manager.protocols.morpho_blue.atomic",
    "manager.protocols.morpho_blue.automations",
    "manager.protocols.morpho_blue.decide",
    "manager.protocols.morpho_blue.loan",
    "manager.protocols.morpho_blue.math",
    "manager.protocols.morpho_blue.types",
    "manager.protocols.synthetix_perps.math",
    "manager.protocols.synthetix_perps.model",
    "manager.protocols.synthetix_perps.types",
)


def _imported_io(code: str) -> str:
    code += (
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_sizing_core_imports_no_io_libraries():
    code = (
        "import sys, pkgutil, importlib, manager.sizing as s\n"
        "for m in pkgutil.walk_packages(s.__path__, 'manager.sizing.'):\n"
        "    importlib.import_module(m.name)\n"
        "import strategies\n"
    )
    bad = _imported_io(code)
    assert bad == "", f"sizing core imported I/O libraries: {bad}"


def test_protocol_math_imports_no_io_libraries():
    code = (
        "import sys, importlib\n"
        f"for m in {PURE_PROTOCOL_MODULES!r}:\n"
        "    importlib.import_module(m)\n"
    )
    bad = _imported_io(code)
    assert bad == "", f"the protocols' pure math imported I/O libraries: {bad}"


def test_the_purity_check_can_fail():
    """The check sees an I/O library when one is imported (guards the tests above against matching nothing)."""
    bad = _imported_io("import sys, importlib\nimportlib.import_module('web3')\n")
    assert "web3" in bad.split(",")
