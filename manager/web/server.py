"""The HTTP server of ``posman run --http HOST:PORT``: ``/``, ``/metrics`` and ``/api/...`` on a thread.

Routes (GET only; JSON unless said):

- ``/``: the dashboard page (``static/index.html``; no external resource, a CSP forbids any);
- ``/metrics``: Prometheus text format (``manager.web.metrics``);
- ``/api/positions``: every configured position at the last tick (``WebState.positions``);
- ``/api/history?name=NAME[&limit=N]``: the position's health series (oldest first) and its actions;
- ``/api/alerts[?limit=N]``, ``/api/transactions[?limit=N]``: newest first;
- ``/api/oracles``: every feed at the last tick; ``/api/health``: the manager's own state (``version``
  changes at every tick: the page polls it and reloads the rest when it moves).

Listen address rules (``parse_listen``): ``HOST:PORT`` with an IP literal or ``localhost`` (``[::1]:PORT``
for IPv6); port 0 picks a free port. The page has no authentication, so a host outside the loopback
range is refused unless the user passes ``--http-allow-remote``. Served on loopback, requests whose
``Host`` header is not a loopback name are refused (a web page elsewhere cannot read it through DNS
rebinding).

``ThreadingHTTPServer`` serves each request on its own daemon thread; a poller thread refreshes the
chain head and reads receipts with the view's own RPC clients. Neither touches the runtime's thread.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from manager.errors import ConfigError
from manager.web.metrics import CONTENT_TYPE, build_registry, render
from manager.web.state import WebState, finite

log = logging.getLogger("posman.web")

MAX_LIMIT = 5000
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
_CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


@dataclass(frozen=True)
class Listen:
    host: str
    port: int
    loopback: bool

    @property
    def family(self) -> int:
        return socket.AF_INET6 if ":" in self.host else socket.AF_INET


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_listen(value: str, *, allow_remote: bool = False) -> Listen:
    """``HOST:PORT`` as given to ``--http`` (see the module docstring); ``ConfigError`` (one line) if bad."""
    text = (value or "").strip()
    hint = "expected HOST:PORT, e.g. 127.0.0.1:8787 or [::1]:8787"
    if text.startswith("["):
        host, sep, port_s = text[1:].partition("]:")
        if not sep:
            raise ConfigError(f"--http {value!r}: {hint}", field="http", value=value)
    else:
        host, sep, port_s = text.rpartition(":")
        if not sep or ":" in host:
            raise ConfigError(f"--http {value!r}: {hint}", field="http", value=value)
    if not host:
        raise ConfigError(f"--http {value!r}: the host is missing; {hint}", field="http", value=value)
    if not port_s.isdigit() or not 0 <= int(port_s) <= 65535:
        raise ConfigError(f"--http {value!r}: port {port_s!r} must be a number from 0 to 65535 (0: any free port)",
                          field="http", value=value)
    loopback = _is_loopback(host)
    if not loopback:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            if not allow_remote:
                raise ConfigError(f"--http {value!r}: host {host!r} is not an IP address or localhost",
                                  field="http", value=value) from None
        if not allow_remote:
            raise ConfigError(
                f"--http {value!r}: {host} is not a loopback address and the dashboard has no authentication; "
                "serve it on 127.0.0.1 (e.g. behind an SSH tunnel) or pass --http-allow-remote",
                field="http", value=value)
    bind = "127.0.0.1" if host.lower() in _LOOPBACK_NAMES else host
    return Listen(host=bind, port=int(port_s), loopback=loopback)


def _page() -> bytes:
    return resources.files("manager.web").joinpath("static/index.html").read_bytes()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, listen: Listen, app: WebServer) -> None:
        self.address_family = listen.family
        self.app = app
        super().__init__((listen.host, listen.port), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "posman"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("event=http_request client=%s " + format, self.client_address[0], *args)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", _CSP)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, payload: Any) -> None:
        body = json.dumps(_clean(payload), allow_nan=False, separators=(",", ":")).encode()
        self._send(status, body, "application/json")

    def _host_ok(self) -> bool:
        if not self.server.app.listen.loopback:
            return True
        host = (self.headers.get("Host") or "").strip()
        if host.startswith("["):
            name = host[1:].partition("]")[0]
        else:
            name = host.rpartition(":")[0] if ":" in host else host
        return _is_loopback(name)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        if not self._host_ok():
            self._json(403, {"error": "Host header is not a loopback name; the dashboard serves local clients only"})
            return
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            self._route(url.path, query)
        except _BadRequest as exc:
            self._json(400, {"error": str(exc)})
        except BrokenPipeError:
            pass
        except Exception as exc:  # a bug in the view: one JSON line, the manager goes on
            log.warning("event=http_error path=%s error_type=%s error=%r", url.path, type(exc).__name__, str(exc)[:300])
            self._json(500, {"error": f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"})

    def _route(self, path: str, query: dict[str, str]) -> None:
        app = self.server.app
        state = app.state
        if path in ("/", "/index.html"):
            self._send(200, app.page, "text/html; charset=utf-8")
        elif path == "/metrics":
            self._send(200, render(app.registry), CONTENT_TYPE)
        elif path == "/api/positions":
            self._json(200, {"block_number": state.health()["last_block"], "positions": state.positions()})
        elif path == "/api/history":
            name = query.get("name")
            if not name:
                raise _BadRequest("history needs ?name=POSITION")
            got = state.history(name, limit=_limit(query, 300))
            if got is None:
                known = ", ".join(p.name for p in state.cfg.positions)
                self._json(404, {"error": f"no position named {name!r}; configured: {known}"})
                return
            self._json(200, got)
        elif path == "/api/alerts":
            self._json(200, {"alerts": state.alerts(limit=_limit(query, 50))})
        elif path == "/api/transactions":
            self._json(200, {"transactions": state.transactions(limit=_limit(query, 50))})
        elif path == "/api/oracles":
            self._json(200, {"oracles": state.oracles()})
        elif path == "/api/health":
            self._json(200, state.health())
        else:
            self._json(404, {"error": f"no such path {path!r}; try /, /metrics, /api/positions, /api/history?name=, "
                                      "/api/alerts, /api/transactions, /api/oracles, /api/health"})


class _BadRequest(Exception):
    pass


def _limit(query: dict[str, str], default: int) -> int:
    raw = query.get("limit")
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise _BadRequest(f"limit must be a whole number from 1 to {MAX_LIMIT}, got {raw!r}")
    return int(raw)


def _clean(value: Any) -> Any:
    """JSON-safe: non-finite floats -> null, tuples -> lists, big ints stay ints."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return finite(value)


class WebServer:
    """The running view: HTTP server thread + poller thread over one ``WebState``."""

    def __init__(self, manager: Any, listen: Listen, *, poll_s: float | None = None,
                 clients: dict[str, Any] | None = None) -> None:
        self.listen = listen
        self.state = WebState(manager, clients=clients)
        self.registry = build_registry(self.state)
        self.page = _page()
        self.poll_s = poll_s if poll_s is not None else max(0.5, float(manager.cfg.runtime.poll_interval_s))
        self._stop = threading.Event()
        try:
            self._httpd = _Server(listen, self)
        except OSError as exc:
            raise ConfigError(f"--http {listen.host}:{listen.port}: cannot listen there: {exc.strerror or exc}",
                              field="http") from None
        self.state.attach()
        self._threads = [
            threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2},
                             name="posman-http", daemon=True),
            threading.Thread(target=self._poll, name="posman-web-poller", daemon=True),
        ]
        for t in self._threads:
            t.start()
        log.info("event=http_serving url=%s", self.url)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        host = self.listen.host
        return f"http://{'[' + host + ']' if ':' in host else host}:{self.port}/"

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                self.state.poll_once()
            except Exception as exc:  # pragma: no cover - the poller retries next round
                log.warning("event=web_poll_failed error_type=%s error=%r", type(exc).__name__, str(exc)[:200])
            self._stop.wait(self.poll_s)

    def close(self) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self.state.detach()
        for t in self._threads:
            t.join(timeout=5)


def start_web(manager: Any, listen: str | Listen, *, allow_remote: bool = False, **kwargs: Any) -> WebServer:
    """Serve ``manager``'s view at ``listen`` (``HOST:PORT``) from background threads; ``close()`` stops it."""
    where = listen if isinstance(listen, Listen) else parse_listen(listen, allow_remote=allow_remote)
    return WebServer(manager, where, **kwargs)
