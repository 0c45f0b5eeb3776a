"""Alert rules as pure logic: observations in, alerts out; time and blocks are passed in.

The runtime calls one method per observation kind each tick and hands the returned alerts to the
dispatcher. What the engine guarantees:

- **Hysteresis.** A health band is entered below its threshold and left only at or above the threshold
  plus ``hysteresis_hf``.
- **Minimum persistence.** A band change (worse or better), a stale or deviating oracle, and its
  recovery must hold ``min_persistence_ticks`` consecutive evaluations before anything is sent.
  Liquidatable (health factor < 1.0) is the exception: it is sent at the first tick.
- **One alert per episode.** An episode (``episode_key``) opens once, may change band (escalate /
  deescalate: each confirmed change is one alert), is re-sent only after ``renotify_after_s`` if that is
  set, and ends with exactly one resolve alert ("back to normal", "recovered", "included").
- **No storm at start-up.** Episodes recorded open in the database are loaded at construction
  (``open_episodes=repo.open_alerts()``): a condition that is still active is not sent again, and a
  re-notification that fell due while the process was down waits ``renotify_after_s`` from the start.
- **Dead-man heartbeat.** ``check_heartbeat(now_s)`` opens one alert when no tick has succeeded for
  ``heartbeat_timeout_s``; the next ``tick_succeeded`` resolves it once. Call ``check_heartbeat`` from a
  timer that does not depend on the tick itself (a hung tick must still be noticed).
- **One-shot events** (action executed) are de-duplicated by plan id and kind; the dispatcher also
  checks the database so a replay after a restart is not sent twice.
- **Refused/failed actions are episodes**, one per position and reason class (``reason_class``: the
  reason without numbers and addresses), so a refusal repeated every block alerts once; the episode ends
  with one "recovered" alert when an action of the position lands or it needs none any more.

Not thread-safe: call it from one thread (the runtime loop), or guard it with a lock.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from manager.alerts.config import AlertRules, HealthAlertRules, Severity
from manager.alerts.model import Alert, AlertKind, FieldValue, Transition
from manager.errors import PosmanError

HEARTBEAT_KEY = "heartbeat"
LIQUIDATABLE_BELOW_HF = 1.0  # the protocol's rule (Aave: HEALTH_FACTOR_LIQUIDATION_THRESHOLD = 1e18)
MAX_REMEMBERED_EVENTS = 10_000

# health levels: 0 normal, 1 warning, 2 critical, 3 liquidatable
_LEVEL_KIND: dict[int, AlertKind] = {
    0: "health_normal",
    1: "health_warning",
    2: "health_critical",
    3: "liquidatable",
}
_KIND_LEVEL: dict[str, int] = {kind: level for level, kind in _LEVEL_KIND.items()}
_LEVEL_SEVERITY: dict[int, Severity] = {0: "info", 1: "warning", 2: "critical", 3: "critical"}
_LEVEL_NAME = {level: kind.removeprefix("health_") for level, kind in _LEVEL_KIND.items()}


class AlertInputError(PosmanError):
    """An observation given to the alert engine is invalid (names the field and value)."""


class OpenEpisodeRecord(Protocol):
    """What the engine needs of a stored open episode (``manager.persistence.AlertRow`` fits)."""

    episode_key: str
    kind: str
    severity: str
    position: str | None
    first_seen_s: float
    last_sent_s: float | None


@dataclass
class Episode:
    """An open alert episode as the engine tracks it."""

    key: str
    kind: AlertKind
    severity: Severity
    position: str | None
    first_seen_s: float
    last_notified_s: float
    title: str = ""
    message: str = ""
    fields: dict[str, FieldValue] = field(default_factory=dict)
    block_number: int | None = None


@dataclass
class _Streaks:
    """Consecutive-tick counters for one condition (per level for health)."""

    below: dict[int, int] = field(default_factory=dict)  # level -> ticks with hf < entry threshold
    clear: dict[int, int] = field(default_factory=dict)  # level -> ticks with hf >= entry + hysteresis
    on: int = 0
    off: int = 0


@dataclass(frozen=True)
class PendingTx:
    """A transaction the executor sent and has not seen included yet."""

    tx_hash: str
    plan_id: str
    sent_block: int
    position: str | None = None
    nonce: int | None = None


def health_episode_key(position: str) -> str:
    return f"health:{position}"


_HEX = re.compile(r"0x[0-9a-fA-F]+")
_NUMBER = re.compile(r"[-+]?\d[\d,_]*(?:\.\d+)?(?:[eE][-+]?\d+)?")


def reason_class(reason: str) -> str:
    """The kind of a refusal/failure reason: lower-case, addresses/hashes and numbers replaced by ``#``
    ("policy: per-tx cap $12,345 > $10,000" and "... $13,001 > $10,000" are one class)."""
    text = _NUMBER.sub("#", _HEX.sub("#", reason.lower()))
    return " ".join(text.split())[:120] or "unknown"


def action_episode_key(kind: str, position: str, cls: str) -> str:
    """``action_refused:<position>:<digest of the reason class>`` (one episode per position and class)."""
    return f"{kind}:{position}:{hashlib.sha256(cls.encode()).hexdigest()[:10]}"


def _fmt_hf(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:.4f}"


class AlertEngine:
    """Turns observations into alerts with hysteresis, persistence, de-duplication and no start-up storm."""

    def __init__(
        self,
        rules: AlertRules,
        *,
        started_at_s: float,
        open_episodes: Iterable[OpenEpisodeRecord] = (),
    ) -> None:
        self.rules = rules
        self._episodes: dict[str, Episode] = {}
        self._streaks: dict[str, _Streaks] = {}
        self._events_seen: OrderedDict[str, None] = OrderedDict()
        self._last_success_s = started_at_s
        for record in open_episodes:
            # NOTE: a re-notification that fell due while we were down waits a full interval from the
            # start, so a restart after a long outage does not send one message per open episode.
            last = max(record.last_sent_s or record.first_seen_s, started_at_s)
            self._episodes[record.episode_key] = Episode(
                key=record.episode_key,
                kind=record.kind,  # type: ignore[arg-type]
                severity=record.severity,  # type: ignore[arg-type]
                position=record.position,
                first_seen_s=record.first_seen_s,
                last_notified_s=last,
            )

    # --- state ---------------------------------------------------------------------------------
    def open_episodes(self) -> list[Episode]:
        """The episodes currently open (for inspection and status output)."""
        return list(self._episodes.values())

    def is_open(self, episode_key: str) -> bool:
        return episode_key in self._episodes

    # --- health --------------------------------------------------------------------------------
    def evaluate_health(
        self, position: str, health_factor: float, *, block_number: int | None, now_s: float, perp: bool = False
    ) -> list[Alert]:
        """One health observation of ``position``; returns the alerts to send (usually none).

        ``perp``: the position is a perp (its health is margin-based): the perp default bands apply.
        """
        if not isinstance(health_factor, int | float) or math.isnan(health_factor) or health_factor < 0:
            raise AlertInputError(
                f"health_factor={health_factor!r} for position {position!r} must be a number >= 0 (inf allowed)",
                field="health_factor",
                value=health_factor,
                position=position,
            )
        rules = self.rules.health_for(position, perp=perp)
        key = health_episode_key(position)
        episode = self._episodes.get(key)
        level = _KIND_LEVEL.get(episode.kind, 0) if episode else 0
        streaks = self._streaks.setdefault(key, _Streaks())
        entry = self._entry_thresholds(rules)
        for lvl, threshold in entry.items():
            below = health_factor < threshold
            clear = health_factor >= threshold + rules.hysteresis_hf
            streaks.below[lvl] = streaks.below.get(lvl, 0) + 1 if below else 0
            streaks.clear[lvl] = streaks.clear.get(lvl, 0) + 1 if clear else 0

        def confirmed_below(lvl: int) -> bool:
            needed = 1 if lvl == 3 else rules.min_persistence_ticks
            return streaks.below[lvl] >= needed

        worse = max((lvl for lvl in entry if lvl > level and confirmed_below(lvl)), default=level)
        new_level = worse
        if worse == level and level > 0 and streaks.clear[level] >= rules.min_persistence_ticks:
            # leave the current band: land in the highest lower band we are not clear of
            new_level = max(
                (lvl for lvl in range(1, level) if streaks.clear[lvl] < rules.min_persistence_ticks),
                default=0,
            )
        alerts: list[Alert] = []
        if new_level != level:
            alerts.append(
                self._health_alert(position, key, level, new_level, health_factor, rules, block_number, now_s)
            )
        elif episode is not None:
            alerts.extend(
                self._renotify(episode, now_s, health_factor=health_factor, block_number=block_number)
            )
        return alerts

    @staticmethod
    def _entry_thresholds(rules: HealthAlertRules) -> dict[int, float]:
        return {1: rules.warning_below_hf, 2: rules.critical_below_hf, 3: LIQUIDATABLE_BELOW_HF}

    def _health_alert(
        self,
        position: str,
        key: str,
        old: int,
        new: int,
        health_factor: float,
        rules: HealthAlertRules,
        block_number: int | None,
        now_s: float,
    ) -> Alert:
        thresholds = self._entry_thresholds(rules)
        fields: dict[str, FieldValue] = {
            "health_factor": health_factor if math.isfinite(health_factor) else None,
            "band": _LEVEL_NAME[new],
            "previous_band": _LEVEL_NAME[old],
            "warning_below_hf": rules.warning_below_hf,
            "critical_below_hf": rules.critical_below_hf,
        }
        hf = _fmt_hf(health_factor)
        if new == 0:
            transition: Transition = "resolve"
            title = f"{position}: health back to normal ({hf})"
            message = (
                f"Health factor {hf} is at or above {rules.warning_below_hf + rules.hysteresis_hf:.4f} "
                f"(warning {rules.warning_below_hf} + hysteresis {rules.hysteresis_hf}); episode closed."
            )
        else:
            transition = "open" if old == 0 else ("escalate" if new > old else "deescalate")
            if new == 3:
                title = f"{position}: LIQUIDATABLE, health factor {hf} < 1.0"
                message = f"Health factor {hf} is below 1.0: the position can be liquidated now."
            else:
                title = f"{position}: health factor {hf} in {_LEVEL_NAME[new]} band"
                message = (
                    f"Health factor {hf} is below the {_LEVEL_NAME[new]} threshold {thresholds[new]}"
                    + (f" (was {_LEVEL_NAME[old]})." if old else ".")
                )
        return self._emit(
            _LEVEL_KIND[new],
            _LEVEL_SEVERITY[new],
            key,
            transition,
            title,
            message,
            position,
            fields,
            block_number,
            now_s,
        )

    # --- oracles -------------------------------------------------------------------------------
    def evaluate_oracle(
        self,
        feed: str,
        *,
        stale: bool,
        deviating: bool = False,
        age_s: float | None = None,
        deviation_bps: float | None = None,
        position: str | None = None,
        block_number: int | None,
        now_s: float,
    ) -> list[Alert]:
        """One reading of oracle ``feed`` (e.g. its symbol): stale and DEX-deviation episodes."""
        alerts = self._condition(
            f"stale_oracle:{feed}",
            "stale_oracle",
            active=stale,
            severity="warning",
            title_on=f"oracle {feed} is stale" + (f" ({age_s:.0f} s old)" if age_s is not None else ""),
            title_off=f"oracle {feed} is fresh again",
            message_on="The price feed is older than its heartbeat allows; actions on positions using it are skipped.",
            message_off="The price feed updates within its heartbeat again.",
            fields={"feed": feed, "age_s": age_s},
            position=position,
            block_number=block_number,
            now_s=now_s,
        )
        alerts += self._condition(
            f"oracle_deviation:{feed}",
            "oracle_deviation",
            active=deviating,
            severity="warning",
            title_on=f"oracle {feed} deviates from the DEX price"
            + (f" by {deviation_bps:.0f} bps" if deviation_bps is not None else ""),
            title_off=f"oracle {feed} agrees with the DEX price again",
            message_on="The oracle answer and the DEX price disagree beyond the configured limit; actions are skipped.",
            message_off="The oracle answer is within the configured deviation of the DEX price again.",
            fields={"feed": feed, "deviation_bps": deviation_bps},
            position=position,
            block_number=block_number,
            now_s=now_s,
        )
        return alerts

    def _condition(
        self,
        key: str,
        kind: AlertKind,
        *,
        active: bool,
        severity: Severity,
        title_on: str,
        title_off: str,
        message_on: str,
        message_off: str,
        fields: dict[str, FieldValue],
        position: str | None,
        block_number: int | None,
        now_s: float,
    ) -> list[Alert]:
        streaks = self._streaks.setdefault(key, _Streaks())
        streaks.on = streaks.on + 1 if active else 0
        streaks.off = 0 if active else streaks.off + 1
        needed = self.rules.oracle_min_persistence_ticks
        episode = self._episodes.get(key)
        if episode is None and streaks.on >= needed:
            return [
                self._emit(
                    kind, severity, key, "open", title_on, message_on, position, fields, block_number, now_s
                )
            ]
        if episode is not None and streaks.off >= needed:
            return [
                self._emit(
                    kind,
                    "info",
                    key,
                    "resolve",
                    title_off,
                    message_off,
                    position,
                    fields,
                    block_number,
                    now_s,
                )
            ]
        if episode is not None and active:
            return self._renotify(episode, now_s, block_number=block_number)
        return []

    # --- transactions --------------------------------------------------------------------------
    def evaluate_pending_txs(
        self, pending: Iterable[PendingTx], *, block_number: int, now_s: float
    ) -> list[Alert]:
        """All transactions still pending at ``block_number``; alerts on stuck ones, resolves settled ones."""
        limit = self.rules.tx_not_included_after_blocks
        alerts: list[Alert] = []
        pending_keys: set[str] = set()
        for tx in pending:
            key = f"tx_not_included:{tx.tx_hash}"
            pending_keys.add(key)
            waited_blocks = block_number - tx.sent_block
            episode = self._episodes.get(key)
            fields: dict[str, FieldValue] = {
                "tx_hash": tx.tx_hash,
                "plan_id": tx.plan_id,
                "nonce": tx.nonce,
                "sent_block": tx.sent_block,
                "waited_blocks": waited_blocks,
            }
            if episode is None and waited_blocks >= limit:
                alerts.append(
                    self._emit(
                        "tx_not_included",
                        "warning",
                        key,
                        "open",
                        f"transaction {tx.tx_hash[:10]}… not included after {waited_blocks} blocks",
                        f"Plan {tx.plan_id}: sent at block {tx.sent_block}, still pending at block {block_number} "
                        f"(limit {limit} blocks).",
                        tx.position,
                        fields,
                        block_number,
                        now_s,
                    )
                )
            elif episode is not None:
                alerts.extend(self._renotify(episode, now_s, block_number=block_number))
        for key, episode in list(self._episodes.items()):
            if episode.kind == "tx_not_included" and key not in pending_keys:
                tx_hash = key.split(":", 1)[1]
                alerts.append(
                    self._emit(
                        "tx_not_included",
                        "info",
                        key,
                        "resolve",
                        f"transaction {tx_hash[:10]}… is no longer pending",
                        "The transaction was included, replaced or dropped; see the action alerts for the outcome.",
                        episode.position,
                        {"tx_hash": tx_hash},
                        block_number,
                        now_s,
                    )
                )
        return alerts

    # --- one-shot action events ----------------------------------------------------------------
    def action_executed(
        self,
        plan_id: str,
        *,
        position: str,
        summary: str,
        block_number: int | None,
        now_s: float,
        fields: dict[str, FieldValue] | None = None,
    ) -> list[Alert]:
        """A plan was confirmed on chain (sent once per plan); it ends the position's open refused/failed
        episodes with one "recovered" alert each."""
        executed = self._event(
            "action_executed",
            "info",
            plan_id,
            position,
            f"{position}: {summary}",
            f"Plan {plan_id} confirmed.",
            fields,
            block_number,
            now_s,
        )
        if not executed:
            return []
        return executed + self._resolve_action_problems(position, f"recovered: plan {plan_id} landed ({summary})",
                                                        block_number, now_s)

    def action_failed(
        self,
        plan_id: str,
        *,
        position: str,
        error: str,
        block_number: int | None,
        now_s: float,
        fields: dict[str, FieldValue] | None = None,
    ) -> list[Alert]:
        """A plan failed or reverted: opens one episode per (position, reason class) (see ``action_refused``)."""
        return self._action_problem("action_failed", "critical", plan_id, position, "action failed",
                                    f"Plan {plan_id} failed: {error}", error, fields, block_number, now_s)

    def action_refused(
        self,
        plan_id: str,
        *,
        position: str,
        reason: str,
        block_number: int | None,
        now_s: float,
        fields: dict[str, FieldValue] | None = None,
    ) -> list[Alert]:
        """A plan was refused by policy or simulation and never sent.

        One episode per position and *reason class* (``reason_class``: the reason without its numbers and
        addresses): the same refusal at every block alerts once; it ends with one "recovered" alert when an
        action of the position lands (``action_executed``) or it needs none (``action_recovered``)."""
        return self._action_problem("action_refused", "warning", plan_id, position, "action refused",
                                    f"Plan {plan_id} was not sent: {reason}", reason, fields, block_number, now_s)

    def action_recovered(
        self,
        *,
        position: str,
        reason: str,
        block_number: int | None,
        now_s: float,
    ) -> list[Alert]:
        """The position needs no action any more: its open refused/failed episodes end ("recovered")."""
        return self._resolve_action_problems(position, f"recovered: {reason}", block_number, now_s)

    def _action_problem(self, kind: AlertKind, severity: Severity, plan_id: str, position: str, what: str,
                        message: str, reason: str, fields: dict[str, FieldValue] | None,
                        block_number: int | None, now_s: float) -> list[Alert]:
        cls = reason_class(reason)
        key = action_episode_key(kind, position, cls)
        episode = self._episodes.get(key)
        if episode is not None:
            return self._renotify(episode, now_s, block_number=block_number)
        all_fields: dict[str, FieldValue] = {"plan_id": plan_id, "reason_class": cls, **(fields or {})}
        return [self._emit(kind, severity, key, "open", f"{position}: {what}",
                           message + " (further ones of this kind are not repeated until the position recovers)",
                           position, all_fields, block_number, now_s)]

    def _resolve_action_problems(self, position: str, message: str, block_number: int | None,
                                 now_s: float) -> list[Alert]:
        alerts = []
        for key, episode in list(self._episodes.items()):
            if episode.kind not in ("action_refused", "action_failed") or episode.position != position:
                continue
            alerts.append(self._emit(episode.kind, "info", key, "resolve", f"{position}: recovered",
                                     f"{message} (was: {episode.title or episode.kind}; open "
                                     f"{now_s - episode.first_seen_s:.0f} s).", position,
                                     {"recovered": True, **{k: v for k, v in episode.fields.items()
                                                            if k == "reason_class"}}, block_number, now_s))
        return alerts

    def _event(
        self,
        kind: AlertKind,
        severity: Severity,
        plan_id: str,
        position: str,
        title: str,
        message: str,
        fields: dict[str, FieldValue] | None,
        block_number: int | None,
        now_s: float,
    ) -> list[Alert]:
        key = f"{kind}:{plan_id}"
        if key in self._events_seen:
            return []
        self._events_seen[key] = None
        while len(self._events_seen) > MAX_REMEMBERED_EVENTS:
            self._events_seen.popitem(last=False)
        all_fields: dict[str, FieldValue] = {"plan_id": plan_id, **(fields or {})}
        return [
            self._emit(
                kind, severity, key, "event", title, message, position, all_fields, block_number, now_s
            )
        ]

    # --- daily digest --------------------------------------------------------------------------
    def daily_digest(self, day: str, title: str, message: str, fields: dict[str, FieldValue],
                     now_s: float) -> list[Alert]:
        """The day's digest (``manager.alerts.digest``): one info event per UTC ``day``, never twice."""
        key = f"daily_digest:{day}"
        if key in self._events_seen:
            return []
        self._events_seen[key] = None
        return [self._emit("daily_digest", "info", key, "event", title, message, None, fields, None, now_s)]

    # --- heartbeat -----------------------------------------------------------------------------
    def tick_succeeded(self, now_s: float) -> list[Alert]:
        """Record a successful tick; resolves an open heartbeat episode (one recovery alert)."""
        self._last_success_s = max(self._last_success_s, now_s)
        if HEARTBEAT_KEY not in self._episodes:
            return []
        episode = self._episodes[HEARTBEAT_KEY]
        down_s = now_s - episode.first_seen_s
        return [
            self._emit(
                "heartbeat_missed",
                "info",
                HEARTBEAT_KEY,
                "resolve",
                "posman ticks are succeeding again",
                f"A tick succeeded after the heartbeat alert ({down_s:.0f} s after it was raised).",
                None,
                {"down_s": down_s},
                None,
                now_s,
            )
        ]

    def check_heartbeat(self, now_s: float) -> list[Alert]:
        """Dead-man check: one alert when no tick has succeeded for ``heartbeat_timeout_s``."""
        silent_s = now_s - self._last_success_s
        episode = self._episodes.get(HEARTBEAT_KEY)
        if episode is not None:
            return self._renotify(episode, now_s)
        if silent_s < self.rules.heartbeat_timeout_s:
            return []
        return [
            self._emit(
                "heartbeat_missed",
                "critical",
                HEARTBEAT_KEY,
                "open",
                f"no successful posman tick for {silent_s:.0f} s",
                f"The manager has not completed a tick for {silent_s:.0f} s (limit "
                f"{self.rules.heartbeat_timeout_s:.0f} s): positions are not being watched.",
                None,
                {"silent_s": silent_s, "heartbeat_timeout_s": self.rules.heartbeat_timeout_s},
                None,
                now_s,
            )
        ]

    # --- internals -----------------------------------------------------------------------------
    def _emit(
        self,
        kind: AlertKind,
        severity: Severity,
        key: str,
        transition: Transition,
        title: str,
        message: str,
        position: str | None,
        fields: dict[str, FieldValue],
        block_number: int | None,
        now_s: float,
    ) -> Alert:
        alert = Alert(
            kind=kind,
            severity=severity,
            episode_key=key,
            transition=transition,
            title=title,
            message=message,
            position=position,
            fields=fields,
            block_number=block_number,
            at_s=now_s,
        )
        self._apply(alert)
        return alert

    def _apply(self, alert: Alert) -> None:
        """Update the episode table for an alert the engine emits (a one-shot event opens no episode)."""
        if alert.transition == "event":
            return
        if alert.transition == "resolve":
            self._episodes.pop(alert.episode_key, None)
            return
        previous = self._episodes.get(alert.episode_key)
        self._episodes[alert.episode_key] = Episode(
            key=alert.episode_key,
            kind=alert.kind,
            severity=alert.severity,
            position=alert.position,
            first_seen_s=previous.first_seen_s if previous else alert.at_s,
            last_notified_s=alert.at_s,
            title=alert.title,
            message=alert.message,
            fields=dict(alert.fields),
            block_number=alert.block_number,
        )

    def _renotify(
        self,
        episode: Episode,
        now_s: float,
        *,
        health_factor: float | None = None,
        block_number: int | None = None,
    ) -> list[Alert]:
        interval = self.rules.renotify_after_s
        if interval is None or episode.severity == "info" or now_s - episode.last_notified_s < interval:
            return []
        open_s = now_s - episode.first_seen_s
        title = episode.title or episode.key
        fields = dict(episode.fields)
        if health_factor is not None:
            fields["health_factor"] = health_factor if math.isfinite(health_factor) else None
            title = f"{episode.position}: health factor {_fmt_hf(health_factor)} still in {episode.kind.removeprefix('health_')} band"
        fields["open_s"] = open_s
        alert = Alert(
            kind=episode.kind,
            severity=episode.severity,
            episode_key=episode.key,
            transition="renotify",
            title=f"still active: {title}",
            message=(episode.message or f"{episode.kind} is still active.") + f" Open for {open_s:.0f} s.",
            position=episode.position,
            fields=fields,
            block_number=block_number if block_number is not None else episode.block_number,
            at_s=now_s,
        )
        episode.last_notified_s = now_s
        return [alert]
