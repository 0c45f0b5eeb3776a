"""Strategies: loading by name (did you mean), params validated with file:line errors, pure decisions."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap

import pytest

from manager.config.loader import parse_config
from manager.domain import SizingDecision
from manager.errors import ConfigError
from manager.protocols.aave_v3.math import health_factor
from manager.runtime.strategies import bind_strategies
from manager.sizing.caps import SizingLimits
from strategies import cdp_health, vault_leverage
from strategies.api import (
    INTERFACE_VERSION,
    LoadedStrategy,
    PeerView,
    StrategyContext,
    StrategyError,
    available_strategies,
    call_decide,
)
from tests.sizing.builders import a1, cpmm_curve, reserve, snapshot

HEAD = textwrap.dedent("""\
    [chains.devnet]
    chain_id = 31337
    rpc_urls = ["http://127.0.0.1:8545"]

    [[protocols]]
    name = "aave"
    kind = "aave_v3"
    chain = "devnet"
    pool_addresses_provider = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
    """)


def position(name: str, strategy: str, params: str, account: str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8") -> str:
    return textwrap.dedent(f"""
        [[positions]]
        name = "{name}"
        protocol = "aave"
        account = "{account}"
        strategy = "{strategy}"

        [positions.params]
        """) + textwrap.dedent(params)


def cfg_of(*positions: str):
    return parse_config(HEAD + "".join(positions), source="conf.toml")


def line_of(text: str, needle: str) -> int:
    return next(i for i, ln in enumerate(text.splitlines(), 1) if ln.strip().startswith(needle))


def test_the_three_strategies_are_available_with_the_current_interface():
    assert {"alert_only", "cdp_health", "vault_leverage"} <= set(available_strategies())
    assert "api" not in available_strategies()
    assert cdp_health.INTERFACE_VERSION == vault_leverage.INTERFACE_VERSION == INTERFACE_VERSION


def test_unknown_strategy_is_refused_with_did_you_mean_and_its_line():
    text = HEAD + position("a", "cdp_helth", "target_health = 1.5\n")
    with pytest.raises(ConfigError) as err:
        bind_strategies(parse_config(text, source="conf.toml"))
    msg = str(err.value)
    assert msg.startswith(f"conf.toml:{line_of(text, 'strategy =')}: positions[0].strategy: unknown strategy 'cdp_helth'")
    assert "did you mean 'cdp_health'?" in msg and "\n" not in msg


def test_crossing_bands_are_refused_at_the_params_line():
    text = HEAD + position("a", "cdp_health", "trigger_health = 1.6\ntarget_health = 1.5\nupper_health = 2.0\n")
    with pytest.raises(ConfigError) as err:
        bind_strategies(parse_config(text, source="conf.toml"))
    msg = str(err.value)
    assert msg.startswith(f"conf.toml:{line_of(text, 'target_health')}: positions[0].params.target_health: ")
    assert "must be above trigger_health 1.6" in msg and "bands must not cross" in msg


@pytest.mark.parametrize(("params", "key", "fragment"), [
    ("trigger_health = 1.3\ntarget_health = 1.5\nupper_health = 1.52\n", "upper_health", "by at least 0.05"),
    ("trigger_health = 1.3\ntarget_health = 1.5\nemergency_health = 1.4\n", "emergency_health",
     "must not be above trigger_health"),
    ("target_health = 1.5\n", None, "set trigger_health, risk_trigger, or both"),
    ("trigger_health = 1.3\ntarget_health = 1.5\nboost_borrow = \"USDC\"\n", None, "boosting is off"),
    ("trigger_health = 1.3\ntarget_health = 1.5\ntriger = 2\n", "triger", "unknown key"),
])
def test_conflicting_settings_are_refused_with_one_line(params, key, fragment):
    text = HEAD + position("a", "cdp_health", params)
    with pytest.raises(ConfigError) as err:
        bind_strategies(parse_config(text, source="conf.toml"))
    msg = str(err.value)
    assert fragment in msg and "\n" not in msg and msg.startswith("conf.toml:")
    if key:
        assert f"positions[0].params.{key}" in msg


def test_vault_weights_must_sum_to_one():
    text = HEAD + position("v1", "vault_leverage", 'vault = "core"\nweight = 0.5\ntarget_leverage = 2.0\n') + \
        position("v2", "vault_leverage", 'vault = "core"\nweight = 0.4\ntarget_leverage = 2.0\n')
    with pytest.raises(ConfigError, match=r"weights of vault 'core' sum to 0\.9, not 1"):
        bind_strategies(parse_config(text, source="conf.toml"))


def test_valid_config_binds_every_position():
    cfg = cfg_of(position("a", "cdp_health", "trigger_health = 1.3\ntarget_health = 1.5\nupper_health = 2.0\n"),
                 position("w", "alert_only", ""))
    bound = bind_strategies(cfg)
    assert set(bound) == {"a", "w"} and bound["a"].config.target_health == 1.5


# --- decisions ---------------------------------------------------------------------------------------
def ctx_for(snap, name="a", **kw) -> StrategyContext:
    return StrategyContext(position=name, mode="manage", block_number=snap.block_number,
                           block_timestamp=snap.block_timestamp, now_s=snap.block_timestamp, health=health_factor(snap),
                           **kw)


CDP = cdp_health.Config(trigger_health=1.3, target_health=1.5, upper_health=2.0, cooldown_s=60)


def test_cdp_health_deleverages_below_trigger_back_to_target():
    snap = a1(weth_price_base=1500 * 10**8)  # 10 WETH @1500, 10k USDC debt: HF ~1.24
    hf = health_factor(snap)
    assert hf < 1.3
    d = cdp_health.decide(CDP, snap, ctx_for(snap))
    assert d.action == "deleverage" and d.feasible
    assert d.projected_health >= 1.5 - SizingLimits().tolerance_hf
    assert d.debt_deltas_wei["USDC"] < 0 and d.collateral_deltas_wei["WETH"] < 0
    assert [s.kind for s in d.steps[:3]] == ["withdraw", "swap", "repay"]
    assert "< trigger 1.3000 (configured)" in d.reason


def test_cdp_health_does_nothing_inside_the_band_and_boosts_above_it():
    inside = a1(weth_price_base=2000 * 10**8, debt_usdc=11_000)  # HF ~1.5
    assert cdp_health.decide(CDP, inside, ctx_for(inside)).action == "none"
    high = a1(weth_price_base=3000 * 10**8)  # HF ~2.47
    d = cdp_health.decide(CDP, high, ctx_for(high))
    assert d.action == "boost" and abs(d.projected_health - 1.5) < 0.01
    assert [s.kind for s in d.steps[:3]] == ["borrow", "swap", "supply"]


def test_cooldown_holds_unless_emergency():
    snap = a1(weth_price_base=1500 * 10**8)
    recent = ctx_for(snap, last_action_s=snap.block_timestamp - 10, last_action_block=99)
    d = cdp_health.decide(CDP, snap, recent)
    assert d.action == "none" and d.binding_constraint == "cooldown"
    dire = a1(weth_price_base=1250 * 10**8)  # HF ~1.03 < emergency 1.05
    assert health_factor(dire) < 1.05
    d2 = cdp_health.decide(CDP, dire, ctx_for(dire, last_action_s=dire.block_timestamp - 10))
    assert d2.action == "deleverage"


def test_risk_trigger_raises_the_trigger_and_is_capped_below_target():
    cfg = cdp_health.Config(trigger_health=1.1, target_health=1.5,
                            risk_trigger=cdp_health.RiskTrigger(asset="WETH", sigma_annual=3.0, reaction_s=86_400,
                                                                epsilon=0.001))
    snap = a1(weth_price_base=1700 * 10**8)  # HF ~1.40
    trig, source = cdp_health.effective_trigger(cfg, ctx_for(snap))
    assert source == "risk_model_capped" and trig == pytest.approx(1.45)
    assert cdp_health.decide(cfg, snap, ctx_for(snap)).action == "deleverage"
    calm = cdp_health.Config(trigger_health=1.1, target_health=1.5,
                             risk_trigger=cdp_health.RiskTrigger(asset="WETH", sigma_annual=0.1, reaction_s=60,
                                                                 epsilon=0.01))
    assert cdp_health.effective_trigger(calm, ctx_for(snap)) == (1.1, "configured")


def test_deleverage_respects_pool_depth_and_caps():
    snap = a1(weth_price_base=1500 * 10**8)
    weth, usdc = snap.assets[0].asset, snap.assets[1].asset
    # NOTE: the depth cap counts the pool fee and the min-out tolerance within max_slippage_bps (as the policy does)
    shallow = cpmm_curve(weth, usdc, 5 * 10**18, 7_500 * 10**6, fee_pips=500, max_fraction=0.9)
    d = cdp_health.decide(CDP, snap, ctx_for(snap, depth={("WETH", "USDC"): shallow},
                                                limits=SizingLimits(max_slippage_bps=50)))
    assert d.action == "deleverage" and d.binding_constraint in ("pool_depth", "price_impact")
    capped = cdp_health.decide(CDP, snap, ctx_for(snap, limits=SizingLimits(per_action_usd=500)))
    assert all(s.amount_wei * 1500 / 1e18 <= 500 + 1e-6 for s in capped.steps if s.kind == "withdraw")


def _member(price_weth: int, debt: int, name: str):
    return snapshot([reserve("WETH", price_weth), reserve("USDC", 10**8)],
                    {"WETH": (10 * 10**18, 0), "USDC": (0, debt * 10**6)}).model_copy(update={"name": name})


def test_vault_deleverages_when_leverage_is_off_target():
    a, b = _member(1500 * 10**8, 9_000, "v1"), _member(1500 * 10**8, 9_000, "v2")
    cfg_a = vault_leverage.Config(vault="core", weight=0.5, target_leverage=2.0)
    cfg_b = vault_leverage.Config(vault="core", weight=0.5, target_leverage=2.0)
    # each: C 15000, D 9000, E 6000: leverage 2.5 > 2.0 + 0.25
    peer = PeerView("v2", b, cfg_b, health_factor(b), 15_000.0, 9_000.0)
    d = vault_leverage.decide(cfg_a, a, ctx_for(a, name="v1", peers={"v2": peer}))
    assert d.action == "deleverage" and "leverage 2.500" in d.reason
    # target exposure 0.5*2*12000 = 12000 collateral with 6000 equity: HF* = 12000*0.825/6000 = 1.65
    assert d.target_health == pytest.approx(1.65, rel=1e-3)
    on_target = _member(2000 * 10**8, 10_000, "v1")  # C 20000, D 10000: leverage 2.0
    peer2 = PeerView("v2", on_target, cfg_b, health_factor(on_target), 20_000.0, 10_000.0)
    assert vault_leverage.decide(cfg_a, on_target, ctx_for(on_target, name="v1", peers={"v2": peer2})).action == "none"


def test_call_decide_turns_a_crash_into_a_strategy_error_for_that_position():
    import types

    def boom(config, snapshot, ctx):
        raise ZeroDivisionError("bad math")

    mod = types.SimpleNamespace(decide=boom)
    strat = LoadedStrategy(name="broken", module=mod, config=CDP)  # type: ignore[arg-type]
    snap = a1()
    with pytest.raises(StrategyError, match="strategy 'broken' failed for a: ZeroDivisionError: bad math"):
        call_decide(strat, snap, ctx_for(snap))
    mod.decide = lambda c, s, x: {"action": "none"}
    with pytest.raises(StrategyError, match="returned dict, not a SizingDecision"):
        call_decide(strat, snap, ctx_for(snap))


def test_context_is_a_read_only_copy():
    snap = a1()
    depth = {("WETH", "USDC"): None}
    ctx = ctx_for(snap, depth=depth)
    depth[("X", "Y")] = None
    assert ("X", "Y") not in ctx.depth
    with pytest.raises(TypeError):
        ctx.depth[("A", "B")] = None  # type: ignore[index]
    assert math.isfinite(ctx.health)
    assert isinstance(cdp_health.decide(CDP, snap, ctx), SizingDecision)


def test_strategies_never_import_web3_sqlmodel_or_apscheduler():
    code = ("import sys, strategies.api, strategies.cdp_health, strategies.vault_leverage, strategies.alert_only;"
            "bad=[m for m in ('web3','sqlmodel','apscheduler','sqlalchemy') if m in sys.modules];"
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
