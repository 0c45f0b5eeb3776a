"""The alert value every rule produces and every channel sends."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from manager.alerts.config import Severity

AlertKind = Literal[
    "health_warning",
    "health_critical",
    "health_normal",
    "liquidatable",
    "stale_oracle",
    "oracle_deviation",
    "action_executed",
    "action_failed",
    "action_refused",
    "tx_not_included",
    "heartbeat_missed",
    "daily_digest",
]

# open: an episode starts; escalate/deescalate: its band changed; renotify: still open after
# ``renotify_after_s``; resolve: the episode ended (sent once); event: a one-shot fact (action outcome).
Transition = Literal["open", "escalate", "deescalate", "renotify", "resolve", "event"]

FieldValue = str | int | float | bool | None


class Alert(BaseModel):
    """One notification. ``episode_key`` identifies the condition it belongs to (de-duplication key)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: AlertKind
    severity: Severity
    episode_key: str = Field(min_length=1)
    transition: Transition
    title: str
    message: str
    position: str | None = None
    fields: dict[str, FieldValue] = Field(default_factory=dict)
    block_number: int | None = None
    at_s: float = Field(description="Unix seconds when the engine produced the alert.")

    @property
    def resolves(self) -> bool:
        """True when this alert closes its episode (back to normal, recovered, one-shot event)."""
        return self.transition in ("resolve", "event")
