"""Every position acts in the next block: several positions on several signers (two signers hold an Aave
and a Morpho Blue position each) cross their trigger in one block; one tick decides and sends for all of
them with mining switched off (so nothing can wait for a receipt), each signer's transactions take
consecutive nonces, and one mined block includes them all."""

from __future__ import annotations

from collections import defaultdict

import pytest

from bench.fleet import TRIGGER_HF, fleet_environ, open_fleet, write_fleet_config
from manager.config import load_config
from manager.demo.scenario import move_eth
from manager.protocols.aave_v3.wiring import health_reader
from manager.runtime.lifecycle import build_manager, morpho_health_reader

pytestmark = [pytest.mark.chain, pytest.mark.slow]


def test_all_positions_act_in_one_tick_with_consecutive_nonces(net, tmp_path):
    specs = open_fleet(net, 3, multi=2)  # 5 positions on 3 signers
    path = tmp_path / "posman.toml"
    write_fleet_config(path, net, specs, db_url=f"sqlite:///{tmp_path / 'db.sqlite'}")
    cfg = load_config(path)
    readers = {}
    for spec in specs:
        pos = cfg.position(spec.name)
        proto = cfg.protocol(pos.protocol)
        readers[spec.name] = (morpho_health_reader(cfg.chains[proto.chain], proto, pos.account)
                              if proto.kind == "morpho_blue" else health_reader(net.book["aave"]["pool"], pos.account))
    manager = build_manager(cfg, environ=fleet_environ(net, specs),
                            executor_tweaks=lambda ex: setattr(ex.submitter, "max_wait_s", 5.0))
    try:
        first = manager.runtime.tick()
        assert all(o.action == "none" for o in first.positions.values()), first.positions
        move_eth(net, net.oracle_price("WETH") / 1e8 * 0.95)  # every position below its trigger at once
        assert all(read(net.w3) < TRIGGER_HF for read in readers.values())
        accounts = {cfg.position(s.name).account for s in specs}
        nonce0 = {a: net.w3.eth.get_transaction_count(a) for a in accounts}
        net.node.call("evm_setAutomine", [False])
        head = net.w3.eth.block_number
        report = manager.runtime.tick()
        # one tick: every position decided and sent; nothing could be mined, so nothing waited
        assert {n: o.status for n, o in report.positions.items()} == {s.name: "submitted" for s in specs}, \
            {n: (o.status, o.reason) for n, o in report.positions.items()}
        assert net.w3.eth.block_number == head
        by_sender: dict[str, list[int]] = defaultdict(list)
        for tx in manager.repo.pending_transactions():
            by_sender[tx.sender].append(tx.nonce)
        assert set(by_sender) == accounts
        for sender, nonces in by_sender.items():  # N, N+1, ... across the signer's plans, no gap
            assert sorted(nonces) == list(range(nonce0[sender], nonce0[sender] + len(nonces)))
        two = [s for s, n in by_sender.items() if len({t.plan_id for t in manager.repo.pending_transactions(sender=s)}) == 2]
        assert len(two) == 2  # the two signers with an Aave and a Morpho position sent both plans
        net.node.call("evm_mine")
        assert manager.runtime.track_pending() == len(specs)
        plans = [manager.repo.actions_for(s.name)[0] for s in specs]
        assert {p.status for p in plans} == {"confirmed"}
        blocks = {t.block_included for p in plans for t in manager.repo.transactions_for(p.plan_id)}
        assert blocks == {head + 1}  # every protective transaction in the next block
        assert all(read(net.w3) > TRIGGER_HF for read in readers.values())
        quiet = manager.runtime.tick()
        assert all(o.action == "none" for o in quiet.positions.values())
    finally:
        net.node.call("evm_setAutomine", [True])
        manager.close()
