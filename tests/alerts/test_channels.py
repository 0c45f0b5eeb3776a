"""Each channel against a real loopback server: payload shape, retries, timeouts, secrets kept out."""

from __future__ import annotations

import email
import logging
import time

import pytest

from manager.alerts import (
    Alert,
    ChannelError,
    EmailChannel,
    LogChannel,
    TelegramChannel,
    WebhookChannel,
    json_payload,
)

from .conftest import SMTP_PASSWORD, SMTP_USER

# the test SMTP server allows AUTH without TLS on loopback on purpose
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

TOKEN = "123456:SECRET-bot-token-value"


def alert(**overrides) -> Alert:
    values = dict(
        kind="health_critical",
        severity="critical",
        episode_key="health:main",
        transition="escalate",
        title="main: health factor 1.1200 in critical band",
        message="Health factor 1.1200 is below the critical threshold 1.15 <was warning>.",
        position="main",
        fields={"health_factor": 1.12, "band": "critical"},
        block_number=19_000_001,
        at_s=1_700_000_000.0,
    )
    values.update(overrides)
    return Alert(**values)


def no_sleep(sleeps):
    return sleeps.append


def test_json_webhook_posts_the_alert(http_server):
    WebhookChannel("hook", url=f"{http_server.url}/alerts", format="json").send(alert())
    (request,) = http_server.requests
    assert request.path == "/alerts"
    assert request.headers["Content-Type"] == "application/json"
    assert request.json == json_payload(alert())
    assert Alert.model_validate({k: v for k, v in request.json.items() if k != "source"}) == alert()


def test_slack_format(http_server):
    WebhookChannel("slack", url=http_server.url, format="slack").send(alert())
    body = http_server.requests[0].json
    assert set(body) == {"text", "blocks"}
    assert "[CRITICAL] main: health factor 1.1200" in body["text"]
    header, section, fields, context = body["blocks"]
    assert header["type"] == "header" and "critical band" in header["text"]["text"]
    assert section["text"]["text"].startswith("Health factor 1.1200")
    assert {"type": "mrkdwn", "text": "*position*\nmain"} in fields["fields"]
    assert "health:main" in context["elements"][0]["text"]


def test_discord_format(http_server):
    WebhookChannel("discord", url=http_server.url, format="discord").send(alert())
    body = http_server.requests[0].json
    assert set(body) == {"content", "embeds"}
    (embed,) = body["embeds"]
    assert embed["title"] == alert().title and embed["color"] == 0xE74C3C
    assert {"name": "block", "value": "19000001", "inline": True} in embed["fields"]
    assert embed["timestamp"] == "2023-11-14T22:13:20Z"


def test_long_text_is_cut_to_the_api_limits(http_server):
    WebhookChannel("discord", url=http_server.url, format="discord").send(
        alert(title="x" * 5000, message="y" * 9000)
    )
    embed = http_server.requests[0].json["embeds"][0]
    assert len(embed["title"]) == 256 and embed["title"].endswith("…")
    assert len(embed["description"]) == 4096


def test_telegram_send_message(http_server, caplog):
    caplog.set_level(logging.DEBUG)
    channel = TelegramChannel("tg", token=TOKEN, chat_id="-100123", api_base_url=http_server.url)
    channel.send(alert())
    (request,) = http_server.requests
    assert request.path == f"/bot{TOKEN}/sendMessage"
    body = request.json
    assert (body["chat_id"], body["parse_mode"]) == ("-100123", "HTML")
    assert "<b>main: health factor 1.1200 in critical band</b>" in body["text"]
    assert "&lt;was warning&gt;" in body["text"]  # user text is escaped for HTML mode
    assert TOKEN not in repr(channel) and TOKEN not in caplog.text


def test_telegram_failure_does_not_reveal_the_token(http_server):
    http_server.statuses = [500, 500, 500]
    sleeps: list[float] = []
    channel = TelegramChannel(
        "tg", token=TOKEN, chat_id="1", api_base_url=http_server.url, sleep=sleeps.append
    )
    with pytest.raises(ChannelError, match="channel tg: POST failed after 3 attempt") as info:
        channel.send(alert())
    assert TOKEN not in str(info.value) and "SECRET" not in str(info.value)
    assert sleeps == [0.5, 1.0]  # exponential backoff


def test_retry_then_success(http_server):
    http_server.statuses = [503, 429]
    sleeps: list[float] = []
    WebhookChannel("hook", url=http_server.url, retries=2, backoff_s=0.1, sleep=sleeps.append).send(alert())
    assert len(http_server.requests) == 3 and sleeps == [0.1, 0.2]


def test_client_error_is_not_retried(http_server):
    http_server.statuses = [400]
    with pytest.raises(ChannelError, match="HTTP 400"):
        WebhookChannel("hook", url=http_server.url, retries=3, sleep=lambda s: None).send(alert())
    assert len(http_server.requests) == 1


def test_secret_webhook_url_is_not_in_the_error(http_server):
    http_server.statuses = [404]
    url = f"{http_server.url}/services/T000/B000/XXXXSECRETXXXX"
    with pytest.raises(ChannelError) as info:
        WebhookChannel("slack", url=url, format="slack", retries=0).send(alert())
    assert "XXXXSECRETXXXX" not in str(info.value)


def test_timeout_is_bounded(http_server):
    http_server.delay_s = 1.0
    started = time.monotonic()
    with pytest.raises(ChannelError, match="attempt"):
        WebhookChannel("slow", url=http_server.url, timeout_s=0.2, retries=1, sleep=lambda s: None).send(
            alert()
        )
    assert time.monotonic() - started < 1.5


def test_connection_refused_is_a_channel_error():
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ChannelError, match="URLError"):
        WebhookChannel("dead", url=f"http://127.0.0.1:{port}/", retries=1, sleep=lambda s: None).send(alert())


def email_channel(server, **overrides) -> EmailChannel:
    """An ``EmailChannel`` named "mail" to ``server``: posman@ -> ops@, no STARTTLS unless overridden."""
    settings = {"from_addr": "posman@example.test", "to_addrs": ["ops@example.test"], "starttls": False}
    return EmailChannel("mail", host=server.host, port=server.port, **{**settings, **overrides})


def test_email_over_smtp(smtp_server):
    channel = email_channel(smtp_server, to_addrs=["ops@example.test", "oncall@example.test"])
    channel.send(alert())
    (received,) = smtp_server.wait_for(1)
    assert received["mail_from"] == "posman@example.test"
    assert received["rcpt_tos"] == ["ops@example.test", "oncall@example.test"]
    message = email.message_from_string(received["data"])
    assert message["Subject"] == "[posman] CRITICAL: main: health factor 1.1200 in critical band"
    assert message["X-Posman-Episode"] == "health:main"
    assert "health_factor: 1.12" in message.get_payload()


def test_email_login_with_credentials(smtp_auth_server):
    channel = email_channel(smtp_auth_server, username=SMTP_USER, password=SMTP_PASSWORD)
    channel.send(alert())
    (received,) = smtp_auth_server.wait_for(1)
    assert received["login"] == SMTP_USER.encode()


def test_email_wrong_password_is_reported_without_the_password(smtp_auth_server):
    channel = email_channel(
        smtp_auth_server,
        username=SMTP_USER,
        password="wrong-password-123",
        timeout_s=3.0,
        sleep=lambda s: None,
    )
    with pytest.raises(ChannelError, match="authentication failed") as info:
        channel.send(alert())
    assert "wrong-password-123" not in str(info.value)
    assert smtp_auth_server.handler.messages == []


def test_starttls_against_a_server_without_it_fails_clearly(smtp_server):
    channel = email_channel(smtp_server, starttls=True, retries=0)
    with pytest.raises(ChannelError, match="STARTTLS"):
        channel.send(alert())
    assert smtp_server.handler.messages == []


def test_log_channel_writes_one_structured_line(caplog):
    caplog.set_level(logging.INFO, logger="posman.alerts")
    LogChannel().send(alert())
    (record,) = caplog.records
    line = record.getMessage()
    assert "\n" not in line and record.levelno == logging.CRITICAL
    assert line.startswith("event=alert kind=health_critical severity=critical transition=escalate")
    assert "position=main block=19000001" in line and "health_factor=1.12" in line
