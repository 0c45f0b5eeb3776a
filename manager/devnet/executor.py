"""The devnet's atomic executors: one ``PosmanExecutor`` per managed seeded signer, deployed and granted.

Signers: every account with a seeded Aave or Morpho position (``market.SEEDS``, ``morpho.SEEDS``) and the demo's
managed accounts ``manager1``..``manager4``. Aave flash loans are switched on for every reserve (v3.0 reserves
start with them off; mainnet has them on). Grants (sent by each owner, devnet accounts are unlocked): for every
Aave reserve the account holds, an aToken allowance of twice its collateral balance and a credit delegation of
twice its debt; a Morpho Blue authorization for accounts with a Morpho position. Recorded in ``devnet.json``
under ``"executors": {signer_address: executor_address}``. Real chains use ``posman executor deploy|grant``.
"""

from __future__ import annotations

from typing import Any

from manager.devnet import market as M
from manager.devnet import morpho as MO

# Files whose content defines this part of the cached devnet state (net.cache_key hashes them).
SOURCE_FILES = ("executor.py", "../atomic/contracts/PosmanExecutor.sol", "../atomic/grants.py")
DEMO_MANAGERS = ("manager1", "manager2", "manager3", "manager4")


def signer_names() -> list[str]:
    names = [s.name for s in M.SEEDS] + [s.account for s in MO.SEEDS] + list(DEMO_MANAGERS)
    return list(dict.fromkeys(names))


def enable_flash_loans(w3: Any, book: dict[str, Any], admin: str) -> list[str]:
    """``PoolConfigurator.setReserveFlashLoaning(asset, true)`` on every reserve (as on mainnet; v3.0 reserves
    start with flash loans off). Returns the symbols switched on."""
    from manager.chain.abi import load_abi
    from manager.devnet.artifacts import wait_receipt

    cfg = w3.eth.contract(address=book["aave"]["pool_configurator"], abi=load_abi("aave_v3/PoolConfigurator"))
    switched = []
    for sym, asset in book["tokens"].items():
        tx = cfg.functions.setReserveFlashLoaning(asset, True).transact({"from": admin})
        wait_receipt(w3, tx, f"setReserveFlashLoaning({sym})")
        switched.append(sym)
    return switched


def deploy_executors(w3: Any, book: dict[str, Any], accounts: dict[str, str]) -> dict[str, str]:
    """Deploy and grant one executor per managed seeded signer; returns ``{signer: executor}`` (checksummed).

    Also switches Aave flash loans on for every reserve (``enable_flash_loans``), which the executors use.
    """
    enable_flash_loans(w3, book, accounts["deployer"])
    from manager.atomic.deploy import deploy
    from manager.atomic.grants import GrantSet, grant_steps, read_reserves
    from manager.chain.abi import load_abi
    from manager.devnet.artifacts import wait_receipt

    reserves = read_reserves(w3, book["aave"]["pool"])
    morpho_users = {accounts[s.account] for s in MO.SEEDS}
    out: dict[str, str] = {}
    for name in signer_names():
        owner = accounts[name]
        executor = deploy(w3, owner)
        withdraw, borrow = {}, {}
        for sym, r in reserves.items():
            coll = w3.eth.contract(address=r.a_token, abi=load_abi("aave_v3/AToken")).functions.balanceOf(owner).call()
            debt = w3.eth.contract(address=r.variable_debt_token,
                                   abi=load_abi("aave_v3/VariableDebtToken")).functions.balanceOf(owner).call()
            if coll:
                withdraw[sym] = 2 * coll
            if debt:
                borrow[sym] = 2 * debt
        grants = GrantSet(withdraw_caps_wei=withdraw, borrow_caps_wei=borrow,
                          morpho=(book["morpho"]["morpho"],) if owner in morpho_users and book.get("morpho") else ())
        for step in grant_steps(executor, reserves, grants):
            tx = w3.eth.send_transaction({"from": owner, "to": step.to, "data": step.data})
            wait_receipt(w3, tx, f"{step.label} for {name}")
        out[owner] = executor
    return out
