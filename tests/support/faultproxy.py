"""A seeded fault-injecting JSON-RPC proxy on loopback, in front of a real node (the devnet's anvil).

Each HTTP request is forwarded to ``upstream`` unless the proxy's seeded RNG picks a fault for it (with
probability ``rate``), one of:

- ``hang``: hold the request ``hang_s`` (past the client's timeout), then close without an answer;
- ``http5xx``: answer HTTP 502/503 without forwarding;
- ``reset``: close the connection with a TCP reset, nothing forwarded;
- ``garbage``: answer 200 with bytes that are not JSON;
- ``truncated``: forward, then answer the first half of the node's JSON;
- ``rpc_error``: answer a JSON-RPC error object (-32603 "internal error") without forwarding;
- ``lag``: a lagging node: ``eth_blockNumber`` / ``eth_getBlockByNumber("latest")`` answered ``lag_blocks``
  behind the head (other methods forwarded as they are);
- ``lost_answer``: forward (the node acts: a transaction is sent), then reset the connection (the answer is
  lost) - the case that makes a sender re-send.

``counts`` tallies what was injected, per fault, and ``requests`` how many requests came in.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import random
import socket
import socketserver
import struct
import threading
import time
import urllib.request
from collections import Counter
from typing import Any

FAULTS = ("hang", "http5xx", "reset", "garbage", "truncated", "rpc_error", "lag", "lost_answer")


class FaultProxy:
    def __init__(self, upstream: str, *, seed: int, rate: float = 0.2, hang_s: float = 1.0, lag_blocks: int = 3,
                 faults: tuple[str, ...] = FAULTS) -> None:
        self.upstream = upstream
        self.rate = rate
        self.hang_s = hang_s
        self.lag_blocks = lag_blocks
        self.faults = faults
        self.enabled = True
        self.counts: Counter[str] = Counter()
        self.requests = 0
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                proxy._handle(self)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.handle_error = lambda *_a: None  # a client that gave up (timeout) is not our error
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ------------------------------------------------------------------ handling
    def _pick(self) -> str | None:
        with self._lock:
            self.requests += 1
            if not self.enabled or self._rng.random() >= self.rate:
                return None
            fault = self._rng.choice(self.faults)
            self.counts[fault] += 1
            return fault

    def _forward(self, body: bytes) -> bytes:
        req = urllib.request.Request(self.upstream, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.read()

    def _answer(self, h: http.server.BaseHTTPRequestHandler, status: int, body: bytes) -> None:
        with contextlib.suppress(OSError):
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)

    @staticmethod
    def _reset(h: http.server.BaseHTTPRequestHandler) -> None:
        with contextlib.suppress(OSError):
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        h.close_connection = True

    def _handle(self, h: http.server.BaseHTTPRequestHandler) -> None:
        body = h.rfile.read(int(h.headers.get("Content-Length", 0)))
        fault = self._pick()
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if fault == "hang":
            time.sleep(self.hang_s)
            self._reset(h)
            return
        if fault == "http5xx":
            self._answer(h, 503, b"service unavailable")
            return
        if fault == "reset":
            self._reset(h)
            return
        if fault == "garbage":
            self._answer(h, 200, b"\x00\x01 not json <html>")
            return
        if fault == "rpc_error":
            ids = [p.get("id") for p in payload] if isinstance(payload, list) else [(payload or {}).get("id")]
            errs = [{"jsonrpc": "2.0", "id": i, "error": {"code": -32603, "message": "internal error"}} for i in ids]
            self._answer(h, 200, json.dumps(errs if isinstance(payload, list) else errs[0]).encode())
            return
        if fault == "lag" and isinstance(payload, dict) and payload.get("method") in ("eth_blockNumber",
                                                                                       "eth_getBlockByNumber"):
            self._answer(h, 200, self._lagging(payload))
            return
        try:
            answer = self._forward(body)
        except Exception:
            self._answer(h, 502, b"bad gateway")
            return
        if fault == "truncated":
            self._answer(h, 200, answer[: max(1, len(answer) // 2)])
            return
        if fault == "lost_answer":
            self._reset(h)
            return
        self._answer(h, 200, answer)

    def _lagging(self, payload: dict[str, Any]) -> bytes:
        head = int(json.loads(self._forward(json.dumps(
            {"jsonrpc": "2.0", "id": 0, "method": "eth_blockNumber", "params": []}).encode()))["result"], 16)
        behind = max(0, head - self.lag_blocks)
        if payload["method"] == "eth_blockNumber":
            return json.dumps({"jsonrpc": "2.0", "id": payload.get("id"), "result": hex(behind)}).encode()
        params = list(payload.get("params") or ["latest", False])
        if params and params[0] == "latest":
            params[0] = hex(behind)
        return self._forward(json.dumps({**payload, "params": params}).encode())
