"""Bind every configured position to its strategy, validating names, params and groups at start-up.

An unknown strategy name, params refused by the strategy's ``Config`` (crossing bands, unknown keys),
or a group whose members disagree (vault weights not summing to 1) stop the start with one
``ConfigError`` naming the config file and line. So do a position's price automations
(``[[positions.automations]]``: an unknown kind, bad params, or automations that fight each other or the
strategy: ``load_automations``).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from strategies.api import LoadedAutomation, LoadedStrategy, load_strategy


def bind_strategies(cfg: Any) -> dict[str, LoadedStrategy]:
    """``{position name: LoadedStrategy}`` for every position of ``cfg`` (a ``manager.config.Config``)."""
    bound: dict[str, LoadedStrategy] = {}
    for i, pos in enumerate(cfg.positions):
        loaded = load_strategy(cfg, i)
        if pos.automations:
            from dataclasses import replace

            loaded = replace(loaded, automations=load_automations(cfg, i))
        bound[pos.name] = loaded
    groups: dict[tuple[str, str], dict[str, Any]] = defaultdict(dict)
    for name, strat in bound.items():
        key = strat.group
        if key is not None:
            groups[(strat.name, key)][name] = strat.config
    index = {pos.name: i for i, pos in enumerate(cfg.positions)}
    for (_strategy_name, _key), members in sorted(groups.items()):
        check = getattr(bound[next(iter(members))].module, "check_group", None)
        if check is None:
            continue
        for position, param, message in check(members):
            raise cfg.error(("positions", index[position], "params", param), message)
    return bound


def groups_of(bound: dict[str, LoadedStrategy]) -> dict[str, list[str]]:
    """``{position: [other members of its group]}`` (empty list for ungrouped positions)."""
    members: dict[tuple[str, str], list[str]] = defaultdict(list)
    for name, strat in bound.items():
        if strat.group is not None:
            members[(strat.name, strat.group)].append(name)
    out: dict[str, list[str]] = {name: [] for name in bound}
    for names in members.values():
        for name in names:
            out[name] = [n for n in names if n != name]
    return out


# ------------------------------------------------------------------------------------------------
# price automations (issue 16): ``[[positions.automations]]`` next to a strategy
# ------------------------------------------------------------------------------------------------
def load_automations(cfg: Any, index: int) -> tuple[LoadedAutomation, ...]:
    """Validate position ``index``'s automations (kind, params) and refuse combinations that fight.

    Errors are one-line ``ConfigError``s naming the config file and line of the offending key.
    """
    from pydantic import ValidationError

    from manager.config.loader import params_error
    from manager.errors import ConfigError
    from strategies.api import AUTOMATIONS, load_module

    pos = cfg.positions[index]
    out: list[LoadedAutomation] = []
    keys: set[str] = set()
    for j, entry in enumerate(pos.automations):
        loc = ("positions", index, "automations", j)
        kind = entry.get("kind")
        if kind not in AUTOMATIONS:
            raise cfg.error((*loc, "kind") if "kind" in entry else loc,
                            f"kind must be one of {', '.join(AUTOMATIONS)}; got {kind!r}")
        key = str(entry.get("id") or f"{kind}-{j}")
        if key in keys:
            raise cfg.error((*loc, "id"), f"automation id '{key}' is used twice on position '{pos.name}'")
        keys.add(key)
        try:
            module = load_module(kind)
        except ConfigError as exc:
            raise cfg.error((*loc, "kind"), exc.message) from None
        params = {k: v for k, v in entry.items() if k not in ("kind", "id")}
        try:
            config = module.Config.model_validate(params)
        except ValidationError as exc:
            raise params_error(cfg, loc, exc, model=module.Config) from None
        out.append(LoadedAutomation(key=key, kind=kind, module=module, config=config, index=j))
    _check_conflicts(cfg, index, out)
    return tuple(out)


def automation_levels(strategy: LoadedStrategy) -> list[tuple[LoadedAutomation | None, str, str, float, str, str]]:
    """(automation or None for the strategy itself, asset, side, price, role, field) of every price level."""
    out: list[tuple[LoadedAutomation | None, str, str, float, str, str]] = []
    own = getattr(strategy.module, "levels", None)
    if own is not None:
        out += [(None, *lv) for lv in own(strategy.config)]
    for auto in strategy.automations:
        out += [(auto, *lv) for lv in auto.module.levels(auto.config)]
    return out


def _check_conflicts(cfg: Any, index: int, automations: list[LoadedAutomation]) -> None:
    """Refuse automations of one position that fight (DeFi Saver validates its triggers alike):

    - a stop (close below S) at or above a repay trigger (price_trigger repay below R) of the same asset: the close
      would always fire first and the repay never run (S < R is required);
    - a boost trigger (above B) at or below a stop S: the boost buys where the position is closed (B > S);
    - a boost to health H at B whose liquidation price B / H (exact when the asset is the only collateral; an upper
      bound otherwise) is at or above a stop S: the boost re-crosses the stop (liquidation before it could fire);
    - a boost trigger at or above a take-profit T: it would boost where the position is closed (B < T);
    - overlapping bands: a repay trigger (below R) at or above a boost trigger (above B): between them both fire
      (R < B);
    - two automations of the same role and side on the same asset at the same price (a duplicate).
    """
    pos = cfg.positions[index]
    base = pos.strategy
    lv = []
    for auto in automations:
        lv += [(auto, *x) for x in auto.module.levels(auto.config)]

    def where(auto: LoadedAutomation, field: str) -> tuple[Any, ...]:
        loc = ("positions", index, "automations", auto.index)
        return (*loc, field) if field in pos.automations[auto.index] else loc

    def name(auto: LoadedAutomation) -> str:
        return f"'{auto.key}' ({auto.kind})"

    for a, asset_a, side_a, price_a, role_a, field_a in lv:
        for b, asset_b, side_b, price_b, role_b, _field_b in lv:
            if a is b or asset_a != asset_b:
                continue
            msg = None
            if role_a == "stop" and role_b == "repay" and side_b == "below" and price_a >= price_b:
                msg = (f"its stop at {price_a:g} is at or above the repay trigger at {price_b:g} on {asset_a}: "
                       "the close always fires first and the repay never runs (the stop must be below it)")
            elif role_a == "boost" and role_b == "stop" and price_a <= price_b:
                msg = (f"its boost trigger at {price_a:g} is at or below the stop at {price_b:g} on {asset_a}: "
                       "a boost would re-cross the stop (the boost must be above it)")
            elif (role_a == "boost" and role_b == "stop" and a.config.target_health > 0
                  and price_a / a.config.target_health >= price_b):
                msg = (f"its boost at {price_a:g} to HF {a.config.target_health:g} puts the {asset_a} liquidation "
                       f"price at about {price_a / a.config.target_health:,.2f} (for {asset_a} as the only collateral), "
                       f"at or above the stop at {price_b:g}: the position would be liquidated before the stop fires")
            elif role_a == "boost" and role_b == "take_profit" and price_a >= price_b:
                msg = (f"its boost trigger at {price_a:g} is at or above the take-profit at {price_b:g} on "
                       f"{asset_a}: it would boost where the position is closed")
            elif role_a == "repay" and role_b == "boost" and side_a == "below" and price_a >= price_b:
                msg = (f"its repay band (below {price_a:g}) overlaps the boost band (above {price_b:g}) on "
                       f"{asset_a}: between them both fire")
            elif role_a == role_b and side_a == side_b and price_a == price_b and a.index > b.index:
                msg = f"it duplicates the same {role_a} {side_a} {price_a:g} on {asset_a}"
            if msg is not None:
                raise cfg.error(where(a, field_a), f"automation {name(a)} fights {name(b)}: {msg}")
    if base == "cdp_health":
        _check_against_cdp_health(cfg, index, automations, where)


def _check_against_cdp_health(cfg: Any, index: int, automations: list[LoadedAutomation], where: Any) -> None:
    """``cdp_health`` repays below its trigger health and boosts above its upper health: a price_trigger that
    boosts to a health below cdp_health's trigger would be repaid at once (and vice versa): they fight."""
    params = cfg.positions[index].params
    trigger, upper = params.get("trigger_health"), params.get("upper_health")
    for auto in automations:
        if auto.kind != "price_trigger":
            continue
        c: Any = auto.config
        if c.action == "boost" and trigger is not None and c.target_health <= trigger:
            raise cfg.error(where(auto, "target_health"),
                            f"automation '{auto.key}' (price_trigger) fights the strategy: it boosts to HF {c.target_health:g}, at or below "
                            f"the strategy's repay trigger_health {trigger:g}: cdp_health would repay it at once")
        if c.action == "repay" and upper is not None and c.target_health >= upper:
            raise cfg.error(where(auto, "target_health"),
                            f"automation '{auto.key}' (price_trigger) fights the strategy: it repays to HF {c.target_health:g}, at or above "
                            f"the strategy's upper_health {upper:g}: cdp_health would boost it at once")
