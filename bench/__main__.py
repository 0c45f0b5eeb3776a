"""Run the benchmarks: ``python -m bench [name ...]`` (``make bench`` runs them all).

Every ``bench/bench_<name>.py`` module exposes ``run() -> dict`` (it prints its own table). Each
result is written to ``bench/results/<name>.json``; ``bench/results/summary.json`` gathers them with
the machine they ran on (cores, CPU, Python, anvil version) and the wall time of each module.
Names on the command line pick modules (``python -m bench reads``); unknown names are an error.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def available() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
    }
    try:
        from manager.devnet.anvil import anvil_binary

        out = subprocess.run([str(anvil_binary()), "--version"], capture_output=True, text=True, timeout=10)
        info["anvil"] = out.stdout.strip().splitlines()[0] if out.stdout.strip() else None
    except Exception as exc:  # the sizing benchmark runs without the npm parts
        info["anvil"] = f"unavailable ({type(exc).__name__})"
    try:
        import web3

        info["web3"] = web3.__version__
    except Exception:
        info["web3"] = None
    return info


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    return value


def main(argv: list[str]) -> int:
    names = available()
    chosen = argv or names
    unknown = [n for n in chosen if n not in names]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(names)}", file=sys.stderr)
        return 2
    RESULTS.mkdir(exist_ok=True)
    summary: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "benchmarks": {},
    }
    failed = []
    for name in chosen:
        print(f"=== bench {name} ===", flush=True)
        t0 = time.perf_counter()
        try:
            module = importlib.import_module(f"bench.bench_{name}")
            result = _jsonable(module.run())
        except Exception:
            traceback.print_exc()
            failed.append(name)
            summary["benchmarks"][name] = {"error": traceback.format_exc(limit=3), "wall_s": time.perf_counter() - t0}
            continue
        wall = time.perf_counter() - t0
        (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
        summary["benchmarks"][name] = {"wall_s": wall, "goals": result.get("goals"), "result": f"{name}.json",
                                       **({"summary": result["summary"]} if result.get("summary") else {})}
        print(f"  ({wall:.1f} s; bench/results/{name}.json)\n", flush=True)
    summary_path = RESULTS / "summary.json"
    if argv and summary_path.is_file():  # a partial run keeps the other modules' entries
        try:
            previous = json.loads(summary_path.read_text()).get("benchmarks", {})
            summary["benchmarks"] = {**{k: v for k, v in previous.items() if k not in chosen},
                                     **summary["benchmarks"]}
        except (OSError, ValueError):
            pass
    summary_path.write_text(json.dumps(summary, indent=1) + "\n")
    print(f"summary: {summary_path.relative_to(HERE.parent)}")
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
