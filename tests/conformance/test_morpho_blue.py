"""Morpho Blue passes the lending conformance suite (real Morpho.sol compiled from the npm sources)."""

from __future__ import annotations

from typing import Any

from manager.devnet.morpho import artifacts, open_position
from manager.execution.types import TxStep
from manager.protocols.morpho_blue import encode as enc
from manager.protocols.morpho_blue import math as mm
from manager.protocols.morpho_blue.plan import MorphoPlanContext, build_steps, decide_deleverage
from manager.protocols.morpho_blue.reads import PositionRef, read_snapshots
from manager.protocols.morpho_blue.types import MorphoPositionSnapshot
from tests.conformance.base import Handle, LendingAdapterConformance

WAD = 10**18
FEES = {("wstETH", "USDC"): 3000, ("WBTC", "USDC"): 3000, ("WETH", "USDC"): 500}


def _morpho(chain) -> Any:
    return chain.w3.eth.contract(address=chain.book["morpho"]["morpho"], abi=artifacts()["Morpho"]["abi"])


def _erc20(chain, symbol: str) -> Any:
    return chain.contract("erc20/MintableERC20", chain.book["tokens"][symbol])


class TestMorphoBlueConformance(LendingAdapterConformance):
    protocol = "morpho_blue"
    markets = (("WETH/USDC".split("/")[0], "USDC"), ("wstETH", "USDC"), ("WBTC", "USDC"))

    # ---- helpers
    @staticmethod
    def key(h: Handle) -> str:
        return f"{h.collateral}/{h.loan}"

    def market(self, chain, h: Handle) -> dict:
        return chain.book["morpho"]["markets"][self.key(h)]

    def entry(self, chain, h: Handle) -> Any:
        from manager.protocols import registry

        return registry.adapter(self.protocol).config_model(
            name="morpho", chain="devnet", kind=self.protocol, morpho=chain.book["morpho"]["morpho"],
            market_id=self.market(chain, h)["id"])

    # ---- hooks
    def open_position(self, chain, account, collateral, loan, collateral_tokens, borrow_fraction):
        h = Handle(account=account, collateral=collateral, loan=loan)
        dec = chain.book["decimals"]
        coll_wei = int(collateral_tokens * 10 ** dec[collateral])
        open_position(chain.w3, chain.book, account, self.key(h), coll_wei, 0)
        if borrow_fraction > 0:
            oracle = chain.w3.eth.contract(address=self.market(chain, h)["oracle"],
                                           abi=artifacts()["DevnetChainlinkOracle"]["abi"])
            price = oracle.functions.price().call()
            lltv = int(self.market(chain, h)["lltv_wad"])
            max_b = mm.w_mul_down(mm.mul_div_down(coll_wei, price, mm.ORACLE_PRICE_SCALE), lltv)
            amount = int(max_b * borrow_fraction)
            m = _morpho(chain)
            params = self._params(chain, h)
            chain.transact(m.functions.borrow(params, amount, 0, account, account), sender=account)
        return h

    def _params(self, chain, h: Handle) -> tuple:
        m = self.market(chain, h)
        return (m["loan_token"], m["collateral_token"], m["oracle"], m["irm"], int(m["lltv_wad"]))

    def read(self, chain, client, h, block=None) -> MorphoPositionSnapshot:
        block = chain.w3.eth.block_number if block is None else block
        snaps, errors = read_snapshots(client, chain.book["morpho"]["morpho"],
                                       [PositionRef("conf", h.account, self.market(chain, h)["id"])], block)
        assert not errors, errors
        return snaps[0]

    def health(self, snap: MorphoPositionSnapshot) -> float:
        return snap.health_factor()

    def feed_answer(self, snap, h) -> int:
        assert snap.collateral_feed is not None
        return snap.collateral_feed.answer

    def healthy_at_answer(self, snap, h, answer) -> bool:
        # NOTE: the devnet oracle's price(): SCALE_FACTOR * base / quote (both feeds 8 decimals).
        assert snap.loan_feed is not None
        scale = 10 ** (36 + snap.loan_decimals - snap.collateral_decimals)
        price = scale * answer // snap.loan_feed.answer
        if price == 0:
            return False
        market = snap.market_at(snap.block_timestamp).model_copy(update={"oracle_price": price})
        return mm.is_healthy(market, snap.position)

    def fund_liquidator(self, chain, h) -> None:
        liq, loan = chain.address("liquidator"), _erc20(chain, h.loan)
        chain.transact(loan.functions.mint(10**15), sender=liq)
        chain.transact(loan.functions.approve(chain.book["morpho"]["morpho"], 10**15), sender=liq)

    def send_liquidation(self, chain, h, snap) -> bool:
        liq, m = chain.address("liquidator"), _morpho(chain)
        shares = max(1, snap.position.borrow_shares // 3)
        tx = m.functions.liquidate(self._params(chain, h), h.account, 0, shares, b"").transact(
            {"from": liq, "gas": 2_000_000})
        return chain.w3.eth.wait_for_transaction_receipt(tx)["status"] == 1

    def assert_protocol_view(self, chain, client, h, snap: MorphoPositionSnapshot) -> None:
        m = _morpho(chain)
        mid = bytes.fromhex(snap.market_id[2:])
        b = snap.block_number
        stored = m.functions.market(mid).call(block_identifier=b)
        mk = snap.market
        assert (mk.total_supply_assets, mk.total_supply_shares, mk.total_borrow_assets, mk.total_borrow_shares,
                snap.last_update, snap.fee_wad) == tuple(stored)
        assert (snap.position.supply_shares, snap.position.borrow_shares, snap.position.collateral_wei) == \
            tuple(m.functions.position(mid, h.account).call(block_identifier=b))
        oracle = chain.w3.eth.contract(address=snap.params.oracle, abi=artifacts()["DevnetChainlinkOracle"]["abi"])
        assert snap.market.oracle_price == oracle.functions.price().call(block_identifier=b)
        # the contract's own arithmetic at the snapshot's timestamp: the max borrow goes through, one more
        # unit fails INSUFFICIENT_COLLATERAL; repaying every share pulls exactly borrowed_wei.
        ts = snap.block_timestamp
        avail = mm.max_borrow(snap.market_at(ts), snap.position) - snap.borrowed_wei(ts)
        params = self._params(chain, h)
        if avail > 1:
            sid = chain.snapshot()
            try:
                self.at_timestamp(chain, ts)
                tx = m.functions.borrow(params, avail + 1, 0, h.account, h.account).transact(
                    {"from": h.account, "gas": 1_000_000})
                assert chain.w3.eth.wait_for_transaction_receipt(tx)["status"] == 0, "borrow above the max went through"
            finally:
                chain.revert(sid)
            sid = chain.snapshot()
            try:
                # borrow(assets) mints toSharesUp(assets); health re-reads toAssetsUp: the exact max may be
                # one unit lower than maxBorrow - borrowed (Morpho's rounding); the sizing core knows it
                amount = mm.max_safe_borrow(snap.market_at(ts), snap.position, 1.0 + 1e-12)
                assert avail - 2 <= amount <= avail
                self.at_timestamp(chain, ts)
                chain.transact(m.functions.borrow(params, amount, 0, h.account, h.account), sender=h.account)
            finally:
                chain.revert(sid)
        sid = chain.snapshot()
        try:
            loan = _erc20(chain, h.loan)
            chain.transact(loan.functions.mint(10**15), sender=h.account)
            chain.transact(loan.functions.approve(m.address, 10**15), sender=h.account)
            before = loan.functions.balanceOf(h.account).call()
            self.at_timestamp(chain, ts)
            chain.transact(m.functions.repay(params, 0, snap.position.borrow_shares, h.account, b""),
                           sender=h.account)
            assert before - loan.functions.balanceOf(h.account).call() == snap.borrowed_wei(ts)
        finally:
            chain.revert(sid)

    def encode_supply(self, chain, h, amount_wei) -> list[TxStep]:
        p = self.read_params(chain, h)
        return [enc.approve_for_morpho(chain.book["morpho"]["morpho"], p.collateral_token, amount_wei),
                enc.supply_collateral(chain.book["morpho"]["morpho"], p, amount_wei, h.account)]

    def encode_borrow(self, chain, h, amount_wei) -> list[TxStep]:
        return [enc.borrow(chain.book["morpho"]["morpho"], self.read_params(chain, h), h.account, h.account,
                           assets_wei=amount_wei)]

    def encode_repay(self, chain, h, amount_wei, snap) -> list[TxStep]:
        morpho, p = chain.book["morpho"]["morpho"], self.read_params(chain, h)
        if amount_wei is None:  # by shares: exact close, approve toAssetsUp with 1 bp headroom for interest
            need = snap.borrowed_wei()
            self.fund(chain, h.account, h.loan, need)  # the wallet may have spent some of the borrow
            return [enc.approve_for_morpho(morpho, p.loan_token, need + need // 10_000 + 1),
                    enc.repay(morpho, p, h.account, shares=snap.position.borrow_shares)]
        return [enc.approve_for_morpho(morpho, p.loan_token, amount_wei),
                enc.repay(morpho, p, h.account, assets_wei=amount_wei)]

    def encode_withdraw(self, chain, h, amount_wei) -> list[TxStep]:
        return [enc.withdraw_collateral(chain.book["morpho"]["morpho"], self.read_params(chain, h), amount_wei,
                                        h.account, h.account)]

    def read_params(self, chain, h):
        from manager.protocols.morpho_blue.types import MarketParams

        loan, coll, oracle, irm, lltv = self._params(chain, h)
        return MarketParams(loan_token=loan, collateral_token=coll, oracle=oracle, irm=irm, lltv_wad=lltv)

    def balances(self, snap: MorphoPositionSnapshot) -> tuple[int, int]:
        return snap.position.collateral_wei, snap.borrowed_wei()

    def borrow_to_health(self, chain, client, h, snap, hf) -> None:
        amount = mm.max_safe_borrow(snap.market_now, snap.position, hf)
        chain.transact(_morpho(chain).functions.borrow(self._params(chain, h), amount, 0, h.account, h.account),
                       sender=h.account)

    def deleverage_steps(self, chain, h, snap, target_hf):
        decision = decide_deleverage(snap, target_hf, swap_haircut_bps=100)
        ctx = MorphoPlanContext(morpho=chain.book["morpho"]["morpho"], router=chain.book["uniswap"]["router"],
                                account=h.account, max_slippage_bps=100, fees_pips=FEES)
        return decision, list(build_steps(decision, snap, ctx))
