"""Alert rules and channel configuration: the ``[alerts]`` section of the manager's config.

``AlertsConfig`` is a standalone, strict pydantic model (``extra="forbid"``) with defaults that work
out of the box (log channel only). Secrets never live here: an SMTP password, a Telegram bot token or a
webhook URL that embeds a token is named by the environment variable that holds it (``*_env`` fields)
and read only when the channel is built (``manager.alerts.channels.build_channels``).

Health factor thresholds are plain numbers (health factor 1.0 = liquidatable); ``_s`` fields are
seconds; ``_ticks`` count consecutive evaluations of the runtime loop; ``_blocks`` count blocks.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Severity = Literal["info", "warning", "critical"]
SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}

# NOTE: these URL fragments identify webhooks whose URL is itself the credential.
_TOKEN_URL_MARKERS = ("hooks.slack.com", "/api/webhooks/", "/bot")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class HealthAlertRules(_Strict):
    """Health-factor bands with hysteresis and minimum persistence (per position or the default)."""

    warning_below_hf: float = Field(
        default=1.3, gt=1.0, le=100.0, description="Enter the warning band when health factor < this."
    )
    critical_below_hf: float = Field(
        default=1.15, gt=1.0, le=100.0, description="Enter the critical band when health factor < this."
    )
    hysteresis_hf: float = Field(
        default=0.05,
        ge=0.0,
        le=1.0,
        description="Leave a band only when health factor >= its entry threshold + this (stops flapping).",
    )
    min_persistence_ticks: int = Field(
        default=2,
        ge=1,
        le=1000,
        description="A band change (worse or better) must hold this many consecutive ticks before it is "
        "reported. Liquidatable (health factor < 1.0) is always reported at the first tick.",
    )

    @model_validator(mode="after")
    def _ordered(self) -> HealthAlertRules:
        if self.critical_below_hf >= self.warning_below_hf:
            raise ValueError(
                f"critical_below_hf={self.critical_below_hf} must be below warning_below_hf={self.warning_below_hf}"
            )
        return self


class AlertRules(_Strict):
    """When alerts fire."""

    health: HealthAlertRules = Field(
        default_factory=HealthAlertRules, description="Default health bands for every position."
    )
    perp_health: HealthAlertRules = Field(
        default_factory=lambda: HealthAlertRules(warning_below_hf=2.0, critical_below_hf=1.5),
        description="Default bands for perp positions, whose health is remaining margin (after the "
        "liquidation premium) / liquidation margin: liquidatable at 1, but it moves faster than a loan's.",
    )
    health_overrides: dict[str, HealthAlertRules] = Field(
        default_factory=dict, description="Health bands for named positions, replacing the default."
    )
    oracle_min_persistence_ticks: int = Field(
        default=1,
        ge=1,
        le=1000,
        description="Consecutive ticks a stale/deviating oracle must persist to alert.",
    )
    tx_not_included_after_blocks: int = Field(
        default=10,
        ge=1,
        le=100_000,
        description="Alert when a sent transaction is still pending this many blocks later.",
    )
    heartbeat_timeout_s: float = Field(
        default=300.0,
        gt=0,
        le=7 * 86_400,
        description="Dead-man switch: alert once when no tick has succeeded for this many seconds.",
    )
    renotify_after_s: float | None = Field(
        default=None,
        gt=0,
        description="Re-send an alert whose episode is still open after this many seconds (None: never). "
        "Applies to warning and critical episodes.",
    )

    def health_for(self, position: str, *, perp: bool = False) -> HealthAlertRules:
        """The health bands that apply to ``position`` (its override, else the perp or lending default)."""
        return self.health_overrides.get(position, self.perp_health if perp else self.health)


class _ChannelBase(_Strict):
    name: str = Field(
        default="", max_length=64, description="Unique channel name used in logs and delivery records."
    )
    enabled: bool = Field(default=True, description="Disabled channels are configured but never sent to.")
    min_severity: Severity = Field(default="info", description="Send only alerts at least this severe.")


class _HttpChannelBase(_ChannelBase):
    timeout_s: float = Field(default=5.0, gt=0, le=120, description="Timeout of one HTTP request.")
    retries: int = Field(default=2, ge=0, le=10, description="Extra attempts after a failed request.")
    backoff_s: float = Field(
        default=0.5, ge=0, le=60, description="Wait before the first retry; doubles on each further retry."
    )


class LogChannelConfig(_ChannelBase):
    """One structured log line per alert on the ``posman.alerts`` logger."""

    type: Literal["log"] = "log"


class WebhookChannelConfig(_HttpChannelBase):
    """POST each alert as JSON: the alert itself, or a Slack or Discord incoming-webhook message."""

    type: Literal["webhook"] = "webhook"
    format: Literal["json", "slack", "discord"] = Field(
        default="json",
        description="json: the alert model; slack: {text, blocks}; discord: {content, embeds}.",
    )
    url_env: str | None = Field(
        default=None,
        description="Name of the env var holding the webhook URL (use this for Slack/Discord URLs: they embed a token).",
    )
    url: str | None = Field(
        default=None, description="A webhook URL that holds no secret (e.g. an internal receiver)."
    )

    @model_validator(mode="after")
    def _one_url(self) -> WebhookChannelConfig:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("set exactly one of url_env (preferred) or url")
        if self.url is not None:
            if not self.url.startswith(("http://", "https://")):
                raise ValueError(f"url must start with http:// or https://, got {self.url[:16]!r}...")
            if any(marker in self.url for marker in _TOKEN_URL_MARKERS):
                raise ValueError(
                    "url looks like a webhook URL that embeds a token; put it in an env var and set url_env"
                )
        return self


class TelegramChannelConfig(_HttpChannelBase):
    """Telegram Bot API ``sendMessage`` to one chat; the bot token comes from an env var."""

    type: Literal["telegram"] = "telegram"
    api_base_url: str = Field(
        default="https://api.telegram.org",
        description="Bot API base URL; requests go to <api_base_url>/bot<token>/sendMessage.",
    )
    token_env: str = Field(default="POSMAN_TELEGRAM_TOKEN", description="Env var holding the bot token.")
    chat_id: str = Field(min_length=1, description="Target chat id (a number, or @channelname).")
    parse_mode: Literal["HTML", "none"] = Field(
        default="HTML", description="HTML: bold title, escaped text; none: plain text."
    )


class EmailChannelConfig(_ChannelBase):
    """Email over SMTP (optionally STARTTLS or implicit TLS); credentials from env vars."""

    type: Literal["email"] = "email"
    host: str = Field(min_length=1, description="SMTP server host.")
    port: int = Field(default=587, ge=1, le=65535, description="SMTP server port.")
    starttls: bool = Field(default=True, description="Upgrade the connection with STARTTLS before login.")
    ssl: bool = Field(
        default=False, description="Implicit TLS (SMTPS, usually port 465) instead of STARTTLS."
    )
    username_env: str | None = Field(
        default=None, description="Env var holding the SMTP user name (None: no login)."
    )
    password_env: str | None = Field(default=None, description="Env var holding the SMTP password.")
    from_addr: str = Field(min_length=3, description="Sender address.")
    to_addrs: list[str] = Field(min_length=1, description="Recipient addresses.")
    subject_prefix: str = Field(default="[posman]", description="Prefix of every subject line.")
    timeout_s: float = Field(default=10.0, gt=0, le=120, description="SMTP connection timeout.")

    @model_validator(mode="after")
    def _tls_and_login(self) -> EmailChannelConfig:
        if self.ssl and self.starttls:
            raise ValueError("set at most one of ssl (implicit TLS) and starttls")
        if (self.username_env is None) != (self.password_env is None):
            raise ValueError("set both username_env and password_env, or neither")
        return self


ChannelConfig = Annotated[
    LogChannelConfig | WebhookChannelConfig | TelegramChannelConfig | EmailChannelConfig,
    Field(discriminator="type"),
]


def _default_channels() -> list[ChannelConfig]:
    """The default channel list: the log channel only."""
    return [LogChannelConfig(name="log")]


class AlertsConfig(_Strict):
    """The ``[alerts]`` section: rules and channels. Defaults: alerts on, log channel only."""

    enabled: bool = Field(
        default=True, description="Master switch: when false no alert is evaluated or sent."
    )
    rules: AlertRules = Field(default_factory=AlertRules, description="When alerts fire.")
    channels: list[ChannelConfig] = Field(
        default_factory=_default_channels,
        description="Where alerts go. Every alert goes to every enabled channel whose min_severity it meets.",
    )
    retry_undelivered_max_attempts: int = Field(
        default=5,
        ge=0,
        le=100,
        description="Re-send attempts per channel for an alert that channel failed to take.",
    )
    daily_digest: bool = Field(
        default=False,
        description="Once a day send an info alert summing up the last 24 h: health now and lowest, actions, "
        "alerts, open episodes, paused positions.",
    )
    daily_digest_hour_utc: int = Field(
        default=8, ge=0, le=23, description="UTC hour at which the daily digest is sent (when daily_digest)."
    )

    @model_validator(mode="after")
    def _unique_names(self) -> AlertsConfig:
        seen: set[str] = set()
        for channel in self.channels:
            name = channel_name(channel)
            if name in seen:
                raise ValueError(f"channel name {name!r} is used twice; give each channel a unique name")
            seen.add(name)
        return self


def channel_name(channel: ChannelConfig) -> str:
    """The channel's name, or its type (with the format for webhooks) when no name is given."""
    if channel.name:
        return channel.name
    if isinstance(channel, WebhookChannelConfig):
        return f"webhook-{channel.format}"
    return channel.type
