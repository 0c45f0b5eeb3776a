"""Alert channels: log line, JSON / Slack / Discord webhooks, Telegram, email (SMTP).

Payload builders (``json_payload``, ``slack_payload``, ``discord_payload``, ``telegram_payload``,
``email_message``) are pure functions of the alert. Channels send with the standard library only
(``urllib.request``, ``smtplib``), with a timeout and a few retries with exponential backoff; a failure
raises ``ChannelError`` whose message never contains a secret (token, password, secret URL).
``build_channels`` turns ``AlertsConfig.channels`` into channel objects, reading secrets from the
environment at that moment and failing with a one-line ``ConfigError`` when one is missing.
"""

from __future__ import annotations

import html
import json
import logging
import os
import smtplib
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, ClassVar

from manager.alerts.config import (
    SEVERITY_RANK,
    AlertsConfig,
    ChannelConfig,
    EmailChannelConfig,
    LogChannelConfig,
    TelegramChannelConfig,
    WebhookChannelConfig,
    channel_name,
)
from manager.alerts.model import Alert
from manager.errors import ConfigError, RetryableError

log = logging.getLogger("posman.alerts")

USER_AGENT = "posman-alerts/1"
SEVERITY_EMOJI = {"info": "ℹ️", "warning": "⚠️", "critical": "🚨"}
DISCORD_COLOR = {"info": 0x2ECC71, "warning": 0xF1C40F, "critical": 0xE74C3C}
# Limits of the receiving APIs (characters); longer text is cut with an ellipsis.
SLACK_HEADER_MAX = 150
SLACK_TEXT_MAX = 3000
SLACK_FIELDS_MAX = 10
DISCORD_CONTENT_MAX = 2000
DISCORD_TITLE_MAX = 256
DISCORD_DESCRIPTION_MAX = 4096
DISCORD_FIELDS_MAX = 25
DISCORD_FIELD_VALUE_MAX = 1024
TELEGRAM_TEXT_MAX = 4096


class ChannelError(RetryableError):
    """A channel did not take an alert (after its retries). The message holds no secret."""


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _field_text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _shown_fields(alert: Alert) -> dict[str, str]:
    shown: dict[str, str] = {"severity": alert.severity, "kind": alert.kind}
    if alert.position:
        shown["position"] = alert.position
    if alert.block_number is not None:
        shown["block"] = str(alert.block_number)
    shown.update({k: _field_text(v) for k, v in alert.fields.items()})
    return shown


# ------------------------------------------------------------------------------------------------
# payloads (pure)
# ------------------------------------------------------------------------------------------------
def json_payload(alert: Alert) -> dict[str, Any]:
    """The alert itself, as JSON-ready data (generic webhook)."""
    return {"source": "posman", **alert.model_dump(mode="json")}


def slack_payload(alert: Alert) -> dict[str, Any]:
    """A Slack incoming-webhook message: ``text`` fallback plus Block Kit ``blocks``."""
    emoji = SEVERITY_EMOJI[alert.severity]
    fields = [{"type": "mrkdwn", "text": _cut(f"*{k}*\n{v}", 2000)} for k, v in _shown_fields(alert).items()][
        :SLACK_FIELDS_MAX
    ]
    return {
        "text": _cut(f"{emoji} [{alert.severity.upper()}] {alert.title}", SLACK_TEXT_MAX),
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": _cut(f"{emoji} {alert.title}", SLACK_HEADER_MAX)},
            },
            {"type": "section", "text": {"type": "mrkdwn", "text": _cut(alert.message, SLACK_TEXT_MAX)}},
            {"type": "section", "fields": fields},
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": f"posman · {alert.transition} · `{alert.episode_key}`"}
                ],
            },
        ],
    }


def discord_payload(alert: Alert) -> dict[str, Any]:
    """A Discord webhook message: short ``content`` plus one embed with fields."""
    timestamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(alert.at_s))
    return {
        "content": _cut(
            f"{SEVERITY_EMOJI[alert.severity]} [{alert.severity.upper()}] {alert.title}", DISCORD_CONTENT_MAX
        ),
        "embeds": [
            {
                "title": _cut(alert.title, DISCORD_TITLE_MAX),
                "description": _cut(alert.message, DISCORD_DESCRIPTION_MAX),
                "color": DISCORD_COLOR[alert.severity],
                "timestamp": timestamp,
                "fields": [
                    {"name": _cut(k, 256), "value": _cut(v, DISCORD_FIELD_VALUE_MAX), "inline": True}
                    for k, v in _shown_fields(alert).items()
                ][:DISCORD_FIELDS_MAX],
                "footer": {"text": _cut(f"posman · {alert.transition} · {alert.episode_key}", 2048)},
            }
        ],
    }


def telegram_payload(alert: Alert, *, chat_id: str, parse_mode: str = "HTML") -> dict[str, Any]:
    """Telegram ``sendMessage`` body (HTML-escaped when ``parse_mode`` is HTML)."""
    lines = [f"{k}: {v}" for k, v in _shown_fields(alert).items()]
    if parse_mode == "HTML":
        text = (
            f"{SEVERITY_EMOJI[alert.severity]} <b>{html.escape(alert.title)}</b>\n"
            f"{html.escape(alert.message)}\n\n" + "\n".join(html.escape(line) for line in lines)
        )
        return {"chat_id": chat_id, "text": _cut(text, TELEGRAM_TEXT_MAX), "parse_mode": "HTML"}
    text = f"{SEVERITY_EMOJI[alert.severity]} {alert.title}\n{alert.message}\n\n" + "\n".join(lines)
    return {"chat_id": chat_id, "text": _cut(text, TELEGRAM_TEXT_MAX)}


def email_message(
    alert: Alert, *, from_addr: str, to_addrs: list[str], subject_prefix: str = "[posman]"
) -> EmailMessage:
    """A plain-text email for the alert."""
    message = EmailMessage()
    message["Subject"] = f"{subject_prefix} {alert.severity.upper()}: {alert.title}".replace("\n", " ")
    message["From"] = from_addr
    message["To"] = ", ".join(to_addrs)
    message["Date"] = formatdate(alert.at_s, usegmt=True)
    message["Message-ID"] = make_msgid(domain="posman.local")
    message["X-Posman-Episode"] = alert.episode_key
    body = [alert.message, ""] + [f"{k}: {v}" for k, v in _shown_fields(alert).items()]
    body += ["", f"transition: {alert.transition}", f"episode: {alert.episode_key}"]
    message.set_content("\n".join(body))
    return message


def log_line(alert: Alert) -> str:
    """One structured line: ``event=alert kind=... severity=... position=... block=... title="..."``."""
    parts = [
        "event=alert",
        f"kind={alert.kind}",
        f"severity={alert.severity}",
        f"transition={alert.transition}",
        f"episode={json.dumps(alert.episode_key)}",
        f"position={alert.position or '-'}",
        f"block={alert.block_number if alert.block_number is not None else '-'}",
        f"title={json.dumps(alert.title, ensure_ascii=False)}",
        f"message={json.dumps(alert.message, ensure_ascii=False)}",
    ]
    parts += [f"{k}={json.dumps(v)}" for k, v in alert.fields.items()]
    return " ".join(parts)


# ------------------------------------------------------------------------------------------------
# transport
# ------------------------------------------------------------------------------------------------
def post_json(
    url: str,
    payload: Mapping[str, Any],
    *,
    timeout_s: float,
    retries: int,
    backoff_s: float,
    label: str,
    secrets: tuple[str, ...] = (),
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """POST ``payload`` as JSON; retry timeouts, connection errors, 429 and 5xx. Returns the HTTP status.

    ``label`` names the destination in errors (never the URL, which may be a secret); ``secrets`` are
    scrubbed from any error text as well.
    """
    body = json.dumps(payload).encode()
    last_error = "no attempt"
    for attempt in range(retries + 1):
        if attempt:
            sleep(backoff_s * 2 ** (attempt - 1))
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                response.read(65_536)
                return int(response.status)
        except urllib.error.HTTPError as exc:
            last_error = f"HTTP {exc.code} {exc.reason}"
            if exc.code != 429 and exc.code < 500:
                break  # the request itself is wrong: retrying will not help
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            last_error = f"{type(exc).__name__}: {reason}"
    raise ChannelError(
        f"{label}: POST failed after {attempt + 1} attempt(s): {_scrub(last_error, secrets)}", channel=label
    )


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return " ".join(text.split())


# ------------------------------------------------------------------------------------------------
# channels
# ------------------------------------------------------------------------------------------------
class Channel:
    """Base: a named destination that sends one alert or raises ``ChannelError``."""

    def __init__(self, name: str, *, min_severity: str = "info") -> None:
        self.name = name
        self.min_severity = min_severity

    def accepts(self, alert: Alert) -> bool:
        """Whether this channel takes alerts of ``alert.severity``."""
        return SEVERITY_RANK[alert.severity] >= SEVERITY_RANK[self.min_severity]

    def send(self, alert: Alert) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class LogChannel(Channel):
    """Writes ``log_line(alert)`` on the ``posman.alerts`` logger at a level matching the severity."""

    LEVELS: ClassVar[dict[str, int]] = {
        "info": logging.INFO,
        "warning": logging.WARNING,
        "critical": logging.CRITICAL,
    }

    def __init__(
        self, name: str = "log", *, min_severity: str = "info", logger: logging.Logger | None = None
    ) -> None:
        super().__init__(name, min_severity=min_severity)
        self.logger = logger or log

    def send(self, alert: Alert) -> None:
        self.logger.log(self.LEVELS[alert.severity], "%s", log_line(alert))


class WebhookChannel(Channel):
    """POSTs the alert as generic JSON, a Slack message or a Discord message."""

    FORMATS: ClassVar[dict[str, Callable[[Alert], dict[str, Any]]]] = {
        "json": json_payload,
        "slack": slack_payload,
        "discord": discord_payload,
    }

    def __init__(
        self,
        name: str,
        *,
        url: str,
        format: str = "json",
        min_severity: str = "info",
        timeout_s: float = 5.0,
        retries: int = 2,
        backoff_s: float = 0.5,
        url_is_secret: bool = True,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(name, min_severity=min_severity)
        if format not in self.FORMATS:
            raise ConfigError(f"webhook format={format!r} is not valid; allowed: {', '.join(self.FORMATS)}")
        self._url = url
        self.format = format
        self.timeout_s, self.retries, self.backoff_s = timeout_s, retries, backoff_s
        self._secrets = (url,) if url_is_secret else ()
        self._sleep = sleep

    def __repr__(self) -> str:  # never show the URL
        return f"WebhookChannel(name={self.name!r}, format={self.format!r})"

    def send(self, alert: Alert) -> None:
        post_json(
            self._url,
            self.FORMATS[self.format](alert),
            timeout_s=self.timeout_s,
            retries=self.retries,
            backoff_s=self.backoff_s,
            label=f"channel {self.name}",
            secrets=self._secrets,
            sleep=self._sleep,
        )


class TelegramChannel(Channel):
    """Bot API ``sendMessage``: POST ``{chat_id, text, parse_mode}`` to ``<base>/bot<token>/sendMessage``."""

    def __init__(
        self,
        name: str,
        *,
        token: str,
        chat_id: str,
        api_base_url: str = "https://api.telegram.org",
        parse_mode: str = "HTML",
        min_severity: str = "info",
        timeout_s: float = 5.0,
        retries: int = 2,
        backoff_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(name, min_severity=min_severity)
        self._token = token
        self.chat_id = chat_id
        self.api_base_url = api_base_url.rstrip("/")
        self.parse_mode = parse_mode
        self.timeout_s, self.retries, self.backoff_s = timeout_s, retries, backoff_s
        self._sleep = sleep

    def __repr__(self) -> str:  # never show the token
        return f"TelegramChannel(name={self.name!r}, chat_id={self.chat_id!r})"

    def send(self, alert: Alert) -> None:
        post_json(
            f"{self.api_base_url}/bot{self._token}/sendMessage",
            telegram_payload(alert, chat_id=self.chat_id, parse_mode=self.parse_mode),
            timeout_s=self.timeout_s,
            retries=self.retries,
            backoff_s=self.backoff_s,
            label=f"channel {self.name}",
            secrets=(self._token,),
            sleep=self._sleep,
        )


class EmailChannel(Channel):
    """Sends a plain-text email over SMTP (STARTTLS or implicit TLS optional, login optional)."""

    def __init__(
        self,
        name: str,
        *,
        host: str,
        port: int,
        from_addr: str,
        to_addrs: list[str],
        starttls: bool = True,
        use_ssl: bool = False,
        username: str | None = None,
        password: str | None = None,
        subject_prefix: str = "[posman]",
        min_severity: str = "info",
        timeout_s: float = 10.0,
        retries: int = 1,
        backoff_s: float = 0.5,
        ssl_context: ssl.SSLContext | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(name, min_severity=min_severity)
        self.host, self.port = host, port
        self.from_addr, self.to_addrs = from_addr, list(to_addrs)
        self.starttls, self.use_ssl = starttls, use_ssl
        self._username, self._password = username, password
        self.subject_prefix = subject_prefix
        self.timeout_s, self.retries, self.backoff_s = timeout_s, retries, backoff_s
        self._ssl_context = ssl_context
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"EmailChannel(name={self.name!r}, host={self.host!r}, port={self.port})"

    def send(self, alert: Alert) -> None:
        message = email_message(
            alert, from_addr=self.from_addr, to_addrs=self.to_addrs, subject_prefix=self.subject_prefix
        )
        last_error = "no attempt"
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                self._send_once(message)
                return
            except smtplib.SMTPAuthenticationError as exc:
                last_error = f"authentication failed (SMTP {exc.smtp_code})"
                break
            except (smtplib.SMTPException, OSError) as exc:
                last_error = f"{type(exc).__name__}: {exc}"
        secrets = tuple(s for s in (self._password,) if s)
        raise ChannelError(
            f"channel {self.name}: SMTP to {self.host}:{self.port} failed after {attempt + 1} attempt(s): "
            f"{_scrub(last_error, secrets)}",
            channel=self.name,
        )

    def _send_once(self, message: EmailMessage) -> None:
        context = self._ssl_context or ssl.create_default_context()
        smtp: smtplib.SMTP
        if self.use_ssl:
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout_s, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
        with smtp:
            smtp.ehlo()
            if self.starttls and not self.use_ssl:
                smtp.starttls(context=context)
                smtp.ehlo()
            if self._username is not None and self._password is not None:
                smtp.login(self._username, self._password)
            smtp.send_message(message, from_addr=self.from_addr, to_addrs=self.to_addrs)


# ------------------------------------------------------------------------------------------------
# construction from config
# ------------------------------------------------------------------------------------------------
def _secret(env: Mapping[str, str], var: str, where: str) -> str:
    value = env.get(var, "")
    if not value:
        raise ConfigError(
            f"alerts.{where}: env var {var} is not set (it must hold the secret)", field=where, env_var=var
        )
    return value


def build_channel(config: ChannelConfig, *, index: int, env: Mapping[str, str] | None = None) -> Channel:
    """One channel from its config; secrets are read from ``env`` (default: the process environment)."""
    env = os.environ if env is None else env
    name = channel_name(config)
    where = f"channels[{index}] ({name})"
    if isinstance(config, LogChannelConfig):
        return LogChannel(name, min_severity=config.min_severity)
    if isinstance(config, WebhookChannelConfig):
        url = config.url if config.url is not None else _secret(env, config.url_env or "", where)
        if not url.startswith(("http://", "https://")):
            raise ConfigError(
                f"alerts.{where}: the webhook URL must start with http:// or https://", field=where
            )
        return WebhookChannel(
            name,
            url=url,
            format=config.format,
            min_severity=config.min_severity,
            timeout_s=config.timeout_s,
            retries=config.retries,
            backoff_s=config.backoff_s,
            url_is_secret=config.url is None,
        )
    if isinstance(config, TelegramChannelConfig):
        return TelegramChannel(
            name,
            token=_secret(env, config.token_env, where),
            chat_id=config.chat_id,
            api_base_url=config.api_base_url,
            parse_mode=config.parse_mode,
            min_severity=config.min_severity,
            timeout_s=config.timeout_s,
            retries=config.retries,
            backoff_s=config.backoff_s,
        )
    if isinstance(config, EmailChannelConfig):
        username = _secret(env, config.username_env, where) if config.username_env else None
        password = _secret(env, config.password_env, where) if config.password_env else None
        return EmailChannel(
            name,
            host=config.host,
            port=config.port,
            from_addr=config.from_addr,
            to_addrs=config.to_addrs,
            starttls=config.starttls,
            use_ssl=config.ssl,
            username=username,
            password=password,
            subject_prefix=config.subject_prefix,
            min_severity=config.min_severity,
            timeout_s=config.timeout_s,
        )
    raise ConfigError(f"alerts.{where}: unknown channel type {type(config).__name__}")  # pragma: no cover


def build_channels(config: AlertsConfig, *, env: Mapping[str, str] | None = None) -> list[Channel]:
    """The enabled channels of ``config``, in order."""
    return [build_channel(c, index=i, env=env) for i, c in enumerate(config.channels) if c.enabled]
