"""The mutation section of report.md, report.html and the terminal, and the score trend over the
ledger (`harness history`). Each renders report.json's `mutation` section only: a report
without one renders nothing here."""
from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any, Iterable

from harness.verdicts.mutation import pct

SURVIVORS_SHOWN = 25    # per component in report.md / report.html (all of them in report.json)
TREND_RUNS = 10


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _survivors(mutation: dict, name: str) -> list[dict]:
    return [m for m in mutation.get("mutants", []) if m["component"] == name
            and m["outcome"] == "survived" and not m.get("equivalent")]


def scores_of(entry: dict) -> dict[str, dict]:
    """component -> {score, ...} of one ledger line or report (its `mutation`)."""
    mutation = entry.get("mutation")
    if not isinstance(mutation, dict):
        return {}
    components = mutation.get("components", mutation)
    return {name: comp for name, comp in components.items() if isinstance(comp, dict)}


def trend(entries: Iterable[dict], name: str, limit: int = TREND_RUNS) -> list[float | None]:
    """The component's score in the ledger lines that have one (oldest first, at most limit)."""
    values = [scores_of(e)[name].get("score") for e in entries if name in scores_of(e)]
    return values[-limit:]


def _trend_text(values: list[float | None]) -> str:
    return " → ".join(pct(v) for v in values) if values else "-"


def _recorded_trend(mutation: dict, name: str) -> str:
    return _trend_text((mutation.get("trend") or {}).get(name, []))


def markdown_lines(data: dict) -> list[str]:
    mutation = data.get("mutation")
    if not isinstance(mutation, dict):
        return []
    lines = ["", "### Mutation score per component", "",
             f"{mutation.get('tool', '')}; score = (killed + timed out) / (mutants - equivalent "
             "- errors)", "",
             "| component | owner | score | target | verdict | mutants | killed | survived | "
             "timed out | equivalent | errors | trend |",
             "| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for name, c in mutation.get("components", {}).items():
        lines.append(f"| {name} | {c['owner']} | {pct(c['score'])} | {pct(c['target'])} | "
                     f"{c['verdict']} | {c['total']} | {c['killed']} | {c['survived']} | "
                     f"{c['timed_out']} | {c['equivalent']} | {c['error']} | "
                     f"{_recorded_trend(mutation, name)} |")
    for name in mutation.get("components", {}):
        survivors = _survivors(mutation, name)
        if not survivors:
            continue
        lines += ["", f"<details><summary>{name}: {len(survivors)} surviving mutant(s)"
                      "</summary>", ""]
        for mutant in survivors[:SURVIVORS_SHOWN]:
            lines += [f"`{mutant['file']}:{mutant['line']}` {mutant['operator']}", "",
                      "```diff", mutant.get("diff", ""), "```", ""]
        if len(survivors) > SURVIVORS_SHOWN:
            lines.append(f"... {len(survivors) - SURVIVORS_SHOWN} more in report.json")
        lines += ["</details>"]
    return lines


def html_section(data: dict, run_dir: Path) -> str:
    """The report.html section (empty string for a report without `mutation`)."""
    mutation = data.get("mutation")
    if not isinstance(mutation, dict):
        return ""
    rows = []
    for name, c in mutation.get("components", {}).items():
        score = c.get("score")
        width = 0 if score is None else round(100 * score)
        colour = {"ok": "#1a7f37", "below_target": "#cf222e"}.get(c["verdict"], "#57606a")
        marker = ("" if c.get("target") is None else
                  f'<div style="position:absolute;left:{round(100 * c["target"])}%;top:-2px;'
                  'bottom:-2px;border-left:2px dashed #24292f" title="target"></div>')
        bar = (f'<div style="position:relative;width:160px;height:12px;background:#eaeef2;'
               f'border-radius:3px"><div style="width:{width}%;height:100%;background:{colour};'
               f'border-radius:3px"></div>{marker}</div>')
        rows.append(f"<tr><td><b>{_e(name)}</b><div class=\"small\">{_e(c['description'])}</div>"
                    f"</td><td>{_e(c['owner'])}</td><td>{_e(pct(score))}{bar}</td>"
                    f"<td>{_e(pct(c.get('target')))}</td><td>{_e(c['verdict'])}</td>"
                    f"<td>{c['total']}</td><td>{c['killed']}</td><td>{c['survived']}</td>"
                    f"<td>{c['timed_out']}</td><td>{c['equivalent']}</td><td>{c['error']}</td>"
                    f"<td class=\"small\">{_e(_recorded_trend(mutation, name))}</td></tr>")
    head = "".join(f"<th>{h}</th>" for h in (
        "component", "owner", "score", "target", "verdict", "mutants", "killed", "survived",
        "timed out", "equivalent", "errors", "trend (oldest → this run)"))
    survivors = []
    for name in mutation.get("components", {}):
        for mutant in _survivors(mutation, name)[:SURVIVORS_SHOWN]:
            survivors.append(f"<details><summary><code>{_e(mutant['file'])}:{mutant['line']}"
                             f"</code> {_e(mutant['operator'])} → {_e(name)}</summary>"
                             f"<pre>{_e(mutant.get('diff', ''))}</pre></details>")
    body = (f'<p class="small">{_e(mutation.get("tool", ""))}; score = (killed + timed out) / '
            "(mutants - equivalent - errors); dashed line: the component's target.</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
            + (f"<h3>Surviving mutants</h3>{''.join(survivors)}" if survivors else
               '<p class="empty">no surviving mutant</p>'))
    return f'<section id="mutation"><h2>Mutation score per component</h2>{body}</section>'


def rich_table(data: dict):
    from rich.table import Table

    table = Table(title="mutation score per component")
    for column in ("component", "score", "target", "verdict", "mutants", "killed", "survived",
                   "timed out", "equiv.", "errors"):
        table.add_column(column)
    for name, c in (data.get("mutation") or {}).get("components", {}).items():
        style = {"ok": "green", "below_target": "red"}.get(c["verdict"], "yellow")
        table.add_row(name, pct(c["score"]), pct(c["target"]), f"[{style}]{c['verdict']}[/]",
                      str(c["total"]), str(c["killed"]), str(c["survived"]),
                      str(c["timed_out"]), str(c["equivalent"]), str(c["error"]))
    return table


def trend_table(entries: list[dict]):
    """`harness history`: each component's score over the ledger lines that have one."""
    from rich.table import Table

    with_scores = [e for e in entries if scores_of(e)]
    names = list(dict.fromkeys(n for e in with_scores for n in scores_of(e)))
    table = Table(title="mutation score per component (oldest -> newest)")
    for column in ("component", "runs", "scores", "last", "target"):
        table.add_column(column)
    for name in names:
        values = trend(with_scores, name, limit=len(with_scores))
        last = next(scores_of(e)[name] for e in reversed(with_scores) if name in scores_of(e))
        table.add_row(name, str(len(values)), _trend_text(values[-TREND_RUNS:]),
                      pct(values[-1] if values else None), pct(last.get("target")))
    return table
