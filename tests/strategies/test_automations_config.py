"""Price automations (issue 16) next to a strategy: params validated at file:line, fighting combinations refused."""

from __future__ import annotations

import textwrap

import pytest

from manager.config.loader import parse_config
from manager.errors import ConfigError
from manager.runtime.strategies import bind_strategies
from tests.strategies.test_strategies import HEAD, position

CDP = "trigger_health = 1.3\ntarget_health = 1.5\nupper_health = 1.9\n"


def automation(body: str) -> str:
    return "\n[[positions.automations]]\n" + textwrap.dedent(body)


def last_line(text: str, needle: str) -> int:
    return max(i for i, ln in enumerate(text.splitlines(), 1) if ln.strip().startswith(needle))


def bind(text: str):
    return bind_strategies(parse_config(text, source="conf.toml"))


def refused(text: str) -> str:
    with pytest.raises(ConfigError) as err:
        bind(text)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("conf.toml:")
    return msg


def test_automations_bind_next_to_cdp_health_in_order():
    text = HEAD + position("a", "cdp_health", CDP) + automation("""\
        kind = "close_on_price"
        id = "stop"
        asset = "WETH"
        below_usd = 1500
        out = "USDC"
        """) + automation("""\
        kind = "trailing_stop"
        asset = "WETH"
        trail_bps = 1000
        out = "USDC"
        """) + automation("""\
        kind = "price_trigger"
        asset = "WETH"
        below_usd = 1800
        action = "repay"
        target_health = 1.6
        min_sell_price_usd = 1700
        """)
    bound = bind(text)["a"]
    assert bound.name == "cdp_health"
    assert [a.key for a in bound.automations] == ["stop", "trailing_stop-1", "price_trigger-2"]
    assert bound.automations[0].config.below_usd == 1500


def test_unknown_kind_and_bad_params_name_their_line():
    text = HEAD + position("a", "cdp_health", CDP) + automation('kind = "stop_loss"\nasset = "WETH"\n')
    msg = refused(text)
    assert msg.startswith(f"conf.toml:{last_line(text, 'kind =')}:") and "kind must be one of close_on_price" in msg
    text = HEAD + position("a", "cdp_health", CDP) + automation(
        'kind = "close_on_price"\nasset = "WETH"\nbelow_usd = -3\nout = "USDC"\n')
    msg = refused(text)
    assert msg.startswith(f"conf.toml:{last_line(text, 'below_usd')}:") and "automations[0].below_usd" in msg


@pytest.mark.parametrize(("autos", "needle", "fragment"), [
    # a stop-loss at/above the repay trigger: the repay never runs
    (['kind = "close_on_price"\nasset = "WETH"\nbelow_usd = 1900\nout = "USDC"\n',
      'kind = "price_trigger"\nasset = "WETH"\nbelow_usd = 1800\naction = "repay"\ntarget_health = 1.6\n'],
     "below_usd = 1900", "at or above the repay trigger"),
    # a boost that would re-cross a stop
    (['kind = "close_on_price"\nasset = "WETH"\nbelow_usd = 1500\nout = "USDC"\n',
      'kind = "price_trigger"\nasset = "WETH"\nabove_usd = 1400\naction = "boost"\ntarget_health = 1.6\n'],
     "above_usd = 1400", "re-cross the stop"),
    # a boost whose liquidation price (2000 / 1.5 ~ 1333) re-crosses the stop at 1300
    (['kind = "close_on_price"\nasset = "WETH"\nbelow_usd = 1300\nout = "USDC"\n',
      'kind = "price_trigger"\nasset = "WETH"\nabove_usd = 2000\naction = "boost"\ntarget_health = 1.5\n'],
     "above_usd = 2000", "liquidated before the stop fires"),
    # bands that overlap: repay below 2100 and boost above 2000
    (['kind = "price_trigger"\nasset = "WETH"\nbelow_usd = 2100\naction = "repay"\ntarget_health = 1.6\n',
      'kind = "price_trigger"\nasset = "WETH"\nabove_usd = 2000\naction = "boost"\ntarget_health = 1.6\n'],
     "below_usd = 2100", "overlaps the boost band"),
    # a boost at/above the take-profit
    (['kind = "close_on_price"\nasset = "WETH"\nabove_usd = 3000\nout = "USDC"\n',
      'kind = "price_trigger"\nasset = "WETH"\nabove_usd = 3000\naction = "boost"\ntarget_health = 1.6\n'],
     "above_usd = 3000\naction", "take-profit"),
    # a boost to a health cdp_health repays at once
    (['kind = "price_trigger"\nasset = "WETH"\nabove_usd = 3000\naction = "boost"\ntarget_health = 1.25\n'],
     "target_health = 1.25", "repay trigger_health 1.3"),
])
def test_fighting_automations_are_refused_at_start_with_one_line(autos, needle, fragment):
    text = HEAD + position("a", "cdp_health", CDP) + "".join(automation(a) for a in autos)
    msg = refused(text)
    first = needle.split("\n")[0]
    lines = [i for i, ln in enumerate(text.splitlines(), 1) if ln.strip() == first]
    assert any(msg.startswith(f"conf.toml:{ln}:") for ln in lines), msg
    assert fragment in msg and "fights" in msg


def test_a_bracket_stop_below_take_profit_and_a_boost_between_are_accepted():
    text = HEAD + position("a", "cdp_health", CDP) + automation(
        'kind = "close_on_price"\nasset = "WETH"\nbelow_usd = 1500\nabove_usd = 4000\nout = "USDC"\n') + automation(
        'kind = "price_trigger"\nasset = "WETH"\nabove_usd = 2600\naction = "boost"\ntarget_health = 1.9\n'
        'max_buy_price_usd = 2800\n')
    assert len(bind(text)["a"].automations) == 2


def test_collateral_switch_params():
    text = HEAD + position("a", "cdp_health", CDP) + automation(
        'kind = "collateral_switch"\nfrom = "WETH"\nto = "WETH"\nmin_health = 1.3\n')
    assert "from and to are both WETH" in refused(text)
    text = HEAD + position("a", "cdp_health", CDP) + automation(
        'kind = "collateral_switch"\nfrom = "WETH"\nto = "wstETH"\nmin_health = 1.3\n')
    assert bind(text)["a"].automations[0].config.to_asset == "wstETH"
