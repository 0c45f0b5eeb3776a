"""The devnet's atomic executors: one ``PosmanExecutor`` per managed seeded signer, deployed and granted.

Signers: every account with a seeded Aave or Morpho position (``market.SEEDS``, ``morpho.SEEDS``) and the demo's
managed accounts ``manager1``..``manager4``. Aave flash loans are switched on for every reserve (v3.0 reserves
start with them off; mainnet has them on). Grants (sent by each owner, devnet accounts are unlocked): for every
Aave reserve the account holds, an aToken allowance of twice its collateral balance and a credit delegation of
twice its debt; a Morpho Blue authorization for accounts with a Morpho position. Recorded in ``devnet.json``
under ``"executors": {signer_address: executor_address}``. Real chains use ``posman executor deploy|grant``.

``deploy_executor`` / ``grant_executor`` do the same for an account created after the devnet was built (the
crash-scenario harness, the protect bench's fleet).
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
    from manager.devnet.artifacts import wait_receipt

    reserves = read_reserves(w3, book["aave"]["pool"])
    morpho_users = {accounts[s.account] for s in MO.SEEDS}
    out: dict[str, str] = {}
    for name in signer_names():
        owner = accounts[name]
        executor = deploy(w3, owner)
        withdraw, borrow = aave_caps_wei(w3, reserves, owner)
        grants = GrantSet(withdraw_caps_wei=withdraw, borrow_caps_wei=borrow,
                          morpho=(book["morpho"]["morpho"],) if owner in morpho_users and book.get("morpho") else ())
        for step in grant_steps(executor, reserves, grants):
            tx = w3.eth.send_transaction({"from": owner, "to": step.to, "data": step.data})
            wait_receipt(w3, tx, f"{step.label} for {name}")
        out[owner] = executor
    return out


def aave_caps_wei(w3: Any, reserves: dict[str, Any], owner: str) -> tuple[dict[str, int], dict[str, int]]:
    """The grants' Aave caps for ``owner``: (aToken allowance per symbol = twice its collateral balance,
    credit delegation per symbol = twice its variable debt); reserves it does not use are left out."""
    from manager.chain.abi import load_abi

    withdraw, borrow = {}, {}
    for sym, r in reserves.items():
        coll = w3.eth.contract(address=r.a_token, abi=load_abi("aave_v3/AToken")).functions.balanceOf(owner).call()
        debt = w3.eth.contract(address=r.variable_debt_token,
                               abi=load_abi("aave_v3/VariableDebtToken")).functions.balanceOf(owner).call()
        if coll:
            withdraw[sym] = 2 * coll
        if debt:
            borrow[sym] = 2 * debt
    return withdraw, borrow


def deploy_executor(net: Any, owner: str) -> str:
    """A PosmanExecutor owned by ``owner``, an account the devnet did not give one (``net.w3`` unlocked or
    impersonated for it)."""
    from manager.atomic.deploy import deploy

    return deploy(net.w3, owner)


def grant_executor(net: Any, owner: str, executor: str | None = None) -> None:
    """The owner grants its executor what an atomic action needs now: aToken allowances of twice the
    collateral, credit delegation of twice the debt, and the Morpho Blue authorization (``posman executor grant``
    does the same on a real chain). ``executor`` defaults to the devnet's own for ``owner``."""
    from manager.atomic.grants import GrantSet, grant_steps, read_reserves

    w3 = net.w3
    executor = executor or net.book["executors"][owner]
    reserves = read_reserves(w3, net.book["aave"]["pool"])
    withdraw, borrow = aave_caps_wei(w3, reserves, owner)
    morpho = net.book["morpho"]["morpho"]
    authorized = w3.eth.call({"to": morpho, "data": "0x65e4ad9e" + owner[2:].lower().rjust(64, "0")
                              + executor[2:].lower().rjust(64, "0")})
    # NOTE: Morpho's setAuthorization reverts "already set" when nothing changes: only grant what is missing.
    grants = GrantSet(withdraw_caps_wei=withdraw, borrow_caps_wei=borrow,
                      morpho=() if int.from_bytes(bytes(authorized), "big") else (morpho,))
    for step in grant_steps(executor, reserves, grants):
        w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"from": owner, "to": step.to, "data": step.data}))
