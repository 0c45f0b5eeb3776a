"""Real loopback servers for channel tests: a recording HTTP server and an aiosmtpd SMTP server.

Everything binds to 127.0.0.1 on an ephemeral port and is shut down after the test.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from manager.persistence import Database, Repository

LOOPBACK = "127.0.0.1"


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class RecordingHTTPServer:
    """Records every POST; answers with the next queued status (200 when the queue is empty)."""

    requests: list[RecordedRequest] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    delay_s: float = 0.0
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def wait_for(self, count: int, timeout_s: float = 5.0) -> list[RecordedRequest]:
        deadline = time.monotonic() + timeout_s
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.requests)


@pytest.fixture
def http_server() -> Iterator[RecordingHTTPServer]:
    state = RecordingHTTPServer()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            with state.lock:
                state.requests.append(RecordedRequest(self.path, dict(self.headers.items()), body))
                status = state.statuses.pop(0) if state.statuses else 200
            if state.delay_s:
                time.sleep(state.delay_s)
            payload = b'{"ok": true}' if status < 400 else b'{"ok": false}'
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

    server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class RecordingSMTPHandler:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            {
                "mail_from": envelope.mail_from,
                "rcpt_tos": list(envelope.rcpt_tos),
                "data": envelope.content.decode("utf-8", "replace"),
                "login": session.auth_data,
            }
        )
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


@dataclass
class SMTPServer:
    host: str
    port: int
    handler: RecordingSMTPHandler

    def wait_for(self, count: int, timeout_s: float = 5.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while len(self.handler.messages) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.handler.messages)


def _start_smtp(**kwargs: Any) -> tuple[Controller, SMTPServer]:
    handler = RecordingSMTPHandler()
    controller = Controller(handler, hostname=LOOPBACK, port=_free_port(), ready_timeout=5.0, **kwargs)
    controller.start()
    return controller, SMTPServer(LOOPBACK, controller.port, handler)


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    controller, server = _start_smtp()
    try:
        yield server
    finally:
        controller.stop()


SMTP_USER, SMTP_PASSWORD = "alerts@example.test", "correct horse battery"


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
    from aiosmtpd.smtp import AuthResult

    ok = auth_data.login == SMTP_USER.encode() and auth_data.password == SMTP_PASSWORD.encode()
    # handled=False: let aiosmtpd answer "535" itself on a failure (its default sends nothing)
    return AuthResult(success=ok, handled=False, auth_data=auth_data.login if ok else None)


@pytest.fixture
def smtp_auth_server() -> Iterator[SMTPServer]:
    controller, server = _start_smtp(
        authenticator=_authenticator,
        auth_require_tls=False,
        auth_required=True,
    )
    try:
        yield server
    finally:
        controller.stop()


@pytest.fixture
def repo(tmp_path) -> Repository:
    return Repository(Database(f"sqlite:///{tmp_path / 'posman.sqlite'}"))


@pytest.fixture
def db_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'posman.sqlite'}"
