"""Loopback alert receivers for the demo and the end-to-end tests: an HTTP server that records every
POST (the JSON/Slack webhooks) and an SMTP server (aiosmtpd) that records every message."""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LOOPBACK = "127.0.0.1"


@dataclass
class Received:
    path: str
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookServer:
    """Records POSTs; answers 200."""

    requests: list[Received] = field(default_factory=list)
    port: int = 0
    _server: Any = None
    _thread: Any = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> WebhookServer:
        state = self
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with lock:
                    state.requests.append(Received(self.path, body))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def on(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class _SMTPHandler:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                              "data": envelope.content.decode("utf-8", "replace")})
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


@dataclass
class SmtpServer:
    """aiosmtpd on loopback; ``messages`` holds every mail received."""

    port: int = 0
    _controller: Any = None
    _handler: Any = None

    def start(self) -> SmtpServer:
        from aiosmtpd.controller import Controller

        self._handler = _SMTPHandler()
        self.port = _free_port()
        self._controller = Controller(self._handler, hostname=LOOPBACK, port=self.port, ready_timeout=5.0)
        self._controller.start()
        return self

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self._handler.messages) if self._handler else []

    def subjects(self) -> list[str]:
        out = []
        for m in self.messages:
            for line in m["data"].splitlines():
                if line.lower().startswith("subject:"):
                    out.append(line.split(":", 1)[1].strip())
                    break
        return out

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


def wait_until(predicate: Any, timeout_s: float = 5.0, step_s: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step_s)
    return bool(predicate())
