"""AlertsConfig: strict, documented, secrets by env var name only."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from manager.alerts import (
    AlertsConfig,
    EmailChannel,
    LogChannel,
    TelegramChannel,
    WebhookChannel,
    build_channels,
)
from manager.alerts.config import (
    AlertRules,
    EmailChannelConfig,
    HealthAlertRules,
    LogChannelConfig,
    TelegramChannelConfig,
    WebhookChannelConfig,
)
from manager.errors import ConfigError


def test_defaults_are_a_log_channel_and_sane_rules():
    config = AlertsConfig()
    assert [type(c) for c in build_channels(config, env={})] == [LogChannel]
    assert config.rules.health.warning_below_hf > config.rules.health.critical_below_hf > 1.0


@pytest.mark.parametrize(
    "model",
    [
        AlertsConfig,
        AlertRules,
        HealthAlertRules,
        LogChannelConfig,
        WebhookChannelConfig,
        TelegramChannelConfig,
        EmailChannelConfig,
    ],
)
def test_every_field_is_documented(model):
    undocumented = [name for name, f in model.model_fields.items() if not f.description and name != "type"]
    assert undocumented == []


def test_unknown_field_is_refused():
    with pytest.raises(ValidationError, match="renotify_after_seconds"):
        AlertsConfig.model_validate({"rules": {"renotify_after_seconds": 60}})


def test_parsed_from_plain_data_with_discriminated_channels():
    config = AlertsConfig.model_validate(
        {
            "rules": {
                "health": {"warning_below_hf": 1.4, "critical_below_hf": 1.2},
                "renotify_after_s": 3600,
            },
            "channels": [
                {"type": "log"},
                {"type": "webhook", "format": "slack", "url_env": "SLACK_URL", "min_severity": "warning"},
                {"type": "telegram", "chat_id": "42"},
                {
                    "type": "email",
                    "host": "127.0.0.1",
                    "from_addr": "a@b.c",
                    "to_addrs": ["d@e.f"],
                    "username_env": "SMTP_USER",
                    "password_env": "SMTP_PASS",
                },
            ],
        }
    )
    env = {
        "SLACK_URL": "http://127.0.0.1:9/hook",
        "POSMAN_TELEGRAM_TOKEN": "1:abc",
        "SMTP_USER": "u",
        "SMTP_PASS": "p",
    }
    channels = build_channels(config, env=env)
    assert [type(c) for c in channels] == [LogChannel, WebhookChannel, TelegramChannel, EmailChannel]
    assert [c.name for c in channels] == ["log", "webhook-slack", "telegram", "email"]
    assert channels[1].min_severity == "warning"


def test_missing_secret_env_var_is_a_one_line_config_error():
    config = AlertsConfig(channels=[TelegramChannelConfig(name="tg", chat_id="1", token_env="MY_TG_TOKEN")])
    with pytest.raises(ConfigError, match=r"alerts.channels\[0\] \(tg\): env var MY_TG_TOKEN is not set"):
        build_channels(config, env={})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"type": "webhook"}, "set exactly one of url_env"),
        ({"type": "webhook", "url": "ftp://x"}, "must start with http"),
        ({"type": "webhook", "url": "https://hooks.slack.com/services/T/B/X"}, "embeds a token"),
        ({"type": "email", "host": "h", "from_addr": "a@b", "to_addrs": []}, "to_addrs"),
        (
            {"type": "email", "host": "h", "from_addr": "a@b", "to_addrs": ["x"], "ssl": True},
            "at most one of ssl",
        ),
        (
            {"type": "email", "host": "h", "from_addr": "a@b", "to_addrs": ["x"], "password_env": "P"},
            "both username_env",
        ),
        ({"type": "pager"}, "type"),
    ],
)
def test_bad_channel_config_names_the_problem(data, message):
    with pytest.raises(ValidationError, match=message):
        AlertsConfig.model_validate({"channels": [data]})


def test_bands_must_be_ordered_and_names_unique():
    with pytest.raises(ValidationError, match=r"critical_below_hf=1\.4 must be below warning_below_hf=1\.3"):
        HealthAlertRules(warning_below_hf=1.3, critical_below_hf=1.4)
    with pytest.raises(ValidationError, match="channel name 'log' is used twice"):
        AlertsConfig(channels=[LogChannelConfig(), LogChannelConfig()])


def test_disabled_channels_are_not_built():
    config = AlertsConfig(channels=[LogChannelConfig(), WebhookChannelConfig(url_env="NOPE", enabled=False)])
    assert [c.name for c in build_channels(config, env={})] == ["log"]
