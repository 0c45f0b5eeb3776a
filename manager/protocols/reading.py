"""What a protocol adapter's reads section gets and gives in a tick (``manager.watchers.tick.TickReader``).

Every adapter builds a **read plan** (``manager.chain.batch``: a generator yielding rounds of ``Call``) for
the positions of one ``[[protocols]]`` entry, from a ``ReadContext`` (the tick's block, its timestamp read once
from the head, the clock, the oracle rules); the reader runs every adapter's plans together (``run_plans``:
round k of every plan is one multicall, chunks in parallel) and gets one ``ProtocolRead`` per entry back.
Then, in a second batched read, the protocol-neutral oracle check reads every ``OracleFeed`` the entries
named (staleness and DEX deviation, ``manager.watchers.oracle``) and the lending adapters read the atomic
path's flash liquidity and grants (``atomic_plan``).

Import-light (no web3): the pure core may import it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from manager.domain import PositionSnapshot


@dataclass(frozen=True)
class OracleFeed:
    """A Chainlink-style price feed a position depends on: ``symbol``'s USD price from ``feed``.

    ``token`` / ``decimals``: the asset priced (to compare the feed with the configured DEX pools); empty when
    the asset has no token on this chain (the feed's staleness is still checked).
    """

    symbol: str
    feed: str
    token: str = ""
    decimals: int = 18


@dataclass(frozen=True)
class PositionRequest:
    """One configured position to read: its name, account, mode and (managed with an executor) executor."""

    name: str
    account: str
    mode: str = "watch"
    executor: str | None = None


@dataclass(frozen=True)
class ReadContext:
    """The tick's shared inputs: one block, its timestamp (read once), the caller's clock, the config."""

    block_number: int
    block_timestamp: int
    now_s: float
    heartbeat_s: Callable[[str], int]  # oracle symbol -> heartbeat (the config's per-symbol value or default)
    config: Any = None  # the whole ``Config`` (e.g. ``[[pools]]`` token symbols an adapter checks)


@dataclass(frozen=True)
class ProtocolRead:
    """What one ``[[protocols]]`` entry's read plan returns.

    - ``snapshots``: position name -> snapshot (positions that were read); ``errors``: name -> one-line reason
      for the others (a per-position failure stays per-position);
    - ``feeds``: the oracle feeds its positions depend on (checked for every position, whatever its protocol);
    - ``tokens``: symbol -> token address it knows at this block (swap routing and depth reads);
    - ``wallets``: managed position name -> the account's wallet balance per token (wei) at the same block;
    - ``state``: the protocol's own detail of the entry (e.g. the Aave market), for its own adapter later.
    """

    snapshots: dict[str, PositionSnapshot] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    feeds: tuple[OracleFeed, ...] = ()
    tokens: Mapping[str, str] = field(default_factory=dict)
    wallets: dict[str, dict[str, int]] = field(default_factory=dict)
    state: Any = None


@dataclass(frozen=True)
class AtomicWanted:
    """A managed position whose signer has an executor contract: what the atomic-path reads are for."""

    name: str
    owner: str
    executor: str
    snapshot: PositionSnapshot


__all__ = ["AtomicWanted", "OracleFeed", "PositionRequest", "ProtocolRead", "ReadContext"]
