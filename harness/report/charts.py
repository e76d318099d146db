"""The charts of report.html, inline SVG drawn here: budget bars per group (measured vs the
baseline band vs the ceiling) and the runtime trends of groups and slowest tests from the ledger."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from harness.records import ledger, runfolder
from harness.report.figures import escape as _e
from harness.report.model import ledger_entry
from harness.report.style import COLOURS, VERDICT_CLASS, _number, _pill, _seconds
from harness.report.types import RunReport

TREND_RUNS = 20

# ---------------------------------------------------------------- budgets

def _budget_bars(report: RunReport) -> dict[tuple[str, str], dict]:
    """(kind, subject) -> {measured, baseline, lo, hi, ceiling, status, clock, basis}.

    From report.budgets.verdicts when the budget checks wrote them (one entry may hold a band
    and a ceiling verdict), else from the guardrails of groups.toml / harness.toml."""
    if isinstance(report.attached.get("budgets"), dict):  # there, but it did not parse
        raise ValueError("report.json's budgets section is not readable")
    bars: dict[tuple[str, str], dict] = {}
    for v in report.budgets.verdicts if report.budgets else []:
        bar = bars.setdefault((v.kind, v.subject), {"status": "ok", "basis": [], "judged": True})
        if v.check in ("ceiling", "timeout"):  # wall time against max_s
            bar["ceiling"] = _number(v.allowed[1])
            bar["wall"] = _number(v.measured_s)
            bar["ceiling_status"] = v.status
        else:  # band or floor, on the clock the rule chose
            bar["measured"] = _number(v.measured_s)
            bar["baseline"] = _number(v.baseline_s)
            bar["lo"], bar["hi"] = _number(v.allowed[0]), _number(v.allowed[1])
            bar["clock"] = v.clock
            bar["band_status"] = v.status
        if v.status not in (None, "ok"):
            bar["status"] = v.status
        bar["basis"].append(str(v.basis))
    if bars:
        return bars
    for name, group in report.groups.items():
        guard = group.guardrails
        baseline, band = _number(guard.get("baseline_s")), _number(guard.get("tolerance_s"))
        ceiling = _number(guard.get("max_s"))
        measured = _number(group.seconds)
        if baseline is None and ceiling is None:
            continue
        bar = {"wall": measured, "ceiling": ceiling, "clock": "wall", "judged": False,
               "basis": [f"guardrails from selectors/budgets.toml: {group.guardrails_text}"]}
        if baseline is not None:
            half = band or 0.0
            bar.update(baseline=baseline, lo=baseline - half, hi=baseline + half)
        if measured is not None and baseline is not None:
            bar["measured"] = measured
            bar["band_status"] = ("too_slow" if measured > bar["hi"] else
                                  "too_fast" if measured < bar["lo"] else "ok")
        if measured is not None and ceiling is not None:
            bar["ceiling_status"] = "over_ceiling" if measured > ceiling else "ok"
        worst = [st for st in (bar.get("ceiling_status"), bar.get("band_status"))
                 if st not in (None, "ok")]
        bar["status"] = worst[0] if worst and group.verdict != "empty" else "ok"
        bars[("group", name)] = bar
    return bars


def budget_svg(bar: dict, width: int = 260, height: int = 30) -> str:
    """The measured time against its band (baseline +/- tolerance, shaded, baseline tick) and
    its ceiling (dashed red line). Bands may judge CPU time and ceilings wall time: then the
    wall time is the thin upper bar (read it against the ceiling), the band's the lower one."""
    values = [bar.get(k) for k in ("measured", "wall", "hi", "ceiling", "baseline")]
    top = max([v for v in values if v is not None] or [1.0]) * 1.15 or 1.0

    def x(value: float) -> float:
        return round(2 + (width - 4) * max(0.0, value) / top, 1)

    def colour(status: str | None) -> str:
        return COLOURS[VERDICT_CLASS.get(status or "ok", "warn")]

    parts = [f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">',
             f'<rect x="2" y="9" width="{width - 4}" height="12" rx="3" '
             f'fill="{COLOURS["track"]}"/>']
    title = []
    if bar.get("lo") is not None and bar.get("hi") is not None:
        lo, hi = x(bar["lo"]), x(bar["hi"])
        parts.append(f'<rect x="{lo}" y="5" width="{max(hi - lo, 1.5)}" height="20" '
                     f'fill="{COLOURS["band"]}" stroke="#8fd19e"/>')
        title.append(f"band {bar['lo']:.2f}-{bar['hi']:.2f} s")
    if bar.get("baseline") is not None:
        parts.append(f'<line x1="{x(bar["baseline"])}" x2="{x(bar["baseline"])}" y1="5" y2="25" '
                     f'stroke="{COLOURS["ok"]}" stroke-width="2"/>')
        title.append(f"baseline {bar['baseline']:.2f} s")
    two_clocks = (bar.get("wall") is not None and bar.get("measured") is not None
                  and bar.get("clock") != "wall")
    if bar.get("measured") is not None:
        y, h = (15, 6) if two_clocks else (11, 8)
        # one clock for band and ceiling: one bar, coloured by the worse of the two
        status = bar.get("band_status") if two_clocks else bar.get("status")
        parts.append(f'<rect x="2" y="{y}" width="{max(x(bar["measured"]) - 2, 1)}" '
                     f'height="{h}" rx="2" fill="{colour(status)}"/>')
        title.insert(0, f"measured {bar['measured']:.2f} s ({bar.get('clock') or 'wall'})")
    if bar.get("wall") is not None and (two_clocks or bar.get("measured") is None):
        y, h = (9, 4) if two_clocks else (11, 8)
        parts.append(f'<rect x="2" y="{y}" width="{max(x(bar["wall"]) - 2, 1)}" height="{h}" '
                     f'rx="2" fill="{colour(bar.get("ceiling_status"))}"/>')
        title.insert(0, f"wall {bar['wall']:.2f} s")
    if bar.get("ceiling") is not None:
        cx = x(bar["ceiling"])
        parts.append(f'<line x1="{cx}" x2="{cx}" y1="1" y2="29" stroke="{COLOURS["bad"]}" '
                     'stroke-width="2" stroke-dasharray="3 2"/>')
        title.append(f"ceiling {bar['ceiling']:.2f} s")
    parts.insert(1, f"<title>{_e(', '.join(title))}</title>")
    parts.append("</svg>")
    return "".join(parts)


def _budget_caption(bar: dict | None) -> str:
    if not bar:
        return '<span class="small">no budget</span>'
    bits = []
    if bar.get("lo") is not None:
        bits.append(f"band {bar['lo']:.1f}–{bar['hi']:.1f} s {bar.get('clock') or 'wall'}")
    if bar.get("ceiling") is not None:
        bits.append(f"max {bar['ceiling']:.1f} s wall")
    if not bar.get("judged", True):
        bits.append("guardrail only, not judged")
    status = bar.get("status", "ok")
    return f'{_pill(status)} <span class="small">{_e(" · ".join(bits))}</span>'


def _groups_table(report: RunReport, bars: dict) -> str:
    rows = []
    for name, g in report.groups.items():
        c = g.counts
        bar = bars.get(("group", name))
        judged_cpu = (f'<div class="small">{bar["measured"]:.2f} s {_e(bar["clock"])}</div>'
                      if bar and bar.get("measured") is not None
                      and bar.get("clock") not in (None, "wall") else "")
        rows.append(
            f'<tr><td><b>{_e(name)}</b><div class="small">{_e(g.description)}</div>'
            f'</td><td>{_e(g.owner)}</td><td>{_pill(g.verdict)}</td>'
            f'<td class="num">{c.passed}</td><td class="num">{c.failed}</td>'
            f'<td class="num">{c.errors}</td><td class="num">{c.skipped}</td>'
            f'<td class="num nowrap">{_seconds(g.seconds)}{judged_cpu}</td>'
            f'<td>{budget_svg(bar) if bar else ""}<div>{_budget_caption(bar)}</div></td>'
            f'<td class="num nowrap">{g.artifacts_validated} / '
            f'{g.validation_failures}</td></tr>')
    if not rows:
        return '<p class="empty">no groups in this run</p>'
    unjudged = any(not bar.get("judged", True) for bar in bars.values())
    note = ('<div class="small">No budget verdicts in this run: the bars compare group times '
            'with the guardrails of selectors/groups.toml; only budget findings decide the '
            'verdict.</div>') if unjudged else ""
    legend = note + (
        '<div class="legend">budget bar:<i style="background:#1a7f37"></i>measured (green ok, '
        'amber outside the band, red over the ceiling; a thin upper bar is the wall time when '
        'the band judges CPU time)<i style="background:#d6f0dc;border:1px solid #8fd19e"></i>'
        'band around the baseline (dark tick)<i style="background:#cf222e"></i>ceiling (dashed)'
        '</div>')
    return (legend + '<table><thead><tr><th>group</th><th>owner</th><th>verdict</th>'
            '<th class="num">pass</th><th class="num">fail</th><th class="num">err</th>'
            '<th class="num">skip</th><th class="num">seconds</th><th>budget</th>'
            '<th class="num">artifacts / bad</th></tr></thead><tbody>' + "".join(rows)
            + "</tbody></table>")


OTHER_BUDGET_ROWS = 12


def _other_budgets(report: RunReport, bars: dict) -> str:
    """Budget verdicts of cadences and single tests (groups are in the group table): cadences
    first, then findings, at most OTHER_BUDGET_ROWS rows (all of them are in report.json)."""
    others = [(kind, subject, bar) for (kind, subject), bar in bars.items() if kind != "group"]
    others.sort(key=lambda item: (item[0] != "cadence", item[2].get("status", "ok") == "ok"))
    rows = []
    for kind, subject, bar in others[:OTHER_BUDGET_ROWS]:
        measured = bar.get("wall") if bar.get("measured") is None else bar.get("measured")
        basis = "; ".join(bar.get("basis", []))
        rows.append(f'<tr><td>{_e(kind)}</td><td><code>{_e(subject)}</code><details>'
                    f'<summary class="small">basis</summary><div class="small">{_e(basis)}'
                    f'</div></details></td><td class="num nowrap">{_seconds(measured)}</td>'
                    f'<td>{budget_svg(bar)}<div>{_budget_caption(bar)}</div></td></tr>')
    if not rows:
        return ""
    more = len(others) - len(rows)
    tail = (f'<p class="small">{more} more budget verdict(s) in report.json '
            '(<code>budgets.verdicts</code>)</p>') if more > 0 else ""
    return ('<h3>Cadence and test budgets</h3><table><colgroup><col style="width:8%">'
            '<col style="width:50%"><col style="width:10%"><col></colgroup><thead><tr>'
            '<th>kind</th><th>subject</th><th class="num">measured</th><th>budget</th></tr>'
            '</thead><tbody>' + "".join(rows) + "</tbody></table>" + tail)


# ---------------------------------------------------------------- trends

def trend_points(report: RunReport | dict, entries: Iterable[dict],
                 limit: int = TREND_RUNS) -> list[dict]:
    """The ledger entries of this report's cadence (shard runs left out: their merged run
    stands for them) that started before this run, oldest first, ending with this run, at most
    `limit`. Re-rendering an older run leaves out the runs that came after it."""
    report = RunReport.of(report)
    label = report.selection.label
    this_run = runfolder.run_order(report.run_id)

    def earlier(entry: dict) -> bool:
        other = runfolder.run_order(entry.get("run_id"))
        return this_run is None or other is None or other < this_run

    points = [e for e in entries if e.get("cadence") == label and not e.get("shard")
              and e.get("run_id") != report.run_id and earlier(e)]
    try:
        current = ledger_entry(report)
    except (KeyError, TypeError):
        current = None
    if current is not None:
        points.append(current)
    return points[-limit:]


def sparkline(values: list[float | None], verdicts: list[str], band: tuple | None = None,
              ceiling: float | None = None, width: int = 520, height: int = 90) -> str:
    known = [v for v in values if v is not None]
    if not known:
        return '<p class="empty">no timings</p>'
    ceiling_in = [ceiling] if ceiling is not None else []
    band_in = list(band) if band else []
    top = max(known + ceiling_in + band_in) * 1.1 or 1.0
    left, right, upper, lower = 44, 10, 8, 18
    inner_w, inner_h = width - left - right, height - upper - lower
    step = inner_w / max(len(values) - 1, 1)
    first_x = left if len(values) > 1 else left + inner_w  # a lone run sits at "this run"

    def y(value: float) -> float:
        return round(upper + inner_h * (1 - value / top), 1)

    parts = [f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">',
             f'<line x1="{left}" x2="{width - right}" y1="{y(0)}" y2="{y(0)}" stroke="#d0d7de"/>',
             f'<text x="{left - 6}" y="{y(top / 1.1) + 4}" font-size="10" text-anchor="end" '
             f'fill="#57606a">{top / 1.1:.0f} s</text>',
             f'<text x="{left - 6}" y="{y(0) + 4}" font-size="10" text-anchor="end" '
             f'fill="#57606a">0</text>']
    if band:
        parts.append(f'<rect x="{left}" y="{y(band[1])}" width="{inner_w}" '
                     f'height="{max(y(band[0]) - y(band[1]), 1)}" fill="{COLOURS["band"]}"/>')
    if ceiling is not None:
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(ceiling)}" y2="{y(ceiling)}" '
                     f'stroke="{COLOURS["bad"]}" stroke-dasharray="4 3"/>')
    points = [(round(first_x + i * step, 1), y(v)) for i, v in enumerate(values) if v is not None]
    if len(points) > 1:
        parts.append('<polyline fill="none" stroke="#57606a" stroke-width="1.5" points="'
                     + " ".join(f"{px},{py}" for px, py in points) + '"/>')
    index = 0
    for i, value in enumerate(values):
        if value is None:
            continue
        px, py = points[index]
        index += 1
        colour = COLOURS[VERDICT_CLASS.get(verdicts[i], "muted")]
        radius = 4.5 if i == len(values) - 1 else 3
        parts.append(f'<circle cx="{px}" cy="{py}" r="{radius}" fill="{colour}">'
                     f'<title>{value:.2f} s ({_e(verdicts[i])})</title></circle>')
    if len(values) > 1:
        earlier = f"{len(values) - 1} run{'s' if len(values) > 2 else ''} earlier"
        parts.append(f'<text x="{width - right}" y="{height - 4}" font-size="10" '
                     f'text-anchor="end" fill="#57606a">this run</text><text x="{left}" '
                     f'y="{height - 4}" font-size="10" fill="#57606a">{earlier}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _trends(report: RunReport, run_dir: Path, bars: dict) -> str:
    entries, _ = ledger.read(Path(run_dir).parent / runfolder.LEDGER)
    points = trend_points(report, entries)
    charts = []
    for name in report.groups:
        series = [p.get("groups", {}).get(name) for p in points]
        values = [None if not isinstance(s, dict) or s.get("verdict") == "empty"
                  else _number(s.get("seconds")) for s in series]
        verdicts = [s.get("verdict", "?") if isinstance(s, dict) else "?" for s in series]
        bar = bars.get(("group", name), {})
        band = (bar["lo"], bar["hi"]) if bar.get("lo") is not None else None
        charts.append(_trend_chart(name, values, verdicts, band, bar.get("ceiling")))
    if not charts:
        return '<p class="empty">no groups</p>'
    return (f'<p class="small">{len(points)} run(s) of <b>{_e(report.selection.label)}</b>'
            ' from the ledger, oldest left (shard runs are counted through their merged run); '
            'dots coloured by the group verdict; shaded: band, dashed: ceiling.</p>'
            f'<div class="trends">{"".join(charts)}</div>' + _test_trends(report, points))


def _trend_chart(title: str, values: list, verdicts: list, band=None, ceiling=None) -> str:
    known = [v for v in values if v is not None]
    summary = (f"last {known[-1]:.2f} s · median {sorted(known)[len(known) // 2]:.2f} s · "
               f"{len(known)} run{'s' if len(known) != 1 else ''}") if known else "no timings"
    return (f'<div class="trend"><b>{_e(title)}</b> <span class="small">{_e(summary)}'
            f'</span>{sparkline(values, verdicts, band, ceiling)}</div>')


def _test_trends(report: RunReport, points: list[dict], limit: int = 5) -> str:
    """Sparklines of this run's slowest tests over the ledger's runs (each ledger line keeps
    the seconds of its slowest tests)."""
    slowest = sorted((t for t in report.tests if _number(t.get("seconds")) is not None),
                     key=lambda t: -t["seconds"])[:limit]
    charts = []
    for test in slowest:
        values = [_number((p.get("tests") or {}).get(test["nodeid"])) for p in points]
        charts.append(_trend_chart(test["nodeid"], values, [test.get("outcome", "?")] * len(values)))
    return (f'<h3>Slowest tests over time</h3><div class="trends">{"".join(charts)}</div>' if charts else "")
