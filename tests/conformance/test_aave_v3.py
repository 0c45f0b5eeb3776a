"""Aave V3 passes the lending conformance suite on both devnet markets: v3.6 (``aave``, the default market,
``POOL_REVISION`` 10, compiled from @aave-dao/aave-v3-origin 3.6.0) and v3.0 (``aave_v30``, ``POOL_REVISION`` 1,
npm @aave/core-v3 1.19.3 artifacts). The two share tokens, feeds and Uniswap pools; each class checks that its
snapshot carries its market's revision (the version's rules are the ones applied)."""

from __future__ import annotations

from typing import Any

from manager.devnet.artifacts import Deployer
from manager.devnet.deploy import fund_and_supply
from manager.domain import WAD
from manager.execution.types import TxStep
from manager.protocols.aave_v3 import encode as enc
from manager.protocols.aave_v3.deleverage import plan_deleverage
from manager.protocols.aave_v3.math import account_data
from manager.protocols.aave_v3.plan import PlanContext, build_steps
from manager.protocols.aave_v3.reads import read_accounts, read_market
from manager.protocols.aave_v3.types import LendingPositionSnapshot
from manager.sizing.caps import SizingLimits
from tests.conformance.base import Handle, LendingAdapterConformance

FEES = {("WETH", "USDC"): 500, ("WBTC", "USDC"): 3000, ("wstETH", "USDC"): 3000}


class AaveV3Conformance(LendingAdapterConformance):
    """The Aave hooks, for the market ``market_key`` of ``devnet.json`` (subclassed per market below)."""

    protocol = "aave_v3"
    markets = (("WETH", "USDC"), ("WBTC", "USDC"), ("wstETH", "USDC"))
    market_key = ""  # devnet.json section: "aave" (v3.6) or "aave_v30"
    pool_revision = 0  # the market's POOL_REVISION, checked on every snapshot

    def aave(self, chain) -> dict[str, Any]:
        return dict(chain.book[self.market_key])

    def entry(self, chain, h) -> Any:
        from manager.protocols import registry

        return registry.adapter(self.protocol).config_model(
            name=self.market_key, chain="devnet", kind=self.protocol,
            pool_addresses_provider=self.aave(chain)["pool_addresses_provider"])

    def _pool(self, chain) -> Any:
        return chain.contract("aave_v3/Pool", self.aave(chain)["pool"])

    def open_position(self, chain, account, collateral, loan, collateral_tokens, borrow_fraction):
        d = Deployer(chain.w3, chain.address("deployer"))
        # fund_and_supply supplies to book["aave"]: hand it this market's section under that key
        fund_and_supply(d, chain.w3, {**chain.book, "aave": self.aave(chain)}, account, [(collateral, collateral_tokens)])
        if borrow_fraction > 0:
            pool = self._pool(chain)
            avail_base = pool.functions.getUserAccountData(account).call()[2]
            amount = int(avail_base * borrow_fraction * 10 ** chain.book["decimals"][loan] // chain.oracle_price(loan))
            chain.transact(pool.functions.borrow(chain.book["tokens"][loan], amount, 2, 0, account), sender=account)
        return Handle(account=account, collateral=collateral, loan=loan)

    def read(self, chain, client, h, block=None) -> LendingPositionSnapshot:
        block = chain.w3.eth.block_number if block is None else block
        ts = int(chain.w3.eth.get_block(block)["timestamp"])
        market = read_market(client, self.aave(chain)["pool_addresses_provider"], block, block_timestamp=ts)
        snaps, errors = read_accounts(client, market, [h.account], with_reported=True)
        assert not errors, errors
        assert market.pool_revision == self.pool_revision, (self.market_key, market.pool_revision)
        return snaps[0]

    def health(self, snap) -> float:
        return account_data(snap).health_factor_wad / WAD

    def _asset(self, chain_or_snap, symbol: str, snap: LendingPositionSnapshot) -> str:
        return next(a for a, r in snap.reserves.items() if r.symbol == symbol)

    def feed_answer(self, snap, h) -> int:
        return snap.reserves[self._asset(None, h.collateral, snap)].price_base

    def healthy_at_answer(self, snap, h, answer) -> bool:
        asset = self._asset(None, h.collateral, snap)
        reserves = dict(snap.reserves)
        reserves[asset] = reserves[asset].model_copy(update={"price_base": answer})
        # liquidationCall requires HF < 1e18 (ValidationLogic.validateLiquidationCall)
        return account_data(snap.model_copy(update={"reserves": reserves})).health_factor_wad >= WAD

    def fund_liquidator(self, chain, h) -> None:
        liq = chain.address("liquidator")
        tok = chain.contract("erc20/MintableERC20", chain.book["tokens"][h.loan])
        chain.transact(tok.functions.mint(10**15), sender=liq)
        chain.transact(tok.functions.approve(self.aave(chain)["pool"], 10**15), sender=liq)

    def send_liquidation(self, chain, h, snap) -> bool:
        debt = next(a.variable_debt_wei for a in snap.assets if a.symbol == h.loan)
        tx = self._pool(chain).functions.liquidationCall(
            chain.book["tokens"][h.collateral], chain.book["tokens"][h.loan], h.account, max(1, debt // 3), False
        ).transact({"from": chain.address("liquidator"), "gas": 3_000_000})
        return chain.w3.eth.wait_for_transaction_receipt(tx)["status"] == 1

    def assert_protocol_view(self, chain, client, h, snap) -> None:
        assert snap.reported is not None
        assert account_data(snap) == snap.reported  # Pool.getUserAccountData at the same block, to the unit

    def encode_supply(self, chain, h, amount_wei) -> list[TxStep]:
        pool, asset = self.aave(chain)["pool"], chain.book["tokens"][h.collateral]
        return [enc.approve_for_pool(pool, asset, amount_wei), enc.supply(pool, asset, amount_wei, h.account)]

    def encode_borrow(self, chain, h, amount_wei) -> list[TxStep]:
        return [enc.borrow(self.aave(chain)["pool"], chain.book["tokens"][h.loan], amount_wei, h.account)]

    def encode_repay(self, chain, h, amount_wei, snap) -> list[TxStep]:
        pool, asset = self.aave(chain)["pool"], chain.book["tokens"][h.loan]
        if amount_wei is None:
            debt = self.balances(snap)[1]
            allowance = debt + debt // 10_000 + 1  # interest until the repay is mined
            self.fund(chain, h.account, h.loan, allowance)
            return [enc.approve_for_pool(pool, asset, allowance), enc.repay(pool, asset, enc.MAX_AMOUNT, h.account)]
        return [enc.approve_for_pool(pool, asset, amount_wei), enc.repay(pool, asset, amount_wei, h.account)]

    def encode_withdraw(self, chain, h, amount_wei) -> list[TxStep]:
        return [enc.withdraw(self.aave(chain)["pool"], chain.book["tokens"][h.collateral], amount_wei, h.account)]

    def balances(self, snap) -> tuple[int, int]:
        coll = sum(a.collateral_wei for a in snap.assets)
        debt = sum(a.variable_debt_wei + a.stable_debt_wei for a in snap.assets)
        return coll, debt

    def borrow_to_health(self, chain, client, h, snap, hf) -> None:
        asset = chain.book["tokens"][h.loan]
        acc = account_data(snap)
        debt_base = acc.total_collateral_base * acc.current_liquidation_threshold_bps / 10_000 / hf
        amount = int((debt_base - acc.total_debt_base) * 10 ** chain.book["decimals"][h.loan]
                     / chain.oracle_price(h.loan))
        chain.transact(self._pool(chain).functions.borrow(asset, amount, 2, 0, h.account), sender=h.account)

    def deleverage_steps(self, chain, h, snap, target_hf):
        decision = plan_deleverage(snap, target_hf, limits=SizingLimits(max_slippage_bps=100))
        ctx = PlanContext(pool=self.aave(chain)["pool"], router=chain.book["uniswap"]["router"], account=h.account,
                          max_slippage_bps=100, fees_pips=FEES)
        return decision, list(build_steps(decision, snap, ctx))


class TestAaveV36Conformance(AaveV3Conformance):
    """The default devnet market: Aave v3.6."""

    market_key = "aave"
    pool_revision = 10


class TestAaveV30Conformance(AaveV3Conformance):
    """The v3.0 market (what forks of older deployments run)."""

    market_key = "aave_v30"
    pool_revision = 1
