"""Reports of simulation runs: one JSON file and one self-contained HTML page.

The page needs no network: its plots are inline SVG drawn here (no plotting library), its style is
inline. It shows, per dynamics and run length, the population shares over generations in both
worlds (the mean over seeds, one line per type, the deceptive types' combined share bold), the final
shares and fixations per world, the payoff table each world's trades produced, and the welfare of
the trades played (agreement rate and social welfare per offer) and how the offers ended (the
equivocator's double sales caught or paid for among them).

Welfare hook: :func:`welfare_rows` is the one place per-run welfare metrics enter the report. It
reads each run's ``welfare`` dict (:attr:`reference_agents.evolve.EvolveResult.welfare`), so the
metrics of ``reference_agents.welfare`` (distance to the Pareto frontier, to the Nash, Kalai and
Kalai-Smorodinsky points) show up as soon as the runs carry them: every numeric key is tabulated.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reference_agents import AGENTS
from reference_agents.sweep import run_group

PALETTE = (
    "#1f77b4",
    "#2ca02c",
    "#17becf",
    "#9467bd",
    "#8c564b",
    "#ff7f0e",
    "#d62728",
    "#e377c2",
    "#bcbd22",
    "#7f7f7f",
    "#393b79",
    "#637939",
    "#843c39",
    "#7b4173",
)


def write(
    out_dir: Path, results: Sequence[dict[str, Any]], summary: Sequence[dict[str, Any]]
) -> tuple[Path, Path]:
    """Write ``results.json`` and ``report.html`` into ``out_dir`` (created); return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    data = out_dir / "results.json"
    data.write_text(
        json.dumps({"summary": list(summary), "runs": list(results)}, indent=1, sort_keys=True) + "\n"
    )
    page = out_dir / "report.html"
    page.write_text(render(results, summary))
    return data, page


def mean_history(runs: Sequence[dict[str, Any]]) -> list[dict[str, float]]:
    """The mean share of each type after each generation over ``runs`` (a run that stopped early, at
    fixation, holds its last shares)."""
    length = max(len(r["history"]) for r in runs)
    types = runs[0]["types"]
    out = []
    for g in range(length):
        row = {}
        for t in types:
            row[t] = sum(r["history"][min(g, len(r["history"]) - 1)][t] for r in runs) / len(runs)
        out.append(row)
    return out


def mean_payoffs(runs: Sequence[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """The payoff table over ``runs``: each cell the mean of the runs where the two types met."""
    types = runs[0]["types"]
    table: dict[str, dict[str, float | None]] = {}
    for t in types:
        table[t] = {}
        for u in types:
            cells = [r["payoff_table"][t][u] for r in runs if r["payoff_table"][t][u] is not None]
            table[t][u] = sum(cells) / len(cells) if cells else None
    return table


def outcome_totals(runs: Sequence[dict[str, Any]]) -> dict[str, int]:
    """How many offers ended in each final state over ``runs``."""
    out: dict[str, int] = {}
    for r in runs:
        for state, n in r.get("outcomes", {}).items():
            out[state] = out.get(state, 0) + n
    return out


def welfare_rows(runs: Sequence[dict[str, Any]]) -> dict[str, float]:
    """The hook for per-run welfare metrics: the mean over ``runs`` of every numeric key in their
    ``welfare`` dicts (ours: offers, agreement_rate, social_welfare_per_offer; reference_agents.welfare
    adds its distances there)."""
    keys = sorted({k for r in runs for k, v in r.get("welfare", {}).items() if isinstance(v, int | float)})
    out = {}
    for k in keys:
        values = [r["welfare"][k] for r in runs if isinstance(r["welfare"].get(k), int | float)]
        out[k] = sum(values) / len(values)
    return out


def _svg_lines(history: Sequence[dict[str, float]], types: Sequence[str], title: str) -> str:
    w, h, left, right, top, bottom = 560, 300, 46, 150, 26, 34
    pw, ph = w - left - right, h - top - bottom
    n = max(1, len(history) - 1)

    def xy(g: int, v: float) -> str:
        return f"{left + pw * g / n:.1f},{top + ph * (1 - v):.1f}"

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img">',
        f"<title>{html.escape(title)}</title>",
        f'<text x="{left}" y="16" font-size="13" font-weight="bold">{html.escape(title)}</text>',
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>',
    ]
    for v in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = top + ph * (1 - v)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + pw}" y2="{y:.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end">{v:.2f}</text>')
    for g in sorted({0, n // 2, n}):
        parts.append(
            f'<text x="{left + pw * g / n:.1f}" y="{top + ph + 14}" font-size="10" '
            f'text-anchor="middle">{g}</text>'
        )
    parts.append(
        f'<text x="{left + pw / 2}" y="{h - 4}" font-size="11" text-anchor="middle">generation</text>'
    )
    series = [(t, [row[t] for row in history], PALETTE[i % len(PALETTE)], 1.5) for i, t in enumerate(types)]
    deceptive = [t for t in types if AGENTS[t].deceptive]
    series.append(("deceptive (all)", [sum(row[t] for t in deceptive) for row in history], "#000", 3.0))
    for i, (name, values, colour, width) in enumerate(series):
        points = " ".join(xy(g, v) for g, v in enumerate(values))
        dash = ' stroke-dasharray="5,3"' if name in deceptive else ""
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="{width}"{dash}/>'
        )
        y = top + 4 + i * 15
        parts.append(
            f'<line x1="{w - right + 10}" y1="{y}" x2="{w - right + 28}" y2="{y}" stroke="{colour}" '
            f'stroke-width="{width}"{dash}/>'
        )
        parts.append(f'<text x="{w - right + 32}" y="{y + 4}" font-size="10">{html.escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(v: Any) -> str:
        if v is None:
            return "<td>&ndash;</td>"
        if isinstance(v, float):
            return f"<td>{v:.3f}</td>"
        return f"<td>{html.escape(str(v))}</td>"

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render(results: Sequence[dict[str, Any]], summary: Sequence[dict[str, Any]]) -> str:
    """The HTML page (see the module docstring)."""
    out = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>a2a-coop population simulation</title><style>",
        "body{font-family:sans-serif;margin:2em;max-width:1200px}",
        "table{border-collapse:collapse;margin:1em 0}",
        "td,th{border:1px solid #ccc;padding:3px 7px;text-align:right;font-size:13px}th{background:#f4f4f4}",
        ".plots{display:flex;flex-wrap:wrap;gap:1em}</style></head><body>",
        "<h1>a2a-coop population simulation</h1>",
        "<p>Reference agents trading over the real protocol (signed statements, escrow, reputation) in a "
        "<b>verifiable</b> world and a <b>cheap-talk</b> one. Deceptive types: "
        + ", ".join(t for t, a in AGENTS.items() if a.deceptive)
        + ".</p><h2>Summary</h2>",
        _table(
            [
                "world",
                "dynamics",
                "N",
                "steps",
                "bond",
                "generations",
                "runs",
                "cooperative fixation",
                "deceptive < 10 %",
                "deceptive extinct",
                "deceptive mean",
                "min",
                "max",
            ],
            [
                [
                    s["world"] + (" (pool audit)" if s.get("pool_audit") else ""),
                    s["dynamics"],
                    s["population"],
                    s["steps"],
                    float(s.get("bond", 1.0)),
                    float(s["generations"]),
                    s["runs"],
                    f"{s['cooperative_fixations']}/{s['runs']}",
                    f"{s['deceptive_below_10pct']}/{s['runs']}",
                    f"{s.get('deceptive_extinct', '?')}/{s['runs']}",
                    float(s["deceptive_share_mean"]),
                    float(s["deceptive_share_min"]),
                    float(s["deceptive_share_max"]),
                ]
                for s in summary
            ],
        ),
    ]
    groups: dict[tuple[Any, ...], dict[str, list[dict[str, Any]]]] = {}
    for r in results:  # as the summary groups them, the world apart (one section shows both worlds)
        groups.setdefault(run_group(r)[1:], {}).setdefault(r["world"], []).append(r)
    headed = Counter(key[:5] for key in groups)  # sections that only dt or the types tell apart
    for key, worlds in groups.items():
        dynamics, population, steps, bond, pool_audit, dt, types = key
        apart = headed[key[:5]] > 1
        out.append(
            f"<h2>{html.escape(dynamics)}: population {population}, {steps} "
            f"{'steps' if dynamics == 'moran' else 'generations'}, bond {bond:g} x value"
            f"{', claim readers audit the attestation pool' if pool_audit else ''}"
            f"{f', dt {dt:g}' if apart and dt is not None else ''}"
            f"{', types ' + html.escape(', '.join(types)) if apart else ''}</h2>"
        )
        out.append("<h3>Shares over generations (mean over seeds)</h3><div class='plots'>")
        for world, runs in worlds.items():
            title = f"{world}: {dynamics}, {len(runs)} seeds"
            out.append(_svg_lines(mean_history(runs), runs[0]["types"], title))
        out.append("</div><h3>Final shares (mean over seeds)</h3>")
        types = next(iter(worlds.values()))[0]["types"]
        out.append(
            _table(
                ["type", *worlds],
                [
                    [t, *(sum(r["shares"][t] for r in runs) / len(runs) for runs in worlds.values())]
                    for t in types
                ],
            )
        )
        for world, runs in worlds.items():
            table = mean_payoffs(runs)
            out.append(
                f"<h3>Payoff table, {html.escape(world)}</h3><p>Mean payoff per offer (units of the trade's "
                "value) of the row type against the column type, over the trades played in the runs.</p>"
            )
            out.append(_table(["", *types], [[t, *(table[t][u] for u in types)] for t in types]))
        out.append(
            "<h3>How the offers ended (total over seeds)</h3><p>Final states as the offering side saw "
            "them; the equivocator's double sales: FORK_REFUSED_BY_ESCROW, FORK_REFUSED_BY_BUYER (caught), "
            "DOUBLE_SOLD (paid for).</p>"
        )
        ends = {world: outcome_totals(runs) for world, runs in worlds.items()}
        states = sorted({k for row in ends.values() for k in row})
        out.append(_table(["final state", *ends], [[k, *(ends[w].get(k, 0) for w in ends)] for k in states]))
        out.append("<h3>Welfare of the trades played (mean over seeds)</h3>")
        rows = {world: welfare_rows(runs) for world, runs in worlds.items()}
        keys = sorted({k for row in rows.values() for k in row})
        out.append(_table(["metric", *rows], [[k, *(rows[w].get(k) for w in rows)] for k in keys]))
    out.append("</body></html>\n")
    return "\n".join(out)
