"""Bind every configured position to its strategy, validating names, params and groups at start-up.

An unknown strategy name, params refused by the strategy's ``Config`` (crossing bands, unknown keys),
or a group whose members disagree (vault weights not summing to 1) stop the start with one
``ConfigError`` naming the config file and line.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from strategies.api import LoadedStrategy, load_strategy


def bind_strategies(cfg: Any) -> dict[str, LoadedStrategy]:
    """``{position name: LoadedStrategy}`` for every position of ``cfg`` (a ``manager.config.Config``)."""
    bound: dict[str, LoadedStrategy] = {}
    for i, pos in enumerate(cfg.positions):
        bound[pos.name] = load_strategy(cfg, i)
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
