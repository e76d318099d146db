"""report.md and report.html of `harness compare` (harness.runs.compare writes its report.json):
per group the HEAD/BASE ratio with its bootstrap interval, the verdict and the rule."""
from __future__ import annotations

from typing import Any, Mapping

from harness.report.figures import escape as _e
from harness.report.figures import section as _section
from harness.report.style import COLOURS, CSS, STATUS_STYLE, _pill

USABLE = ("passed", "over_budget", "invalid")  # the tests passed: the timings mean something

_MARK = {"slower": "❌ slower", "faster": "⚠️ faster", "same": "✅ same"}


def render_markdown(doc: Mapping[str, Any]) -> str:
    icon = {"passed": "✅", "over_budget": "⏱️"}.get(doc["status"], "❌")
    head = doc["head"]
    lines = [f"## {icon} harness compare `{doc['label']}`: BASE `{doc['base']['ref']}` vs HEAD "
             f"— {doc['status']}", "",
             f"BASE `{doc['base']['commit'][:12]}` · HEAD `{(head.get('commit') or '?')[:12]}`"
             f"{' + uncommitted changes' if head.get('dirty') else ''} · "
             f"{doc['pairs_done']} of {doc['pairs']} pairs (ABBA order) · exit {doc['exit_code']}",
             "", f"Rule: {doc['rule']}. Ratios are {doc['clock']} time"
             f"{' at equal machine speed (speed probe)' if doc['normalise_load'] else ''}.", ""]
    if doc.get("error"):
        lines += [f"**Stopped:** {doc['error']}", ""]
    if doc["results"]:
        lines += ["| subject | BASE s | HEAD s | HEAD/BASE | interval | pairs | verdict |",
                  "| --- | ---: | ---: | ---: | --- | ---: | --- |"]
        for r in doc["results"]:
            lines.append(f"| {r['kind']} {r['subject']} | {r['base_median_s']:.2f} | "
                         f"{r['head_median_s']:.2f} | {r['ratio']:.3f} | "
                         f"{r['interval'][0]:.3f}-{r['interval'][1]:.3f} | {len(r['ratios'])} | "
                         f"{_MARK[r['verdict']]} |")
    if doc["speedups"]:
        lines += ["", f"Faster beyond the threshold: {', '.join(doc['speedups'])} - if the "
                      "change did not mean to speed them up, check that their work still runs "
                      "(training epochs, a test that turned no-op)."]
    lines += ["", "<details><summary>Runs</summary>", "", "| pair | arm | status | wall s | run |",
              "| ---: | --- | --- | ---: | --- |"]
    lines += [f"| {r['pair'] or 'warm-up'} | {r['arm']} | {r['status']} | "
              f"{r.get('wall_seconds') or 0:.1f} | `{r['run']}` |" for r in doc["runs"]]
    lines += ["", "</details>", ""]
    return "\n".join(lines)


def ratio_svg(result: Mapping[str, Any], threshold: float, width: int = 320,
              height: int = 34) -> str:
    """Each pair's ratio as a dot, the interval as a bar, 1 and the thresholds as lines."""
    values = [*result["ratios"], *result["interval"], 1 + threshold, 1 / (1 + threshold)]
    lo, hi = min(values) * 0.97, max(values) * 1.03

    def x(value: float) -> float:
        return round(4 + (width - 8) * (value - lo) / (hi - lo), 1)

    colour = {"slower": COLOURS["bad"], "faster": COLOURS["warn"]}.get(result["verdict"],
                                                                      COLOURS["ok"])
    a, b = result["interval"]
    parts = [f'<svg width="{width}" height="{height}" role="img"><title>{_e(result["subject"])}: '
             f'pairs {", ".join(f"{r:.3f}" for r in result["ratios"])}; interval {a:.3f}-{b:.3f}'
             '</title>',
             f'<rect x="{x(a)}" y="11" width="{max(x(b) - x(a), 1.5)}" height="12" rx="3" '
             f'fill="{colour}" opacity=".25"/>']
    for value, dash in ((1.0, ""), (1 + threshold, ' stroke-dasharray="3 2"'),
                        (1 / (1 + threshold), ' stroke-dasharray="3 2"')):
        parts.append(f'<line x1="{x(value)}" x2="{x(value)}" y1="3" y2="31" '
                     f'stroke="{COLOURS["muted"]}"{dash}/>')
    parts += [f'<circle cx="{x(r)}" cy="17" r="3.5" fill="{colour}"/>' for r in result["ratios"]]
    parts.append(f'<line x1="{x(result["ratio"])}" x2="{x(result["ratio"])}" y1="7" y2="27" '
                 f'stroke="{COLOURS["ink"]}" stroke-width="2"/></svg>')
    return "".join(parts)


def render_html(doc: Mapping[str, Any]) -> str:
    css, headline = STATUS_STYLE.get(doc["status"], ("muted", doc["status"]))
    headline = {"passed": "No regression", "over_budget": "Regression"}.get(doc["status"], headline)
    head = doc["head"]
    rows = "".join(
        f'<tr><td>{_e(r["kind"])} <b>{_e(r["subject"])}</b></td>'
        f'<td class="num">{r["base_median_s"]:.2f}</td><td class="num">{r["head_median_s"]:.2f}'
        f'</td><td class="num">{r["ratio"]:.3f}</td><td class="num nowrap">'
        f'{r["interval"][0]:.3f}–{r["interval"][1]:.3f}</td><td>{ratio_svg(r, doc["threshold"])}'
        f'</td><td>{_pill(r["verdict"], {"slower": "bad", "faster": "warn"}.get(r["verdict"], "ok"))}'
        '</td></tr>' for r in doc["results"])
    table = ('<table><tr><th>subject</th><th class="num">BASE s</th><th class="num">HEAD s</th>'
             '<th class="num">HEAD/BASE</th><th class="num">interval</th><th>pairs (dots), '
             'interval (bar), 1 and thresholds (lines)</th><th>verdict</th></tr>'
             f'{rows}</table>') if rows else '<p class="empty">no complete pair</p>'
    runs = "".join(f'<tr><td class="num">{r["pair"] or "warm-up"}</td><td>{_e(r["arm"])}</td><td>'
                   f'{_pill(str(r["status"]), "ok" if r["status"] in USABLE else "bad")}</td>'
                   f'<td class="num">{r.get("wall_seconds") or 0:.1f}</td><td><code>'
                   f'{_e(r["run"])}</code></td></tr>' for r in doc["runs"])
    stopped = (f'<div class="card bad">Stopped: {_e(doc["error"])}</div>'
               if doc.get("error") else "")
    speedups = (f'<div class="card warn">Faster beyond the threshold: '
                f'{_e(", ".join(doc["speedups"]))}: intended, or is work skipped?</div>'
                if doc["speedups"] else "")
    body = (f'<h1>harness compare · {_e(doc["label"])}</h1>'
            f'<div class="verdict {css}"><div><div class="big">{_e(headline.upper())}</div>'
            f'<div class="sub">{_e(doc["rule"])}</div></div></div>'
            f'<p class="meta">BASE <code>{_e(doc["base"]["ref"])}</code> = '
            f'<code>{_e(doc["base"]["commit"][:12])}</code> · HEAD <code>'
            f'{_e((head.get("commit") or "?")[:12])}</code>'
            f'{" + uncommitted changes" if head.get("dirty") else ""} · {doc["pairs_done"]} of '
            f'{doc["pairs"]} pairs, ABBA order · {_e(doc["clock"])} time'
            f'{" at equal machine speed" if doc["normalise_load"] else ""} · exit '
            f'{doc["exit_code"]}</p>{stopped}{speedups}'
            + _section("Groups", table, "groups")
            + _section("Runs", '<table><tr><th class="num">pair</th><th>arm</th><th>status</th>'
                       f'<th class="num">wall s</th><th>run folder</th></tr>{runs}</table>',
                       "runs"))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_e(headline)} · compare {_e(doc['label'])}</title><style>{CSS}</style>"
            f"</head><body><main>{body}</main></body></html>\n")


