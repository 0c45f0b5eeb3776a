"""The devnet market: assets, prices, Aave V3 reserve parameters, e-mode, isolation, pools, seeded users.

Parameters are mainnet-like (Aave V3 Ethereum market, rounded). This module is data only; the
deploy code reads it. Changing it changes the deploy-code hash, so the cached chain state is rebuilt.
"""

from __future__ import annotations

from dataclasses import dataclass, field

RAY = 10**27


@dataclass(frozen=True)
class AssetSpec:
    symbol: str
    decimals: int
    price_usd: float
    ltv_bps: int
    lt_bps: int
    bonus_bps: int
    reserve_factor_bps: int = 1000
    liq_protocol_fee_bps: int = 1000
    supply_cap: int = 0  # whole tokens, 0 = none
    borrow_cap: int = 0
    debt_ceiling_cents: int = 0  # isolation mode when > 0
    borrowable_in_isolation: bool = False
    borrowing: bool = True
    emode: int = 0
    stable: bool = False  # interest-rate curve family
    lp_supply: float = 0.0  # tokens the liquidity provider supplies to Aave


ASSETS: tuple[AssetSpec, ...] = (
    AssetSpec("WETH", 18, 3000.0, 8050, 8300, 10500, 1500, emode=1, lp_supply=20_000),
    AssetSpec("WBTC", 8, 60000.0, 7300, 7800, 10500, 2000, lp_supply=800),
    AssetSpec("USDC", 6, 1.0, 7700, 7900, 10450, 1000, borrowable_in_isolation=True, stable=True,
              lp_supply=80_000_000),
    AssetSpec("DAI", 18, 1.0, 6300, 7700, 10400, 1000, borrowable_in_isolation=True, stable=True,
              lp_supply=30_000_000),
    AssetSpec("wstETH", 18, 3500.0, 6900, 7950, 10600, 1500, supply_cap=40_000, borrow_cap=4_000, emode=1,
              lp_supply=10_000),
    AssetSpec("LINK", 18, 15.0, 5300, 6800, 10700, 2000, supply_cap=5_000_000, debt_ceiling_cents=200_000_000,
              lp_supply=0),
)

EMODE_ETH = {"id": 1, "ltv_bps": 9300, "lt_bps": 9500, "bonus_bps": 10100, "label": "ETH correlated"}
FLASHLOAN_PREMIUM_TOTAL_BPS = 9
FLASHLOAN_PREMIUM_PROTOCOL_BPS = 0

# Interest-rate curves (ray): (optimal usage, base, slope1, slope2)
RATES = {
    "volatile": (int(0.80 * RAY), 0, int(0.038 * RAY), int(0.80 * RAY)),
    "stable": (int(0.90 * RAY), 0, int(0.04 * RAY), int(0.60 * RAY)),
}
# The same curves for v3.2+ ``DefaultReserveInterestRateStrategyV2`` (bps: optimal usage, base, slope1, slope2).
RATES_BPS = {"volatile": (8000, 0, 380, 8000), "stable": (9000, 0, 400, 6000)}

# ---- the v3.6 market (``manager/devnet/aave36.py``): same reserves, liquid e-modes with bitmaps ----------------
# v3.2+ sets one total flash-loan premium (v3.4+ sends it all to the treasury); the origin default is 5 bps.
FLASHLOAN_PREMIUM_V36_BPS = 5


@dataclass(frozen=True)
class EModeSpec:
    """A v3.2+ e-mode category: its LTV/LT/bonus and which reserves are collateral, borrowable or LTV-0 in it."""

    id: int
    ltv_bps: int
    lt_bps: int
    bonus_bps: int
    label: str
    collateral: tuple[str, ...]
    borrowable: tuple[str, ...]
    ltvzero: tuple[str, ...] = ()


EMODES_V36: tuple[EModeSpec, ...] = (
    # WETH/wstETH get the category's LTV/LT; WBTC (not in the bitmap) still counts with its own LTV/LT inside it;
    # USDC/DAI/WBTC/LINK are borrowable only outside it.
    EModeSpec(1, 9300, 9500, 10100, "ETH correlated", collateral=("WETH", "wstETH"), borrowable=("WETH", "wstETH")),
    # DAI is collateral in the category with LTV 0 (``ltvzeroBitmap``): it keeps the category's LT 93% but gives no
    # borrowing power and blocks new borrows while enabled.
    EModeSpec(2, 9000, 9300, 10200, "Stablecoins", collateral=("USDC", "DAI"), borrowable=("USDC", "DAI"),
              ltvzero=("DAI",)),
)


@dataclass(frozen=True)
class Layer:
    """A liquidity position in a pool: +-width (fraction of price, log-symmetric) holding usd value."""

    width: float
    usd: float


@dataclass(frozen=True)
class PoolSpec:
    a: str
    b: str
    fee_pips: int
    layers: tuple[Layer, ...] = field(default_factory=tuple)


_DEEP = (Layer(0.60, 6_000_000), Layer(0.15, 10_000_000), Layer(0.03, 8_000_000))
_MID = (Layer(0.60, 3_000_000), Layer(0.15, 4_000_000), Layer(0.04, 3_000_000))
_PEG = (Layer(0.02, 10_000_000), Layer(0.002, 20_000_000))

# Every pair of the six assets (15): whatever is collateral can be sold for whatever is borrowed.
POOLS: tuple[PoolSpec, ...] = (
    PoolSpec("WETH", "USDC", 500, _DEEP),
    PoolSpec("WETH", "DAI", 500, _MID),
    PoolSpec("WBTC", "USDC", 3000, _DEEP),
    PoolSpec("WBTC", "DAI", 3000, _MID),
    PoolSpec("WBTC", "WETH", 3000, _MID),
    PoolSpec("wstETH", "WETH", 100, (Layer(0.05, 8_000_000), Layer(0.01, 10_000_000))),
    PoolSpec("wstETH", "USDC", 3000, _MID),
    PoolSpec("wstETH", "DAI", 3000, _MID),
    PoolSpec("LINK", "USDC", 3000, _MID),
    PoolSpec("LINK", "DAI", 3000, _MID),
    PoolSpec("USDC", "DAI", 100, _PEG),
    PoolSpec("WBTC", "wstETH", 3000, _MID),
    PoolSpec("WETH", "LINK", 3000, _MID),  # LINK is borrowable: selling any collateral for it
    PoolSpec("WBTC", "LINK", 3000, _MID),
    PoolSpec("wstETH", "LINK", 3000, _MID),
)


@dataclass(frozen=True)
class SeedPosition:
    """A demo account's position: supplies, borrows (token amounts), optional e-mode."""

    name: str
    supplies: tuple[tuple[str, float], ...]
    borrows: tuple[tuple[str, float], ...]
    emode: int = 0
    note: str = ""


# Health factors at the seeded prices are given in the notes (Aave v3.0 rules).
SEEDS: tuple[SeedPosition, ...] = (
    SeedPosition("alice", (("WETH", 10),), (("USDC", 12_000),), note="ETH long, HF ~2.07"),
    SeedPosition("bob", (("WBTC", 1), ("WETH", 5)), (("USDC", 30_000), ("DAI", 10_000)),
                 note="multi-collateral, HF ~1.48"),
    SeedPosition("carol", (("WETH", 20),), (("USDC", 42_000),), note="tight ETH long, HF ~1.19"),
    SeedPosition("dave", (("wstETH", 50),), (("WETH", 48),), emode=1, note="e-mode wstETH/WETH loop, HF ~1.15"),
    SeedPosition("erin", (("LINK", 10_000),), (("USDC", 50_000),), note="isolated LINK collateral, HF ~2.04"),
    SeedPosition("frank", (("WETH", 30),), (("DAI", 50_000),), note="ETH long in DAI, HF ~1.49"),
    SeedPosition("gina", (("wstETH", 10), ("WETH", 5)), (("USDC", 28_000),), note="HF ~1.44"),
)

# anvil mnemonic account indices (anvil funds the first N_ACCOUNTS of them)
ACCOUNT_INDEX = {
    "deployer": 0,
    "liquidity": 1,
    "alice": 2,
    "bob": 3,
    "carol": 4,
    "dave": 5,
    "erin": 6,
    "frank": 7,
    "gina": 8,
    "treasury": 9,
    "keeper": 10,
    "liquidator": 11,
    "manager1": 12,
    "manager2": 13,
    "manager3": 14,
    "manager4": 15,
    "watcher1": 16,
    "spare1": 17,
    "spare2": 18,
    "spare3": 19,
}
N_ACCOUNTS = len(ACCOUNT_INDEX)
