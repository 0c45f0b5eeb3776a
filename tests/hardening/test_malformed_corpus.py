"""Malformed-input corpus (issue 15): several hundred bad inputs generated from the config schema (every
section's fields, every built-in strategy's params), the CLI's arguments, the environment (signer keys) and
RPC servers answering garbage. Each must give exactly one ``error: ...`` line naming what is wrong, a
non-zero exit, no traceback, no internal error, no hang, and never be silently accepted.

Runs in-process (``manager.cli.main``) for speed; a handful of cases also run as real processes.
"""

from __future__ import annotations

import http.server
import json
import math
import os
import socketserver
import threading
import types
import typing
from inspect import isclass
from typing import Any

import annotated_types
import pytest
from pydantic import BaseModel

from manager.config.schema import ChainConfig, LimitsConfig, OraclesConfig, RuntimeConfig
from strategies import cdp_health, perp_margin
from tests.cli_helpers import one_line_error, posman
from tests.hardening.support import cli, one_line

ALICE_KEY = "0x" + "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ALICE = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"

# A valid config: every section present, so each field can be mutated in place (the RPC URL is a closed port).
SECTIONS: dict[str, dict[str, Any]] = {
    "chains.devnet": {"chain_id": 31337, "rpc_urls": ["http://127.0.0.1:9"], "request_timeout_s": 1,
                      "max_retries": 0, "max_head_age_s": 120, "multicall_chunk_size": 500,
                      "max_parallel_requests": 3},
    "oracles": {"default_heartbeat_s": 86400, "max_deviation_bps": 300, "twap_window_s": 300},
    "limits": {"per_tx_usd": 100000, "per_day_usd": 500000, "max_slippage_bps": 100, "max_fee_gwei": 300,
               "max_priority_fee_gwei": 5, "emergency_health": 1.05},
    "runtime": {"poll_interval_s": 1.0, "dry_run": False, "heartbeat_s": 60},
}
MODELS = {"chains.devnet": ChainConfig, "oracles": OraclesConfig, "limits": LimitsConfig, "runtime": RuntimeConfig}
CDP_PARAMS = {"trigger_health": 1.3, "target_health": 1.5, "upper_health": 2.2, "emergency_health": 1.05,
              "cooldown_s": 60}
PERP_PARAMS = {"trigger_margin_ratio": 0.12, "target_margin_ratio": 0.2, "min_health": 3.0,
               "max_add_margin_usd": 2000, "cooldown_s": 0}


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(v)


def render(sections: dict[str, dict[str, Any]], params: dict[str, Any], strategy: str = "cdp_health",
           kind: str = "aave") -> str:
    out = []
    for name, values in sections.items():
        out.append(f"[{name}]")
        out += [f"{k} = {toml_value(v)}" for k, v in values.items()]
        out.append("")
    if kind == "aave":
        out += ["[[protocols]]", 'name = "p"', 'kind = "aave_v3"', 'chain = "devnet"',
                'pool_addresses_provider = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"', ""]
    else:
        out += ["[[protocols]]", 'name = "p"', 'kind = "synthetix_perps"', 'chain = "devnet"',
                'market = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"',
                'settings = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"',
                'exchange_rates = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"',
                'susd = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"', ""]
    out += ["[signers.alice]", f'address = "{ALICE}"', 'key_env = "POSMAN_CORPUS_KEY"', "",
            "[[positions]]", 'name = "alice"', 'protocol = "p"', f'account = "{ALICE}"', 'mode = "manage"',
            f'strategy = "{strategy}"', 'signer = "alice"', "", "[positions.params]"]
    out += [f"{k} = {toml_value(v)}" for k, v in params.items()]
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------------------------ generation
def _bounds(field: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    for m in field.metadata:
        for attr in ("gt", "ge", "lt", "le"):
            if isinstance(m, getattr(annotated_types, attr.capitalize())):
                out[attr] = getattr(m, attr)
    return out


def _base_type(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            tp = args[0] if len(args) == 1 else tp
            if len(args) != 1:
                return tp
        else:
            return tp


def bad_values(field: Any) -> list[tuple[str, Any]]:
    """Values this field must refuse, derived from its type and bounds."""
    tp = _base_type(field.annotation)
    b = _bounds(field)
    bad: list[tuple[str, Any]] = []
    if tp in (int, float):
        bad += [("string", "12"), ("bool", True), ("list", [1]), ("table", {"a": 1})]
        bad += [("nan", math.nan), ("inf", math.inf), ("-inf", -math.inf)]
        if tp is int:
            bad.append(("fraction", 1.5))
        if "gt" in b:
            bad.append(("at_gt_bound", b["gt"]))
        if "ge" in b:
            bad.append(("below_ge", b["ge"] - 1 if tp is int else b["ge"] - 1e-3 * max(1.0, abs(b["ge"]))))
        if "lt" in b:
            bad.append(("at_lt_bound", b["lt"]))
        if "le" in b:
            bad.append(("above_le", b["le"] + 1 if tp is int else b["le"] * 1.5 + 1))
        bad.append(("huge", 10**30 if tp is int else 1e300) if "le" in b or "lt" in b else ("negative", -5))
    elif tp is bool:
        bad += [("string", "yes"), ("int", 1)]
    elif tp is str:
        bad += [("int", 7), ("list", ["a"])]
    elif typing.get_origin(tp) is typing.Literal:
        bad += [("unknown_choice", "bogus-choice"), ("int", 3)]
    elif typing.get_origin(tp) is list:
        bad += [("not_a_list", "x"), ("list_of_tables", [{"a": 1}])]
    return bad


def _config_cases() -> list[tuple[str, str, str]]:
    """(case id, config text, text the one-line error must contain)."""
    cases = []
    for section, model in MODELS.items():
        for name, field in model.model_fields.items():
            for label, value in bad_values(field):
                if name == "rpc_urls" and label == "list_of_tables":
                    continue
                sections = {s: dict(v) for s, v in SECTIONS.items()}
                sections[section][name] = value
                cases.append((f"{section}.{name}:{label}", render(sections, CDP_PARAMS), f"{section}.{name}"))
        sections = {s: dict(v) for s, v in SECTIONS.items()}
        sections[section]["no_such_key"] = 1
        cases.append((f"{section}.no_such_key", render(sections, CDP_PARAMS), "unknown key"))
    for module, params, kind in ((cdp_health, CDP_PARAMS, "aave"), (perp_margin, PERP_PARAMS, "perp")):
        strategy = module.__name__.rsplit(".", 1)[1]
        for name, field in module.Config.model_fields.items():
            if isclass(_base_type(field.annotation)) and issubclass(_base_type(field.annotation), BaseModel):
                continue
            for label, value in bad_values(field):
                p = dict(params)
                p[name] = value
                cases.append((f"{strategy}.{name}:{label}", render(SECTIONS, p, strategy, kind),
                              f"positions[0].params.{name}"))
        cases.append((f"{strategy}.typo", render(SECTIONS, {**params, "cooldwn_s": 1}, strategy, kind), "unknown key"))
    # cross-field and file-level problems
    p = dict(CDP_PARAMS, trigger_health=1.6)
    cases.append(("cdp.bands_cross", render(SECTIONS, p), "trigger_health"))
    cases.append(("limits.priority_above_fee", render({**SECTIONS, "limits": {**SECTIONS["limits"],
                                                       "max_priority_fee_gwei": 500}}, CDP_PARAMS), "max_priority"))
    cases.append(("storage.missing_folder", "[storage]\nurl = \"sqlite:///no/such/folder/x.sqlite\"\n"
                  + render(SECTIONS, CDP_PARAMS), "does not exist"))
    cases.append(("storage.password", "[storage]\nurl = \"postgresql+psycopg://u:pw@h/db\"\n"
                  + render(SECTIONS, CDP_PARAMS), "password"))
    cases.append(("strategy.unknown", render(SECTIONS, CDP_PARAMS, "cdp_helth"), "unknown strategy"))
    cases.append(("toml.syntax", render(SECTIONS, CDP_PARAMS) + "this is = = not toml\n", "invalid TOML"))
    cases.append(("toml.deep", "x = " + "[" * 200 + "]" * 200 + "\n", "nested deeper"))
    cases.append(("toml.empty", "", "chains"))
    cases.append(("chains.backup_duplicate", render({**SECTIONS, "chains.devnet": {
        **SECTIONS["chains.devnet"], "rpc_urls": ["http://127.0.0.1:9", "http://127.0.0.1:9"]}}, CDP_PARAMS),
        "distinct"))
    cases.append(("chains.ws_url", render({**SECTIONS, "chains.devnet": {
        **SECTIONS["chains.devnet"], "rpc_urls": ["ws://127.0.0.1:9"]}}, CDP_PARAMS), "http"))
    cases.append(("address.short", render(SECTIONS, CDP_PARAMS).replace(f'account = "{ALICE}"', 'account = "0x1234"'),
                  "account"))
    return cases


CONFIG_CASES = _config_cases()


def test_corpus_is_several_hundred_cases():
    assert len(CONFIG_CASES) + len(CLI_CASES) + len(ENV_CASES) + len(RPC_CASES) >= 300


@pytest.mark.parametrize("case", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_bad_config_is_one_located_line(tmp_path, case):
    _id, text, expected = case
    path = tmp_path / "c.toml"
    path.write_text(text)
    rc, _out, err = cli("status", "--config", str(path))
    line = one_line(rc, err)
    assert expected in line, line  # refused for the right reason (not accepted and then unreachable)
    assert str(path) in line or "config file" in line, line


# ------------------------------------------------------------------------------------------------ CLI
def _cli_cases() -> list[tuple[str, list[str], str]]:
    c: list[tuple[str, list[str], str]] = []
    for argv, expected in [
        (["nope"], "invalid choice"), (["status"], "--config"), (["status", "--config"], "--config"),
        (["status", "--config", "{cfg}", "--block", "-1"], "--block"),
        (["status", "--config", "{cfg}", "--block", "abc"], "--block"),
        (["status", "--config", "{cfg}", "--block", "1e3"], "--block"),
        (["status", "--config", "{cfg}", "--bogus"], "unrecognized"),
        (["status", "--config", "{cfg}", "--log-level", "loud"], "--log-level"),
        (["--log-level", "loud", "status", "--config", "{cfg}"], "--log-level"),
        (["plan", "--config", "{cfg}", "--block", "-5"], "--block"),
        (["run", "--config", "{cfg}", "--once", "--extra"], "unrecognized"),
        (["history"], "--config"), (["allowlist"], "--config"),
        (["devnet"], "ACTION"), (["devnet", "fly"], "invalid choice"),
        (["devnet", "up", "--state-dir", "{tmp}/s", "--block-time", "-1"], "--block-time"),
        (["devnet", "up", "--state-dir", "{tmp}/s", "--block-time", "x"], "--block-time"),
        (["devnet", "up", "--state-dir", "{tmp}/s", "--block-time", "1e9"], "--block-time"),
        (["devnet", "up", "--state-dir", "{tmp}/s", "--port", "0"], "--port"),
        (["devnet", "up", "--state-dir", "{tmp}/s", "--port", "70000"], "--port"),
        (["devnet", "up", "--state-dir", "{tmp}/s", "--port", "http"], "--port"),
        (["devnet", "up"], "--state-dir"),
        (["devnet", "price", "--state-dir", "{tmp}/s", "WETH"], "usd"),
    ]:
        c.append((" ".join(argv), argv, expected))
    for bad in ("inf", "-inf", "nan", "-5", "0", "abc", "1e309", "", "0x10"):
        c.append((f"devnet price {bad!r}", ["devnet", "price", "--state-dir", "{tmp}/s", "WETH", bad], "price"))
    for cmd in ("status", "plan", "run", "history", "allowlist"):
        for label, target in (("missing", "{tmp}/nope.toml"), ("folder", "{tmp}"), ("fifo", "{fifo}"),
                              ("binary", "{binary}"), ("latin1", "{latin1}")):
            c.append((f"{cmd} config {label}", [cmd, "--config", target, *(["alice"] if cmd == "history" else [])],
                      "config file"))
    return c


CLI_CASES = _cli_cases()


@pytest.fixture()
def files(tmp_path):
    cfg = tmp_path / "ok.toml"
    cfg.write_text(render(SECTIONS, CDP_PARAMS))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    (tmp_path / "binary").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "latin1").write_bytes("name = \"caf\xe9\"\n".encode("latin-1"))
    return {"{cfg}": str(cfg), "{tmp}": str(tmp_path), "{fifo}": str(fifo), "{binary}": str(tmp_path / "binary"),
            "{latin1}": str(tmp_path / "latin1")}


def _fill(argv: list[str], files: dict[str, str]) -> list[str]:
    out = []
    for a in argv:
        for k, v in files.items():
            a = a.replace(k, v)
        out.append(a)
    return out


@pytest.mark.parametrize("case", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_bad_cli_is_one_line(files, case):
    _id, argv, expected = case
    rc, _out, err = cli(*_fill(argv, files))
    line = one_line(rc, err)
    assert expected in line, line
    assert "usage:" not in err


# ------------------------------------------------------------------------------------------------ env
ENV_CASES = [("unset", None, "POSMAN_CORPUS_KEY"), ("empty", "", "POSMAN_CORPUS_KEY"),
             ("not_hex", "hello", "POSMAN_CORPUS_KEY"), ("short", "0x1234", "POSMAN_CORPUS_KEY"),
             ("other_account", "0x" + "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
              "POSMAN_CORPUS_KEY"), ("zero", "0x" + "00" * 32, "POSMAN_CORPUS_KEY"),
             ("order_n", "0x" + "ff" * 32, "POSMAN_CORPUS_KEY"), ("spaces", " " + ALICE_KEY + " x", "POSMAN_CORPUS_KEY")]


@pytest.mark.parametrize("case", ENV_CASES, ids=[c[0] for c in ENV_CASES])
def test_bad_signer_key_is_one_line_and_never_echoed(tmp_path, monkeypatch, case):
    _id, value, expected = case
    if value is None:
        monkeypatch.delenv("POSMAN_CORPUS_KEY", raising=False)
    else:
        monkeypatch.setenv("POSMAN_CORPUS_KEY", value)
    path = tmp_path / "c.toml"
    path.write_text(f'[storage]\nurl = "sqlite:///{tmp_path}/db.sqlite"\n' + render(SECTIONS, CDP_PARAMS))
    rc, out, err = cli("run", "--config", str(path), "--once")
    line = one_line(rc, err)
    assert expected in line, line
    if value and len(value.strip()) > 8:
        assert value.strip()[4:] not in err + out  # a key is never printed


# ------------------------------------------------------------------------------------------------ RPC
class _Garbage(http.server.BaseHTTPRequestHandler):
    answer: Any = None

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        status, body = type(self).answer
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body if isinstance(body, bytes) else body.encode())

    def log_message(self, *args):
        pass


RPC_CASES = [
    ("empty_object", (200, "{}")), ("no_result", (200, '{"jsonrpc":"2.0","id":0}')),
    ("truncated", (200, '{"jsonrpc":"2.0","id":0,"result":"0x7a')), ("html", (200, "<html>hi</html>")),
    ("null", (200, "null")), ("list", (200, "[]")), ("number", (200, "42")),
    ("error_32603", (200, '{"jsonrpc":"2.0","id":0,"error":{"code":-32603,"message":"internal error"}}')),
    ("error_weird", (200, '{"jsonrpc":"2.0","id":0,"error":"nope"}')),
    ("result_not_hex", (200, '{"jsonrpc":"2.0","id":0,"result":"banana"}')),
    ("result_object", (200, '{"jsonrpc":"2.0","id":0,"result":{"a":1}}')),
    ("wrong_chain", (200, '{"jsonrpc":"2.0","id":0,"result":"0x1"}')),
    ("http_500", (500, "oops")), ("http_404", (404, "not here")), ("http_401", (401, "{}")),
    ("http_429", (429, "slow down")), ("bad_utf8", (200, b'{"result":"\xff\xfe"}')),
]


@pytest.fixture(scope="module")
def garbage_server():
    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Garbage)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()


@pytest.mark.parametrize("case", RPC_CASES, ids=[c[0] for c in RPC_CASES])
def test_rpc_garbage_is_one_line(tmp_path, garbage_server, case):
    _id, answer = case
    _Garbage.answer = answer
    sections = {**SECTIONS, "chains.devnet": {**SECTIONS["chains.devnet"],
                                             "rpc_urls": [f"http://127.0.0.1:{garbage_server.server_address[1]}"]}}
    path = tmp_path / "c.toml"
    path.write_text(render(sections, CDP_PARAMS))
    rc, _out, err = cli("status", "--config", str(path))
    line = one_line(rc, err)
    assert "chain 'devnet'" in line, line
    assert "KeyError" not in line and "result" not in line.split("chain 'devnet'")[0]


# ------------------------------------------------------------------------------------------------ processes
def test_a_few_as_real_processes(tmp_path, garbage_server):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert "not a regular file" in one_line_error(posman("status", "--config", str(fifo), timeout=30))
    bad = dict(CDP_PARAMS, cooldown_s=math.inf)
    path = tmp_path / "c.toml"
    path.write_text(render(SECTIONS, bad))
    assert "positions[0].params.cooldown_s" in one_line_error(posman("status", "--config", str(path), timeout=30))
    _Garbage.answer = (200, '{"jsonrpc":"2.0","id":0}')
    sections = {**SECTIONS, "chains.devnet": {**SECTIONS["chains.devnet"],
                                             "rpc_urls": [f"http://127.0.0.1:{garbage_server.server_address[1]}"]}}
    path.write_text(render(sections, CDP_PARAMS))
    assert "chain 'devnet'" in one_line_error(posman("status", "--config", str(path), timeout=30))
