"""The devnet's Morpho Blue: real Morpho.sol (npm sources, solc 0.8.19), oracle scale, IRM label, seeds."""

from __future__ import annotations

from manager.devnet.morpho import CONTRACTS, IRM_LABEL, MARKETS, SEEDS, artifacts, market_id, market_params
from tests.morpho.conftest import morpho_contract, read_one


def test_morpho_is_the_compiled_npm_source(devnet):
    code = devnet.w3.eth.get_code(devnet.book["morpho"]["morpho"])
    assert len(code) > 15_000  # the whole Morpho.sol, not a stub
    m = morpho_contract(devnet)
    assert m.functions.owner().call() == devnet.address("deployer")
    assert m.functions.isIrmEnabled(devnet.book["morpho"]["irm"]).call()
    for spec in MARKETS:
        assert m.functions.isLltvEnabled(spec.lltv_wad).call()
    assert "Morpho" in artifacts()


def test_markets_ids_and_params(devnet):
    section = devnet.book["morpho"]
    m = morpho_contract(devnet)
    for spec in MARKETS:
        params = market_params(section, spec.key)
        mid = section["markets"][spec.key]["id"]
        assert market_id(params) == mid
        assert tuple(m.functions.idToMarketParams(bytes.fromhex(mid[2:])).call()) == params
        tsa, _tss, _tba, _tbs, last, fee = m.functions.market(bytes.fromhex(mid[2:])).call()
        assert tsa >= spec.supply_tokens * 10**6 and last > 0 and fee == spec.fee_wad


def test_oracle_scale_is_morphos(devnet):
    """price() = collateral in loan units scaled 1e36 + dL - dC: WETH/USDC at 3000 -> 3000e24."""
    w3 = devnet.w3
    abi = artifacts()["DevnetChainlinkOracle"]["abi"]
    for key, expected in (("WETH/USDC", 3000 * 10**24), ("wstETH/USDC", 3500 * 10**24),
                          ("WBTC/USDC", 60000 * 10**(36 + 6 - 8))):
        oracle = w3.eth.contract(address=devnet.book["morpho"]["oracles"][key], abi=abi)
        assert oracle.functions.price().call() == expected


def test_oracle_follows_feed(chain):
    abi = artifacts()["DevnetChainlinkOracle"]["abi"]
    oracle = chain.w3.eth.contract(address=chain.book["morpho"]["oracles"]["WETH/USDC"], abi=abi)
    chain.set_price("WETH", 2500.5, arbitrage=False)
    assert oracle.functions.price().call() == 25005 * 10**23


def test_irm_is_labelled_devnet():
    src = (CONTRACTS / "DevnetCurveIrm.sol").read_text()
    assert IRM_LABEL in src
    assert IRM_LABEL == "devnet IRM, not Morpho's AdaptiveCurveIrm"


def test_seeded_positions(devnet, client):
    section = devnet.book["morpho"]
    assert set(section["seeded_positions"]) == {s.name for s in SEEDS}
    for seed in SEEDS:
        snap = read_one(devnet, client, devnet.address(seed.account), seed.market)
        assert snap.position.borrow_shares > 0 and snap.is_healthy()
        hf = float(seed.note.rsplit("~", 1)[1])
        assert abs(snap.health_factor() - hf) < 0.01, (seed.name, snap.health_factor())
