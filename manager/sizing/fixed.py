"""Fixed-point integer math with the exact rounding of the protocols the sizing core mirrors.

- Aave V3.0 ``WadRayMath`` and ``PercentageMath`` (aave-v3-core ``contracts/protocol/libraries/math``):
  every operation rounds half up; ``percentMul(v, p) = (v*p + 5000) // 1e4``.
- Morpho Blue ``MathLib`` / ``SharesMathLib`` (morpho-blue ``src/libraries``): explicit ``Down``/``Up``.

All functions take and return Python ``int`` (arbitrary precision, so no overflow checks are needed
for values that fit in a uint256). Division by zero raises ``SizingError`` instead of ``ZeroDivisionError``.
"""

from __future__ import annotations

from manager.errors import SizingError

WAD = 10**18
RAY = 10**27
HALF_WAD = WAD // 2
HALF_RAY = RAY // 2
PERCENTAGE_FACTOR = 10**4
HALF_PERCENTAGE_FACTOR = PERCENTAGE_FACTOR // 2
UINT256_MAX = 2**256 - 1


def _nonzero(b: int, name: str) -> None:
    if b == 0:
        raise SizingError(f"{name}=0: division by zero in fixed-point math", field=name, value=b)


# --- Aave WadRayMath (half up) -------------------------------------------------------------------
def wad_mul(a: int, b: int) -> int:
    return (a * b + HALF_WAD) // WAD


def wad_div(a: int, b: int) -> int:
    _nonzero(b, "wad_div divisor")
    return (a * WAD + b // 2) // b


def ray_mul(a: int, b: int) -> int:
    return (a * b + HALF_RAY) // RAY


def ray_div(a: int, b: int) -> int:
    _nonzero(b, "ray_div divisor")
    return (a * RAY + b // 2) // b


# --- Aave PercentageMath (half up; bps with 1e4 = 100%) ------------------------------------------
def percent_mul(value: int, percentage_bps: int) -> int:
    return (value * percentage_bps + HALF_PERCENTAGE_FACTOR) // PERCENTAGE_FACTOR


def percent_div(value: int, percentage_bps: int) -> int:
    _nonzero(percentage_bps, "percent_div percentage_bps")
    return (value * PERCENTAGE_FACTOR + percentage_bps // 2) // percentage_bps


# --- Plain integer division with an explicit direction ------------------------------------------
def div_down(a: int, b: int) -> int:
    _nonzero(b, "div_down divisor")
    return a // b


def div_up(a: int, b: int) -> int:
    _nonzero(b, "div_up divisor")
    return -((-a) // b)


# --- Morpho Blue MathLib ------------------------------------------------------------------------
def mul_div_down(x: int, y: int, d: int) -> int:
    _nonzero(d, "mul_div_down denominator")
    return (x * y) // d


def mul_div_up(x: int, y: int, d: int) -> int:
    _nonzero(d, "mul_div_up denominator")
    return (x * y + (d - 1)) // d


def w_mul_down(x: int, y: int) -> int:
    return mul_div_down(x, y, WAD)


def w_div_down(x: int, y: int) -> int:
    return mul_div_down(x, WAD, y)


def w_div_up(x: int, y: int) -> int:
    return mul_div_up(x, WAD, y)


def flash_amount(min_out_wei: int, premium_bps: int) -> int:
    """Largest flash amount ``F`` with ``F + percentMul(F, premium) <= min_out_wei`` (a flash loan repaid from a
    sale's guaranteed output)."""
    f = min_out_wei * 10_000 // (10_000 + premium_bps)
    while f > 0 and f + percent_mul(f, premium_bps) > min_out_wei:
        f -= 1
    while f + 1 + percent_mul(f + 1, premium_bps) <= min_out_wei:
        f += 1
    return f
