"""The one owner of an account's nonces.

``NonceManager.lease()`` holds the account's lock and yields the next nonce: the highest of the chain's
pending transaction count, the next nonce this process handed out, and one past the highest nonce of
any stored signed transaction still pending (a signed transaction we stored is never given a sibling
with the same nonce for a different purpose). ``lease.commit()`` after a broadcast that may have
reached the network advances the counter; a lease that ends without commit hands the same nonce out
again (nothing was sent with it).

One ``NonceManager`` per account per process; the executor serialises plans on ``plan_lock`` so a plan's
steps run in order and no other plan of the account interleaves.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("posman.execution.nonce")


@dataclass
class NonceLease:
    nonce: int
    committed: bool = False

    def commit(self) -> None:
        """The transaction with this nonce may be on the network: never hand the nonce out again."""
        self.committed = True


@dataclass
class NonceBlock:
    """``count`` consecutive nonces from ``first`` (``lease_block``)."""

    first: int
    count: int
    committed_through: int | None = None

    @property
    def nonces(self) -> list[int]:
        return list(range(self.first, self.first + self.count))

    def commit(self, nonce: int) -> None:
        if not self.first <= nonce < self.first + self.count:
            raise ValueError(f"nonce {nonce} is not in this block ({self.first}..{self.first + self.count - 1})")
        self.committed_through = max(nonce, self.committed_through if self.committed_through is not None else -1)


class NonceManager:
    """Hands out nonces for ``address`` under a lock (thread-safe)."""

    def __init__(self, w3: Any, address: str, *, stored_pending_nonces: Callable[[], list[int]] | None = None) -> None:
        self._w3 = w3
        self.address = address
        self._stored = stored_pending_nonces or (lambda: [])
        self._lock = threading.RLock()
        self.plan_lock = threading.RLock()  # held by the executor for a whole plan
        self._next: int | None = None

    def _chain_next(self) -> int:
        return int(self._w3.eth.get_transaction_count(self.address, "pending"))

    def peek(self) -> int:
        """The nonce the next lease would get (no reservation)."""
        with self._lock:
            stored = self._stored()
            candidates = [self._chain_next(), (max(stored) + 1) if stored else 0]
            if self._next is not None:
                candidates.append(self._next)
            return max(candidates)

    @contextmanager
    def lease(self) -> Iterator[NonceLease]:
        """Hold the account lock and yield the next nonce; ``commit()`` it once the tx may be out."""
        with self._lock:
            lease = NonceLease(self.peek())
            try:
                yield lease
            finally:
                if lease.committed:
                    self._next = lease.nonce + 1
                    log.debug("event=nonce_committed address=%s nonce=%d", self.address, lease.nonce)

    @contextmanager
    def lease_block(self, count: int) -> Iterator[NonceBlock]:
        """Hold the account lock and yield ``count`` consecutive nonces; ``commit(last)`` the highest one
        that may be out (the next lease starts after it); nonces above it are handed out again."""
        with self._lock:
            block = NonceBlock(self.peek(), count)
            try:
                yield block
            finally:
                if block.committed_through is not None:
                    self._next = block.committed_through + 1
                    log.debug("event=nonce_committed address=%s nonces=%d..%d", self.address, block.first,
                              block.committed_through)

    def resync(self) -> None:
        """Forget the local counter (e.g. after reconcile found transactions replaced by others)."""
        with self._lock:
            self._next = None
