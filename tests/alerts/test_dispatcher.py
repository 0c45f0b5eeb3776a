"""Engine + dispatcher + database + real loopback channels: exactly-once per episode, no start-up storm,
failure isolation, retries, one-shot de-duplication across restarts."""

from __future__ import annotations

import logging

from manager.alerts import (
    AlertDispatcher,
    AlertEngine,
    AlertRules,
    HealthAlertRules,
    LogChannel,
    WebhookChannel,
    engine_from_repository,
)
from manager.persistence import Database, Repository

T0 = 1_700_000_000.0
RULES = AlertRules(
    health=HealthAlertRules(
        warning_below_hf=1.3, critical_below_hf=1.15, hysteresis_hf=0.05, min_persistence_ticks=2
    ),
    heartbeat_timeout_s=60,
)


def hook(server, name="hook", path="/", **kwargs) -> WebhookChannel:
    kwargs.setdefault("retries", 0)
    return WebhookChannel(name, url=f"{server.url}{path}", sleep=lambda s: None, **kwargs)


def run_ticks(engine, dispatcher, hfs, *, start_block=100, start_s=T0):
    for i, hf in enumerate(hfs):
        now_s = start_s + 12 * i
        dispatcher.dispatch(engine.evaluate_health("main", hf, block_number=start_block + i, now_s=now_s))
        dispatcher.dispatch(engine.tick_succeeded(now_s))


def kinds(server):
    return [(r.json["kind"], r.json["transition"]) for r in server.requests]


def test_exactly_one_alert_per_episode_end_to_end(http_server, repo):
    engine = AlertEngine(RULES, started_at_s=T0)
    dispatcher = AlertDispatcher([hook(http_server)], repo=repo)
    run_ticks(engine, dispatcher, [1.5] * 3 + [1.25] * 10 + [1.32] * 5 + [1.4] * 5)
    assert kinds(http_server) == [("health_warning", "open"), ("health_normal", "resolve")]
    (episode,) = repo.alerts_for("main")
    assert episode.resolved_at_s is not None and episode.sent_count == 2
    assert episode.channels_delivered == ["hook"]
    assert repo.open_alerts() == []


def test_no_storm_at_start_up(http_server, db_url):
    first = Repository(Database(db_url))
    engine = AlertEngine(RULES, started_at_s=T0)
    run_ticks(engine, AlertDispatcher([hook(http_server)], repo=first), [1.2] * 4)
    AlertDispatcher([hook(http_server)], repo=first).dispatch(
        engine.evaluate_oracle("ETH", stale=True, block_number=104, now_s=T0 + 50)
    )
    assert len(http_server.requests) == 2  # warning + stale oracle

    # restart: a new process opens the same database
    repo = Repository(Database(db_url))
    restarted = engine_from_repository(repo, RULES, now_s=T0 + 3600)
    dispatcher = AlertDispatcher([hook(http_server)], repo=repo)
    assert dispatcher.recover() == []  # every open episode was delivered before the restart
    run_ticks(restarted, dispatcher, [1.2] * 5, start_block=400, start_s=T0 + 3600)
    dispatcher.dispatch(restarted.evaluate_oracle("ETH", stale=True, block_number=405, now_s=T0 + 3700))
    assert len(http_server.requests) == 2  # still-active conditions are not re-sent
    run_ticks(restarted, dispatcher, [1.5] * 2, start_block=410, start_s=T0 + 3800)
    assert kinds(http_server)[2:] == [("health_normal", "resolve")]  # but they still end exactly once


def test_restart_does_not_fire_an_overdue_renotify_at_once(http_server, db_url):
    rules = RULES.model_copy(update={"renotify_after_s": 600.0})
    repo = Repository(Database(db_url))
    run_ticks(AlertEngine(rules, started_at_s=T0), AlertDispatcher([hook(http_server)], repo=repo), [1.2] * 2)
    restarted = engine_from_repository(repo, rules, now_s=T0 + 86_400)  # down for a day
    dispatcher = AlertDispatcher([hook(http_server)], repo=repo)
    run_ticks(restarted, dispatcher, [1.2] * 3, start_s=T0 + 86_400)
    assert len(http_server.requests) == 1
    run_ticks(restarted, dispatcher, [1.2], start_s=T0 + 86_400 + 600)
    assert kinds(http_server)[1:] == [("health_warning", "renotify")]
    assert repo.get_open_alert("health:main").sent_count == 2


def test_a_failing_channel_does_not_stop_the_others(http_server, repo, caplog):
    caplog.set_level(logging.WARNING, logger="posman.alerts")
    http_server.statuses = [500]
    broken = hook(http_server, name="broken", path="/broken")
    working = hook(http_server, name="working", path="/working")
    dispatcher = AlertDispatcher([broken, working], repo=repo)
    engine = AlertEngine(RULES, started_at_s=T0)
    (delivery,) = dispatcher.dispatch(engine.check_heartbeat(T0 + 60))
    assert delivery.delivered == ("working",) and set(delivery.failed) == {"broken"}
    assert "event=alert_channel_failed channel=broken" in caplog.text
    assert repo.get_open_alert("heartbeat").channels_delivered == ["working"]
    assert dispatcher.pending_retries() == 1

    (retry,) = dispatcher.retry_undelivered()  # the broken endpoint answers 200 now
    assert retry.delivered == ("broken",)
    assert [r.path for r in http_server.requests] == ["/broken", "/working", "/broken"]
    stored = repo.get_open_alert("heartbeat")
    assert stored.channels_delivered == ["broken", "working"] and stored.sent_count == 2
    assert dispatcher.pending_retries() == 0 and dispatcher.retry_undelivered() == []


def test_retries_are_bounded(http_server):
    http_server.statuses = [500] * 10
    dispatcher = AlertDispatcher([hook(http_server)], max_retry_attempts=2)
    dispatcher.dispatch(AlertEngine(RULES, started_at_s=T0).check_heartbeat(T0 + 60))
    for _ in range(5):
        dispatcher.retry_undelivered()
    assert len(http_server.requests) == 3  # first try + 2 retries


def test_a_channel_that_raises_anything_is_isolated(http_server):
    class Buggy(LogChannel):
        def send(self, alert):
            raise KeyError("bug")

    dispatcher = AlertDispatcher([Buggy("buggy"), hook(http_server)])
    (delivery,) = dispatcher.dispatch(AlertEngine(RULES, started_at_s=T0).check_heartbeat(T0 + 60))
    assert delivery.delivered == ("hook",) and "buggy" in delivery.failed


def test_min_severity_routes_alerts(http_server):
    pager = hook(http_server, name="pager", path="/pager", min_severity="critical")
    everything = hook(http_server, name="all", path="/all")
    dispatcher = AlertDispatcher([pager, everything])
    engine = AlertEngine(RULES, started_at_s=T0)
    run_ticks(engine, dispatcher, [1.2] * 2 + [1.1] * 2)
    assert [(r.path, r.json["kind"]) for r in http_server.requests] == [
        ("/all", "health_warning"),
        ("/pager", "health_critical"),
        ("/all", "health_critical"),
    ]


def test_one_shot_events_are_not_resent_after_a_restart(http_server, db_url):
    repo = Repository(Database(db_url))
    AlertDispatcher([hook(http_server)], repo=repo).dispatch(
        AlertEngine(RULES, started_at_s=T0).action_executed(
            "plan-7", position="main", summary="repaid 500 USDC", block_number=10, now_s=T0
        )
    )
    restarted = engine_from_repository(Repository(Database(db_url)), RULES, now_s=T0 + 10)
    (delivery,) = AlertDispatcher([hook(http_server)], repo=repo).dispatch(
        restarted.action_executed(
            "plan-7", position="main", summary="repaid 500 USDC", block_number=10, now_s=T0
        )
    )
    assert delivery.duplicate and len(http_server.requests) == 1
    assert repo.open_alerts() == [] and repo.alert_seen("action_executed:plan-7")


def test_recover_sends_an_episode_no_channel_took_before_a_crash(http_server, db_url):
    http_server.statuses = [503]
    repo = Repository(Database(db_url))
    AlertDispatcher([hook(http_server)], repo=repo).dispatch(
        AlertEngine(RULES, started_at_s=T0).check_heartbeat(T0 + 60)
    )
    assert repo.get_open_alert("heartbeat").sent_count == 0  # ...and the process dies here

    dispatcher = AlertDispatcher([hook(http_server)], repo=Repository(Database(db_url)))
    (delivery,) = dispatcher.recover()
    assert delivery.delivered == ("hook",)
    assert [r.json["kind"] for r in http_server.requests] == ["heartbeat_missed", "heartbeat_missed"]
    assert repo.get_open_alert("heartbeat").sent_count == 1
    assert dispatcher.recover() == []


def test_alerts_still_go_out_when_the_database_fails(http_server, repo, caplog):
    caplog.set_level(logging.ERROR, logger="posman.alerts")
    repo.db.engine.dispose()

    class BrokenRepo:
        def __getattr__(self, name):
            def fail(*args, **kwargs):
                raise RuntimeError("database is locked")

            return fail

    dispatcher = AlertDispatcher([hook(http_server)], repo=BrokenRepo())  # type: ignore[arg-type]
    (delivery,) = dispatcher.dispatch(AlertEngine(RULES, started_at_s=T0).check_heartbeat(T0 + 60))
    assert delivery.delivered == ("hook",) and len(http_server.requests) == 1
    assert "event=alert_db_failed op=record_alert" in caplog.text
