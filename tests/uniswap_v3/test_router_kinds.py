"""Both Uniswap V3 routers on the real devnet (the original SwapRouter and the real SwapRouter02 from
``@uniswap/swap-router-contracts``, same factory and pools): kind detection (and refusal of anything else, in one
line), SwapRouter02 direct swaps with the oracle-derived minimum out and the deadline wrapper, policy on both kinds'
calldata, and a planned deleverage through SwapRouter02 sent by the executor pipeline."""

from __future__ import annotations

import pytest
from eth_abi import decode

from manager.chain.client import ChainClient
from manager.config.schema import ChainConfig
from manager.errors import ConfigError, PolicyViolation
from manager.execution.calls import erc20_approve, selector_of
from manager.execution.policy import PolicyLimits, check_plan
from manager.execution.types import Plan
from manager.protocols.uniswap_v3 import encode as uni
from manager.protocols.uniswap_v3 import router as R

WETH = "0x" + "22" * 20
USDC = "0x" + "11" * 20
ROUTER = "0x" + "33" * 20
ME = "0x" + "66" * 20


def _client(net) -> ChainClient:
    return ChainClient("devnet", ChainConfig(chain_id=31337, rpc_urls=[net.url], multicall=net.book["multicall"],
                                             multicall_kind="uniswap_interface")).connect()


def _prices(net, a: str, b: str) -> tuple[int, int]:
    oracle = net.contract("aave_v3/AaveOracle", net.book["aave"]["oracle"])
    t = net.book["tokens"]
    return oracle.functions.getAssetPrice(t[a]).call(), oracle.functions.getAssetPrice(t[b]).call()


def _swap02(net, user: str, amount_wei: int, slippage_bps: int, deadline_unix_s: int):
    t, dec = net.book["tokens"], net.book["decimals"]
    p_weth, p_usdc = _prices(net, "WETH", "USDC")
    return uni.exact_input(net.book["uniswap"]["router02"], tokens=[t["WETH"], t["USDC"]], fees_pips=[500],
                           recipient=user, amount_in_wei=amount_wei, price_in_base=p_weth, price_out_base=p_usdc,
                           decimals_in=dec["WETH"], decimals_out=dec["USDC"], slippage_bps=slippage_bps,
                           deadline_unix_s=deadline_unix_s, router_kind="swap_router02")


def _revert_text(net, step, sender: str) -> str:
    try:
        net.w3.eth.call({"from": sender, "to": step.to, "data": step.data})
    except Exception as exc:
        return str(exc)
    raise AssertionError("the call did not revert")


# ------------------------------------------------------------------------------------------------ pure
def test_swap_router02_calldata_is_one_deadline_multicall_around_the_swap():
    step = uni.exact_input(ROUTER, tokens=[WETH, USDC], fees_pips=[500], recipient=ME, amount_in_wei=10**18,
                           price_in_base=3000 * 10**8, price_out_base=10**8, decimals_in=18, decimals_out=6,
                           slippage_bps=50, deadline_unix_s=1_700_000_600, router_kind="swap_router02")
    assert step.selector == R.MULTICALL_DEADLINE == "0x5ae401dc"
    deadline, (inner,) = R.unwrap_deadline(step.data)
    assert deadline == 1_700_000_600 and inner[:10] == "0xb858183f"  # exactInput((bytes,address,uint256,uint256))
    ((path, recipient, amount_in, min_out),) = decode(["(bytes,address,uint256,uint256)"], bytes.fromhex(inner[10:]))
    assert path == uni.encode_path([WETH, USDC], [500]) and recipient.lower() == ME
    assert (amount_in, min_out) == (10**18, 3000 * 10**6 * 9_950 // 10_000) == (10**18, step.swap.min_amount_out_wei)
    out = uni.exact_output(ROUTER, tokens=[WETH, USDC], fees_pips=[500], recipient=ME, amount_out_wei=3000 * 10**6,
                           price_in_base=3000 * 10**8, price_out_base=10**8, decimals_in=18, decimals_out=6,
                           slippage_bps=50, deadline_unix_s=1_700_000_600, router_kind="swap_router02")
    _d, (inner,) = R.unwrap_deadline(out.data)
    assert inner[:10] == selector_of(R.swap_signature("swap_router02", "exactOutput")) == "0x09b81346"
    with pytest.raises(ValueError, match="router kind"):
        uni.exact_input(ROUTER, tokens=[WETH, USDC], fees_pips=[500], recipient=ME, amount_in_wei=1,
                        price_in_base=1, price_out_base=1, decimals_in=18, decimals_out=18, slippage_bps=0,
                        deadline_unix_s=1, router_kind="universal_router")


def _plan(*steps) -> Plan:
    return Plan(plan_id="p", position="p", account=ME, block_number=1, steps=steps)


def test_policy_checks_both_kinds_and_unwraps_only_one_swap_per_deadline_multicall():
    limits = dict(per_tx_usd=1e9, per_day_usd=1e9, max_slippage_bps=100)
    kw = dict(tokens=[WETH, USDC], fees_pips=[500], recipient=ME, amount_in_wei=10**18, price_in_base=3000 * 10**8,
              price_out_base=10**8, decimals_in=18, decimals_out=6, slippage_bps=50, deadline_unix_s=1_700_000_600)
    v1 = uni.exact_input(ROUTER, **kw)
    v2 = uni.exact_input(ROUTER, **kw, router_kind="swap_router02")
    ok1 = PolicyLimits(allowed_calls={ROUTER: R.router_selectors("swap_router")}, **limits)
    ok2 = PolicyLimits(allowed_calls={ROUTER: R.router_selectors("swap_router02")}, **limits)
    check_plan(_plan(v1), ok1)
    check_plan(_plan(v2), ok2)
    with pytest.raises(PolicyViolation, match="not allow-listed"):  # each kind's selectors only
        check_plan(_plan(v2), ok1)
    with pytest.raises(PolicyViolation, match="inside multicall is not allow-listed"):
        check_plan(_plan(v2), PolicyLimits(allowed_calls={ROUTER: {R.MULTICALL_DEADLINE}}, **limits))
    _deadline, (inner,) = R.unwrap_deadline(v2.data)
    two = v2.model_copy(update={"data": R.wrap_deadline(1_700_000_600, [inner, inner])})
    with pytest.raises(PolicyViolation, match="exactly one swap"):
        check_plan(_plan(two), ok2)
    late = v2.model_copy(update={"data": R.wrap_deadline(1_700_000_601, [inner])})
    with pytest.raises(PolicyViolation, match="deadline"):
        check_plan(_plan(late), ok2)
    worse = R.encode_inner_swap("swap_router02", "exactInput", path=uni.encode_path([WETH, USDC], [500]),
                                recipient=ME, deadline_unix_s=0, amount_wei=10**18, limit_wei=1)
    with pytest.raises(PolicyViolation, match="differs from its oracle-derived bounds"):
        check_plan(_plan(v2.model_copy(update={"data": R.wrap_deadline(1_700_000_600, [worse])})), ok2)
    other_way = R.encode_inner_swap("swap_router02", "exactInput", path=uni.encode_path([USDC, WETH], [500]),
                                    recipient=ME, deadline_unix_s=0, amount_wei=10**18,
                                    limit_wei=v2.swap.min_amount_out_wei)
    with pytest.raises(PolicyViolation, match="differs from its oracle-derived bounds"):  # sells another token
        check_plan(_plan(v2.model_copy(update={"data": R.wrap_deadline(1_700_000_600, [other_way])})), ok2)
    v1_other_way = R.encode_path_swap("swap_router", "exactInput", path=uni.encode_path([USDC, WETH], [500]),
                                      recipient=ME, deadline_unix_s=1_700_000_600, amount_wei=10**18,
                                      limit_wei=v1.swap.min_amount_out_wei)
    with pytest.raises(PolicyViolation, match="differs from its oracle-derived bounds"):
        check_plan(_plan(v1.model_copy(update={"data": v1_other_way})), ok1)
    unwrapped = v2.model_copy(update={"data": inner})  # SwapRouter02's own exactInput has no deadline
    with pytest.raises(PolicyViolation, match="must be wrapped in multicall"):
        check_plan(_plan(unwrapped), ok2)
    bare = v2.model_copy(update={"data": "0xac9650d8" + "00" * 64})  # multicall(bytes[])
    with pytest.raises(PolicyViolation, match="router batch call"):
        check_plan(_plan(bare), PolicyLimits(allowed_calls={ROUTER: {"0xac9650d8"}}, **limits))


# ------------------------------------------------------------------------------------------------ on the devnet
@pytest.mark.chain
def test_detects_both_routers_and_refuses_anything_else_in_one_line(devnet):
    net = devnet
    client, uni_book = _client(net), net.book["uniswap"]
    factory = uni_book["factory"]
    assert R.detect_router_kind(client, uni_book["router"], factory=factory) == "swap_router"
    assert R.detect_router_kind(client, uni_book["router02"], factory=factory) == "swap_router02"
    others = {"an account without code": net.address("alice"), "an ERC-20": net.book["tokens"]["WETH"],
              "QuoterV2 (factory() and WETH9() too)": uni_book["quoter"],
              "the position manager": uni_book["position_manager"], "the Aave pool": net.book["aave"]["pool"]}
    for what, address in others.items():
        with pytest.raises(ConfigError) as err:
            R.detect_router_kind(client, address, factory=factory)
        text = str(err.value)
        assert "\n" not in text and address in text, what
        assert ("no contract" in text) if what.startswith("an account") else ("is neither a SwapRouter nor" in text)
    with pytest.raises(ConfigError, match="not of the configured factory"):
        R.detect_router_kind(client, uni_book["router02"], factory=net.book["tokens"]["WETH"])
    assert R.resolve_router_kind(client, uni_book["router02"], "swap_router02", factory=factory) == "swap_router02"
    with pytest.raises(ConfigError, match=r'router_kind = "swap_router" but swap_router .* is a swap_router02'):
        R.resolve_router_kind(client, uni_book["router02"], "swap_router", factory=factory)


@pytest.mark.chain
def test_direct_swap_through_swap_router02_gets_the_pool_output_above_the_oracle_min_out(chain):
    net = chain
    user = net.address("spare1")
    t = net.book["tokens"]
    weth = net.contract("erc20/WETH9", t["WETH"])
    usdc = net.contract("erc20/MintableERC20", t["USDC"])
    amount = 3 * 10**18
    net.transact(weth.functions.deposit(), sender=user, value=amount)
    now = net.w3.eth.get_block("latest")["timestamp"]
    step = _swap02(net, user, amount, 100, now + 600)
    p_weth, p_usdc = _prices(net, "WETH", "USDC")
    expected_min = amount * p_weth * 10**6 * 9_900 // (p_usdc * 10**18 * 10_000)  # oracle less 1 %, floor
    assert step.swap.min_amount_out_wei == expected_min and step.to == net.book["uniswap"]["router02"]
    quoter = net.contract("uniswap_v3/QuoterV2", net.book["uniswap"]["quoter"])
    quoted = quoter.functions.quoteExactInput(uni.encode_path([t["WETH"], t["USDC"]], [500]), amount).call()[0]
    assert quoted >= expected_min
    # the router enforces the min out (slippage 0: the oracle amount, above what the pool gives after its fee)
    strict = _swap02(net, user, amount, 0, now + 600)
    assert strict.swap.min_amount_out_wei > quoted
    approve = erc20_approve(t["WETH"], step.to, amount)
    net.w3.eth.wait_for_transaction_receipt(net.w3.eth.send_transaction({"from": user, "to": approve.to,
                                                                          "data": approve.data}))
    assert "Too little received" in _revert_text(net, strict, user)
    assert "Transaction too old" in _revert_text(net, _swap02(net, user, amount, 100, now - 1), user)
    before = usdc.functions.balanceOf(user).call()
    receipt = net.w3.eth.wait_for_transaction_receipt(net.w3.eth.send_transaction({"from": user, "to": step.to,
                                                                                   "data": step.data}))
    assert receipt["status"] == 1
    assert usdc.functions.balanceOf(user).call() - before == quoted  # exactly the pool's output, >= min out
    assert weth.functions.allowance(user, step.to).call() == 0  # the exact approval is used up


@pytest.mark.chain
def test_planned_deleverage_through_swap_router02_lands_in_the_band(chain, tmp_path, monkeypatch):
    from manager.execution.executor import Executor
    from manager.execution.fees import FeePolicy
    from manager.execution.planner import build_plan
    from manager.execution.signer import Signer
    from manager.execution.store import ExecutionStore
    from manager.execution.types import Preconditions
    from manager.persistence import Database, Repository
    from manager.protocols.aave_v3.deleverage import plan_deleverage
    from manager.protocols.aave_v3.plan import PlanContext, allowed_calls
    from manager.protocols.aave_v3.reads import read_accounts, read_market
    from tests.atomic.helpers import hf_wad, hf_wad_of

    net = chain
    carol, key = net.accounts["carol"]
    pool, router02, t = net.book["aave"]["pool"], net.book["uniswap"]["router02"], net.book["tokens"]
    hf0 = hf_wad(net, carol) / 1e18
    net.set_price("WETH", net.oracle_price("WETH") / 1e8 * 1.15 / hf0)  # HF ~1.15, target 1.3
    client = _client(net)
    block = net.w3.eth.block_number
    market = read_market(client, net.book["aave"]["pool_addresses_provider"], block)
    (snap,), errors = read_accounts(client, market, [carol], names=["carol"])
    assert not errors
    decision = plan_deleverage(snap, 1.3)
    assert decision.feasible, decision.reason
    kind = R.detect_router_kind(client, router02, factory=net.book["uniswap"]["factory"])
    ctx = PlanContext(pool=pool, router=router02, account=carol, max_slippage_bps=100,
                      fees_pips={("WETH", "USDC"): 500}, router_kind=kind)
    plan = build_plan(decision, snap, ctx, min_post_health=1.02)
    plan = plan.model_copy(update={"preconditions": Preconditions(
        max_block_age_blocks=5, valid_until_block=block + 50, min_post_health=1.02, target_band=(1.3 * 0.995,
                                                                                                   1.3 * 1.005))})
    swaps = [s for s in plan.steps if s.kind == "swap"]
    assert swaps and all(s.to == router02 and s.selector == R.MULTICALL_DEADLINE for s in swaps)
    calls = allowed_calls(pool, router02, [t["WETH"], t["USDC"]], kind)
    limits = PolicyLimits(allowed_calls={a: frozenset(s) for a, s in calls.items()}, per_tx_usd=1e6,
                          per_day_usd=5e6, max_slippage_bps=100)
    monkeypatch.setenv("POSMAN_TEST_R02_KEY", key)
    db = Database(f"sqlite:///{tmp_path / 'posman.sqlite'}")
    ex = Executor(net.w3, Signer.from_env(key_env="POSMAN_TEST_R02_KEY", expected_address=carol),
                  ExecutionStore(Repository(db)), limits=limits, fee_policy=FeePolicy(), fork_rpc_url=net.url)
    ex.submitter.poll_interval_s = 0.02
    try:
        result = ex.execute(plan, post_check=lambda w: hf_wad_of(w, pool, carol) / 1e18)
    finally:
        db.dispose()
    assert result.status == "confirmed", result.reason
    hf1 = hf_wad(net, carol) / 1e18
    assert abs(hf1 / 1.3 - 1) <= 0.005 and result.post_health == pytest.approx(hf1)
    for s in result.steps:
        assert s.status == "included"
