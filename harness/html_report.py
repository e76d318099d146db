"""report.html: a self-contained page that answers at a glance "is it green, what got slower,
what broke, does the reconstruction still look right".

Standard library only (html.escape + small render functions); no scripts, fonts, styles or
images from anywhere else: charts are inline SVG drawn here, reconstruction PNGs are embedded as
base64 data URIs (one over MAX_EMBED_BYTES is linked by its path in the run folder instead), so
the page works offline and as a CI artifact. Sections, top to bottom:
verdict, groups with budget bars, budget verdicts, escalations and other findings, failures,
skipped tests and their reasons, slowest tests, reconstructions (TensorFlow and torch amplitude
and phase side by side with their metrics), runtime trend per group from the ledger, environment.

Inputs: report.json's dict and the run folder (reconstruction PNGs under tests/, the ledger in
the folder above). Structured data that later checks add to report.json is used when present:
`budgets.verdicts` (harness.budgets.Verdict.as_dict() dicts) for the budget bars, else the
guardrails of selectors/groups.toml; `escalations` (harness.escalation.Escalation.as_dict()
dicts) for owners and next steps. `findings` sections are always rendered as they are.
"""
from __future__ import annotations

import base64
import json
import math
import re
from html import escape
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import quote

from harness import ledger, runfolder
from harness.report import scaleout_facts, shard_warning

REPORT_HTML = "report.html"
AMPLITUDE_PNG = "reconstructed_amplitude.png"
PHASE_PNG = "reconstructed_phase.png"
TRUTH_PNGS = {"amplitude": "truth_amplitude.png", "phase": "truth_phase.png"}
METRICS_JSON = "metrics.json"
TREND_RUNS = 20
SLOWEST = 10
MAX_EMBED_BYTES = 2_000_000  # a PNG larger than this is linked, not embedded
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BACKENDS = {"tensorflow": "TensorFlow", "pytorch": "PyTorch"}
_BACKEND_TOKENS = {"tensorflow": "tensorflow", "tf": "tensorflow", "keras": "tensorflow",
                   "pytorch": "pytorch", "torch": "pytorch", "lightning": "pytorch"}
_TOKEN_SPLIT = re.compile(r"[^A-Za-z0-9]+")

STATUS_STYLE = {  # status -> (css class, headline)
    "passed": ("ok", "Green"),
    "failed": ("bad", "Tests failed"),
    "error": ("bad", "Harness or collection error"),
    "invalid": ("warn", "Artifacts failed validation"),
    "over_budget": ("warn", "Over budget"),
    "empty": ("muted", "Nothing selected"),
    "interrupted": ("muted", "Interrupted"),
    "running": ("muted", "Still running"),
}
VERDICT_CLASS = {"passed": "ok", "ok": "ok", "failed": "bad", "error": "bad", "invalid": "warn",
                 "over_ceiling": "bad", "too_slow": "warn", "too_fast": "warn", "empty": "muted",
                 "info": "info", "warning": "warn", "violation": "bad"}
COLOURS = {"ok": "#1a7f37", "warn": "#bf6a02", "bad": "#cf222e", "muted": "#6e7781",
           "info": "#0969da", "band": "#d6f0dc", "track": "#eef1f4", "ink": "#1f2328"}

CSS = """
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
 color:#1f2328;background:#f6f8fa}
main{max-width:1200px;margin:0 auto;padding:20px 24px 40px}
h1{font-size:26px;margin:0}h2{font-size:18px;margin:28px 0 10px;padding-bottom:4px;
 border-bottom:1px solid #d0d7de}h3{font-size:15px;margin:14px 0 6px}
code,.mono{font:12.5px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.verdict{border-radius:10px;padding:18px 22px;color:#fff;display:flex;gap:24px;
 align-items:center;flex-wrap:wrap}
.verdict.ok{background:#1a7f37}.verdict.bad{background:#cf222e}.verdict.warn{background:#bf6a02}
.verdict.muted{background:#6e7781}.verdict .sub{opacity:.92;font-size:13px}
.verdict .big{font-size:30px;font-weight:700;letter-spacing:.5px}
.stats{display:flex;gap:10px;margin-left:auto;flex-wrap:wrap}
.stat{background:rgba(255,255,255,.18);border-radius:8px;padding:6px 12px;text-align:center;
 min-width:74px}.stat b{display:block;font-size:20px}
.meta{color:#57606a;margin:8px 2px 0;font-size:13px}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #d0d7de;
 border-radius:8px;overflow:hidden}
th,td{padding:7px 10px;border-bottom:1px solid #eaeef2;text-align:left;vertical-align:middle}
th{background:#f6f8fa;font-weight:600;font-size:12.5px;color:#57606a}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
tr:last-child td{border-bottom:none}td code{word-break:break-all}.nowrap{white-space:nowrap}
.pill{display:inline-block;border-radius:999px;padding:1px 9px;font-size:12px;font-weight:600;
 color:#fff}.pill.ok{background:#1a7f37}.pill.bad{background:#cf222e}.pill.warn{background:#bf6a02}
.pill.muted{background:#8c959f}.pill.info{background:#0969da}
.card{background:#fff;border:1px solid #d0d7de;border-left:5px solid #8c959f;border-radius:8px;
 padding:10px 14px;margin:10px 0}.card.bad{border-left-color:#cf222e}
.card.warn{border-left-color:#bf6a02}.card.ok{border-left-color:#1a7f37}
.card.info{border-left-color:#0969da}.card ul{margin:6px 0 2px;padding-left:20px}
.card li{margin:2px 0}.small{font-size:12.5px;color:#57606a}.empty{color:#57606a;font-style:italic}
.recon{display:grid;grid-template-columns:repeat(auto-fit,minmax(280px,1fr));gap:14px}
.backend{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:10px}
.backend h3{margin:0 0 8px}.backend .mono{word-break:break-all}.images{display:flex;gap:10px}
figure{margin:0;flex:1;text-align:center}figure img{width:100%;max-width:260px;
 image-rendering:pixelated;border:1px solid #d0d7de;border-radius:4px;background:#000}
figcaption{font-size:12px;color:#57606a}
.cbar{max-width:260px;margin:4px auto 0}.cbar div{height:8px;border:1px solid #d0d7de}
.cbar span{display:flex;justify-content:space-between;font-size:11px;color:#57606a}
.metrics td{padding:3px 8px;font-size:12.5px}.metrics{margin-top:8px}
.trends{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:12px}
.trend{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:8px 12px}
.legend{font-size:12px;color:#57606a;margin:4px 0 8px}
.legend i{display:inline-block;width:11px;height:11px;border-radius:2px;margin:0 4px -1px 10px}
footer{margin-top:30px;color:#57606a;font-size:12px}
"""


# ---------------------------------------------------------------- small helpers

def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _seconds(value: Any) -> str:
    try:
        return f"{float(value):.2f} s"
    except (TypeError, ValueError):
        return "-"


def _pill(text: str, kind: str | None = None) -> str:
    return f'<span class="pill {VERDICT_CLASS.get(kind or text, "muted")}">{_e(text)}</span>'


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _section(title: str, body: str, anchor: str) -> str:
    return f'<section id="{anchor}"><h2>{_e(title)}</h2>{body}</section>'


# ---------------------------------------------------------------- verdict

def _verdict(report: dict) -> str:
    status = report.get("status", "running")
    css, headline = STATUS_STYLE.get(status, ("muted", status))
    totals = report.get("totals", {})
    problems = []
    failing = totals.get("failed", 0) + totals.get("errors", 0)
    if failing:
        problems.append(f"{failing} test{'s' if failing != 1 else ''} failed")
    bad_artifacts = len(report.get("validation", {}).get("failures", []))
    if bad_artifacts:
        problems.append(f"{bad_artifacts} invalid artifact{'s' if bad_artifacts != 1 else ''}")
    violations = [f for f in report.get("findings", []) if f.get("severity") == "violation"]
    if violations:
        problems.append(f"{len(violations)} budget/escalation violation section"
                        f"{'s' if len(violations) != 1 else ''}")
    if report.get("collection_errors"):
        problems.append(f"{len(report['collection_errors'])} collection error(s)")
    if totals.get("not_run"):
        problems.append(f"{totals['not_run']} selected test(s) did not run")
    detail = "; ".join(problems) or ("every selected test passed, artifacts valid, no budget "
                                     "violation" if status == "passed" else "")
    stats = "".join(f'<div class="stat"><b>{totals.get(key, 0)}</b>{label}</div>'
                    for key, label in (("passed", "passed"), ("failed", "failed"),
                                       ("errors", "errors"), ("skipped", "skipped")))
    selection = report.get("selection", {})
    scale = _scaleout_text(report)
    return (f'<div class="verdict {css}"><div><div class="big">{_e(headline.upper())}</div>'
            f'<div class="sub">{_e(detail)}</div></div><div class="stats">{stats}</div></div>'
            f'<p class="meta">cadence <b>{_e(selection.get("label", "?"))}</b> · groups '
            f'{_e(", ".join(selection.get("groups", [])))} · run <code>{_e(report.get("run_id"))}'
            f'</code> · commit <code>{_e((report.get("commit") or "unknown")[:12])}</code> · '
            f'{_seconds(report.get("wall_seconds"))} wall · exit {_e(report.get("exit_code"))}'
            f'{scale}</p>{_shard_warning(report)}')


def _shard_warning(report: dict) -> str:
    warning = shard_warning(report)
    return f'<div class="card warn">{_e(warning)}</div>' if warning else ""


def _scaleout_text(report: dict) -> str:
    return "".join(f" · {_e(fact)}" for fact in scaleout_facts(report))


# ---------------------------------------------------------------- budgets

def _budget_bars(report: dict) -> dict[tuple[str, str], dict]:
    """(kind, subject) -> {measured, baseline, lo, hi, ceiling, status, clock, basis}.

    From report["budgets"]["verdicts"] when the budget checks wrote them (one entry may hold a
    band and a ceiling verdict), else from the guardrails of groups.toml / harness.toml."""
    bars: dict[tuple[str, str], dict] = {}
    verdicts = (report.get("budgets") or {}).get("verdicts") if isinstance(
        report.get("budgets"), dict) else None
    for v in verdicts or []:
        key = (v.get("kind"), v.get("subject"))
        bar = bars.setdefault(key, {"status": "ok", "basis": [], "judged": True})
        allowed = v.get("allowed") or [None, None]
        if v.get("check") in ("ceiling", "timeout"):  # wall time against max_s
            bar["ceiling"] = _number(allowed[1])
            bar["wall"] = _number(v.get("measured_s"))
            bar["ceiling_status"] = v.get("status", "ok")
        else:  # band or floor, on the clock the rule chose
            bar["measured"] = _number(v.get("measured_s"))
            bar["baseline"] = _number(v.get("baseline_s"))
            bar["lo"], bar["hi"] = _number(allowed[0]), _number(allowed[1])
            bar["clock"] = v.get("clock")
            bar["band_status"] = v.get("status", "ok")
        if v.get("status") not in (None, "ok"):
            bar["status"] = v["status"]
        bar["basis"].append(str(v.get("basis", "")))
    if bars:
        return bars
    for name, group in report.get("groups", {}).items():
        guard = group.get("guardrails") or {}
        baseline, band = _number(guard.get("baseline_s")), _number(guard.get("tolerance_s"))
        ceiling = _number(guard.get("max_s"))
        measured = _number(group.get("seconds"))
        if baseline is None and ceiling is None:
            continue
        bar = {"wall": measured, "ceiling": ceiling, "clock": "wall", "judged": False,
               "basis": [f"guardrails from selectors/budgets.toml: "
                         f"{group.get('guardrails_text', '')}"]}
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
        bar["status"] = worst[0] if worst and group.get("verdict") != "empty" else "ok"
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


def _groups_table(report: dict, bars: dict) -> str:
    rows = []
    for name, g in report.get("groups", {}).items():
        c = g.get("counts", {})
        bar = bars.get(("group", name))
        judged_cpu = (f'<div class="small">{bar["measured"]:.2f} s {_e(bar["clock"])}</div>'
                      if bar and bar.get("measured") is not None
                      and bar.get("clock") not in (None, "wall") else "")
        rows.append(
            f'<tr><td><b>{_e(name)}</b><div class="small">{_e(g.get("description", ""))}</div>'
            f'</td><td>{_e(g.get("owner", ""))}</td><td>{_pill(g.get("verdict", "?"))}</td>'
            f'<td class="num">{c.get("passed", 0)}</td><td class="num">{c.get("failed", 0)}</td>'
            f'<td class="num">{c.get("errors", 0)}</td><td class="num">{c.get("skipped", 0)}</td>'
            f'<td class="num nowrap">{_seconds(g.get("seconds"))}{judged_cpu}</td>'
            f'<td>{budget_svg(bar) if bar else ""}<div>{_budget_caption(bar)}</div></td>'
            f'<td class="num nowrap">{g.get("artifacts_validated", 0)} / '
            f'{g.get("validation_failures", 0)}</td></tr>')
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


def _other_budgets(report: dict, bars: dict) -> str:
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


# ---------------------------------------------------------------- findings / escalations

def _escalations(report: dict) -> str:
    cards = []
    for esc in report.get("escalations") or []:
        if not isinstance(esc, dict):
            continue
        evidence = "".join(f"<li><code>{_e(line)}</code></li>" for line in esc.get("evidence", []))
        steps = "".join(f"<li>{_e(step)}</li>" for step in esc.get("steps", []))
        cards.append(
            f'<div class="card bad"><b>{_e(esc.get("title", esc.get("trigger", "")))}</b> → '
            f'<b>{_e(esc.get("component", ""))}</b> <span class="small">owner '
            f'{_e(esc.get("owner", ""))} · contact {_e(esc.get("contact", ""))} · label '
            f'<code>{_e(esc.get("label", ""))}</code></span>'
            f'<div><b>Next step:</b> {_e(esc.get("next_step", ""))}</div>'
            f'<div class="small">subjects: {_e(", ".join(esc.get("subjects", [])))}</div>'
            f'<details><summary>evidence and all steps</summary><ul>{evidence}</ul>'
            f'<ol>{steps}</ol></details></div>')
    return "".join(cards)


def _findings(report: dict) -> str:
    """Every findings section (an info section folded), except the escalations' text when
    their structured form (report["escalations"]) is shown above."""
    structured = isinstance(report.get("escalations"), list) and report["escalations"]
    cards = []
    for finding in report.get("findings", []):
        if structured and finding.get("source") == "escalation":
            continue
        severity = finding.get("severity", "info")
        items = "".join(f"<li>{_e(item)}</li>" for item in finding.get("items", []))
        body = f'<ul>{items or "<li>(none)</li>"}</ul>'
        if severity == "info":
            count = len(finding.get("items", []))
            body = f"<details><summary>{count} line(s)</summary>{body}</details>"
        cards.append(f'<div class="card {VERDICT_CLASS.get(severity, "muted")}">'
                     f'<b>{_e(finding.get("title", ""))}</b> {_pill(severity)} '
                     f'<span class="small">{_e(finding.get("source", ""))}</span>{body}</div>')
    return "".join(cards)


# ---------------------------------------------------------------- tests

def _failures(report: dict) -> str:
    parts = []
    for error in report.get("collection_errors", []):
        parts.append(f'<div class="card bad"><b>collection error</b> <code>{_e(error["nodeid"])}'
                     f'</code><pre class="mono">{_e(error.get("message", ""))}</pre></div>')
    for test in report.get("tests", []):
        if test.get("outcome") in ("failed", "error"):
            log = test.get("log")
            link = f' · log <a href="{_e(log)}"><code>{_e(log)}</code></a>' if log else ""
            parts.append(f'<div class="card bad">{_pill(test["outcome"], "failed")} '
                         f'<code>{_e(test["nodeid"])}</code> <span class="small">'
                         f'({_e(test.get("group"))}){link}</span>'
                         f'<div class="mono">{_e(test.get("message") or "")}</div></div>')
    for v in report.get("validation", {}).get("failures", []):
        parts.append(f'<div class="card warn"><b>invalid artifact</b> <code>{_e(v.get("path"))}'
                     f'</code> [{_e(v.get("kind"))}] rule <code>{_e(v.get("rule"))}</code>: '
                     f'{_e(v.get("message"))}</div>')
    for worker in report.get("crashed_workers", []):
        parts.append(f'<div class="card bad"><b>crashed worker</b> {_e(worker)}</div>')
    return "".join(parts) or '<p class="empty">nothing broke</p>'


def _skipped(report: dict) -> str:
    rows = [f'<tr><td><code>{_e(t["nodeid"])}</code></td><td>{_e(t.get("group"))}</td>'
            f'<td>{_pill(t["outcome"], "muted")}</td><td>{_e(t.get("message") or "")}</td></tr>'
            for t in report.get("tests", []) if t.get("outcome") in ("skipped", "xfailed")]
    if not rows:
        return ""
    return _section("Skipped tests and their reasons", '<table><thead><tr><th>test</th>'
                    '<th>group</th><th>outcome</th><th>reason</th></tr></thead><tbody>'
                    + "".join(rows) + "</tbody></table>", "skipped")


def _slowest(report: dict) -> str:
    tests = sorted(report.get("tests", []), key=lambda t: -float(t.get("seconds") or 0))[:SLOWEST]
    if not tests:
        return '<p class="empty">no tests ran</p>'
    top = max(float(tests[0].get("seconds") or 0), 1e-9)
    rows = []
    for t in tests:
        seconds = float(t.get("seconds") or 0)
        width = round(160 * seconds / top, 1)
        rows.append(f'<tr><td><code>{_e(t["nodeid"])}</code></td><td>{_e(t.get("group"))}</td>'
                    f'<td>{_pill(t.get("outcome", "?"))}</td><td class="num">{seconds:.2f} s</td>'
                    f'<td><svg width="164" height="12" role="img"><rect x="2" y="2" '
                    f'width="{max(width, 1)}" height="8" rx="2" fill="#57606a"/></svg></td></tr>')
    return ('<table><thead><tr><th>test</th><th>group</th><th>outcome</th><th class="num">'
            'seconds</th><th></th></tr></thead><tbody>' + "".join(rows) + "</tbody></table>")


# ---------------------------------------------------------------- reconstructions

def _backend_of(relative: Path, metrics: dict) -> str | None:
    named = str(metrics.get("backend", "")).lower()
    if named in BACKENDS:
        return named
    for part in reversed(relative.parts):
        for token in _TOKEN_SPLIT.split(part.lower()):
            if token in _BACKEND_TOKENS:
                return _BACKEND_TOKENS[token]
    return None


def _without_backend(text: str) -> str:
    """A test id or folder name with the backend words taken out: both backends' runs of one
    scenario (test[tensorflow-gs1], test[pytorch-gs1]) come out the same (test[gs1])."""
    parts = re.split(r"([^A-Za-z0-9]+)", text)  # word, separator, word, ...: words at even places
    index = 0
    while index < len(parts):
        if index % 2 or parts[index].lower() not in _BACKEND_TOKENS:
            index += 1
            continue
        left = parts[index - 1] if index > 0 else ""
        right = parts[index + 1] if index + 1 < len(parts) else ""
        brackets = "".join(c for c in left + right if c in "[]()")
        joint = brackets or (right if "/" in right else left)
        # the word and the separators around it become one separator; the next word then
        # sits at `index` again (or, at the start, after an empty first word)
        if index > 0:
            parts[index - 1:index + 2] = [joint]
        else:
            parts[0:2] = ["", joint]
    return "".join(parts).replace("[]", "").replace("()", "").strip(" -_.")


def _case_of(relative: Path, owners: dict[str, str]) -> str:
    """The scenario a reconstruction folder shows: its test's id without the backend (plus the
    sub-folder inside the test's artifact_dir), else the folder path without the backend."""
    posix = relative.as_posix()
    for artifacts, nodeid in owners.items():
        if posix == artifacts or posix.startswith(artifacts + "/"):
            inside = posix[len(artifacts):].strip("/")
            name = nodeid.split("::")[-1]
            return _without_backend(name) + (f" · {inside}" if inside else "")
    return _without_backend(posix) or "reconstruction"


def find_reconstructions(run_dir: Path, report: dict | None = None) -> dict[str, dict[str, dict]]:
    """case -> backend -> {"folder", "amplitude", "phase", "metrics", "test"} for every folder
    under <run>/tests/ holding reconstructed_amplitude.png. A folder inside a test's kept
    artifacts (report.json `tests[].artifacts`) is named after that test."""
    root = Path(run_dir) / runfolder.TESTS_DIR
    owners = {}
    for test in (report or {}).get("tests", []):
        if test.get("artifacts"):
            owners[test["artifacts"][len(runfolder.TESTS_DIR) + 1:]] = test["nodeid"]
    cases: dict[str, dict[str, dict]] = {}
    for amplitude in sorted(root.rglob(AMPLITUDE_PNG)) if root.is_dir() else []:
        folder = amplitude.parent
        metrics = {}
        for candidate in (folder / METRICS_JSON, folder.parent / METRICS_JSON):
            try:
                loaded = json.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(loaded, dict):
                metrics = loaded
                break
        relative = folder.relative_to(root)
        backend = _backend_of(relative, metrics) or relative.as_posix()
        entry = {"folder": f"{runfolder.TESTS_DIR}/{relative.as_posix()}",
                 "amplitude": amplitude, "phase": folder / PHASE_PNG, "metrics": metrics,
                 "truth": {part: folder / name for part, name in TRUTH_PNGS.items()
                           if (folder / name).is_file()}}
        cases.setdefault(_case_of(relative, owners), {})[backend] = entry
    return cases


def _is_png(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(len(PNG_SIGNATURE)) == PNG_SIGNATURE
    except OSError:
        return False


def colour_bar(path: Path) -> str:
    """A labelled colour bar from the PNG's text chunks `display-range` ("lo hi"),
    `colormap-stops` (hex colours, low to high) and `unit`; '' when it has none."""
    try:
        from PIL import Image
        with Image.open(path) as image:
            text = dict(getattr(image, "text", {}) or {})
        low, high = (float(x) for x in text["display-range"].split())
        stops = [s for s in text["colormap-stops"].split() if re.fullmatch(r"#[0-9a-fA-F]{6}", s)]
    except (ImportError, OSError, KeyError, ValueError, SyntaxError):
        return ""
    if len(stops) < 2 or not all(map(math.isfinite, (low, high))):
        return ""
    unit = f" {text.get('unit', '')}".rstrip()
    ticks = [low, (low + high) / 2, high]
    return (f'<div class="cbar"><div style="background:linear-gradient(to right,'
            f'{",".join(stops)})"></div><span>'
            + "".join(f"<i>{tick:.3g}{_e(unit)}</i>" for tick in ticks) + "</span></div>")


def _figure(path: Path, caption: str, run_dir: Path) -> str:
    """The PNG embedded as a data URI; linked instead when it is over MAX_EMBED_BYTES."""
    if not _is_png(path):
        return f'<figure><div class="empty">{_e(caption)}: missing or not a PNG</div></figure>'
    size = Path(path).stat().st_size
    if size > MAX_EMBED_BYTES:  # too big to inline: linked, relative, opens beside report.html
        href = quote(Path(path).relative_to(run_dir).as_posix())
        return (f'<figure><div class="empty"><a href="{_e(href)}">{_e(caption)}: open the PNG'
                f'</a><br>{size / 1e6:.1f} MB, over the {MAX_EMBED_BYTES / 1e6:g} MB inline limit: '
                'linked, not embedded (it opens from the run folder)</div>'
                f'<figcaption>{_e(caption)}</figcaption></figure>')
    uri = "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return (f'<figure><img src="{uri}" alt="{_e(caption)}">{colour_bar(path)}'
            f'<figcaption>{_e(caption)}</figcaption></figure>')


def _metrics_table(metrics: dict) -> str:
    rows = "".join(f'<tr><td>{_e(key)}</td><td class="num">{value:.4g}</td></tr>'
                   for key, value in metrics.items()
                   if isinstance(value, (int, float)) and not isinstance(value, bool))
    return f'<table class="metrics"><tbody>{rows}</tbody></table>' if rows else \
        '<p class="small">no metrics.json</p>'


def _reconstructions(run_dir: Path, report: dict) -> str:
    cases = find_reconstructions(run_dir, report)
    if not cases:
        return ('<p class="empty">no reconstructions in this run (passing tests keep their '
                'artifacts only in persistent cadences such as weekly, or when marked '
                'persistent_artifacts)</p>')
    blocks = []
    for case, backends in cases.items():
        ordered = [b for b in BACKENDS if b in backends] + sorted(set(backends) - set(BACKENDS))
        panels = []
        truth = next((backends[b]["truth"] for b in ordered if len(backends[b]["truth"]) == 2), None)
        if truth:   # the same object for every backend of the case: shown once, first
            panels.append(
                '<div class="backend"><h3>Ground truth</h3><div class="images">'
                + "".join(_figure(truth[part], part, run_dir) for part in TRUTH_PNGS)
                + '</div><p class="small">the simulated object over the scanned pixels; phase '
                'about its median, like the reconstructions</p></div>')
        for backend in ordered:
            entry = backends[backend]
            panels.append(
                f'<div class="backend"><h3>{_e(BACKENDS.get(backend, backend))}</h3>'
                f'<div class="images">{_figure(entry["amplitude"], "amplitude", run_dir)}'
                f'{_figure(entry["phase"], "phase", run_dir)}</div>'
                f'{_metrics_table(entry["metrics"])}'
                f'<div class="small mono">{_e(entry["folder"])}</div></div>')
        blocks.append(f'<h3>{_e(case)}</h3><div class="recon">{"".join(panels)}</div>')
    return "".join(blocks)


# ---------------------------------------------------------------- trends

def trend_points(report: dict, entries: Iterable[dict], limit: int = TREND_RUNS) -> list[dict]:
    """The ledger entries of this report's cadence (shard runs left out: their merged run
    stands for them) that started before this run, oldest first, ending with this run, at most
    `limit`. Re-rendering an older run leaves out the runs that came after it."""
    label = report.get("selection", {}).get("label")
    this_run = runfolder.run_order(report.get("run_id"))

    def earlier(entry: dict) -> bool:
        other = runfolder.run_order(entry.get("run_id"))
        return this_run is None or other is None or other < this_run

    points = [e for e in entries if e.get("cadence") == label and not e.get("shard")
              and e.get("run_id") != report.get("run_id") and earlier(e)]
    from harness.report import ledger_entry  # the current run as its ledger line

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


def _trends(report: dict, run_dir: Path, bars: dict) -> str:
    entries, _ = ledger.read(Path(run_dir).parent / runfolder.LEDGER)
    points = trend_points(report, entries)
    charts = []
    for name in report.get("groups", {}):
        series = [p.get("groups", {}).get(name) for p in points]
        values = [None if not isinstance(s, dict) or s.get("verdict") == "empty"
                  else _number(s.get("seconds")) for s in series]
        verdicts = [s.get("verdict", "?") if isinstance(s, dict) else "?" for s in series]
        bar = bars.get(("group", name), {})
        band = (bar["lo"], bar["hi"]) if bar.get("lo") is not None else None
        charts.append(_trend_chart(name, values, verdicts, band, bar.get("ceiling")))
    if not charts:
        return '<p class="empty">no groups</p>'
    return (f'<p class="small">{len(points)} run(s) of <b>{_e(report["selection"]["label"])}</b>'
            ' from the ledger, oldest left (shard runs are counted through their merged run); '
            'dots coloured by the group verdict; shaded: band, dashed: ceiling.</p>'
            f'<div class="trends">{"".join(charts)}</div>' + _test_trends(report, points))


def _trend_chart(title: str, values: list, verdicts: list, band=None, ceiling=None) -> str:
    known = [v for v in values if v is not None]
    summary = (f"last {known[-1]:.2f} s · median {sorted(known)[len(known) // 2]:.2f} s · "
               f"{len(known)} run{'s' if len(known) != 1 else ''}") if known else "no timings"
    return (f'<div class="trend"><b>{_e(title)}</b> <span class="small">{_e(summary)}'
            f'</span>{sparkline(values, verdicts, band, ceiling)}</div>')


def _test_trends(report: dict, points: list[dict], limit: int = 5) -> str:
    """Sparklines of this run's slowest tests over the ledger's runs (each ledger line keeps
    the seconds of its slowest tests)."""
    slowest = sorted((t for t in report.get("tests", []) if _number(t.get("seconds")) is not None),
                     key=lambda t: -t["seconds"])[:limit]
    charts = []
    for test in slowest:
        values = [_number((p.get("tests") or {}).get(test["nodeid"])) for p in points]
        charts.append(_trend_chart(test["nodeid"], values, [test.get("outcome", "?")] * len(values)))
    return (f'<h3>Slowest tests over time</h3><div class="trends">{"".join(charts)}</div>' if charts else "")


# ---------------------------------------------------------------- page

def _environment(report: dict) -> str:
    from harness.report import _short_env

    return (f'<footer>{_e(_short_env(report.get("environment", {})))} · fingerprint '
            f'<code>{_e(report.get("fingerprint_hash"))}</code> · started '
            f'{_e(report.get("started_utc"))} · finished {_e(report.get("finished_utc"))} · '
            'files: report.json, report.md, junit.xml, logs/, tests/</footer>')


def _mutation(report: dict, run_dir: Path) -> str:
    """harness mutate: the mutation score per component (nothing for other runs)."""
    if not report.get("mutation"):
        return ""
    from harness.mutation import render as mutation_render

    return mutation_render.html_section(report, run_dir)


def _guarded(render, *args) -> str:
    """A section whose input is broken says so; the rest of the page still renders."""
    try:
        return render(*args)
    except Exception as exc:  # noqa: BLE001 - the report must not be lost to one bad section
        return f'<p class="empty">section not rendered: {_e(type(exc).__name__)}: {_e(exc)}</p>'


def render(report: dict, run_dir: Path) -> str:
    """The whole page as a string."""
    run_dir = Path(run_dir)
    try:
        bars = _budget_bars(report)
    except Exception:  # noqa: BLE001 - no bars then; the group table still renders
        bars = {}
    label = report.get("selection", {}).get("label", "?")
    findings = _guarded(_escalations, report) + _guarded(_findings, report)
    body = [
        f"<h1>Regression harness · {_e(label)}</h1>",
        _guarded(_verdict, report),
        _section("Groups and budgets", _guarded(_groups_table, report, bars)
                 + _guarded(_other_budgets, report, bars), "groups"),
        _section("Escalations and findings", findings or '<p class="empty">no findings</p>',
                 "findings"),
        _section("What broke", _guarded(_failures, report), "failures"),
        _guarded(_mutation, report, run_dir),
        _guarded(_skipped, report),
        _section("Slowest tests", _guarded(_slowest, report), "slowest"),
        _section("Reconstructions", _guarded(_reconstructions, run_dir, report), "reconstructions"),
        _section("Runtime trend per group", _guarded(_trends, report, run_dir, bars), "trends"),
        _guarded(_environment, report),
    ]
    status = report.get("status", "running")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_e(STATUS_STYLE.get(status, ('', status))[1])} · {_e(label)} · "
            f"{_e(report.get('run_id', ''))}</title><style>{CSS}</style></head>"
            f"<body><main>{''.join(body)}</main></body></html>\n")


def write(run_dir: Path, report: dict) -> Path:
    """Render and write <run>/report.html atomically; returns its path."""
    path = Path(run_dir) / REPORT_HTML
    runfolder.write_atomic(path, render(report, run_dir))
    return path
