"""Encoders: Aave V3 Pool calldata (selector + args) and Uniswap V3 swaps with oracle-derived bounds."""

from __future__ import annotations

from fractions import Fraction

import pytest
from eth_abi import decode
from eth_utils import function_signature_to_4byte_selector, to_checksum_address
from hypothesis import given
from hypothesis import strategies as st

from manager.execution.calls import erc20_approve
from manager.protocols.aave_v3 import encode as aave
from manager.protocols.uniswap_v3 import encode as uni

POOL = to_checksum_address("0x" + "a1" * 20)
ROUTER = to_checksum_address("0x" + "b2" * 20)
WETH = to_checksum_address("0x" + "c3" * 20)
USDC = to_checksum_address("0x" + "d4" * 20)
ME = to_checksum_address("0x" + "e5" * 20)


def _sel(sig: str) -> str:
    return "0x" + function_signature_to_4byte_selector(sig).hex()


def _args(data: str, types: list[str]) -> tuple:
    return decode(types, bytes.fromhex(data[10:]))


@pytest.mark.parametrize(
    ("step", "sig", "types", "expected"),
    [
        (aave.supply(POOL, WETH, 5 * 10**18, ME), "supply(address,uint256,address,uint16)",
         ["address", "uint256", "address", "uint16"], (WETH, 5 * 10**18, ME, 0)),
        (aave.withdraw(POOL, WETH, 123, ME), "withdraw(address,uint256,address)",
         ["address", "uint256", "address"], (WETH, 123, ME)),
        (aave.withdraw(POOL, WETH, aave.MAX_AMOUNT, ME), "withdraw(address,uint256,address)",
         ["address", "uint256", "address"], (WETH, 2**256 - 1, ME)),
        (aave.borrow(POOL, USDC, 1_000_000, ME), "borrow(address,uint256,uint256,uint16,address)",
         ["address", "uint256", "uint256", "uint16", "address"], (USDC, 1_000_000, 2, 0, ME)),
        (aave.repay(POOL, USDC, 7, ME), "repay(address,uint256,uint256,address)",
         ["address", "uint256", "uint256", "address"], (USDC, 7, 2, ME)),
        (aave.repay_with_a_tokens(POOL, USDC, 9), "repayWithATokens(address,uint256,uint256)",
         ["address", "uint256", "uint256"], (USDC, 9, 2)),
        (aave.set_use_reserve_as_collateral(POOL, WETH, False), "setUserUseReserveAsCollateral(address,bool)",
         ["address", "bool"], (WETH, False)),
        (aave.approve_for_pool(POOL, USDC, 7), "approve(address,uint256)", ["address", "uint256"], (POOL, 7)),
    ],
)
def test_aave_calldata(step, sig, types, expected):
    assert step.selector == _sel(sig)
    decoded = tuple(to_checksum_address(v) if isinstance(v, str) else v for v in _args(step.data, types))
    assert decoded == expected
    assert step.value_wei == 0


def test_aave_amounts_validated_and_approvals_exact():
    with pytest.raises(ValueError):
        aave.supply(POOL, WETH, 0, ME)
    with pytest.raises(ValueError):
        aave.supply(POOL, WETH, aave.MAX_AMOUNT, ME)  # "max" only means "all" for withdraw/repay
    with pytest.raises(ValueError, match="unlimited"):
        erc20_approve(USDC, POOL, 2**256 - 1)
    assert aave.approve_for_pool(POOL, USDC, 10**6).approval_amount_wei == 10**6


# --- Uniswap: oracle-derived bounds -------------------------------------------------------------
def test_min_out_from_oracle_exact_integers():
    # sell 1.5 WETH (18 dec) at $3000.12345678 for USDC (6 dec) at $0.99990000, 50 bps
    p_weth, p_usdc = 300_012_345_678, 99_990_000
    amount_in = 15 * 10**17
    exact = Fraction(amount_in * p_weth * 10**6 * 9950, p_usdc * 10**18 * 10_000)
    got = uni.min_amount_out_wei(amount_in, price_in_base=p_weth, price_out_base=p_usdc, decimals_in=18,
                                 decimals_out=6, slippage_bps=50)
    assert got == exact.numerator // exact.denominator  # floor: against us
    assert got == 4_478_132_072  # 4478.1320729... USDC
    assert uni.oracle_amount_out_wei(amount_in, price_in_base=p_weth, price_out_base=p_usdc, decimals_in=18,
                                     decimals_out=6) == 4_500_635_248


def test_max_in_from_oracle_rounds_up():
    # buy 1000 USDC paying WETH, 30 bps
    p_weth, p_usdc = 300_000_000_000, 100_000_000
    got = uni.max_amount_in_wei(1000 * 10**6, price_in_base=p_weth, price_out_base=p_usdc, decimals_in=18,
                                decimals_out=6, slippage_bps=30)
    exact = Fraction(1000 * 10**6 * p_usdc * 10**18 * 10_030, p_weth * 10**6 * 10_000)
    assert got == -(-exact.numerator // exact.denominator)
    assert got == 334_333_333_333_333_334  # ceil: against us


@given(
    amount=st.integers(1, 10**30),
    p_in=st.integers(1, 10**14),
    p_out=st.integers(1, 10**14),
    dec_in=st.sampled_from([6, 8, 18]),
    dec_out=st.sampled_from([6, 8, 18]),
    slip=st.integers(0, 1000),
)
def test_bounds_never_better_than_exact_math(amount, p_in, p_out, dec_in, dec_out, slip):
    kw = dict(price_in_base=p_in, price_out_base=p_out, decimals_in=dec_in, decimals_out=dec_out, slippage_bps=slip)
    exact_out = Fraction(amount * p_in * 10**dec_out * (10_000 - slip), p_out * 10**dec_in * 10_000)
    min_out = uni.min_amount_out_wei(amount, **kw)
    assert min_out <= exact_out < min_out + 1
    exact_in = Fraction(amount * p_out * 10**dec_in * (10_000 + slip), p_in * 10**dec_out * 10_000)
    max_in = uni.max_amount_in_wei(amount, **kw)
    assert max_in - 1 < exact_in <= max_in


def test_exact_input_calldata_path_and_bounds():
    step = uni.exact_input(ROUTER, tokens=[WETH, USDC], fees_pips=[500], recipient=ME, amount_in_wei=10**18,
                           price_in_base=3000 * 10**8, price_out_base=10**8, decimals_in=18, decimals_out=6,
                           slippage_bps=100, deadline_unix_s=1_700_000_600)
    assert step.selector == _sel("exactInput((bytes,address,uint256,uint256,uint256))")
    ((path, recipient, deadline, amount_in, min_out),) = _args(step.data, ["(bytes,address,uint256,uint256,uint256)"])
    assert path == bytes.fromhex(WETH[2:]) + (500).to_bytes(3, "big") + bytes.fromhex(USDC[2:])
    assert (to_checksum_address(recipient), deadline, amount_in) == (ME, 1_700_000_600, 10**18)
    assert min_out == 2970 * 10**6 == step.swap.min_amount_out_wei
    assert step.swap.oracle_amount_out_wei == 3000 * 10**6
    assert step.swap.within_slippage(100) and not step.swap.within_slippage(99)


def test_exact_output_reverses_the_path():
    step = uni.exact_output(ROUTER, tokens=[WETH, USDC], fees_pips=[3000], recipient=ME,
                            amount_out_wei=3000 * 10**6, price_in_base=3000 * 10**8, price_out_base=10**8,
                            decimals_in=18, decimals_out=6, slippage_bps=50, deadline_unix_s=1)
    ((path, _r, _d, amount_out, max_in),) = _args(step.data, ["(bytes,address,uint256,uint256,uint256)"])
    assert path[:20] == bytes.fromhex(USDC[2:]) and path[-20:] == bytes.fromhex(WETH[2:])
    assert amount_out == 3000 * 10**6 and max_in == 1005 * 10**15
    assert step.swap.within_slippage(50) and not step.swap.within_slippage(49)


def test_bad_swap_inputs_refused():
    with pytest.raises(ValueError):
        uni.encode_path([WETH], [])
    with pytest.raises(ValueError):
        uni.min_amount_out_wei(1, price_in_base=0, price_out_base=1, decimals_in=18, decimals_out=6, slippage_bps=1)
    with pytest.raises(ValueError, match="minimum output is 0"):
        uni.exact_input(ROUTER, tokens=[USDC, WETH], fees_pips=[500], recipient=ME, amount_in_wei=1,
                        price_in_base=10**8, price_out_base=3000 * 10**8, decimals_in=6, decimals_out=6,
                        slippage_bps=50, deadline_unix_s=1)
