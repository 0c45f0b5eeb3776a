"""The demo report: a summary table (stdout and ``summary.txt``), ``summary.json`` and a PNG chart of
health per position over blocks with the actions marked (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from pathlib import Path
from typing import Any


def summary_table(result: Any) -> str:
    from manager.demo.scenario import POSITIONS

    roles = {p.name: p for p in POSITIONS}
    first, last = result.steps[0], result.steps[-1]
    head = f"{'position':<10} {'role':<25} {'strategy':<15} {'HF start':>9} {'HF min':>8} {'HF end':>8} " \
           f"{'actions':>8} {'liquidated':>10}"
    lines = [head, "-" * len(head)]
    for name in first.health:
        spec = roles[name]
        acts = [a for a in result.actions.get(name, []) if a["status"] == "confirmed"]
        liq = result.liquidations.get(name, 0)
        lines.append(f"{name:<10} {spec.role:<25} {spec.strategy:<15} {_hf(first.health[name]):>9} "
                     f"{_hf(result.min_health.get(name, math.nan)):>8} {_hf(last.health[name]):>8} {len(acts):>8} "
                     f"{('YES (' + str(liq) + ')') if liq else 'no':>10}")
    kinds = Counter(a["kind"] for a in result.webhook_alerts)
    lines.append("")
    lines.append(f"ETH ${first.eth_usd:,.0f} -> ${last.eth_usd:,.0f} ({last.eth_usd / first.eth_usd - 1:+.0%}) over "
                 f"{len(result.steps) - 1} steps, blocks {result.start_block}..{result.end_block}")
    lines.append(f"alerts: webhook {len(result.webhook_alerts)} ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))}); "
                 f"slack-format {result.slack_alerts}; email {len(result.emails)}")
    watched = [a for a in result.webhook_alerts if a.get("position") == "watched"]
    if watched:
        lines.append("watch-only alerts: " + "; ".join(f"{a['kind']} @ block {a['block_number']}" for a in watched))
    lines.append("HF: Aave/Morpho health factor; perp: remaining liquidatable margin / liquidation margin "
                 "(liquidatable at 1)")
    lines.append(f"result: {'OK - every managed position survived' if result.ok else 'PROBLEMS: ' + '; '.join(result.problems)}")
    return "\n".join(lines)


def _hf(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return "inf" if math.isinf(value) else f"{value:.3f}"


def plot(result: Any, repo: Any, accounts: dict[str, str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from manager.demo.scenario import POSITIONS

    perps = {p.name for p in POSITIONS if p.protocol.startswith("perps")} & set(accounts)
    panels = 3 if perps else 2
    fig, axes = plt.subplots(panels, 1, figsize=(10, 9 if perps else 7), sharex=True,
                             height_ratios=[3, 2, 1] if perps else [3, 1])
    ax, ax_price = axes[0], axes[-1]
    ax_perp = axes[1] if perps else None
    colors = {}
    for name in accounts:
        target = ax_perp if name in perps else ax
        assert target is not None
        series = repo.health_series(name, limit=100_000)
        xs = [s.block_number for s in series if math.isfinite(s.health_factor) and s.health_factor < 1e6]
        ys = [s.health_factor for s in series if math.isfinite(s.health_factor) and s.health_factor < 1e6]
        (line,) = target.plot(xs, ys, marker=".", markersize=3, linewidth=1.4, label=name)
        colors[name] = line.get_color()
        for act in result.actions.get(name, []):
            if act["status"] != "confirmed":
                continue
            hf_at = next((y for x, y in zip(xs, ys, strict=False) if x >= act["block"]), ys[-1] if ys else 1.0)
            target.scatter([act["block"]], [hf_at], marker="v", s=70, color=colors[name], edgecolors="black",
                           zorder=5)
    if ax_perp is not None:
        ax_perp.axhline(1.0, color="red", linestyle="--", linewidth=1, label="perp liquidatable (1.0)")
        ax_perp.set_ylabel("perp health")
        ax_perp.set_ylim(bottom=0)
        ax_perp.legend(loc="upper right", fontsize=8)
        ax_perp.grid(alpha=0.3)
    ax.axhline(1.0, color="red", linestyle="--", linewidth=1, label="liquidation (HF 1.0)")
    ax.axhline(1.35, color="grey", linestyle=":", linewidth=1, label="cdp/morpho trigger 1.35")
    ax.set_ylabel("health factor")
    ax.set_title("posman demo: health per position during a ~35% ETH crash (triangles: actions executed)")
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(alpha=0.3)
    xs = [r.moved_at or r.block for r in result.steps] + [result.end_block]
    ax_price.step(xs, [r.eth_usd for r in result.steps] + [result.steps[-1].eth_usd], where="post", color="black")
    ax_price.set_ylabel("ETH (USD)")
    ax_price.set_xlabel("block")
    ax_price.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(result: Any, repo: Any, accounts: dict[str, str], *, out: Any = print) -> Path:
    report_dir = Path(result.state_dir) / "reports" / time.strftime("%Y%m%d-%H%M%S")
    report_dir.mkdir(parents=True, exist_ok=True)
    table = summary_table(result)
    (report_dir / "summary.txt").write_text(table + "\n")
    (report_dir / "summary.json").write_text(json.dumps({
        "ok": result.ok, "problems": result.problems, "duration_s": round(result.duration_s, 1),
        "start_block": result.start_block, "end_block": result.end_block,
        "min_health": {k: (None if math.isinf(v) else v) for k, v in result.min_health.items()},
        "liquidations": result.liquidations, "actions": result.actions,
        "steps": [{"step": r.step, "eth_usd": r.eth_usd, "block": r.block,
                   "health": {k: (None if math.isinf(v) else v) for k, v in r.health.items()}} for r in result.steps],
        "alerts": {"webhook": result.webhook_alerts, "slack": result.slack_alerts, "email_subjects": result.emails},
    }, indent=2, default=str))
    plot(result, repo, accounts, report_dir / "health.png")
    out("")
    out(table)
    return report_dir
