"""Deploy Morpho Blue on the devnet: the real ``Morpho.sol``, a Chainlink-pair oracle per market, a devnet IRM.

``Morpho.sol`` is compiled from the pinned npm ``@morpho-org/morpho-blue`` 1.0.0 sources with the pinned
npm ``solc`` 0.8.19 (optimizer 200 runs, legacy pipeline: Morpho's own build uses via-IR, which solcjs
makes slow; the semantics are the same). Two small contracts written for the devnet sit next to this
module under ``contracts/``:

- ``DevnetChainlinkOracle``: ``IOracle.price()`` from the devnet's Chainlink ``MockV3Aggregator`` feeds,
  ``SCALE_FACTOR * collateralUsd / loanUsd`` with ``SCALE_FACTOR = 10**(36 + dL + 8 - dC - 8)`` (the shape
  of Morpho's ``MorphoChainlinkOracleV2``). Moving a feed with ``Devnet.set_price`` moves Morpho too.
- ``DevnetCurveIrm``: **devnet IRM, not Morpho's AdaptiveCurveIrm** (that one is not in the npm
  package). AdaptiveCurveIrm's curve (target utilization 90%, steepness 4) with a fixed 4%/year rate at
  target; stateless.

Deploy: ``Morpho(owner)`` -> ``enableIrm`` -> ``enableLltv`` per LLTV -> ``setFeeRecipient`` -> one oracle
and ``createMarket`` per market -> ``setFee`` where a fee is set -> the liquidity account supplies the loan
token. ``seed_morpho`` opens the borrower positions of ``SEEDS``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from manager.devnet.artifacts import Deployer
from manager.devnet.compile import NM, compile_files
from manager.devnet.deploy import token_units

WAD = 10**18
CONTRACTS = Path(__file__).with_name("contracts")
MORPHO_UNIT = "@morpho-org/morpho-blue/src/Morpho.sol"
IRM_LABEL = "devnet IRM, not Morpho's AdaptiveCurveIrm"
# Files whose content defines the Morpho part of the cached devnet state (net.cache_key hashes them).
SOURCE_FILES = ("morpho.py", "contracts/DevnetChainlinkOracle.sol", "contracts/DevnetCurveIrm.sol")  # not the README


@dataclass(frozen=True)
class MarketSpec:
    """A Morpho Blue market: collateral/loan symbols (devnet tokens), LLTV, fee, loan-token liquidity."""

    collateral: str
    loan: str
    lltv_wad: int
    fee_wad: int = 0
    supply_tokens: float = 0.0  # loan tokens the liquidity account supplies

    @property
    def key(self) -> str:
        return f"{self.collateral}/{self.loan}"


MARKETS: tuple[MarketSpec, ...] = (
    MarketSpec("wstETH", "USDC", 86 * 10**16, supply_tokens=20_000_000),
    MarketSpec("WBTC", "USDC", 86 * 10**16, supply_tokens=20_000_000),
    MarketSpec("WETH", "USDC", 915 * 10**15, fee_wad=10 * 10**16, supply_tokens=20_000_000),
)


@dataclass(frozen=True)
class MorphoSeed:
    """A borrower position: collateral supplied and loan tokens borrowed (token amounts)."""

    account: str  # a devnet account name (manager.devnet.market.ACCOUNT_INDEX)
    market: str  # MarketSpec.key
    collateral: float
    borrow: float
    note: str = ""

    @property
    def name(self) -> str:
        return f"morpho_{self.account}_{self.market.split('/')[0].lower()}"


SEEDS: tuple[MorphoSeed, ...] = (
    MorphoSeed("manager3", "wstETH/USDC", 10, 20_000, note="Morpho wstETH/USDC (LLTV 0.86), HF ~1.51"),
    MorphoSeed("manager3", "WBTC/USDC", 0.5, 18_000, note="Morpho WBTC/USDC (LLTV 0.86), HF ~1.43"),
    MorphoSeed("manager4", "WETH/USDC", 10, 23_000, note="Morpho WETH/USDC (LLTV 0.915), HF ~1.19"),
)


@cache
def artifacts() -> dict[str, dict]:
    """``{Morpho, DevnetChainlinkOracle, DevnetCurveIrm: {abi, bytecode}}`` (compiled once, then cached on disk)."""
    out = dict(compile_files({MORPHO_UNIT: NM / MORPHO_UNIT}))  # ~8 s on the first run, then cached
    out.update(compile_files({
        "posman/devnet/DevnetChainlinkOracle.sol": CONTRACTS / "DevnetChainlinkOracle.sol",
        "posman/devnet/DevnetCurveIrm.sol": CONTRACTS / "DevnetCurveIrm.sol",
    }))
    return {k: out[k] for k in ("Morpho", "DevnetChainlinkOracle", "DevnetCurveIrm")}


def market_id(params: tuple[str, str, str, str, int]) -> str:
    """``MarketParamsLib.id``: ``keccak256(abi.encode(loanToken, collateralToken, oracle, irm, lltv))``."""
    from eth_abi import encode
    from eth_hash.auto import keccak

    return "0x" + keccak(encode(["address", "address", "address", "address", "uint256"], list(params))).hex()


def deploy_morpho(w3: Any, book: dict[str, Any], accounts: dict[str, str]) -> dict[str, Any]:
    """Deploy Morpho Blue, its IRM, one oracle per market, create the markets and supply liquidity.

    ``book`` is the devnet address book (tokens, decimals, feeds); ``accounts`` maps names to addresses.
    Returns the ``book["morpho"]`` section (JSON-able).
    """
    started = time.monotonic()
    arts = artifacts()
    owner = accounts["deployer"]
    d = Deployer(w3, owner)
    morpho = d.deploy("Morpho", owner, art=arts["Morpho"])
    irm = d.deploy("DevnetCurveIrm", art=arts["DevnetCurveIrm"])
    d.send(morpho.functions.enableIrm(irm.address))
    for lltv in sorted({m.lltv_wad for m in MARKETS}):
        d.send(morpho.functions.enableLltv(lltv))
    d.send(morpho.functions.setFeeRecipient(accounts["treasury"]))

    dec, tokens, feeds = book["decimals"], book["tokens"], book["feeds"]
    section: dict[str, Any] = {
        "morpho": morpho.address,
        "irm": irm.address,
        "irm_label": IRM_LABEL,
        "owner": owner,
        "fee_recipient": accounts["treasury"],
        "oracles": {},
        "markets": {},
    }
    lp = accounts["liquidity"]
    for spec in MARKETS:
        oracle = d.deploy("DevnetChainlinkOracle", feeds[spec.collateral], feeds[spec.loan], dec[spec.collateral],
                          dec[spec.loan], art=arts["DevnetChainlinkOracle"])
        params = (tokens[spec.loan], tokens[spec.collateral], oracle.address, irm.address, spec.lltv_wad)
        d.send(morpho.functions.createMarket(params))
        if spec.fee_wad:
            d.send(morpho.functions.setFee(params, spec.fee_wad))
        mid = market_id(params)
        section["oracles"][spec.key] = oracle.address
        section["markets"][spec.key] = {
            "id": mid,
            "loan_token": params[0],
            "collateral_token": params[1],
            "oracle": params[2],
            "irm": params[3],
            "lltv_wad": str(spec.lltv_wad),  # str: JSON readers must not round it
            "fee_wad": str(spec.fee_wad),
            "loan_symbol": spec.loan,
            "collateral_symbol": spec.collateral,
            "loan_decimals": dec[spec.loan],
            "collateral_decimals": dec[spec.collateral],
        }
        if spec.supply_tokens:
            amount = token_units(spec.supply_tokens, dec[spec.loan])
            fund(d, w3, book, lp, spec.loan, amount)
            tok = d.at("MintableERC20", tokens[spec.loan])
            d.send(tok.functions.approve(morpho.address, amount), sender=lp)
            d.send(morpho.functions.supply(params, amount, 0, lp, b""), sender=lp)
    section["deploy_seconds"] = round(time.monotonic() - started, 3)
    section["deploy_transactions"] = d.tx_count
    return section


def fund(d: Deployer, w3: Any, book: dict[str, Any], user: str, symbol: str, amount_wei: int) -> None:
    """Give ``user`` ``amount_wei`` of ``symbol`` (mint, or wrap ETH for WETH)."""
    asset = book["tokens"][symbol]
    if symbol == "WETH":
        w3.provider.make_request("anvil_setBalance", [user, hex(10**24 + amount_wei)])
        d.send(d.at("WETH9Mocked", asset).functions.deposit(), sender=user, value=amount_wei)
    else:
        d.send(d.at("MintableERC20", asset).functions.mint(amount_wei), sender=user)


def market_params(section: dict[str, Any], key: str) -> tuple[str, str, str, str, int]:
    """The ``MarketParams`` tuple of market ``key`` (``"wstETH/USDC"``) from a ``book["morpho"]`` section."""
    m = section["markets"][key]
    return (m["loan_token"], m["collateral_token"], m["oracle"], m["irm"], int(m["lltv_wad"]))


def open_position(w3: Any, book: dict[str, Any], user: str, key: str, collateral_wei: int, borrow_wei: int) -> None:
    """Fund ``user``, supply ``collateral_wei`` to market ``key`` and borrow ``borrow_wei`` (devnet helper)."""
    section = book["morpho"]
    m = section["markets"][key]
    d = Deployer(w3, user)
    morpho = w3.eth.contract(address=section["morpho"], abi=artifacts()["Morpho"]["abi"])
    params = market_params(section, key)
    fund(d, w3, book, user, m["collateral_symbol"], collateral_wei)
    d.send(d.at("MintableERC20", m["collateral_token"]).functions.approve(morpho.address, collateral_wei))
    d.send(morpho.functions.supplyCollateral(params, collateral_wei, user, b""))
    if borrow_wei:
        d.send(morpho.functions.borrow(params, borrow_wei, 0, user, user))


def seed_morpho(w3: Any, book: dict[str, Any], accounts: dict[str, str]) -> dict[str, str]:
    """Open the borrower positions of ``SEEDS`` (``book["morpho"]`` must be deployed). Returns {name: note}."""
    dec = book["decimals"]
    notes = {}
    for seed in SEEDS:
        coll_sym, loan_sym = seed.market.split("/")
        open_position(w3, book, accounts[seed.account], seed.market, token_units(seed.collateral, dec[coll_sym]),
                      token_units(seed.borrow, dec[loan_sym]))
        notes[seed.name] = seed.note
    book["morpho"]["seeded_positions"] = {
        s.name: {"account": accounts[s.account], "account_name": s.account, "market": s.market, "note": s.note}
        for s in SEEDS
    }
    return notes
