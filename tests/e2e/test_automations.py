"""Price automations (issue 16) through the manager's real loop on the devnet (real Aave V3, Uniswap V3 and the
signer's PosmanExecutor): a stop-loss next to cdp_health closes a WETH/USDC position in one transaction in the
first block after the oracle crosses its level and the wallet ends in USDC within the slippage limit; a trailing
stop's peak comes from the oracle rounds between ticks and survives a restart of the manager; a collateral switch
WETH -> wstETH is one transaction with the health above its floor at every block."""

from __future__ import annotations

import json

import pytest

from manager.demo.scenario import DemoPosition
from tests.e2e import crash_harness as CH
from tests.e2e.crash_harness import Harness

pytestmark = pytest.mark.chain
WAD = 10**18


def with_automations(monkeypatch, automations: dict[str, list[dict]], replace: dict[str, str] | None = None) -> None:
    """Harness writes its config with ``write_config``: append ``[[positions.automations]]`` to named positions."""
    real = CH.write_config

    def write(path, *args, **kwargs):
        real(path, *args, **kwargs)
        text = path.read_text()
        for name, autos in automations.items():
            block = "".join("\n[[positions.automations]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in a.items())
                            for a in autos)
            head = f'[[positions]]\nname = "{name}"'
            start = text.index(head)
            nxt = text.find("[[positions]]", start + len(head))
            end = len(text) if nxt < 0 else nxt
            text = text[:end].rstrip("\n") + "\n" + block + "\n" + text[end:]
        for old, new in (replace or {}).items():
            text = text.replace(old, new)
        path.write_text(text)

    monkeypatch.setattr(CH, "write_config", write)


# alice (10 WETH / 12,000 USDC, HF ~2.07): cdp_health repays below HF 1.9, i.e. once WETH is ~8 % lower; a stop
# at -10 % is below that repay trigger (a stop above it would fight cdp_health and is refused at start)
ALICE_CDP = CH.cdp("alice-cdp", "alice", trigger_health=1.9, target_health=2.3)


def move_in_one_block(net, sym: str, usd: float) -> int:
    """The Chainlink feed of ``sym`` and every pool of it moved to ``usd`` in ONE block (mining off meanwhile), as a
    real market does (the pools, then the feed, within one block); returns that block."""
    from manager.devnet.deploy import sqrt_price_x96

    deployer = net.address("deployer")
    net.feed(sym).functions.updateAnswer(round(usd * 1e8)).transact({"from": deployer, "gas": 300_000})
    router = net.contract("uniswap_v3/SwapRouter", net.book["uniswap"]["router"])
    t, dec = net.book["tokens"], net.book["decimals"]
    for key, address in net.book["uniswap"]["pools"].items():
        a, b, fee = key.split("/")
        if sym not in (a, b):
            continue
        pool = net.contract("uniswap_v3/UniswapV3Pool", address)
        s0, s1 = (a, b) if pool.functions.token0().call() == t[a] else (b, a)
        p0, p1 = (usd if s == sym else net.oracle_price(s) / 1e8 for s in (s0, s1))
        target = sqrt_price_x96(p0, p1, dec[s0], dec[s1])
        current = pool.functions.slot0().call()[0]
        tin, tout = (s0, s1) if target < current else (s1, s0)
        router.functions.exactInputSingle((t[tin], t[tout], int(fee), deployer, 2**40, 10**40, 0, target)).transact(
            {"from": deployer, "gas": 3_000_000})
    net.mine()
    block = int(net.w3.eth.block_number)
    assert all(r["status"] == 1 for r in (net.w3.eth.get_transaction_receipt(tx)
                                          for tx in net.w3.eth.get_block(block)["transactions"]))
    assert net.oracle_price(sym) == round(usd * 1e8)
    return block


def price(net, sym: str) -> float:
    return net.oracle_price(sym) / 1e8


def wallet(net, account: str, sym: str) -> int:
    from tests.atomic import helpers as H

    return H.erc20(net, net.book["tokens"][sym]).functions.balanceOf(account).call()


def test_stop_loss_next_to_cdp_health_closes_in_one_transaction_in_the_next_block(net, tmp_path, monkeypatch):
    from tests.atomic import helpers as H

    p0 = price(net, "WETH")
    level = round(p0 * 0.9, 2)
    with_automations(monkeypatch, {"alice-cdp": [{"kind": "close_on_price", "id": "stop", "asset": "WETH",
                                                  "below_usd": level, "out": "USDC"}]})
    alice = net.address("alice")
    h = Harness(net, tmp_path, (ALICE_CDP,), open_positions=False)
    try:
        assert [a.key for a in h.manager.runtime.positions["alice-cdp"].strategy.automations] == ["stop"]
        from manager.web.state import WebState

        web = WebState(h.manager)
        web.attach()
        report = h.tick()  # above the level: armed, nothing sent (alice HF ~2.07 is inside cdp_health's band)
        assert report.positions["alice-cdp"].status == "none", report.positions["alice-cdp"].reason
        (shown,) = web.positions()[0]["automations"]  # the dashboard's card: the armed stop and its distance
        assert shown["key"] == "stop" and shown["level_usd"] == level
        assert shown["distance_pct"] == pytest.approx((p0 - level) / p0 * 100, rel=1e-6)
        from manager.web.metrics import PosmanCollector

        (dist,) = [m for m in PosmanCollector(web).collect() if m.name == "posman_automation_distance_pct"]
        assert [(x.labels["automation"], x.labels["asset"]) for x in dist.samples] == [("stop", "WETH")]
        assert dist.samples[0].value == pytest.approx(shown["distance_pct"])
        web.detach()
        coll, debt = H.a_balance(net, alice, "WETH"), H.debt_of(net, alice, "USDC")
        usdc0 = wallet(net, alice, "USDC")
        crossed = move_in_one_block(net, "WETH", p0 * 0.88)  # the feed crosses the level (and the pools follow)
        report = h.tick()
        out = report.positions["alice-cdp"]
        assert out.action == "close" and out.status in ("submitted", "confirmed"), (out.status, out.reason)
        assert out.decision.reason.startswith("[stop] stop-loss: WETH") and "path: atomic" in out.decision.reason
        sent = h.sent_txs(crossed)["alice-cdp"]
        assert [b for b, _tx in sent] == [crossed + 1]  # one transaction, in the first block after the crossing
        assert H.debt_of(net, alice, "USDC") == 0 and H.a_balance(net, alice, "WETH") == 0
        got = wallet(net, alice, "USDC") - usdc0
        oracle_value = coll * p0 * 0.88 / 1e18 * 1e6 - debt  # USDC units
        assert got >= out.decision.close_min_out_wei > 0
        assert got >= oracle_value * (1 - 100 / 10_000), (got, oracle_value)  # within max_slippage_bps = 100
        assert wallet(net, alice, "WETH") == pytest.approx(wallet(net, alice, "WETH"))
        H.assert_clean(net, net.book["executors"][alice])
        gas = int(net.w3.eth.get_transaction_receipt(sent[0][1])["gasUsed"])
        print(f"\nstop-loss close: 1 transaction, {gas} gas, wallet +{got / 1e6:,.2f} USDC (oracle value "
              f"{oracle_value / 1e6:,.2f}, {(1 - got / oracle_value) * 1e4:.1f} bps below)")
        report = h.tick()  # closed: nothing left to do
        assert report.positions["alice-cdp"].status in ("none", "error"), report.positions["alice-cdp"].reason
    finally:
        h.close()


def trailing(name: str) -> DemoPosition:
    return DemoPosition(name, "alice", "manage", "trailing_stop", {"asset": "WETH", "trail_bps": 500, "out": "USDC"},
                        (), (), "crash")


def test_trailing_stop_peak_from_oracle_rounds_survives_a_restart(net, tmp_path, capsys):
    from tests.atomic import helpers as H

    alice = net.address("alice")
    p0 = price(net, "WETH")
    h = Harness(net, tmp_path, (trailing("alice-trail"),), open_positions=False)
    try:
        h.tick()  # armed: peak = p0
        net.node.call("evm_setAutomine", [True])
        net.set_price("WETH", p0 * 1.10, arbitrage=False)  # a spike the manager never polls...
        net.set_price("WETH", p0 * 1.06)  # ...gone by the next tick (above the stop 1.045 p0)
        net.node.call("evm_setAutomine", [False])
        report = h.tick()
        assert report.positions["alice-trail"].status == "none"
        state = h.manager.runtime.repo.get_state("automation:alice-trail:trailing_stop")
        assert state["peak_usd"] == pytest.approx(p0 * 1.10, rel=1e-8), state  # from getRoundData, between ticks
    finally:
        h.close()
    # posman status shows the armed stop, its stored peak (from the database) and the distance to firing
    from tests.cli_helpers import posman_here

    proc = posman_here(capsys, "status", "--config", str(tmp_path / "posman.toml"), "--json")
    assert proc.returncode == 0, proc.stderr
    (auto,) = json.loads(proc.stdout)[0]["automations"]
    assert auto["key"] == "trailing_stop" and auto["peak_usd"] == pytest.approx(p0 * 1.10, rel=1e-8)
    assert auto["level_usd"] == pytest.approx(p0 * 1.10 * 0.95, rel=1e-8)
    assert auto["distance_pct"] == pytest.approx((p0 * 1.06 - p0 * 1.045) / (p0 * 1.06) * 100, rel=1e-4)
    # restart: a new manager process on the same database
    net.node.call("evm_setAutomine", [True])
    net.set_price("WETH", p0 * 1.10 * 0.94)  # 6 % below the spike's peak; above a stop from polled prices only
    h2 = Harness(net, tmp_path, (trailing("alice-trail"),), open_positions=False)
    try:
        assert p0 * 1.10 * 0.94 > p0 * 1.06 * 0.95
        report = h2.tick()
        out = report.positions["alice-trail"]
        assert out.action == "close" and out.status in ("submitted", "confirmed"), (out.status, out.reason)
        assert "trailing stop" in out.decision.reason and f"{p0 * 1.10:,.2f}" in out.decision.reason
        assert H.debt_of(net, alice, "USDC") == 0
    finally:
        h2.close()


def test_collateral_switch_weth_to_wsteth_one_transaction_health_above_floor_every_block(net, tmp_path):
    from tests.atomic import helpers as H

    alice = net.address("alice")
    spec = DemoPosition("alice-switch", "alice", "manage", "collateral_switch",
                        {"from": "WETH", "to": "wstETH", "min_health": 1.9}, (), (), "crash")
    h = Harness(net, tmp_path, (spec,), open_positions=False)
    try:
        start = int(net.w3.eth.block_number)
        report = h.tick()
        out = report.positions["alice-switch"]
        assert out.action == "collateral_switch" and out.status in ("submitted", "confirmed"), (out.status, out.reason)
        sent = h.sent_txs(start)["alice-switch"]
        assert len(sent) == 1
        gas = int(net.w3.eth.get_transaction_receipt(sent[0][1])["gasUsed"])
        series = h.health_series("alice-switch", start)
        print(f"\ncollateral switch: 1 transaction, {gas} gas, HF {series[0][1]:.4f} -> {series[-1][1]:.4f}, "
              f"lowest {min(hf for _b, hf in series):.4f} over {len(series)} blocks")
        assert min(hf for _b, hf in series) >= 1.9, series
        assert H.a_balance(net, alice, "WETH") < 10**12 and H.a_balance(net, alice, "wstETH") > 8 * 10**18
        report = h.tick()  # done: no WETH left
        assert report.positions["alice-switch"].status == "none", report.positions["alice-switch"].reason
        assert "done" in report.positions["alice-switch"].reason
    finally:
        h.close()


def test_plan_shows_each_automation_now_and_at_its_trigger_price(net, tmp_path, monkeypatch, capsys):
    from tests.cli_helpers import posman_here

    p0 = price(net, "WETH")
    level = round(p0 * 0.9, 2)
    with_automations(monkeypatch, {"alice-cdp": [{"kind": "close_on_price", "id": "stop", "asset": "WETH",
                                                  "below_usd": level, "out": "USDC"}]})
    h = Harness(net, tmp_path, (ALICE_CDP,), open_positions=False)
    h.close()  # only its config is used
    proc = posman_here(capsys, "plan", "--config", str(tmp_path / "posman.toml"), "--json")
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)
    assert row["action"] == "none"  # now: inside cdp_health's band, the stop armed
    (auto,) = row["automations"]
    assert auto["key"] == "stop" and auto["level_usd"] == level
    assert auto["distance_pct"] == pytest.approx((p0 - level) / p0 * 100, rel=1e-6)
    trig = auto["at_trigger"]
    assert trig["action"] == "close" and trig["price_usd"] == level and int(trig["close_min_out_wei"]) > 0
    proc = posman_here(capsys, "plan", "--config", str(tmp_path / "posman.toml"))
    assert f"fires below {level:,.2f}" in proc.stdout and f"at WETH {level:,.2f}: close" in proc.stdout


def test_stop_loss_closes_a_morpho_blue_position_in_one_transaction(net, tmp_path):
    from tests.atomic import helpers as H

    p0 = price(net, "WETH")
    m4 = net.address("manager4")
    spec = DemoPosition("m4-stop", "manager4", "manage", "close_on_price",
                        {"asset": "WETH", "below_usd": round(p0 * 0.9, 2), "out": "USDC"}, (), (), "crash",
                        protocol="morpho-WETH-USDC")
    h = Harness(net, tmp_path, (spec,), open_positions=False)
    try:
        key = "WETH/USDC"
        _supply, shares0, coll0 = H.morpho_position(net, m4, key)
        assert shares0 > 0 and coll0 > 0
        assert h.tick().positions["m4-stop"].status == "none"
        usdc0 = wallet(net, m4, "USDC")
        debt0 = H.morpho_borrowed(net, m4, key)
        crossed = move_in_one_block(net, "WETH", p0 * 0.88)
        out = h.tick().positions["m4-stop"]
        assert out.action == "close" and out.status in ("submitted", "confirmed"), (out.status, out.reason)
        assert [b for b, _tx in h.sent_txs(crossed)["m4-stop"]] == [crossed + 1]
        _supply, shares1, coll1 = H.morpho_position(net, m4, key)
        assert shares1 == 0 and coll1 == 0  # repaid by shares, exactly; all collateral withdrawn and sold
        got = wallet(net, m4, "USDC") - usdc0
        value = coll0 * p0 * 0.88 / 1e18 * 1e6 - debt0
        assert got >= out.decision.close_min_out_wei > 0 and got >= value * 0.99, (got, value)
        H.assert_clean(net, net.book["executors"][m4])
    finally:
        h.close()


def test_a_stop_above_cdp_health_repay_trigger_is_refused_at_start(net, tmp_path, monkeypatch, capsys):
    """posman run reads the position once before its first tick: a stop at -10 % while cdp_health repays only
    at HF 1.3 (~ -37 %) would always close first; a stop below the liquidation price could never protect."""
    from manager.demo.scenario import environ_for
    from tests.cli_helpers import posman_here

    p0 = price(net, "WETH")
    spec = CH.cdp("alice-cdp", "alice")  # trigger 1.3
    for env_key, env_value in environ_for(net, (spec,)).items():
        monkeypatch.setenv(env_key, env_value)
    for level, fragment in ((round(p0 * 0.9, 2), "fights the strategy"), (round(p0 * 0.3, 2), "liquidation price")):
        with_automations(monkeypatch, {"alice-cdp": [{"kind": "close_on_price", "id": "stop", "asset": "WETH",
                                                      "below_usd": level, "out": "USDC"}]})
        h = Harness(net, tmp_path, (spec,), open_positions=False)
        h.close()
        path = tmp_path / "posman.toml"
        proc = posman_here(capsys, "run", "--config", str(path))
        err = proc.stderr.strip()
        line = next(i for i, ln in enumerate(path.read_text().splitlines(), 1) if ln.startswith("below_usd"))
        assert proc.returncode != 0 and "\n" not in err, err
        assert err.startswith(f"error: {path}:{line}: positions[0].automations[0].below_usd: automation 'stop'"), err
        assert fragment in err, err
        print("\n" + err)
        monkeypatch.undo()
        for env_key, env_value in environ_for(net, (spec,)).items():
            monkeypatch.setenv(env_key, env_value)


@pytest.mark.parametrize(("account", "params", "move", "target"), [
    # auto-sell: carol (HF ~1.19) repays to 1.5 once WETH is 2 % lower, never selling below 50 % of the price
    ("carol", {"below_usd": 0.99, "action": "repay", "target_health": 1.5, "min_sell_price_usd": 0.5}, 0.98, 1.5),
    # auto-buy: alice (HF ~2.07) boosts to 1.8 once WETH is 6 % higher, never buying above +20 %
    ("alice", {"above_usd": 1.05, "action": "boost", "target_health": 1.8, "max_buy_price_usd": 1.2}, 1.06, 1.8),
])
def test_price_trigger_repays_or_boosts_to_target_in_one_transaction(net, tmp_path, account, params, move, target):
    p0 = price(net, "WETH")
    scaled = {k: (round(v * p0, 2) if k.endswith("_usd") else v) for k, v in params.items()}
    spec = DemoPosition(f"{account}-pt", account, "manage", "price_trigger", {"asset": "WETH", **scaled}, (), (),
                        "crash")
    h = Harness(net, tmp_path, (spec,), open_positions=False)
    try:
        assert h.tick().positions[spec.name].status == "none"
        net.node.call("evm_setAutomine", [True])
        net.set_price("WETH", p0 * move)
        net.node.call("evm_setAutomine", [False])
        crossed = int(net.w3.eth.block_number)
        out = h.tick().positions[spec.name]
        assert out.action == params["action"].replace("repay", "deleverage") and out.status in (
            "submitted", "confirmed"), (out.status, out.reason)
        assert len(h.sent_txs(crossed)[spec.name]) == 1 and "price trigger: WETH" in out.decision.reason
        assert h.health_at(spec.name) == pytest.approx(target, rel=0.01)
        again = h.tick().positions[spec.name]  # at the target: it does not fire again
        assert again.status == "none", (again.action, again.reason, h.health_at(spec.name))
    finally:
        h.close()


def test_a_partial_stop_fires_once_per_crossing(net, tmp_path, monkeypatch):
    from tests.atomic import helpers as H

    # NOTE: the oracle moves back above the level without arbitraging the pools (the devnet's arbitrage of a pool
    # another sale just moved can revert): a deviation limit wide enough to trust the oracle meanwhile
    with_automations(monkeypatch, {}, replace={"max_deviation_bps = 300": "max_deviation_bps = 2000"})
    p0 = price(net, "WETH")
    alice = net.address("alice")
    spec = DemoPosition("alice-half", "alice", "manage", "close_on_price",
                        {"asset": "WETH", "below_usd": round(p0 * 0.9, 2), "fraction": 0.5, "out": "USDC"}, (), (),
                        "crash")
    h = Harness(net, tmp_path, (spec,), open_positions=False)

    def move(usd: float, arbitrage: bool = True) -> None:
        net.node.call("evm_setAutomine", [True])
        net.set_price("WETH", usd, arbitrage=arbitrage)
        net.node.call("evm_setAutomine", [False])

    try:
        debt0 = H.debt_of(net, alice, "USDC")
        move(p0 * 0.88)
        out = h.tick().positions["alice-half"]
        assert out.action == "deleverage" and out.status in ("submitted", "confirmed"), (out.status, out.reason)
        # at least half repaid: the sale's surplus over the flash loan repays a little more (the executor's rule)
        half = H.debt_of(net, alice, "USDC")
        assert debt0 / 2 * 0.995 <= half <= debt0 / 2
        out = h.tick().positions["alice-half"]  # still below the level: fired already, no second half
        assert out.status == "none" and "already fired" in out.reason, out.reason
        move(p0 * 0.95, arbitrage=False)  # the oracle back above: re-armed (the pools stay at -12 %)
        assert h.tick().positions["alice-half"].status == "none"
        move(p0 * 0.88, arbitrage=False)  # crossed again: half of what is left
        out = h.tick().positions["alice-half"]
        assert out.action == "deleverage" and out.status in ("submitted", "confirmed"), (out.status, out.reason)
        assert half / 2 * 0.995 <= H.debt_of(net, alice, "USDC") <= half / 2 * 1.0001
    finally:
        h.close()
