"""Regressions of issue 15's CLI findings (in-process, no chain needed)."""

from __future__ import annotations

from tests.hardening.support import BASE_CONFIG, cli, one_line, write


def test_status_refuses_an_unknown_strategy(tmp_path):
    cfg = write(tmp_path, BASE_CONFIG.replace('strategy = "cdp_health"', 'strategy = "cdp_helth"'))
    line = one_line(*cli("status", "--config", str(cfg))[::2])
    assert f"{cfg}:" in line and "unknown strategy 'cdp_helth'" in line and "cdp_health" in line


def test_status_refuses_params_the_strategy_refuses(tmp_path):
    text = BASE_CONFIG + '[positions.params]\ntrigger_health = "1.3"\ntarget_health = 1.5\n'
    cfg = write(tmp_path, text)
    line = one_line(*cli("status", "--config", str(cfg))[::2])
    n = text.splitlines().index('trigger_health = "1.3"') + 1
    assert f"{cfg}:{n}: positions[0].params.trigger_health:" in line and "'1.3'" in line, line


def test_log_level_after_the_sub_command(tmp_path):
    cfg = write(tmp_path, BASE_CONFIG.replace('strategy = "cdp_health"', 'strategy = "nope"'))
    for argv in (("status", "--log-level", "debug", "--config", str(cfg)),
                 ("--log-level", "debug", "status", "--config", str(cfg)),
                 ("status", "--config", str(cfg), "--log-level", "warning")):
        rc, _out, err = cli(*argv)
        assert rc != 0 and "unknown strategy" in err and "unrecognized arguments" not in err, err
    rc, _out, err = cli("status", "--config", str(cfg), "--log-level", "loud")
    assert rc == 2 and "invalid choice: 'loud'" in err
