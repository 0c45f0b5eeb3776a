"""A fleet of managed positions on the devnet: many accounts, some holding several positions.

``open_fleet(net, n_accounts, multi=k)`` creates ``n_accounts`` fresh accounts (deterministic keys,
registered in ``net.accounts`` so the config's signers find them), each with an Aave V3 position
(WETH collateral, USDC debt) opened at health ``open_hf``; the first ``k`` accounts also borrow on Morpho
Blue's WETH/USDC market at the same health, so their signer manages two positions. Every position runs
``cdp_health`` (trigger 1.3, target 1.4): an ETH move of ``shock_fraction`` puts all of them below the
trigger in one block. ``fleet_executors`` deploys one ``PosmanExecutor`` per fleet account and grants it
(``manager.devnet.executor``); ``write_fleet_config(..., executors=...)`` writes the manager's config (keys by
environment variable, ``[signers.X] executor`` when given: the planner then takes the atomic path).

Used by ``bench/bench_protect.py`` (50 positions) and ``tests/runtime/test_many_positions.py`` (a few).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from manager.demo.scenario import DemoPosition, write_config

TRIGGER_HF = 1.3
TARGET_HF = 1.4
OPEN_HF = 1.34
MORPHO_PROTOCOL = "morpho-WETH-USDC"
MORPHO_MARKET = "WETH/USDC"
WAD = 10**18


def fleet_key(i: int) -> tuple[str, str]:
    """(address, private key) of fleet account ``i`` (deterministic: the same accounts every run)."""
    from eth_account import Account
    from eth_utils import keccak

    acct = Account.from_key(keccak(text=f"posman-fleet-{i}"))
    return acct.address, "0x" + acct.key.hex().removeprefix("0x")


def _params(trigger: float, target: float) -> dict[str, Any]:
    return {"trigger_health": trigger, "target_health": target, "cooldown_s": 0}


def open_fleet(net: Any, n_accounts: int, *, multi: int = 0, weth_each: float = 2.0, open_hf: float = OPEN_HF,
               trigger: float = TRIGGER_HF, target: float = TARGET_HF) -> list[DemoPosition]:
    """Open the fleet's positions (see the module docstring); returns their specs, Aave ones first."""
    from manager.devnet.morpho import open_position as morpho_open

    pool = net.contract("aave_v3/Pool", net.book["aave"]["pool"])
    weth_addr, usdc_addr = net.book["tokens"]["WETH"], net.book["tokens"]["USDC"]
    weth = net.contract("erc20/WETH9", weth_addr)
    eth_usd = net.oracle_price("WETH") / 1e8
    usdc_usd = net.oracle_price("USDC") / 1e8
    lltv = int(net.book["morpho"]["markets"][MORPHO_MARKET]["lltv_wad"]) / WAD
    specs: list[DemoPosition] = []
    extra: list[DemoPosition] = []
    units = int(weth_each * WAD)
    for i in range(n_accounts):
        name = f"fleet{i:02d}"
        address, key = fleet_key(i)
        net.accounts[name] = (address, key)
        net.node.call("anvil_setBalance", [address, hex(10 * units + 10 * WAD)])
        net.node.call("anvil_impersonateAccount", [address])
        try:
            net.transact(weth.functions.deposit(), sender=address, value=units)
            net.transact(weth.functions.approve(pool.address, units), sender=address)
            net.transact(pool.functions.supply(weth_addr, units, address, 0), sender=address)
            data = pool.functions.getUserAccountData(address).call()
            debt_base = data[0] * data[3] / 10_000 / open_hf  # collateral x liquidation threshold / health
            borrow = int(debt_base / (usdc_usd * 1e8) * 10**6)
            net.transact(pool.functions.borrow(usdc_addr, borrow, 2, 0, address), sender=address)
            specs.append(DemoPosition(f"{name}-aave", name, "manage", "cdp_health", _params(trigger, target),
                                      (), (), "fleet Aave"))
            if i < multi:
                m_borrow = int(weth_each * eth_usd * lltv / open_hf / usdc_usd * 10**6)
                morpho_open(net.w3, net.book, address, MORPHO_MARKET, units, m_borrow)
                extra.append(DemoPosition(f"{name}-morpho", name, "manage", "cdp_health", _params(trigger, target),
                                          (), (), "fleet Morpho", protocol=MORPHO_PROTOCOL))
        finally:
            net.node.call("anvil_stopImpersonatingAccount", [address])
    return specs + extra


def fleet_executors(net: Any, positions: list[DemoPosition]) -> dict[str, str]:
    """Deploy and grant one PosmanExecutor per fleet signer (sent by the account itself, impersonated);
    returns ``{account_name: executor_address}``. The grants cover the positions as they are now."""
    from manager.devnet.executor import deploy_executor, grant_executor

    out: dict[str, str] = {}
    for spec in positions:
        if spec.account_name in out:
            continue
        owner = net.address(spec.account_name)
        net.node.call("anvil_impersonateAccount", [owner])
        try:
            out[spec.account_name] = deploy_executor(net, owner)
            grant_executor(net, owner, out[spec.account_name])
        finally:
            net.node.call("anvil_stopImpersonatingAccount", [owner])
    return out


def write_fleet_config(path: Path, net: Any, positions: list[DemoPosition], *, db_url: str,
                       webhook_url: str | None = None, executors: dict[str, str] | None = None) -> None:
    """The manager's config for the fleet (the demo's config writer: limits, alert rules, signers); with
    ``executors`` (``{account_name: address}``) each of those signers names its executor."""
    from manager.demo.scenario import key_env_of

    write_config(path, net, webhook_url=webhook_url, smtp_port=None, db_url=db_url, positions=tuple(positions))
    if executors:
        text = path.read_text()
        for name, executor in executors.items():
            line = f'key_env = "{key_env_of(name)}"'
            if line not in text:
                raise ValueError(f"fleet config: no [signers.{name}] table to name executor {executor} in")
            text = text.replace(line, f'{line}\nexecutor = "{executor}"', 1)
        path.write_text(text)


def fleet_environ(net: Any, positions: list[DemoPosition]) -> dict[str, str]:
    from manager.demo.scenario import environ_for

    return environ_for(net, tuple(positions))


__all__ = ["OPEN_HF", "TARGET_HF", "TRIGGER_HF", "fleet_environ", "fleet_executors", "fleet_key", "open_fleet",
           "write_fleet_config"]
