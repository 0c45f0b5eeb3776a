"""Alerts: rules (pure engine), channels (log, webhooks, Telegram, email) and the dispatcher.

Typical runtime wiring::

    config = AlertsConfig(...)                       # the [alerts] section
    engine = engine_from_repository(repo, config.rules, now_s=time.time())
    dispatcher = AlertDispatcher(build_channels(config), repo=repo,
                                 max_retry_attempts=config.retry_undelivered_max_attempts)
    dispatcher.recover()                             # once, at start-up
    # each tick:
    dispatcher.dispatch(engine.evaluate_health(name, hf, block_number=b, now_s=t))
    dispatcher.dispatch(engine.tick_succeeded(t))
    dispatcher.retry_undelivered()
    # from a separate timer:
    dispatcher.dispatch(engine.check_heartbeat(time.time()))
"""

from manager.alerts.channels import (
    Channel,
    ChannelError,
    EmailChannel,
    LogChannel,
    TelegramChannel,
    WebhookChannel,
    build_channel,
    build_channels,
    discord_payload,
    email_message,
    json_payload,
    log_line,
    slack_payload,
    telegram_payload,
)
from manager.alerts.config import (
    AlertRules,
    AlertsConfig,
    EmailChannelConfig,
    HealthAlertRules,
    LogChannelConfig,
    TelegramChannelConfig,
    WebhookChannelConfig,
)
from manager.alerts.dispatcher import AlertDispatcher, Delivery, engine_from_repository
from manager.alerts.engine import AlertEngine, AlertInputError, Episode, PendingTx, health_episode_key
from manager.alerts.model import Alert, AlertKind, Transition

__all__ = [
    "Alert",
    "AlertDispatcher",
    "AlertEngine",
    "AlertInputError",
    "AlertKind",
    "AlertRules",
    "AlertsConfig",
    "Channel",
    "ChannelError",
    "Delivery",
    "EmailChannel",
    "EmailChannelConfig",
    "Episode",
    "HealthAlertRules",
    "LogChannel",
    "LogChannelConfig",
    "PendingTx",
    "TelegramChannel",
    "TelegramChannelConfig",
    "Transition",
    "WebhookChannel",
    "WebhookChannelConfig",
    "build_channel",
    "build_channels",
    "discord_payload",
    "email_message",
    "engine_from_repository",
    "health_episode_key",
    "json_payload",
    "log_line",
    "slack_payload",
    "telegram_payload",
]
