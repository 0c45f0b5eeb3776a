"""The alert engine alone (pure): bands, hysteresis, persistence, episodes, heartbeat, events."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from manager.alerts import AlertEngine, AlertInputError, AlertRules, HealthAlertRules, PendingTx

T0 = 1_700_000_000.0


def engine(persistence: int = 1, hysteresis: float = 0.05, **rules) -> AlertEngine:
    health = HealthAlertRules(
        warning_below_hf=1.3,
        critical_below_hf=1.15,
        hysteresis_hf=hysteresis,
        min_persistence_ticks=persistence,
    )
    return AlertEngine(AlertRules(health=health, **rules), started_at_s=T0)


def feed(eng: AlertEngine, hfs, position: str = "main", start_block: int = 100):
    """Evaluate a sequence of health factors one block apart; returns (tick index, alert) pairs."""
    out = []
    for i, hf in enumerate(hfs):
        for alert in eng.evaluate_health(position, hf, block_number=start_block + i, now_s=T0 + 12 * i):
            out.append((i, alert))
    return out


def test_hysteresis_keeps_the_band_until_threshold_plus_margin():
    alerts = feed(engine(), [1.5, 1.29, 1.32, 1.29, 1.34, 1.35, 1.40])
    assert [(i, a.kind, a.transition) for i, a in alerts] == [
        (1, "health_warning", "open"),
        (5, "health_normal", "resolve"),  # 1.35 = 1.30 + 0.05; 1.32 and 1.34 stay in the band
    ]
    assert alerts[0][1].severity == "warning" and alerts[1][1].severity == "info"
    assert alerts[0][1].fields["health_factor"] == 1.29 and alerts[0][1].block_number == 101


def test_minimum_persistence_needs_consecutive_ticks():
    alerts = feed(engine(persistence=3), [1.29, 1.29, 1.31, 1.29, 1.29, 1.29, 1.29])
    assert [(i, a.transition) for i, a in alerts] == [(5, "open")]


def test_flapping_around_the_threshold_sends_nothing():
    flapping = [1.29, 1.31] * 20
    assert feed(engine(persistence=2), flapping) == []
    # without persistence it opens once and hysteresis keeps it open: still exactly one alert
    assert [a.transition for _, a in feed(engine(persistence=1), flapping)] == ["open"]


def test_escalation_and_liquidatable_is_immediate():
    alerts = feed(engine(persistence=3), [1.2] * 3 + [1.1] * 3 + [0.99] + [1.5] * 3)
    assert [(i, a.kind, a.transition) for i, a in alerts] == [
        (2, "health_warning", "open"),
        (5, "health_critical", "escalate"),
        (6, "liquidatable", "escalate"),  # first tick below 1.0, persistence notwithstanding
        (9, "health_normal", "resolve"),
    ]
    assert {a.episode_key for _, a in alerts} == {"health:main"}


def test_deescalation_lands_in_the_band_the_health_factor_is_in():
    alerts = feed(engine(persistence=2), [1.1, 1.1, 1.22, 1.22, 1.22])
    assert [(i, a.kind, a.transition) for i, a in alerts] == [
        (1, "health_critical", "open"),
        (3, "health_warning", "deescalate"),
    ]


def test_no_debt_infinite_health_is_normal_and_nan_is_refused():
    assert feed(engine(), [math.inf, math.inf]) == []
    with pytest.raises(AlertInputError, match="health_factor=nan for position 'main'"):
        engine().evaluate_health("main", math.nan, block_number=1, now_s=T0)


def test_positions_are_independent_and_overrides_apply():
    rules = AlertRules(
        health_overrides={"tight": HealthAlertRules(warning_below_hf=1.6, critical_below_hf=1.4)}
    )
    eng = AlertEngine(rules, started_at_s=T0)
    assert eng.evaluate_health("main", 1.5, block_number=1, now_s=T0) == []
    assert [
        a.kind for a in eng.evaluate_health("tight", 1.5, block_number=1, now_s=T0)
    ] == []  # persistence 2
    assert [a.kind for a in eng.evaluate_health("tight", 1.5, block_number=2, now_s=T0)] == ["health_warning"]


def test_renotify_only_after_the_interval():
    eng = engine(renotify_after_s=600)
    sent = []
    for t in (0, 300, 599, 600, 900, 1199, 1200):
        sent += [(t, a.transition) for a in eng.evaluate_health("main", 1.2, block_number=t, now_s=T0 + t)]
    assert sent == [(0, "open"), (600, "renotify"), (1200, "renotify")]


def test_heartbeat_dead_man_switch():
    eng = engine(heartbeat_timeout_s=300)
    assert eng.check_heartbeat(T0 + 299) == []
    (missed,) = eng.check_heartbeat(T0 + 300)
    assert (missed.kind, missed.severity, missed.transition) == ("heartbeat_missed", "critical", "open")
    assert eng.check_heartbeat(T0 + 400) == []
    (recovered,) = eng.tick_succeeded(T0 + 450)
    assert (recovered.transition, recovered.severity) == ("resolve", "info")
    assert eng.tick_succeeded(T0 + 460) == []
    assert eng.check_heartbeat(T0 + 700) == []  # counted from the last success
    assert len(eng.check_heartbeat(T0 + 760)) == 1


def test_stale_oracle_episode_with_persistence():
    eng = engine(oracle_min_persistence_ticks=2)
    seq = [True, True, True, False, True, False, False]
    out = []
    for i, stale in enumerate(seq):
        out += [
            (i, a.kind, a.transition)
            for a in eng.evaluate_oracle("ETH", stale=stale, block_number=i, now_s=T0 + i)
        ]
    assert out == [(1, "stale_oracle", "open"), (6, "stale_oracle", "resolve")]


def test_oracle_deviation_is_its_own_episode():
    eng = engine()
    (alert,) = eng.evaluate_oracle(
        "ETH", stale=False, deviating=True, deviation_bps=250, block_number=1, now_s=T0
    )
    assert (alert.kind, alert.episode_key, alert.fields["deviation_bps"]) == (
        "oracle_deviation",
        "oracle_deviation:ETH",
        250,
    )
    assert "250 bps" in alert.title


def test_tx_not_included_after_n_blocks_then_resolved_once():
    eng = engine(tx_not_included_after_blocks=10)
    tx = PendingTx(tx_hash="0x" + "ab" * 32, plan_id="plan-1", sent_block=100, position="main", nonce=7)
    out = []
    for block in (105, 109, 110, 111, 130):
        out += [
            (block, a.transition)
            for a in eng.evaluate_pending_txs([tx], block_number=block, now_s=T0 + block)
        ]
    out += [(131, a.transition) for a in eng.evaluate_pending_txs([], block_number=131, now_s=T0 + 131)]
    out += [(132, a.transition) for a in eng.evaluate_pending_txs([], block_number=132, now_s=T0 + 132)]
    assert out == [(110, "open"), (131, "resolve")]


def test_action_events_are_sent_once_per_plan():
    eng = engine()
    first = eng.action_executed(
        "plan-1", position="main", summary="repaid 1,000 USDC", block_number=5, now_s=T0
    )
    again = eng.action_executed(
        "plan-1", position="main", summary="repaid 1,000 USDC", block_number=6, now_s=T0
    )
    refused = eng.action_refused("plan-1", position="main", reason="daily cap", block_number=6, now_s=T0)
    assert [a.transition for a in first] == ["event"] and again == []
    assert refused[0].kind == "action_refused" and refused[0].episode_key.startswith("action_refused:main:")
    assert "daily cap" in refused[0].message


def test_a_refusal_repeated_every_block_is_one_episode_ended_by_one_recovered_alert():
    eng = engine()
    out = []
    for block in range(10, 20):  # the same kind of refusal with different numbers, every block
        out += eng.action_refused(f"plan-{block}", position="main",
                                  reason=f"policy: per-tx cap ${1000 + block:,} > $1,000 at 0x{block:040x}",
                                  block_number=block, now_s=T0 + block)
    out += eng.action_refused("plan-x", position="other", reason="policy: per-tx cap $5 > $1", block_number=20,
                              now_s=T0 + 20)
    assert [(a.position, a.transition) for a in out] == [("main", "open"), ("other", "open")]
    assert out[0].fields["reason_class"] == "policy: per-tx cap $# > $# at #"
    failed = eng.action_failed("plan-21", position="main", error="step 2 (swap) reverted", block_number=21,
                               now_s=T0 + 21)
    assert [a.transition for a in failed] == ["open"]  # another reason class: its own episode
    landed = eng.action_executed("plan-22", position="main", summary="deleverage", block_number=22, now_s=T0 + 22)
    assert [(a.kind, a.transition) for a in landed] == [
        ("action_executed", "event"), ("action_refused", "resolve"), ("action_failed", "resolve")]
    assert all("recovered" in a.title for a in landed[1:])
    assert eng.action_refused("plan-23", position="main", reason="policy: per-tx cap $9 > $1", block_number=23,
                              now_s=T0 + 23)[0].transition == "open"  # a new episode after recovery
    back = eng.action_recovered(position="other", reason="no action needed", block_number=24, now_s=T0 + 24)
    assert [(a.position, a.transition) for a in back] == [("other", "resolve")]
    assert eng.action_recovered(position="other", reason="no action needed", block_number=25, now_s=T0 + 25) == []


@settings(max_examples=200, deadline=None)
@given(
    hfs=st.lists(st.floats(min_value=0.9, max_value=1.6), min_size=1, max_size=60),
    persistence=st.integers(min_value=1, max_value=4),
    hysteresis=st.floats(min_value=0.0, max_value=0.1),
)
def test_every_alert_is_a_band_change_and_episodes_alternate(hfs, persistence, hysteresis):
    alerts = [a for _, a in feed(engine(persistence=persistence, hysteresis=hysteresis), hfs)]
    open_episode = False
    previous_kind = "health_normal"
    for alert in alerts:
        assert alert.kind != previous_kind  # never the same band twice in a row: no duplicates
        if alert.transition == "open":
            assert not open_episode
            open_episode = True
        elif alert.transition == "resolve":
            assert open_episode
            open_episode = False
        else:
            assert open_episode and alert.transition in ("escalate", "deescalate")
        previous_kind = alert.kind
    if any(hf < 1.0 for hf in hfs):  # liquidatable is never delayed by persistence
        assert any(a.kind == "liquidatable" for a in alerts)


def test_perp_positions_use_the_perp_bands():
    from manager.alerts.config import AlertRules
    from manager.alerts.engine import AlertEngine

    rules = AlertRules.model_validate({"health": {"min_persistence_ticks": 1},
                                       "perp_health": {"warning_below_hf": 2.0, "critical_below_hf": 1.5,
                                                       "min_persistence_ticks": 1}})
    engine = AlertEngine(rules, started_at_s=0.0)
    # 1.8 is healthy for a loan (warning < 1.3) but in the warning band for a perp (warning < 2.0)
    assert engine.evaluate_health("loan", 1.8, block_number=1, now_s=0.0) == []
    (alert,) = engine.evaluate_health("perp", 1.8, block_number=1, now_s=0.0, perp=True)
    assert alert.kind == "health_warning" and alert.position == "perp"
