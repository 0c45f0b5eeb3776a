"""APScheduler 3.x jobs that drive the runtime: a tick per new block plus periodic house-keeping.

Jobs (one ``BackgroundScheduler``; each job has ``max_instances=1`` and ``coalesce=True``):

- ``block``: every ``poll_interval_s`` read the head; when it moved past the last processed block, run
  one tick at the head (ticks never overlap: a poll that finds a tick running is skipped, and blocks
  that arrived meanwhile are coalesced into the next tick at the newest head);
- ``digest``: with ``[alerts] daily_digest = true``, the daily digest alert at ``daily_digest_hour_utc``;
- ``track``: every ``poll_interval_s`` (at least 0.5 s) between ticks, settle the transactions earlier ticks sent
  (``Runtime.track_pending``: receipts, replace-by-fee, nonce gaps; skipped while a tick runs, which
  tracks itself first), so a confirmation is recorded and alerted without waiting for the next tick;
- ``heartbeat``: the dead-man check of the alert engine (runs on its own thread, so a hung tick is still
  noticed) and a "still alive" log line every ``heartbeat_s``;
- ``daily``: at 00:00 UTC, log the day's executed notional against the per-day cap (the cap's counter is
  keyed by UTC day, so the new day starts from zero);
- ``compaction``: hourly, thin old health history (``Repository.compact_snapshots``).

A ``StopError`` raised by a tick is kept in ``fatal`` and sets ``stopped``: the life cycle stops the
process with that one-line error.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from manager.errors import StopError

log = logging.getLogger("posman.runtime.scheduler")

COMPACT_OLDER_THAN_BLOCKS = 50_000
COMPACT_KEEP_EVERY_BLOCKS = 50
RETRY_FAILED_S = 1.0
TRACK_MIN_INTERVAL_S = 0.5  # the tracking job between ticks runs at most this often


class ManagerScheduler:
    """Owns the APScheduler instance and the jobs listed in the module docstring."""

    def __init__(
        self,
        runtime: Any,
        head: Callable[[], int],
        *,
        poll_interval_s: float,
        heartbeat_s: float,
        dead_man_check_s: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.runtime = runtime
        self.head = head
        self.poll_interval_s = poll_interval_s
        self.heartbeat_s = heartbeat_s
        self.dead_man_check_s = dead_man_check_s or min(heartbeat_s, 30.0)
        self.clock = clock
        self.stopped = threading.Event()
        self.fatal: BaseException | None = None
        self._scheduler: Any = None
        self._last_alive_log = 0.0
        self._head_failures = 0
        self._failed: tuple[int, float] | None = None

    # --- life cycle ------------------------------------------------------------------------------
    def start(self) -> None:
        from apscheduler.schedulers.background import BackgroundScheduler

        # NOTE: "skipped: maximum number of running instances reached" is the designed no-overlap path.
        logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
        logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)
        sched = BackgroundScheduler(timezone=dt.UTC, job_defaults={"coalesce": True, "max_instances": 1,
                                                                   "misfire_grace_time": None})
        now = dt.datetime.now(dt.UTC)
        sched.add_job(self.poll_block, "interval", seconds=self.poll_interval_s, id="block", next_run_time=now)
        sched.add_job(self.track, "interval", seconds=max(self.poll_interval_s, TRACK_MIN_INTERVAL_S), id="track")
        sched.add_job(self.heartbeat, "interval", seconds=self.dead_man_check_s, id="heartbeat")
        sched.add_job(self.daily_rollover, "cron", hour=0, minute=0, id="daily")
        sched.add_job(self.compact, "interval", hours=1, id="compaction")
        alerts_cfg = getattr(getattr(self.runtime, "cfg", None), "alerts", None)
        if alerts_cfg is not None and getattr(alerts_cfg, "daily_digest", False):
            sched.add_job(self.digest, "cron", hour=alerts_cfg.daily_digest_hour_utc, minute=0, id="digest")
        sched.start()
        self._scheduler = sched
        log.info("event=scheduler_started poll_interval_s=%g heartbeat_s=%g dead_man_check_s=%g",
                 self.poll_interval_s, self.heartbeat_s, self.dead_man_check_s)

    def shutdown(self) -> None:
        """Stop the jobs; waits for a running tick to finish (graceful stop)."""
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)
            self._scheduler = None
            log.info("event=scheduler_stopped")

    # --- jobs --------------------------------------------------------------------------------------
    def poll_block(self) -> None:
        if self.stopped.is_set():
            return
        try:
            head = self.head()
            self._head_failures = 0
        except StopError as exc:
            self._fail(exc)
            return
        except Exception as exc:
            self._head_failures += 1
            log.warning("event=head_failed failures=%d error_type=%s error=%r", self._head_failures,
                        type(exc).__name__, " ".join(str(exc).split())[:200])
            return
        last = self.runtime.last_processed_block
        if last is not None and head <= last:
            return
        if self._failed is not None and self._failed[0] == head and time.monotonic() - self._failed[1] < RETRY_FAILED_S:
            return  # the tick at this head failed just now: retry it later, not at every poll
        try:
            # NOTE: the reader reads at the head it finds itself (with its stale-head check); ``head`` only
            # tells us a new block arrived. The tick records the block it actually read.
            report = self.runtime.tick(None)
            self._failed = None if report.ok else (head, time.monotonic())
        except StopError as exc:
            self._fail(exc)
        except Exception:  # a bug in the tick itself: log it, keep the process alive, heartbeat will tell
            log.exception("event=tick_crashed block=%d", head)

    def track(self) -> None:
        if self.stopped.is_set():
            return
        try:
            track = getattr(self.runtime, "track_pending", None)
            if track is not None:
                track()
        except StopError as exc:
            self._fail(exc)
        except Exception:
            log.exception("event=track_crashed")

    def heartbeat(self) -> None:
        now = self.clock()
        try:
            self.runtime.alerting.emit("check_heartbeat", now)
        except Exception:
            log.exception("event=heartbeat_check_failed")
        if now - self._last_alive_log >= self.heartbeat_s:
            self._last_alive_log = now
            last = self.runtime.last_tick
            log.info("event=alive ticks=%d last_block=%s last_ok=%s", self.runtime.ticks,
                     getattr(last, "block_number", None), getattr(last, "ok", None))

    def daily_rollover(self) -> None:
        try:
            used = self.runtime.sizing_limits().per_day_remaining_usd
            log.info("event=daily_cap_reset day=%s per_day_usd=%g remaining_usd=%s",
                     dt.datetime.now(dt.UTC).date().isoformat(), self.runtime.cfg.limits.per_day_usd, used)
        except Exception:
            log.exception("event=daily_rollover_failed")

    def digest(self) -> None:
        """The daily digest alert (``[alerts] daily_digest``; see ``manager.alerts.digest``)."""
        from manager.alerts.digest import build_digest

        try:
            now = self.clock()
            repo = self.runtime.repo
            title, message, fields = build_digest(repo, list(self.runtime.positions), now)
            if repo.alert_seen(f"daily_digest:{fields['day']}"):  # sent before a restart this hour
                return
            self.runtime.alerting.emit("daily_digest", fields["day"], title, message, fields, now)
        except Exception:
            log.exception("event=daily_digest_failed")

    def compact(self) -> None:
        last = self.runtime.last_processed_block
        if last is None:
            return
        try:
            self.runtime.repo.compact_snapshots(head_block=last, older_than_blocks=COMPACT_OLDER_THAN_BLOCKS,
                                                keep_every_n_blocks=COMPACT_KEEP_EVERY_BLOCKS)
        except Exception:
            log.exception("event=compaction_failed")

    def _fail(self, exc: BaseException) -> None:
        log.error("event=stopping reason=%r", str(exc))
        self.fatal = exc
        self.stopped.set()
