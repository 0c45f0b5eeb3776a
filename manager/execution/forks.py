"""A pool of warm anvil forks for the executor's fork replay (``simulate.fork_replay``).

Starting an anvil fork per plan costs a process start and a cold state cache (seconds when fifty plans
are replayed in one tick). ``ForkPool`` keeps up to ``size`` forks alive and hands one out per replay:

- the fork is moved to the requested chain and block with ``anvil_reset`` (no restart) when it was at
  another one; plans of one tick share the block, so the state cache stays warm;
- before the replay an ``evm_snapshot`` is taken and the lease's ``stop()`` reverts to it, so every
  replay starts from the untouched block state (one plan never sees another plan's replayed steps);
- a fork that fails (reset, snapshot or revert) is killed and replaced by a fresh one next time;
- forks are started from the pool's own long-lived thread: an owned anvil is tied to the thread that
  started it (``PR_SET_PDEATHSIG``), and the runtime's per-tick send threads end with the tick.

``ForkPool`` is the ``fork_factory`` of ``Executor``: the call signature of ``Anvil.start``
(``extra_args=["--fork-url", url, "--fork-block-number", n]``) returning an object with ``url`` and
``stop()``. Thread-safe; at most ``size`` replays run at once (others wait for a free fork).
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("posman.execution.forks")

DEFAULT_POOL_SIZE = 6


def _fork_target(extra_args: list[str]) -> tuple[str, int | None]:
    url, block = "", None
    for flag, value in itertools.pairwise(extra_args):
        if flag == "--fork-url":
            url = value
        elif flag == "--fork-block-number":
            block = int(value)
    if not url:
        raise ValueError("fork pool: extra_args must name --fork-url")
    return url, block


@dataclass
class _Slot:
    node: Any = None
    target: tuple[str, int | None] | None = None


class ForkLease:
    """One checked-out fork: ``url`` to talk to it, ``stop()`` to revert it and give it back."""

    def __init__(self, pool: ForkPool, slot: _Slot, snapshot: str) -> None:
        self._pool, self._slot, self._snapshot = pool, slot, snapshot
        self.url = slot.node.url

    def stop(self) -> None:
        self._pool._give_back(self._slot, self._snapshot)


class ForkPool:
    """Up to ``size`` warm forks (see the module docstring)."""

    def __init__(self, size: int = DEFAULT_POOL_SIZE, *, start: Callable[..., Any] | None = None) -> None:
        if size < 1:
            raise ValueError(f"fork pool size must be >= 1, got {size}")
        if start is None:
            from manager.devnet.anvil import Anvil

            start = Anvil.start
        self._start = start
        self._starter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="posman-forks")
        self._slots = [_Slot() for _ in range(size)]
        self._free = list(self._slots)
        self._cond = threading.Condition()
        self.resets = 0
        self.starts = 0

    def __call__(self, *, extra_args: list[str]) -> ForkLease:
        target = _fork_target(extra_args)
        with self._cond:
            while not self._free:
                self._cond.wait()
            # NOTE: prefer a fork already at this block (its state cache is warm)
            slot = next((s for s in self._free if s.target == target), self._free[0])
            self._free.remove(slot)
        try:
            if slot.node is None:
                slot.node = self._starter.submit(self._start, extra_args=extra_args).result()
                self.starts += 1
            elif slot.target != target:
                url, block = target
                forking: dict[str, Any] = {"jsonRpcUrl": url}
                if block is not None:
                    forking["blockNumber"] = block
                slot.node.call("anvil_reset", [{"forking": forking}])
                self.resets += 1
            slot.target = target
            snapshot = str(slot.node.call("evm_snapshot"))
        except BaseException:
            self._discard(slot)
            raise
        return ForkLease(self, slot, snapshot)

    def _give_back(self, slot: _Slot, snapshot: str) -> None:
        try:
            if not slot.node.call("evm_revert", [snapshot]):
                raise RuntimeError(f"evm_revert({snapshot}) returned false")
        except Exception as exc:
            log.warning("event=fork_revert_failed error_type=%s error=%r", type(exc).__name__, str(exc)[:200])
            self._discard(slot)
            return
        with self._cond:
            self._free.append(slot)
            self._cond.notify()

    def _discard(self, slot: _Slot) -> None:
        node, slot.node, slot.target = slot.node, None, None
        if node is not None:
            try:
                node.stop()
            except Exception:  # pragma: no cover - best effort
                pass
        with self._cond:
            self._free.append(slot)
            self._cond.notify()

    def close(self) -> None:
        """Stop every fork (call at shutdown)."""
        with self._cond:
            slots = list(self._slots)
        self._starter.shutdown(wait=False)
        for slot in slots:
            node, slot.node, slot.target = slot.node, None, None
            if node is not None:
                try:
                    node.stop()
                except Exception:  # pragma: no cover - best effort
                    pass


__all__ = ["DEFAULT_POOL_SIZE", "ForkLease", "ForkPool"]
