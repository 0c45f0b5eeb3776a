"""Simulation: every step is called and gas-estimated at one pinned latest block before it is signed,
and the whole plan is replayed on a local fork whose post-state must land in the target band.

- ``simulate_step``: ``eth_call`` then ``eth_estimateGas`` at the same block number; a revert raises
  ``SimulationFailed`` with the reason decoded by ``decode_revert``.
- ``decode_revert``: ``Error(string)`` (Aave v3.0-v3.3 numeric codes named from ``Errors.sol``, see
  ``aave_errors``), ``Panic(uint256)`` (Solidity panic codes), Aave v3.4+ custom errors by name (selector map
  from every v3.6 ABI, libraries included), other 4-byte custom errors by selector.
- ``fork_replay``: starts anvil with ``--fork-url <rpc> --fork-block-number <block>``, impersonates the
  sender, simulates and executes every step in order there, then evaluates the caller's post-state
  check (e.g. reads the health factor) and requires it within ``min_post_health`` / ``target_band``.
- ``atomic_post_state``: the same check for a ONE-step plan calling posman's executor contract, without a fork:
  one ``eth_simulateV1`` at the block (the node's standard multi-call simulation: the action from the sender,
  then the contract's own ``healthOf`` view on the state it leaves - the health the contract checks on chain);
  ``None`` when the plan does not qualify or the node has no ``eth_simulateV1`` (then the fork replays it).

Nothing here signs; the fork uses ``anvil_impersonateAccount`` so no key is needed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from eth_abi import decode as abi_decode
from pydantic import BaseModel, ConfigDict

from manager.chain.multicall import (  # one table of Solidity panic codes
    ERROR_SELECTOR,
    PANIC_CODES,
    PANIC_SELECTOR,
)
from manager.errors import RpcError, SimulationFailed
from manager.execution.types import Preconditions, TxStep

log = logging.getLogger("posman.execution.simulate")

GAS_MARGIN_PER_MILLE = 250  # gas limit = estimate * 1.25 + 10k: estimates at latest can shift by a block
GAS_MARGIN_FLAT = 10_000

PostCheck = Callable[[Any], float]
"""Reads the position's health (a float, 1.0 = liquidation) from a ``Web3`` connected to a chain."""


def decode_revert(data: str | bytes | None, message: str = "") -> str:
    """A one-line reason for revert ``data`` (hex or bytes); falls back to the node's ``message``."""
    if isinstance(data, bytes | bytearray):
        hexdata = bytes(data).hex()
    elif isinstance(data, str):
        hexdata = data[2:] if data.startswith("0x") else data
    else:
        hexdata = ""
    hexdata = hexdata.lower()
    if not hexdata:
        msg = " ".join(str(message).split())
        return msg or "reverted without a reason"
    selector, body = hexdata[:8], bytes.fromhex(hexdata[8:]) if len(hexdata) % 2 == 0 else b""
    if selector == ERROR_SELECTOR.hex():
        try:
            (text,) = abi_decode(["string"], body)
        except Exception:
            return f"Error(string) with undecodable data 0x{hexdata[:72]}"
        text = " ".join(str(text).split())
        for adapter in _adapters():  # a protocol's numeric revert codes (Aave: Errors.sol)
            named = adapter.revert_reason(text)
            if named is not None:
                return str(named)
        return f"Error({text!r})"
    if selector == PANIC_SELECTOR.hex():
        try:
            (code,) = abi_decode(["uint256"], body)
        except Exception:
            return f"Panic with undecodable data 0x{hexdata[:72]}"
        return f"Panic(0x{code:02x}: {PANIC_CODES.get(code, 'unknown panic code')})"
    from manager.atomic.encode import decode_executor_error  # posman's own executor contract

    named = decode_executor_error(hexdata)
    if named is not None:
        return named
    for adapter in _adapters():  # a protocol's custom errors (Aave v3.4+: Pool and every linked library)
        named = adapter.custom_error(selector, body)
        if named is not None:
            return str(named)
    return f"custom error 0x{selector} (data 0x{hexdata[:72]}{'...' if len(hexdata) > 72 else ''})"


def _adapters() -> list[Any]:
    from manager.protocols import registry

    return registry.adapters()


class StepSimulation(BaseModel):
    """A successful simulation of one step at ``block_number``."""

    model_config = ConfigDict(frozen=True)

    step_label: str
    block_number: int
    gas_estimate: int
    return_data: str

    @property
    def gas_limit(self) -> int:
        return self.gas_estimate * (1000 + GAS_MARGIN_PER_MILLE) // 1000 + GAS_MARGIN_FLAT


def _call_dict(step: TxStep, sender: str) -> dict[str, Any]:
    return {"from": sender, "to": step.to, "data": step.data, "value": step.value_wei}


def _revert_from(exc: Exception) -> tuple[str | bytes | None, str]:
    data = getattr(exc, "data", None)
    message = getattr(exc, "message", None) or (exc.args[0] if exc.args else str(exc))
    if isinstance(message, dict):
        data = data or message.get("data")
        message = message.get("message", "")
    if not isinstance(data, str | bytes):
        data = None
    return data, str(message)


def simulate_step(w3: Any, step: TxStep, sender: str, *, block_number: int | None = None,
                  where: str = "") -> StepSimulation:
    """``eth_call`` + ``eth_estimateGas`` of ``step`` from ``sender`` at ``block_number`` (default: latest,
    pinned to a number so both run on the same state). Raises ``SimulationFailed`` on a revert."""
    from requests.exceptions import RequestException
    from web3.exceptions import ContractLogicError, Web3RPCError

    try:
        block = int(block_number if block_number is not None else w3.eth.block_number)
        tx = _call_dict(step, sender)
        result = w3.eth.call(tx, block)
        gas = int(w3.eth.estimate_gas(tx, block))
    except (ContractLogicError, Web3RPCError) as exc:
        data, message = _revert_from(exc)
        reason = decode_revert(data, message)
        log.warning("event=simulation_reverted step=%s label=%r to=%s reason=%r", where, step.label, step.to, reason)
        raise SimulationFailed(
            f"simulation: step {where} ({step.label}) would revert: {reason}",
            step=where,
            label=step.label,
            reason=reason,
        ) from None
    except (RequestException, OSError, TimeoutError) as exc:
        raise RpcError(f"simulation of step {where} ({step.label}): RPC failed ({type(exc).__name__})") from exc
    return StepSimulation(step_label=step.label, block_number=block, gas_estimate=gas,
                          return_data="0x" + bytes(result).hex())


def check_post_health(health: float, pre: Preconditions) -> None:
    """Raise ``SimulationFailed`` unless ``health`` satisfies ``min_post_health`` and ``target_band``."""
    if pre.min_post_health is not None and not health >= pre.min_post_health:
        raise SimulationFailed(
            f"fork replay: post-state health {health:.4f} is below the minimum {pre.min_post_health:.4f}",
            post_health=health,
        )
    if pre.target_band is not None:
        lo, hi = pre.target_band
        if not lo <= health <= hi:
            raise SimulationFailed(
                f"fork replay: post-state health {health:.4f} misses the target band [{lo:.4f}, {hi:.4f}]",
                post_health=health,
            )


@dataclass
class ForkReplay:
    """The result of replaying a plan on a fork."""

    fork_block: int
    simulations: list[StepSimulation] = field(default_factory=list)
    gas_used: list[int] = field(default_factory=list)
    post_health: float | None = None
    elapsed_s: float = 0.0
    # set when no fork could be started: why, and the gas the steps' hints budget instead of fork estimates
    fallback_reason: str | None = None
    fallback_gas: int = 0

    @property
    def total_gas(self) -> int:
        return sum(s.gas_limit for s in self.simulations) or self.fallback_gas


FALLBACK_GAS_PER_STEP = 600_000  # a step without a gas hint, when no fork estimates it
FORK_START_TIMEOUT_S = 10.0  # a fork that is not ready by then is not waited for (the fallback is used)
FORK_RETRY_AFTER_S = 30.0  # an upstream a fork could not start from is not tried again for this long
_fork_down: dict[str, tuple[float, str]] = {}  # url -> (monotonic time it failed, why)


def fork_replay(
    rpc_url: str | Callable[[], list[str]],
    block_number: int,
    steps: tuple[TxStep, ...] | list[TxStep],
    sender: str,
    *,
    preconditions: Preconditions,
    post_check: PostCheck | None = None,
    anvil_factory: Callable[..., Any] | None = None,
) -> ForkReplay:
    """Replay ``steps`` in order on an anvil fork of ``rpc_url`` at ``block_number`` (see module doc).

    Raises ``SimulationFailed`` when a step reverts there (reason decoded) or the post-state misses the
    band; a plan whose preconditions need a post-state check but got no ``post_check`` is refused too.

    ``rpc_url`` may be a callable giving the URLs to fork from in order (the client's healthy one first).
    NOTE: when no fork can be started (every upstream faulty, anvil failing), that is not fatal and not a
    refusal: the result carries ``fallback_reason``; the executor then simulates each step by ``eth_call``
    against the chain just before sending it and checks the on-chain post-state after the last one.
    """
    from web3 import Web3
    from web3.types import RPCEndpoint, TxParams

    if preconditions.needs_post_check and post_check is None:
        raise SimulationFailed("fork replay: the plan sets a health band but no post-state check was given")
    if anvil_factory is None:
        from functools import partial

        from manager.devnet.anvil import Anvil

        anvil_factory = partial(Anvil.start, timeout_s=FORK_START_TIMEOUT_S)
    started = time.monotonic()
    urls = list(rpc_url()) if callable(rpc_url) else [rpc_url]
    node, errors = None, []
    for url in urls:
        down = _fork_down.get(url)
        if down is not None and time.monotonic() - down[0] < FORK_RETRY_AFTER_S:
            errors.append(f"skipped for {FORK_RETRY_AFTER_S:g} s after: {down[1]}")
            continue
        try:
            node = anvil_factory(extra_args=["--fork-url", url, "--fork-block-number", str(block_number)])
            _fork_down.pop(url, None)
            break
        except Exception as exc:  # a faulty upstream or a failing anvil: try the next URL
            why = " ".join(str(exc).split())[:160]
            _fork_down[url] = (time.monotonic(), why)
            errors.append(why)
    if node is None:
        return _fallback(block_number, steps, "the fork could not start (" + "; ".join(errors) + ")")
    try:
        fw3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 30}))
        fw3.provider.make_request(RPCEndpoint("anvil_impersonateAccount"), [sender])
        result = ForkReplay(fork_block=block_number)
        for i, step in enumerate(steps):
            sim = simulate_step(fw3, step, sender, where=f"{i}@fork")
            result.simulations.append(sim)
            tx = _call_dict(step, sender) | {"gas": sim.gas_limit}
            tx_hash = fw3.eth.send_transaction(cast(TxParams, tx))
            receipt = fw3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.05)
            if receipt["status"] != 1:
                raise SimulationFailed(
                    f"fork replay: step {i} ({step.label}) reverted on the fork after a successful call",
                    step=i,
                )
            result.gas_used.append(int(receipt["gasUsed"]))
        if post_check is not None:
            result.post_health = float(post_check(fw3))
            check_post_health(result.post_health, preconditions)
        result.elapsed_s = time.monotonic() - started
        log.info(
            "event=fork_replay_ok block=%d steps=%d gas_used=%d post_health=%s elapsed_s=%.2f",
            block_number, len(steps), sum(result.gas_used), result.post_health, result.elapsed_s,
        )
        return result
    except SimulationFailed:
        raise
    except Exception as exc:  # the fork's upstream failed mid-replay (not a revert: those are SimulationFailed)
        from manager.errors import PosmanError

        if isinstance(exc, PosmanError) and not isinstance(exc, RpcError):
            raise
        return _fallback(block_number, steps, f"the fork failed mid-replay ({type(exc).__name__}: "
                                              f"{' '.join(str(exc).split())[:160]})")
    finally:
        node.stop()


_ATOMIC_ENTRY_POINTS = ("deleverage", "boost", "close", "switchCollateral")
_simulate_v1_missing: set[str] = set()  # endpoints that answered "method not found" (not asked again)


def atomic_post_state(w3: Any, block_number: int, steps: tuple[TxStep, ...] | list[TxStep], sender: str, *,
                      preconditions: Preconditions, first: StepSimulation) -> ForkReplay | None:
    """The post-state of a one-step executor plan by ``eth_simulateV1`` at ``block_number`` (see module doc).

    ``first`` is the step's own simulation at that block (``simulate_step``: ``eth_call`` + ``eth_estimateGas``,
    the gas limit). Raises ``SimulationFailed`` when the action reverts there or its post-state health misses
    ``min_post_health`` / ``target_band``; ``None`` when the plan is not one executor call or the node cannot
    run ``eth_simulateV1`` (the caller replays it on a fork then).
    """
    from manager.chain.abi import load_abi

    if len(steps) != 1 or first.block_number != block_number:
        return None
    step = steps[0]
    started = time.monotonic()
    try:
        from web3 import Web3

        contract = Web3().eth.contract(abi=load_abi("posman/PosmanExecutor"))
        fn, args = contract.decode_function_input(step.data)
    except Exception:
        return None
    if fn.fn_name not in _ATOMIC_ENTRY_POINTS or "plan" not in args:
        return None
    plan = args["plan"]
    market = plan["market"]
    market_tuple = tuple(market.values()) if isinstance(market, dict) else tuple(market)
    health_data = contract.encode_abi("healthOf", [plan["protocol"], plan["pool"], market_tuple])
    endpoint = str(getattr(getattr(w3, "provider", None), "endpoint_uri", "") or id(w3))
    if endpoint in _simulate_v1_missing:
        return None
    call = {"from": sender, "to": step.to, "data": step.data, "value": hex(step.value_wei or 0),
            "gas": hex(first.gas_limit)}
    view = {"from": sender, "to": step.to, "data": health_data}
    try:
        resp = w3.provider.make_request("eth_simulateV1", [{"blockStateCalls": [{"calls": [call, view]}],
                                                            "validation": False}, hex(block_number)])
    except Exception as exc:  # transport failure: the fork replay decides (it has its own fallback)
        log.warning("event=simulate_v1_failed block=%d error=%r", block_number, " ".join(str(exc).split())[:160])
        return None
    if "error" in resp or not resp.get("result"):
        err = resp.get("error") or {}
        if int(err.get("code", 0) or 0) == -32601 or "not found" in str(err.get("message", "")).lower() \
                or "not supported" in str(err.get("message", "")).lower():
            _simulate_v1_missing.add(endpoint)
        log.warning("event=simulate_v1_unavailable block=%d error=%r", block_number, str(err)[:160])
        return None
    calls = resp["result"][0]["calls"]
    action, health = calls[0], calls[1]
    if int(action.get("status", "0x0"), 16) != 1:
        revert = action.get("returnData") or (action.get("error") or {}).get("data")
        reason = decode_revert(revert, str((action.get("error") or {}).get("message", "")))
        raise SimulationFailed(f"simulation: step 0 ({step.label}) reverts on the post-state simulation: {reason}",
                               step=0)
    if int(health.get("status", "0x0"), 16) != 1:
        return None  # the view could not run: let the fork replay read the post-state instead
    (health_wad,) = abi_decode(["uint256"], bytes.fromhex(str(health["returnData"])[2:]))
    post_health = float("inf") if health_wad >= 2**255 else health_wad / 10**18
    check_post_health(post_health, preconditions)
    result = ForkReplay(fork_block=block_number, simulations=[first], gas_used=[int(action["gasUsed"], 16)],
                        post_health=post_health, elapsed_s=time.monotonic() - started)
    log.info("event=post_state_simulated block=%d steps=1 gas_used=%d post_health=%s elapsed_s=%.3f method=eth_simulateV1",
             block_number, result.gas_used[0], post_health, result.elapsed_s)
    return result


def _fallback(block_number: int, steps: tuple[TxStep, ...] | list[TxStep], why: str) -> ForkReplay:
    reason = (f"fork replay unavailable: {why}; the plan is simulated by eth_call step by step against the chain "
              "and guarded by the on-chain post-condition")
    log.warning("event=fork_replay_fallback block=%d steps=%d reason=%r", block_number, len(steps), reason)
    gas = sum(s.gas_hint or FALLBACK_GAS_PER_STEP for s in steps)
    return ForkReplay(fork_block=block_number, fallback_reason=reason, fallback_gas=gas)
