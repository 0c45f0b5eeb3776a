"""One exception tree for the whole manager, classified by what the loop does next.

- ``RetryableError``: transient (RPC timeout, rate limit). Retry with backoff, maybe on another URL.
- ``SkipTickError``: the data of this tick cannot be trusted (stale oracle, stale head, deviation).
  Do not act on this position this tick; raise an alert.
- ``NeverSubmitError``: a plan broke a rule (policy, simulation revert, cap). Never broadcast it.
- ``StopError``: configuration or environment is wrong; the process stops with a one-line message.
- ``SizingError``: bad input to the pure sizing core (NaN, negative price, LT of 0, target < 1).

Every error keeps its context (field, value, block, account...) as attributes, and ``str(err)`` is a
single line fit to print to a user. The CLI prints ``error: <str(err)>`` and exits non-zero.
"""

from __future__ import annotations

from typing import Any


class PosmanError(Exception):
    """Root of every error the manager raises on purpose."""

    exit_code = 2

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context = context
        for key, value in context.items():
            if not hasattr(self, key):
                setattr(self, key, value)

    def __str__(self) -> str:
        return " ".join(self.message.split())


# --- what the loop does next -------------------------------------------------------------------
class RetryableError(PosmanError):
    """Transient: retry (with backoff, possibly on another RPC URL)."""


class SkipTickError(PosmanError):
    """The data of this tick is not trustworthy: skip acting, alert."""


class NeverSubmitError(PosmanError):
    """A plan broke a rule: it must never be broadcast."""


class StopError(PosmanError):
    """Configuration or environment is wrong: stop with a one-line message."""


# --- concrete classes ---------------------------------------------------------------------------
class ConfigError(StopError):
    """A config file or value is invalid. Names file, line (when known), field and value."""


class SetupError(StopError):
    """A local prerequisite is missing (npm parts, venv, anvil binary...)."""


class DevnetError(StopError):
    """The local devnet could not be started, deployed or driven."""


class ChainError(StopError):
    """The chain is not what the config says (wrong chain id, not a contract, unreachable)."""


class RpcError(RetryableError):
    """A transient RPC failure (timeout, connection refused, 429, 5xx)."""


class StaleHeadError(SkipTickError):
    """The latest block is older than the configured maximum age."""


class DataQualityError(SkipTickError):
    """Reads of one tick are inconsistent (different blocks, failed calls, impossible values)."""


class SizingError(PosmanError):
    """Bad input to the pure sizing core; never a silent number."""


class PolicyViolation(NeverSubmitError):
    """A plan breaks the allow-list, a cap, the slippage limit or the gas budget."""


class SimulationFailed(NeverSubmitError):
    """A step reverted in simulation (reason decoded), or the fork replay missed the target band."""
