"""Send alerts to every channel that takes them, and record each episode and delivery in the database.

Order of work per alert: send to each channel (a failing channel is logged and never stops the others),
then record (``upsert_alert`` / ``record_alert_sent`` / ``resolve_alert``). Sending first makes delivery
at-least-once: a crash between send and record may repeat one alert after a restart, but never loses
one. Channels that failed get the alert again on ``retry_undelivered()`` (call it every tick), up to
``max_retry_attempts`` times; an episode whose first alert reached no channel before a crash is sent by
``recover()`` at start-up.

One-shot events (action executed) are sent only if the database has never seen their episode key, so
replaying a confirmed plan after a restart does not notify twice.

Circuit breaker: a channel whose send failed *slowly* (it took ``slow_failure_s`` or more: a server
that hangs until the channel's timeout) is *down* for ``channel_backoff_s`` (doubling per failure up to ``max_channel_backoff_s``): alerts for it
meanwhile go straight to the retry queue without trying it, and retries skip it until the back-off ends
(without using up their attempts). One dead webhook thus costs one timeout per back-off period, not
one per alert. A fast failure (refused connection, HTTP 500) is simply retried on the next
``retry_undelivered()``. ``manager.alerts.worker.AlertWorker`` runs all of this off the tick's thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from manager.alerts.channels import Channel
from manager.alerts.config import AlertRules
from manager.alerts.engine import AlertEngine
from manager.alerts.model import Alert

if TYPE_CHECKING:  # persistence is optional for the dispatcher (tests, `posman plan` dry runs)
    from manager.persistence import Repository

log = logging.getLogger("posman.alerts")

MAX_RETRY_QUEUE = 1_000


@dataclass(frozen=True)
class Delivery:
    """What happened to one alert: channels that took it, channels that failed (name -> error)."""

    alert: Alert
    delivered: tuple[str, ...] = ()
    failed: dict[str, str] = field(default_factory=dict)
    duplicate: bool = False  # a one-shot event already recorded: not sent


@dataclass
class _Retry:
    alert: Alert
    channels: list[Channel]
    attempts: int = 0


def engine_from_repository(repo: Repository, rules: AlertRules, *, now_s: float) -> AlertEngine:
    """An engine that knows the episodes the database has open (no re-sending at start-up)."""
    return AlertEngine(rules, started_at_s=now_s, open_episodes=repo.open_alerts())


class AlertDispatcher:
    """Delivers alerts to channels and records episodes and deliveries (when given a repository)."""

    def __init__(
        self,
        channels: Iterable[Channel],
        *,
        repo: Repository | None = None,
        max_retry_attempts: int = 5,
        channel_backoff_s: float = 30.0,
        max_channel_backoff_s: float = 300.0,
        slow_failure_s: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.channels = list(channels)
        self.repo = repo
        self.max_retry_attempts = max_retry_attempts
        self.channel_backoff_s = channel_backoff_s
        self.max_channel_backoff_s = max_channel_backoff_s
        self.slow_failure_s = slow_failure_s
        self._monotonic = monotonic
        self._retries: dict[str, _Retry] = {}  # episode key -> latest undelivered alert of that episode
        self._down: dict[str, tuple[float, float]] = {}  # channel name -> (down until, current back-off s)

    # --- public --------------------------------------------------------------------------------
    def dispatch(self, alerts: Iterable[Alert]) -> list[Delivery]:
        """Send each alert and record it; returns one ``Delivery`` per alert, in order."""
        return [self._dispatch_one(alert) for alert in alerts]

    def retry_undelivered(self) -> list[Delivery]:
        """Re-send queued alerts to the channels that failed them (bounded attempts)."""
        deliveries: list[Delivery] = []
        for key, retry in list(self._retries.items()):
            if all(self._is_down(c.name) for c in retry.channels):
                continue  # every channel it waits for is backing off: no attempt used
            retry.attempts += 1
            delivered, failed = self._send(retry.alert, retry.channels)
            if delivered:
                self._record_sent(retry.alert, delivered)
            retry.channels = [c for c in retry.channels if c.name in failed]
            if not retry.channels:
                del self._retries[key]
            elif retry.attempts >= self.max_retry_attempts:
                log.error(
                    "event=alert_undeliverable episode=%s kind=%s channels=%s attempts=%d",
                    key,
                    retry.alert.kind,
                    ",".join(failed),
                    retry.attempts,
                )
                del self._retries[key]
            deliveries.append(Delivery(retry.alert, delivered, failed))
        return deliveries

    def record_undelivered(self, alerts: Iterable[Alert]) -> None:
        """Record alerts that were never handed to a channel (queue full, shutdown): their episodes stay
        open with nothing sent, so ``recover()`` at the next start-up sends them."""
        for alert in alerts:
            self._record(alert, ())

    def down_channels(self) -> list[str]:
        """Channels in their back-off period after a failure."""
        return [name for name in self._down if self._is_down(name)]

    def _is_down(self, name: str) -> bool:
        entry = self._down.get(name)
        return entry is not None and self._monotonic() < entry[0]

    def _mark_down(self, name: str) -> None:
        previous = self._down.get(name)
        backoff = self.channel_backoff_s if previous is None else min(previous[1] * 2, self.max_channel_backoff_s)
        self._down[name] = (self._monotonic() + backoff, backoff)
        log.warning("event=alert_channel_down channel=%s backoff_s=%.0f", name, backoff)

    def pending_retries(self) -> int:
        """How many alerts wait for a retry."""
        return len(self._retries)

    def recover(self) -> list[Delivery]:
        """At start-up: send open episodes the database holds that no channel ever took."""
        if self.repo is None:
            return []
        alerts = [
            Alert(
                kind=row.kind,  # type: ignore[arg-type]
                severity=row.severity,  # type: ignore[arg-type]
                episode_key=row.episode_key,
                transition="open",
                title=row.title or row.episode_key,
                message=row.message,
                position=row.position,
                block_number=row.block_number,
                at_s=row.first_seen_s,
            )
            for row in self._safe_db("open_alerts", self.repo.open_alerts) or []
            if row.sent_count == 0
        ]
        return self.dispatch(alerts)

    # --- internals -----------------------------------------------------------------------------
    def _dispatch_one(self, alert: Alert) -> Delivery:
        repo = self.repo
        if alert.transition == "event" and repo is not None:
            if self._safe_db("alert_seen", lambda: repo.alert_seen(alert.episode_key)):
                log.info("event=alert_duplicate episode=%s kind=%s", alert.episode_key, alert.kind)
                return Delivery(alert, duplicate=True)
        targets = [c for c in self.channels if c.accepts(alert)]
        delivered, failed = self._send(alert, targets)
        self._retries.pop(alert.episode_key, None)  # a newer alert of the episode supersedes a queued one
        if failed:
            if len(self._retries) >= MAX_RETRY_QUEUE:
                oldest = next(iter(self._retries))
                log.error("event=alert_retry_queue_full dropped_episode=%s", oldest)
                del self._retries[oldest]
            self._retries[alert.episode_key] = _Retry(alert, [c for c in targets if c.name in failed])
        self._record(alert, delivered)
        log.info(
            "event=alert_dispatched episode=%s kind=%s transition=%s delivered=%s failed=%s",
            alert.episode_key,
            alert.kind,
            alert.transition,
            ",".join(delivered) or "-",
            ",".join(failed) or "-",
        )
        return Delivery(alert, delivered, failed)

    def _send(self, alert: Alert, channels: list[Channel]) -> tuple[tuple[str, ...], dict[str, str]]:
        delivered: list[str] = []
        failed: dict[str, str] = {}
        for channel in channels:
            if self._is_down(channel.name):
                failed[channel.name] = "channel down after a failure (backing off)"
                continue
            started = self._monotonic()
            try:
                channel.send(alert)
            except Exception as exc:  # NOTE: one broken channel must never silence the others
                if self._monotonic() - started >= self.slow_failure_s:
                    self._mark_down(channel.name)
                failed[channel.name] = str(exc) if not isinstance(exc, KeyError) else repr(exc)
                log.warning(
                    "event=alert_channel_failed channel=%s episode=%s error_type=%s error=%s",
                    channel.name,
                    alert.episode_key,
                    type(exc).__name__,
                    " ".join(failed[channel.name].split())[:300],
                )
            else:
                self._down.pop(channel.name, None)
                delivered.append(channel.name)
        return tuple(delivered), failed

    def _record(self, alert: Alert, delivered: tuple[str, ...]) -> None:
        repo = self.repo
        if repo is None:
            return

        def work() -> None:
            repo.upsert_alert(
                alert.episode_key,
                kind=alert.kind,
                severity=alert.severity,
                message=alert.message,
                position=alert.position,
                title=alert.title,
                block_number=alert.block_number,
                now_s=alert.at_s,
            )
            if delivered:
                repo.record_alert_sent(alert.episode_key, channels=delivered, now_s=alert.at_s)
            if alert.resolves:
                repo.resolve_alert(alert.episode_key, now_s=alert.at_s)

        self._safe_db("record_alert", work)

    def _record_sent(self, alert: Alert, delivered: tuple[str, ...]) -> None:
        repo = self.repo
        if repo is None or alert.resolves:  # a closed episode has no open row to update
            return
        self._safe_db(
            "record_alert_sent",
            lambda: repo.record_alert_sent(alert.episode_key, channels=delivered, now_s=alert.at_s),
        )

    @staticmethod
    def _safe_db(what: str, call):  # type: ignore[no-untyped-def]
        # NOTE: alerts must still go out when the database is down; the failure is logged instead.
        try:
            return call()
        except Exception as exc:
            log.error(
                "event=alert_db_failed op=%s error_type=%s error=%s",
                what,
                type(exc).__name__,
                " ".join(str(exc).split())[:300],
            )
            return None
