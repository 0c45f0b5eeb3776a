"""Helpers for the atomic-executor tests on the devnet (real Aave V3, Morpho Blue, Uniswap V3, PosmanExecutor).

Sizing here is deliberately simple and exact for one collateral and one debt asset: the swap output comes
from Uniswap's own QuoterV2 at the same state (the flash loan, repay and withdraw do not touch the pools),
so the planned health is known to the unit of the oracle's base currency.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from manager.atomic import encode as E
from manager.atomic.grants import read_reserves
from manager.chain.abi import load_abi
from manager.devnet import morpho as MO
from manager.execution.executor import Executor
from manager.execution.fees import FeePolicy
from manager.execution.policy import PolicyLimits
from manager.execution.signer import Signer
from manager.execution.simulate import decode_revert
from manager.execution.store import ExecutionStore

WAD = 10**18


def executor_of(net: Any, name: str) -> str:
    return net.book["executors"][net.address(name)]


def contract(net: Any, abi: str, address: str) -> Any:
    return net.w3.eth.contract(address=address, abi=load_abi(abi))


def erc20(net: Any, address: str) -> Any:
    return contract(net, "erc20/MintableERC20", address)


def send(net: Any, step: Any, sender: str, *, gas: int | None = None) -> Any:
    """Send ``step`` from an unlocked devnet account; returns the receipt (status checked by the caller)."""
    tx = {"from": sender, "to": step.to, "data": step.data}
    if gas:
        tx["gas"] = gas
    h = net.w3.eth.send_transaction(tx)
    return net.w3.eth.wait_for_transaction_receipt(h, timeout=30, poll_latency=0.005)


def revert_reason(net: Any, to: str, data: str, sender: str) -> str:
    """The decoded revert of an ``eth_call`` (raises if it does not revert)."""
    try:
        net.w3.eth.call({"from": sender, "to": to, "data": data})
    except Exception as exc:  # web3 ContractLogicError / custom error: the data is on the exception
        raw = getattr(exc, "data", None)
        if isinstance(raw, dict):
            raw = raw.get("data")
        return decode_revert(raw, str(exc))
    raise AssertionError("the call did not revert")


def hf_wad(net: Any, user: str) -> int:
    return contract(net, "aave_v3/Pool", net.book["aave"]["pool"]).functions.getUserAccountData(user).call()[5]


def account_data(net: Any, user: str) -> tuple[int, ...]:
    return tuple(contract(net, "aave_v3/Pool", net.book["aave"]["pool"]).functions.getUserAccountData(user).call())


def reserves(net: Any) -> dict:
    return read_reserves(net.w3, net.book["aave"]["pool"])


def premium_bps(net: Any) -> int:
    return int(contract(net, "aave_v3/Pool", net.book["aave"]["pool"]).functions.FLASHLOAN_PREMIUM_TOTAL().call())


def quote(net: Any, path: bytes, amount_in: int) -> int:
    q = contract(net, "uniswap_v3/QuoterV2", net.book["uniswap"]["quoter"])
    return int(q.functions.quoteExactInput(path, amount_in).call()[0])


def path(net: Any, a: str, b: str, fee: int) -> bytes:
    t = net.book["tokens"]
    return E.pack_path([t[a], t[b]], [fee])


def aave_flash(net: Any) -> E.FlashSource:
    return E.FlashSource("aave", net.book["aave"]["pool"], premium_bps(net))


def morpho_flash(net: Any) -> E.FlashSource:
    return E.FlashSource("morpho", net.book["morpho"]["morpho"], 0)


def aave_target(net: Any) -> E.LendingTarget:
    return E.LendingTarget("aave_v3", net.book["aave"]["pool"])


def morpho_target(net: Any, key: str) -> E.LendingTarget:
    return E.LendingTarget("morpho_blue", net.book["morpho"]["morpho"], MO.market_params(net.book["morpho"], key))


@dataclass(frozen=True)
class Sized:
    withdraw_wei: int
    out_wei: int  # quoted swap output
    repay_wei: int  # flash-borrowed and repaid first
    premium_wei: int
    planned_hf_wad: int


def size_aave_deleverage(net: Any, user: str, coll: str, debt: str, fee: int, target: float,
                         flash: E.FlashSource, slippage_bps: int = 50) -> Sized:
    """Withdraw/repay amounts that bring a single-collateral, single-debt Aave v3.0 position to ``target``.

    HF' = (C - w·Pc)·LT / (D - (out(w) - premium)·Pd) in the oracle's base units; bisection on ``w`` with the
    exact quoted ``out(w)``. The flash loan is sized so that the guaranteed output (``min_out``) covers it.
    """
    coll_base, debt_base, _avail, lt_bps, _ltv, _hf = account_data(net, user)
    oracle = contract(net, "aave_v3/AaveOracle", net.book["aave"]["oracle"])
    t, dec = net.book["tokens"], net.book["decimals"]
    pc, pd = oracle.functions.getAssetPrice(t[coll]).call(), oracle.functions.getAssetPrice(t[debt]).call()
    p = path(net, coll, debt, fee)

    def planned(w: int) -> tuple[int, int, int, int]:
        out = quote(net, p, w)
        min_out = out * (10_000 - slippage_bps) // 10_000
        repay = min_out * 10_000 // (10_000 + flash.premium_bps)
        while repay + flash.premium_wei(repay) > min_out:
            repay -= 1
        premium = flash.premium_wei(repay)
        repaid_total = out - premium  # the surplus over the flash loan repays more debt
        c = coll_base - w * pc // 10 ** dec[coll]
        d = debt_base - repaid_total * pd // 10 ** dec[debt]
        return out, repay, premium, c * lt_bps // 10_000 * WAD // d

    lo, hi = 1, 10 ** dec[coll] * 10_000
    hi = min(hi, coll_base * 10 ** dec[coll] // pc)
    for _ in range(200):
        mid = (lo + hi) // 2
        if planned(mid)[3] < int(target * WAD):
            lo = mid + 1
        else:
            hi = mid
        if lo >= hi:
            break
    out, repay, premium, hf = planned(lo)
    return Sized(lo, out, repay, premium, hf)


def deleverage_aave(net: Any, user: str, coll: str, debt: str, fee: int, s: Sized, flash: E.FlashSource,
                    min_hf: int, max_hf: int = 0, slippage_bps: int = 50, router_kind: str = "swap_router") -> Any:
    t = net.book["tokens"]
    min_out = s.out_wei * (10_000 - slippage_bps) // 10_000
    router = net.book["uniswap"]["router02" if router_kind == "swap_router02" else "router"]
    leg = E.SwapLeg(router, path(net, coll, debt, fee), s.withdraw_wei, min_out, router_kind=router_kind)
    return E.deleverage_step(executor_of_address(net, user), target=aave_target(net), debt_asset=t[debt],
                             collateral_asset=t[coll], repay_wei=s.repay_wei, withdraw_wei=s.withdraw_wei, legs=[leg],
                             flash=flash, min_health_wad=min_hf, max_health_wad=max_hf, plan_id=b"test-deleverage")


def executor_of_address(net: Any, user: str) -> str:
    return net.book["executors"][user]


def token_balances(net: Any, holder: str) -> dict[str, int]:
    return {sym: erc20(net, a).functions.balanceOf(holder).call() for sym, a in net.book["tokens"].items()}


def allowances_from(net: Any, holder: str, spenders: list[str]) -> dict[tuple[str, str], int]:
    return {(sym, s): erc20(net, a).functions.allowance(holder, s).call()
            for sym, a in net.book["tokens"].items() for s in spenders}


def debt_of(net: Any, user: str, sym: str) -> int:
    r = reserves(net)[sym]
    return erc20(net, r.variable_debt_token).functions.balanceOf(user).call()


def a_balance(net: Any, user: str, sym: str) -> int:
    r = reserves(net)[sym]
    return erc20(net, r.a_token).functions.balanceOf(user).call()


def amount_in_for(net: Any, path_: bytes, amount_out: int) -> int:
    """The exact input that buys ``amount_out`` (QuoterV2.quoteExactOutput on the reversed single-hop path)."""
    rev = path_[-20:] + path_[20:23] + path_[:20]
    q = contract(net, "uniswap_v3/QuoterV2", net.book["uniswap"]["quoter"])
    return int(q.functions.quoteExactOutput(rev, amount_out).call()[0])


def assert_clean(net: Any, executor: str) -> None:
    """No token left in the executor, no allowance from it to any pool/router/lender, no flow marked running."""
    assert all(v == 0 for v in token_balances(net, executor).values()), token_balances(net, executor)
    spenders = [net.book["aave"]["pool"], net.book["uniswap"]["router"], net.book["morpho"]["morpho"]]
    left = {k: v for k, v in allowances_from(net, executor, spenders).items() if v}
    assert not left, left
    assert int.from_bytes(net.w3.eth.get_storage_at(executor, 0), "big") == 0  # _flow


def morpho_health(net: Any, user: str, key: str) -> int:
    """The executor's on-chain ``healthOf`` for ``user``'s Morpho position (after an accrual in a fresh call)."""
    ex = contract(net, "posman/PosmanExecutor", executor_of_address(net, user))
    return int(ex.functions.healthOf(1, net.book["morpho"]["morpho"], MO.market_params(net.book["morpho"], key)).call())


def morpho_position(net: Any, user: str, key: str) -> tuple[int, int, int]:
    m = net.w3.eth.contract(address=net.book["morpho"]["morpho"], abi=MO.artifacts()["Morpho"]["abi"])
    return tuple(m.functions.position(net.book["morpho"]["markets"][key]["id"], user).call())


def morpho_borrowed(net: Any, user: str, key: str) -> int:
    """``toAssetsUp(borrowShares)`` after accruing interest to the next block (what a flow in it sees)."""
    m = net.w3.eth.contract(address=net.book["morpho"]["morpho"], abi=MO.artifacts()["Morpho"]["abi"])
    net.transact(m.functions.accrueInterest(MO.market_params(net.book["morpho"], key)))
    mid = net.book["morpho"]["markets"][key]["id"]
    _s, shares, _c = m.functions.position(mid, user).call()
    _tsa, _tss, tba, tbs, _lu, _fee = m.functions.market(mid).call()
    return -(-shares * (tba + 1) // (tbs + 10**6))


def morpho_deleverage(net: Any, user: str, key: str, withdraw_wei: int, flash: E.FlashSource,
                      min_hf: int, fee: int = 500) -> tuple[Any, int, int]:
    """A Morpho deleverage step selling ``withdraw_wei`` collateral; returns (step, quoted out, repay)."""
    m = net.book["morpho"]["markets"][key]
    coll_sym, loan_sym = m["collateral_symbol"], m["loan_symbol"]
    p = path(net, coll_sym, loan_sym, fee)
    out = quote(net, p, withdraw_wei)
    min_out = out * 995 // 1000
    repay = min_out * 10_000 // (10_000 + flash.premium_bps)
    while repay + flash.premium_wei(repay) > min_out:
        repay -= 1
    leg = E.SwapLeg(net.book["uniswap"]["router"], p, withdraw_wei, min_out)
    step = E.deleverage_step(executor_of_address(net, user), target=morpho_target(net, key),
                             debt_asset=m["loan_token"], collateral_asset=m["collateral_token"], repay_wei=repay,
                             withdraw_wei=withdraw_wei, legs=[leg], flash=flash, min_health_wad=min_hf,
                             plan_id=b"morpho")
    return step, out, repay


def hf_wad_of(w3: Any, pool: str, user: str) -> int:
    """Aave health (WAD) read through any ``Web3`` (the fork replay's post-check)."""
    return int(w3.eth.contract(address=pool, abi=load_abi("aave_v3/Pool")).functions.getUserAccountData(user).call()[5])


def scaled_position(net: Any, user: str) -> dict[tuple[str, str], int]:
    """The user's scaled aToken and variable-debt balances per reserve: unlike ``getUserAccountData`` they do not
    move with interest accrual between blocks, so "nothing changed" can be asserted across a mined block."""
    scaled = {}
    for sym, r in reserves(net).items():
        for kind, token in (("a", r.a_token), ("debt", r.variable_debt_token)):
            scaled[(kind, sym)] = contract(net, "aave_v3/AToken", token).functions.scaledBalanceOf(user).call()
    return scaled


def pipeline_executor(net, repo, monkeypatch, key_env: str, account: str, key: str, allowed: dict[str, set[str]], *,
                      per_tx_usd: float = 1e6, per_day_usd: float = 5e6, poll_interval_s: float | None = 0.02,
                      **executor_kw: Any) -> Executor:
    """The project's ``Executor`` for ``account`` on ``net``: its key read from ``key_env`` (set from ``key``),
    the store on ``repo``, the policy allow-list ``allowed`` (address -> selectors) with 1 % max slippage, fork
    replay on ``net``; ``executor_kw`` go to ``Executor`` (e.g. ``fork_factory``)."""
    monkeypatch.setenv(key_env, key)
    ex = Executor(net.w3, Signer.from_env(key_env=key_env, expected_address=account), ExecutionStore(repo),
                  limits=PolicyLimits(allowed_calls={a: frozenset(v) for a, v in allowed.items()},
                                      per_tx_usd=per_tx_usd, per_day_usd=per_day_usd, max_slippage_bps=100),
                  fee_policy=FeePolicy(), fork_rpc_url=net.url, **executor_kw)
    if poll_interval_s is not None:
        ex.submitter.poll_interval_s = poll_interval_s
    return ex
