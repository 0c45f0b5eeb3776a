"""JSON-RPC client of one configured chain: timeouts, retries with backoff, URL failover, sanity checks.

- Every request has a timeout (``request_timeout_s``).
- Transient failures (connection refused/reset, timeouts, HTTP 408/429/5xx, rate-limit JSON-RPC
  errors) are retried with exponential backoff and jitter, bounded by ``max_retries`` rounds; each
  round walks the configured URLs in order starting from the last healthy one (failover), so a dead
  first URL costs one refused connection, not a backoff. When every round fails: ``RpcError``
  (retryable: the loop tries again next tick).
- A non-transient HTTP answer (401/403/404 and other 4xx: a wrong path or API key) makes that URL
  unusable for the rest of the request (no retry on it) and the request fails over to the next URL; one
  bad backup URL never stops the process. When no URL is left: ``RpcError`` as above.
- Each URL's chain id is checked before its first use; a mismatch is a ``ChainError`` (stop): a
  backup URL on another chain must never serve reads or transactions.
- ``connect()`` when no URL answers usably: ``ChainError`` naming every (masked) URL and its error.
- ``head(now_s)``: latest block number and timestamp; ``StaleHeadError`` when older than
  ``max_head_age_s`` (``now_s`` is passed in: tests control the clock).
- ``require_contract(address, what)``: ``ChainError`` when there is no code at the address.

URLs are logged masked (``mask_url``): hosted endpoints carry API keys in userinfo, path or query.
``web3`` (about 0.8 s to import) is imported on first use, not at module import.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from manager.config.schema import ChainConfig, Config, mask_url
from manager.errors import ChainError, DataQualityError, RpcError, StaleHeadError

if TYPE_CHECKING:
    from web3 import Web3
    from web3.providers.rpc import HTTPProvider

log = logging.getLogger("posman.chain")

BlockId = int | str  # an explicit block number, or "latest" / "pending" where that is the point

BACKOFF_BASE_S = 0.2
BACKOFF_MAX_S = 5.0
# JSON-RPC error codes / messages that hosted providers use for "slow down" (transient).
_RATE_LIMIT_CODES = {-32005, -32029, 429}
_RATE_LIMIT_WORDS = ("rate limit", "too many requests", "limit exceeded", "capacity exceeded")
_TRANSIENT_HTTP = {408, 425, 429}
# JSON-RPC errors that say "this node could not serve it now" (retry, fail over), not "the request is wrong".
# NOTE: -32603 "internal error" is what a struggling node or a load balancer answers for anything; anvil also
# uses it for EVM failures ("evm error outofgas"), which the words below keep out (those are answers, not faults).
_TRANSIENT_RPC_CODES = {-32603, -32002, -32001}
_TRANSIENT_RPC_WORDS = ("internal error", "header not found", "timeout", "timed out", "temporarily", "unavailable",
                        "busy", "try again", "overloaded", "upstream", "unknown block", "backend", "not synced")
_NOT_TRANSIENT_WORDS = ("revert", "nonce too low", "already known", "insufficient funds", "underpriced",
                        "intrinsic gas", "out of gas", "gas required exceeds", "exceeds block gas limit", "invalid",
                        "execution", "stack", "opcode", "evm error", "outofgas")
HEAD_LAG_BLOCKS = 2  # a URL whose latest block is this far behind another URL's is not trusted for the head
HEAD_CROSSCHECK_EVERY = 10  # head() asks the other URLs on its first call and every this many calls


class _MaskUrls(logging.Filter):
    """Masks configured RPC URLs (and their paths) in third-party log records (web3, urllib3 debug lines)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[str, str] = {}

    def add(self, url: str) -> None:
        masked = mask_url(url)
        if masked != url:
            self.secrets[url] = masked
            path = url.split("://", 1)[-1].partition("/")[2]
            if path:
                self.secrets["/" + path] = "/***"

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            msg = record.getMessage()
            if any(secret in msg for secret in self.secrets):
                for secret, masked in sorted(self.secrets.items(), key=lambda kv: -len(kv[0])):
                    msg = msg.replace(secret, masked)
                record.msg, record.args = msg, ()
        return True


_MASK = _MaskUrls()
for _name in ("web3.providers.HTTPProvider", "web3._utils.http_session_manager.HTTPSessionManager",
              "web3.RequestManager", "urllib3.connectionpool"):
    logging.getLogger(_name).addFilter(_MASK)


class RpcResponseError(DataQualityError):
    """The node answered a request with a JSON-RPC error that retrying will not fix."""


class CallReverted(RpcResponseError):
    """An ``eth_call`` reverted; ``revert_data`` holds the raw revert bytes (may be empty)."""


class _Transient(Exception):
    """Internal: a failure worth retrying (another round, another URL)."""


class _Unusable(Exception):
    """Internal: this URL cannot serve the request (HTTP 401/403/404...): fail over, never retry it."""


def _block_param(block: BlockId) -> str:
    if isinstance(block, bool):
        raise TypeError("block must be an int or a block tag")
    return hex(block) if isinstance(block, int) else block


def _hex_to_bytes(value: str | None) -> bytes:
    if not value:
        return b""
    return bytes.fromhex(value[2:] if value.startswith("0x") else value)


class ChainClient:
    """The RPC connection of one configured chain (see module docstring for the failure rules).

    ``sleep`` and ``rng`` are injectable so tests can observe backoff without waiting.
    """

    def __init__(
        self,
        name: str,
        config: ChainConfig,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        backoff_base_s: float = BACKOFF_BASE_S,
        backoff_max_s: float = BACKOFF_MAX_S,
    ) -> None:
        self.name = name
        self.config = config
        self.urls: tuple[str, ...] = tuple(config.rpc_urls)
        for url in self.urls:
            _MASK.add(url)
        self._sleep = sleep
        self._rng = rng
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self._active = 0  # index of the last URL that answered
        self._verified: set[int] = set()  # URLs whose chain id matched
        self._wrong_chain: set[int] = set()  # URLs found on another chain after start: never used again
        self._connected = False
        self._failures: dict[int, float] = {}  # decaying failure score per URL (orders the failover)
        self._latency_s: dict[int, float] = {}  # EWMA of each URL's answer time
        self._lagging: set[int] = set()  # URLs whose head was behind another URL's at the last head()
        self._best_head = -1  # the head the last head() trusted
        self._head_calls = 0
        self._providers: dict[int, HTTPProvider] = {}
        self._w3: Web3 | None = None

    @classmethod
    def from_config(cls, config: Config, chain: str, **kwargs: Any) -> ChainClient:
        """Client of the chain named ``chain`` in ``config``."""
        if chain not in config.chains:
            raise config.error(("chains",), f"unknown chain; known: {', '.join(sorted(config.chains))}", chain)
        return cls(chain, config.chains[chain], **kwargs)

    # ------------------------------------------------------------------ properties
    @property
    def chain_id(self) -> int:
        return self.config.chain_id

    @property
    def active_url(self) -> str:
        """The URL requests go to first (the last one that answered)."""
        return self.urls[self._active]

    @property
    def masked_urls(self) -> str:
        return ", ".join(mask_url(u) for u in self.urls)

    def __repr__(self) -> str:
        return f"ChainClient({self.name!r}, chain_id={self.chain_id}, urls=[{self.masked_urls}])"

    # ------------------------------------------------------------------ transport
    def _provider(self, idx: int) -> HTTPProvider:
        provider = self._providers.get(idx)
        if provider is None:
            from web3.providers.rpc import HTTPProvider

            # NOTE: web3's own retry is disabled: retries, backoff and failover are decided here.
            provider = HTTPProvider(
                self.urls[idx],
                request_kwargs={"timeout": self.config.request_timeout_s},
                exception_retry_configuration=None,
            )
            self._providers[idx] = provider
        return provider

    def backoff_s(self, round_: int) -> float:
        """Delay before retry round ``round_ + 1``: exponential, capped, with jitter (50-100 %)."""
        delay = min(self.backoff_max_s, self.backoff_base_s * 2**round_)
        return delay * (0.5 + 0.5 * self._rng())

    def _order(self) -> list[int]:
        """The active URL first, then the others by score (failures, head lag, latency); bad chains never."""
        n = len(self.urls)
        rest = [(self._active + k) % n for k in range(1, n)]
        rest.sort(key=lambda i: (i in self._lagging, self._failures.get(i, 0.0), self._latency_s.get(i, 0.0)))
        return [i for i in [self._active, *rest] if i not in self._wrong_chain]

    def urls_by_health(self) -> list[str]:
        """The URLs in the order requests try them (the healthy active one first; wrong-chain ones never)."""
        return [self.urls[i] for i in self._order()]

    def note_bad_answer(self) -> None:
        """The active URL answered something inconsistent (another block than asked): prefer the next URL."""
        self._failures[self._active] = self._failures.get(self._active, 0.0) + 1.0
        order = self._order()
        if len(order) > 1:
            self._active = order[1]

    def scores(self) -> list[dict[str, Any]]:
        """Per URL (masked): failure score, latency EWMA, lagging / wrong-chain flags (for logs and tests)."""
        return [{"url": mask_url(u), "failures": round(self._failures.get(i, 0.0), 3),
                 "latency_s": round(self._latency_s.get(i, 0.0), 4), "lagging": i in self._lagging,
                 "wrong_chain": i in self._wrong_chain, "active": i == self._active} for i, u in enumerate(self.urls)]

    def _record(self, idx: int, ok: bool, elapsed_s: float) -> None:
        for i in list(self._failures):
            self._failures[i] *= 0.9
        if not ok:
            self._failures[idx] = self._failures.get(idx, 0.0) + 1.0
        prev = self._latency_s.get(idx)
        self._latency_s[idx] = elapsed_s if prev is None else 0.8 * prev + 0.2 * elapsed_s

    @staticmethod
    def _transient_rpc_error(response: Any) -> str | None:
        """Why a JSON-RPC error answer is transient (retry / fail over), or None."""
        items = response if isinstance(response, list) else [response]
        for item in items:
            err = item.get("error") if isinstance(item, dict) else None
            if not isinstance(err, dict):
                continue
            msg = str(err.get("message", "")).lower()
            if any(w in msg for w in _NOT_TRANSIENT_WORDS) or err.get("code") == 3:
                continue
            if err.get("code") in _TRANSIENT_RPC_CODES or any(w in msg for w in _TRANSIENT_RPC_WORDS):
                return f"JSON-RPC error {err.get('code')}: {' '.join(msg.split())[:120]}"
        return None

    @staticmethod
    def _well_formed(response: Any) -> bool:
        """A JSON-RPC answer: an object with ``result`` or ``error`` (or a list of them, for a batch)."""
        def one(item: Any) -> bool:
            return isinstance(item, dict) and ("result" in item or isinstance(item.get("error"), dict))
        if isinstance(response, list):
            return bool(response) and all(one(x) for x in response)
        return one(response)

    def _classify(self, exc: BaseException, url: str) -> Exception:
        """A transport exception as ``_Transient`` (retry), ``_Unusable`` (fail over) or ``ChainError`` (stop)."""
        import requests

        if isinstance(exc, requests.HTTPError):
            status = exc.response.status_code if exc.response is not None else 0
            if status in _TRANSIENT_HTTP or status >= 500:
                return _Transient(f"HTTP {status}")
            return _Unusable(f"HTTP {status}, check the URL and its access key")
        if isinstance(exc, requests.Timeout | TimeoutError):
            return _Transient(f"timeout after {self.config.request_timeout_s:g} s")
        if isinstance(exc, requests.ConnectionError | ConnectionError | OSError):
            return _Transient(f"connection failed ({type(exc).__name__})")
        if isinstance(exc, json.JSONDecodeError | ValueError | UnicodeDecodeError):
            return _Transient(f"unreadable response ({type(exc).__name__})")
        return ChainError(f"chain '{self.name}' RPC URL {mask_url(url)}: {type(exc).__name__}: {exc}",
                          chain=self.name, url=mask_url(url))

    @staticmethod
    def _rate_limited(response: Any) -> bool:
        items = response if isinstance(response, list) else [response]
        for item in items:
            err = item.get("error") if isinstance(item, dict) else None
            if isinstance(err, dict):
                msg = str(err.get("message", "")).lower()
                if err.get("code") in _RATE_LIMIT_CODES or any(w in msg for w in _RATE_LIMIT_WORDS):
                    return True
        return False

    def _attempt(self, idx: int, op: Callable[[HTTPProvider], Any]) -> Any:
        """One request on URL ``idx``: raises ``_Transient``, ``_Unusable`` or ``ChainError``, else the raw response."""
        url = self.urls[idx]
        provider = self._provider(idx)
        started = time.monotonic()
        try:
            if idx not in self._verified:
                got = provider.make_request("eth_chainId", [])  # type: ignore[arg-type]
                if not self._well_formed(got) or isinstance(got, list):
                    raise _Transient("malformed eth_chainId response")
                if "error" in got:
                    raise _Transient(f"eth_chainId error {got['error']}")
                try:
                    chain_id = int(got["result"], 16)
                except (TypeError, ValueError):
                    raise _Transient("malformed eth_chainId result") from None
                if chain_id != self.chain_id:
                    err = ChainError(
                        f"chain '{self.name}' at {mask_url(url)} has chain id {chain_id}, "
                        f"config expects {self.chain_id}",
                        chain=self.name, url=mask_url(url), chain_id=chain_id, expected=self.chain_id,
                    )
                    if not self._connected:
                        raise err
                    # NOTE: after start a URL that turns out to serve another chain is dropped, never trusted
                    # (and never a reason to stop: the other URLs still serve the configured chain).
                    self._wrong_chain.add(idx)
                    log.error("chain %s: %s; this URL is no longer used", self.name, err)
                    raise _Unusable(str(err))
                self._verified.add(idx)
            response = op(provider)
        except (_Transient, _Unusable, ChainError):
            self._record(idx, False, time.monotonic() - started)
            raise
        except Exception as exc:
            self._record(idx, False, time.monotonic() - started)
            raise self._classify(exc, url) from exc
        elapsed = time.monotonic() - started
        if not self._well_formed(response):
            self._record(idx, False, elapsed)
            raise _Transient(f"malformed JSON-RPC response ({type(response).__name__})")
        if self._rate_limited(response):
            self._record(idx, False, elapsed)
            raise _Transient("rate limited (JSON-RPC error)")
        why = self._transient_rpc_error(response)
        if why is not None:
            self._record(idx, False, elapsed)
            raise _Transient(why)
        self._record(idx, True, elapsed)
        return response

    def _send(self, op: Callable[[HTTPProvider], Any], what: str) -> Any:
        """Run ``op`` against the URLs with retries and failover; the raw JSON-RPC response."""
        last: dict[str, str] = {}
        attempts = 0
        unusable: set[int] = set()  # URLs that refused this request for good (HTTP 401/403/404...)
        for round_ in range(self.config.max_retries + 1):
            for idx in self._order():
                if idx in unusable:
                    continue
                attempts += 1
                try:
                    response = self._attempt(idx, op)
                except _Unusable as exc:
                    unusable.add(idx)
                    last[mask_url(self.urls[idx])] = str(exc)
                    log.warning("chain %s: %s on %s refused: %s; trying the other URLs", self.name, what,
                                mask_url(self.urls[idx]), exc)
                    continue
                except _Transient as exc:
                    last[mask_url(self.urls[idx])] = str(exc)
                    log.warning("chain %s: %s on %s failed: %s", self.name, what, mask_url(self.urls[idx]), exc)
                    continue
                if idx != self._active:
                    log.warning("chain %s: failing over to %s", self.name, mask_url(self.urls[idx]))
                    self._active = idx
                return response
            if len(unusable) == len(self.urls):
                break  # no URL left that a retry could help
            if round_ < self.config.max_retries:
                self._sleep(self.backoff_s(round_))
        detail = "; ".join(f"{u}: {e}" for u, e in last.items())
        raise RpcError(
            f"chain '{self.name}': {what} failed {attempts} times on every RPC URL ({detail})",
            chain=self.name, method=what, attempts=attempts, detail=detail,
        )

    # ------------------------------------------------------------------ JSON-RPC
    def connect(self) -> ChainClient:
        """Reach the chain and check the chain id of every URL that answers.

        ``ChainError`` (every URL and its error) if no URL answers; ``ChainError`` if any URL (a backup too)
        answers with another chain id: a configuration error, found at start rather than at failover.
        """
        try:
            self._send(lambda p: p.make_request("eth_chainId", []), "eth_chainId")  # type: ignore[arg-type]
        except RpcError as exc:
            raise ChainError(
                f"chain '{self.name}' is unreachable at every RPC URL ({self.masked_urls}): "
                f"{exc.context['detail']}",
                chain=self.name, urls=[mask_url(u) for u in self.urls],
            ) from None
        for idx in range(len(self.urls)):
            if idx in self._verified or idx in self._latency_s:  # checked, or already tried (and failed) above
                continue
            try:  # a backup that does not answer now is checked when first used
                self._attempt(idx, lambda p: p.make_request("eth_chainId", []))  # type: ignore[arg-type]
            except (_Transient, _Unusable):
                continue
        self._connected = True
        return self

    def request(self, method: str, params: Sequence[Any] = ()) -> Any:
        """One JSON-RPC request; its ``result``. A JSON-RPC error becomes ``RpcResponseError``."""
        response = self._send(lambda p: p.make_request(method, list(params)), method)  # type: ignore[arg-type]
        if "error" in response:
            raise self._response_error(method, response["error"])
        return response.get("result")

    def batch(self, requests: Sequence[tuple[str, Sequence[Any]]]) -> list[dict[str, Any]]:
        """A JSON-RPC batch: one raw response (``result`` or ``error``) per request, in order."""
        if not requests:
            return []
        payload = [(m, list(p)) for m, p in requests]
        response = self._send(lambda p: p.make_batch_request(payload), f"batch of {len(payload)}")  # type: ignore[arg-type]
        if not isinstance(response, list):
            err = response.get("error", response) if isinstance(response, dict) else response
            raise RpcResponseError(f"chain '{self.name}' refused a batch of {len(payload)} requests: {err}",
                                   chain=self.name)
        if len(response) != len(payload):
            raise RpcResponseError(
                f"chain '{self.name}' answered {len(response)} responses to a batch of {len(payload)}",
                chain=self.name,
            )
        return list(response)

    def _response_error(self, method: str, error: dict[str, Any]) -> RpcResponseError:
        message = str(error.get("message", error))
        data = error.get("data")
        if method == "eth_call" and ("revert" in message.lower() or error.get("code") == 3):
            raw = data.get("data") if isinstance(data, dict) else data
            revert = _hex_to_bytes(raw) if isinstance(raw, str) and raw.startswith("0x") else b""
            return CallReverted(f"eth_call reverted on chain '{self.name}': {message}",
                                chain=self.name, revert_data=revert, rpc_message=message)
        return RpcResponseError(f"{method} failed on chain '{self.name}': {message}",
                                chain=self.name, method=method, code=error.get("code"), rpc_message=message)

    # ------------------------------------------------------------------ reads
    def block_number(self) -> int:
        return int(self.request("eth_blockNumber"), 16)

    def get_block(self, block: BlockId = "latest") -> dict[str, Any]:
        """The block header (no transactions) as the node returns it (hex fields)."""
        result = self.request("eth_getBlockByNumber", [_block_param(block), False])
        if result is None:
            raise RpcResponseError(f"chain '{self.name}' has no block {block}", chain=self.name, block=block)
        return result

    def block_timestamp(self, block: BlockId) -> int:
        """The block's timestamp (unix seconds)."""
        stamp = self.get_block(block)["timestamp"]  # the node's hex quantity
        return int(stamp, 16) if isinstance(stamp, str) else int(stamp)

    def head(self, now_s: float) -> tuple[int, int]:
        """``(block_number, timestamp_s)`` of the latest block; ``StaleHeadError`` if it is too old.

        ``now_s`` is the caller's clock (unix seconds), passed in so tests can move time.
        """
        block = self.get_block("latest")
        number, timestamp_s = self._head_fields(block)
        self._head_calls += 1
        # NOTE: the other URLs are asked when the active one went backwards, and on the first and every
        # HEAD_CROSSCHECK_EVERY-th head: a URL that lags steadily is found without a request per URL per tick.
        if len(self.urls) > 1 and (number + HEAD_LAG_BLOCKS <= self._best_head
                                   or self._head_calls % HEAD_CROSSCHECK_EVERY == 1):
            number, timestamp_s = self._head_from_others(number, timestamp_s)
        self._best_head = number
        age_s = now_s - timestamp_s
        if age_s > self.config.max_head_age_s:
            raise StaleHeadError(
                f"chain '{self.name}' head block {number} is {age_s:.0f} s old "
                f"(max_head_age_s = {self.config.max_head_age_s:g}); the node may be stuck or syncing",
                chain=self.name, block_number=number, timestamp_s=timestamp_s, age_s=age_s,
            )
        return number, timestamp_s

    def _head_fields(self, block: Any) -> tuple[int, int]:
        try:
            return int(block["number"], 16), int(block["timestamp"], 16)
        except (KeyError, TypeError, ValueError):
            raise RpcError(f"chain '{self.name}': the latest block answer is malformed", chain=self.name) from None

    def _head_from_others(self, number: int, timestamp_s: int) -> tuple[int, int]:
        """The active URL's head is behind the last head seen: ask the other URLs, trust the highest answer.

        NOTE: the last head seen is replaced by the best current answer (not kept as a high-water mark), so a
        chain that really went back (a reorg, a devnet revert) is followed once every URL agrees.
        """
        best = (number, timestamp_s, self._active)
        for idx in self._order()[1:]:
            try:
                got = self._attempt(idx, lambda p: p.make_request("eth_getBlockByNumber", ["latest", False]))
                n, ts = self._head_fields(got.get("result") or {})
            except (_Transient, _Unusable, ChainError, RpcError):
                continue
            if n > best[0]:
                best = (n, ts, idx)
        if best[0] < number + HEAD_LAG_BLOCKS:  # within the tolerated lag: keep the active URL
            self._lagging.discard(self._active)
            return number, timestamp_s
        self._lagging.add(self._active)
        self._lagging.discard(best[2])
        if best[2] != self._active:
            log.warning("chain %s: %s lags (head %d, %s at %d); failing over", self.name,
                        mask_url(self.urls[self._active]), number, mask_url(self.urls[best[2]]), best[0])
            self._active = best[2]
        return best[0], best[1]

    def get_code(self, address: str, block: BlockId = "latest") -> bytes:
        return _hex_to_bytes(self.request("eth_getCode", [address, _block_param(block)]))

    def require_contract(self, address: str, what: str, block: BlockId = "latest") -> None:
        """``ChainError`` unless there is code at ``address`` (``what`` names it in the message)."""
        if not self.get_code(address, block):
            raise ChainError(
                f"{what} {address} on chain '{self.name}' is not a contract (no code at block {block})",
                chain=self.name, address=address, what=what,
            )

    def eth_call(self, to: str, data: bytes, block: BlockId, *, gas: int | None = None,
                 sender: str | None = None) -> bytes:
        """``eth_call`` at ``block``; ``CallReverted`` (with ``revert_data``) when it reverts."""
        tx: dict[str, Any] = {"to": to, "data": "0x" + data.hex()}
        if gas is not None:
            tx["gas"] = hex(gas)
        if sender is not None:
            tx["from"] = sender
        return _hex_to_bytes(self.request("eth_call", [tx, _block_param(block)]))

    # ------------------------------------------------------------------ web3
    @property
    def w3(self) -> Web3:
        """A ``Web3`` whose requests go through this client (timeouts, retries, failover)."""
        if self._w3 is None:
            from web3 import Web3

            self._w3 = Web3(_client_provider_class()(self))
        return self._w3


@cache
def _client_provider_class() -> type:
    """Built on first use so that importing this module does not import web3."""
    from web3.providers.base import JSONBaseProvider

    class ClientProvider(JSONBaseProvider):
        """web3 provider that routes every request through a ``ChainClient``."""

        def __init__(self, client: ChainClient) -> None:
            super().__init__()
            self.client = client

        def make_request(self, method: Any, params: Any) -> Any:
            return self.client._send(lambda p: p.make_request(method, params), str(method))

        def make_batch_request(self, requests: Any) -> Any:
            return self.client._send(lambda p: p.make_batch_request(requests), f"batch of {len(requests)}")

        def is_connected(self, show_traceback: bool = False) -> bool:
            try:
                self.client.connect()
            except (ChainError, RpcError):
                return False
            return True

    return ClientProvider
