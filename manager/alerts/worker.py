"""Alert delivery on a background thread: a tick only enqueues, it never waits for a channel.

``AlertWorker.submit(alerts)`` puts the alerts on a bounded queue and returns at once; one worker thread
hands them to the ``AlertDispatcher`` (send to every channel, each with its own timeout, then record),
and runs ``retry_undelivered()`` when asked (``retry()``, once per tick; a retry already queued is not
queued twice). A dead channel (connection refused, or a server that hangs until the channel's
``timeout_s``) therefore delays only the worker, never a tick; the dispatcher's circuit breaker then
skips that channel for a back-off period, so the other channels are not held up by it either.

When the queue is full (``max_queue`` alerts waiting: channels far behind), an alert is not dropped
silently: it is recorded in the database as undelivered (``AlertDispatcher.record_undelivered``), so the
start-up ``recover()`` sends its episode, and logged at ERROR. ``close(timeout_s)`` drains the queue
(graceful shutdown); whatever is still queued when the time is up is recorded the same way.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterable
from typing import Any

from manager.alerts.model import Alert

log = logging.getLogger("posman.alerts.worker")

MAX_QUEUE = 10_000
_STOP = object()


class AlertWorker:
    """One background thread delivering alerts through ``dispatcher`` (see the module docstring)."""

    def __init__(self, dispatcher: Any, *, max_queue: int = MAX_QUEUE) -> None:
        self.dispatcher = dispatcher
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_queue)
        self._retry_queued = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False
        self.overflowed = 0  # alerts recorded as undelivered because the queue was full

    # --- the tick's side -------------------------------------------------------------------------
    def submit(self, alerts: Iterable[Alert]) -> bool:
        """Queue ``alerts`` for delivery; never blocks. ``False`` when the queue was full (recorded instead)."""
        batch = list(alerts)
        if not batch:
            return True
        if self._closed:
            self._record_undelivered(batch, why="worker closed")
            return False
        self._ensure_started()
        try:
            self._queue.put_nowait(("dispatch", batch))
            return True
        except queue.Full:
            self.overflowed += len(batch)
            self._record_undelivered(batch, why="queue full")
            return False

    def retry(self) -> None:
        """Ask the worker to re-send undelivered alerts (at most one retry request waits in the queue)."""
        if self._closed or self._retry_queued.is_set():
            return
        self._ensure_started()
        self._retry_queued.set()
        try:
            self._queue.put_nowait(("retry", None))
        except queue.Full:
            self._retry_queued.clear()

    def pending(self) -> int:
        """Work items (alert batches, retry requests) not handled yet."""
        return self._queue.unfinished_tasks

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until everything queued so far is handled; ``False`` if ``timeout_s`` passed first."""
        deadline = time.monotonic() + timeout_s
        cond = self._queue.all_tasks_done
        with cond:
            while self._queue.unfinished_tasks:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                cond.wait(left)
        return True

    def close(self, timeout_s: float = 10.0) -> bool:
        """Drain the queue (up to ``timeout_s``), stop the thread; alerts left are recorded as undelivered.
        A second call does nothing."""
        if self._closed:
            return True
        self._closed = True
        drained = self.flush(timeout_s) if self._thread is not None else True
        leftover: list[Alert] = []
        while True:
            try:
                kind, batch = self._queue.get_nowait()
            except queue.Empty:
                break
            if kind == "dispatch":
                leftover.extend(batch)
            self._queue.task_done()
        if leftover:
            self._record_undelivered(leftover, why="shutdown before delivery")
        if self._thread is not None:
            try:
                self._queue.put_nowait(("stop", _STOP))
            except queue.Full:  # pragma: no cover - emptied just above
                pass
            self._thread.join(timeout=max(0.1, min(timeout_s, 2.0)))
        log.info("event=alert_worker_closed drained=%s leftover=%d", drained, len(leftover))
        return drained and not leftover

    # --- the worker thread -----------------------------------------------------------------------
    def _ensure_started(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="posman-alerts", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            kind, batch = self._queue.get()
            try:
                if kind == "stop":
                    return
                if kind == "retry":
                    self._retry_queued.clear()
                    self.dispatcher.retry_undelivered()
                else:
                    self.dispatcher.dispatch(batch)
            except Exception:  # NOTE: a bug in one delivery must not stop every later alert
                log.exception("event=alert_worker_failed kind=%s", kind)
            finally:
                self._queue.task_done()

    def _record_undelivered(self, alerts: list[Alert], *, why: str) -> None:
        for alert in alerts:
            log.error("event=alert_not_delivered why=%r episode=%s kind=%s title=%r", why, alert.episode_key,
                      alert.kind, alert.title)
        record = getattr(self.dispatcher, "record_undelivered", None)
        if record is not None:
            record(alerts)


__all__ = ["MAX_QUEUE", "AlertWorker"]
