"""Compile Solidity sources shipped in npm packages with the pinned npm ``solc`` (solcjs, offline).

Used for contracts whose published packages ship sources but no artifacts we can use directly
(Chainlink's ``MockV3Aggregator``; later Morpho Blue and Synthetix). Results are cached under
``.cache/solc/`` keyed by the sources and settings.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from manager.errors import SetupError

ROOT = Path(__file__).resolve().parents[2]
NM = ROOT / "node_modules"
CACHE = ROOT / ".cache" / "solc"


def compile_sources(
    sources: dict[str, str], *, optimize_runs: int | None = 200, evm_version: str | None = "paris",
    solc_package: str = "solc",
) -> dict[str, dict]:
    """Compile ``{unit_name: file path relative to node_modules}``; returns ``{ContractName: {abi, bytecode}}``."""
    return compile_files({unit: NM / rel for unit, rel in sources.items()}, optimize_runs=optimize_runs,
                         evm_version=evm_version, solc_package=solc_package)


def compile_files(
    sources: dict[str, Path], *, optimize_runs: int | None = 200, evm_version: str | None = "paris",
    solc_package: str = "solc", remappings: tuple[str, ...] = (), bytecode_hash: str | None = None,
    with_links: bool = False, key_extra: str = "",
) -> dict[str, dict]:
    """Compile ``{unit_name: absolute path}`` (npm sources or project-local ``.sol`` files).

    Imports resolve against ``node_modules`` (``@morpho-org/...``) and the directories of the given
    files. Returns ``{ContractName: {abi, bytecode}}``; cached under ``.cache/solc/``.

    ``solc_package`` names the npm solcjs package (``"solc"`` = 0.8.19; ``"solc-0.5.16"`` for Synthetix);
    ``evm_version=None`` leaves the compiler's default (0.5.16 does not know "paris").
    ``remappings`` / ``bytecode_hash`` go to solc's settings (``metadata.bytecodeHash``); ``with_links`` adds
    each contract's ``linkReferences`` (libraries to link before deploying); ``key_extra`` joins the cache key
    (e.g. the versions of the npm packages whose files the imports pull in).
    """
    node = shutil.which("node")
    if node is None:
        raise SetupError("node is not installed; it is needed to run the npm solc compiler")
    if not (NM / solc_package).is_dir():
        raise SetupError(f"npm package {solc_package} missing under {NM}: run 'make setup' (or 'npm ci')")
    std_input: dict[str, Any] = {
        "language": "Solidity",
        "sources": {unit: {"content": Path(path).read_text()} for unit, path in sources.items()},
        "settings": {
            "optimizer": {"enabled": optimize_runs is not None, "runs": optimize_runs or 200},
            "evmVersion": evm_version,
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
        },
    }
    if evm_version is None:
        del std_input["settings"]["evmVersion"]
    if remappings:
        std_input["settings"]["remappings"] = list(remappings)
    if bytecode_hash is not None:
        std_input["settings"]["metadata"] = {"bytecodeHash": bytecode_hash}
    if with_links:
        std_input["settings"]["outputSelection"] = {
            "*": {"*": ["abi", "evm.bytecode.object", "evm.bytecode.linkReferences"]}}
    blob = json.dumps(std_input, sort_keys=True).encode()
    solc_version = json.loads((NM / solc_package / "package.json").read_text())["version"]
    key = hashlib.sha256(blob + solc_version.encode() + key_extra.encode()).hexdigest()[:24]
    cached = CACHE / f"{key}.json"
    if cached.is_file():
        return json.loads(cached.read_text())
    roots = [str(NM), *sorted({str(Path(path).parent) for path in sources.values()})]
    proc = subprocess.run(
        [node, str(Path(__file__).with_name("solc_compile.js")), *roots],
        input=blob, capture_output=True, cwd=ROOT, check=False,
        env={**os.environ, "POSMAN_SOLC_PACKAGE": solc_package},
    )
    if proc.returncode != 0:
        raise SetupError(f"solc failed: {proc.stderr.decode()[-400:]}")
    out = json.loads(proc.stdout)
    errors = [e for e in out.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise SetupError(f"solc: {errors[0].get('formattedMessage', errors[0])}")
    result: dict[str, dict] = {}
    for unit_name, unit in out["contracts"].items():
        for name, c in unit.items():
            entry = {"abi": c["abi"], "bytecode": "0x" + c["evm"]["bytecode"]["object"]}
            if with_links:
                entry["linkReferences"] = c["evm"]["bytecode"].get("linkReferences", {})
                result[f"{unit_name}:{name}"] = entry  # fully qualified: names repeat across packages
                if name in result and (len(entry["bytecode"]) <= 2 or len(result[name]["bytecode"]) > 2):
                    continue  # the bare name keeps the first deployable contract of that name
            result[name] = entry
    CACHE.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(result))
    return result


def mock_v3_aggregator() -> dict:
    """Chainlink's own test aggregator (rounds, updatedAt, updateAnswer) from @chainlink/contracts."""
    out = compile_sources(
        {"@chainlink/contracts/src/v0.8/tests/MockV3Aggregator.sol": "@chainlink/contracts/src/v0.8/tests/MockV3Aggregator.sol"}
    )
    return out["MockV3Aggregator"]
