"""Issue 13's boundary: outside ``manager/protocols/`` nothing names a protocol kind or tests a protocol's type.

The pipeline (config, tick, views, status, planner, fees, start-up wiring, strategies, web, commands) reaches
protocols only through ``manager.protocols.registry``; a new protocol is one folder plus one registry line.
Scope: ``manager/`` and ``strategies/``, minus the protocol folders themselves and the local-chain tooling that
deploys the real contracts (``manager/devnet/``, the ``manager/demo/`` built on it, and the address-book
generator ``manager/data/``).
"""

from __future__ import annotations

import re
from pathlib import Path

from manager.protocols import registry

ROOT = Path(__file__).resolve().parents[1]
EXEMPT = ("manager/protocols/", "manager/devnet/", "manager/demo/", "manager/data/")


def _pipeline_files() -> list[Path]:
    files = [*sorted((ROOT / "manager").rglob("*.py")), *sorted((ROOT / "strategies").rglob("*.py"))]
    return [f for f in files if not f.relative_to(ROOT).as_posix().startswith(EXEMPT)]


def _snapshot_type_names() -> set[str]:
    names = set()
    for a in registry.adapters():
        t = getattr(a, "snapshot_type", None)
        if t is not None:
            names.add(t.__name__)
    return names


def test_no_protocol_kind_name_outside_the_protocol_folders() -> None:
    kinds = registry.kinds()
    assert len(kinds) >= 4
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, kinds)) + r")\b")
    hits = [f"{f.relative_to(ROOT)}:{i}: {line.strip()}" for f in _pipeline_files()
            for i, line in enumerate(f.read_text().splitlines(), 1) if pattern.search(line)]
    assert hits == [], "protocol kinds named outside manager/protocols/:\n" + "\n".join(hits)


def test_no_isinstance_on_protocol_snapshot_types_outside_the_protocol_folders() -> None:
    names = _snapshot_type_names()
    assert names, "the registry's adapters declare no snapshot types"
    pattern = re.compile(r"isinstance\([^)]*\b(" + "|".join(sorted(names)) + r")\b")
    hits = [f"{f.relative_to(ROOT)}:{i}: {line.strip()}" for f in _pipeline_files()
            for i, line in enumerate(f.read_text().splitlines(), 1) if pattern.search(line)]
    assert hits == [], "isinstance on protocol snapshot types outside manager/protocols/:\n" + "\n".join(hits)


def test_the_check_can_fail(tmp_path: Path) -> None:
    """The patterns find what they must (guards the two tests above against matching nothing)."""
    kinds = registry.kinds()
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, kinds)) + r")\b")
    assert pattern.search(f'if proto.kind == "{kinds[0]}":')
    assert pattern.search(f"from manager.protocols.{kinds[1]}.reads import x")
    names = _snapshot_type_names()
    snap = re.compile(r"isinstance\([^)]*\b(" + "|".join(sorted(names)) + r")\b")
    assert snap.search(f"if isinstance(snap, (Foo, {sorted(names)[0]})):")
