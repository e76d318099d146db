"""report.html: a self-contained page that answers at a glance "is it green, what got slower,
what broke" - and, through the pytest_harness_html_sections hook, whatever a project shows of
its own (this project's suite: the reconstruction gallery, tests/suite/report_gallery.py).

Standard library only; no scripts, fonts, styles or images from anywhere else: charts are inline
SVG (harness.report.charts), PNGs are embedded as base64 data URIs (harness.report.figures), so
the page works offline and as a CI artifact. Sections, top to bottom: verdict, groups with
budget bars, budget verdicts, escalations and other findings, failures, skipped tests and their
reasons, slowest tests, the project's own sections, runtime trend per group from the ledger,
environment.

Inputs: the typed report (harness.report.types.RunReport; `render` and `write` take report.json's
dict too) and the run folder (the ledger in the folder above). Structured data that later checks
attach to report.json is used when present: `budgets.verdicts` (BudgetVerdict) for the budget
bars, else the guardrails of selectors/groups.toml; `escalations` (Escalation) for owners and
next steps. `findings` sections are always rendered as they are.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from harness.records import runfolder
from harness.report.charts import _budget_bars, _groups_table, _other_budgets, _trends
from harness.report.figures import escape as _e
from harness.report.figures import section as _section
from harness.report.model import _short_env, scaleout_facts, shard_warning
from harness.report.style import CSS, STATUS_STYLE, VERDICT_CLASS, _pill, _seconds
from harness.report import mutation as mutation_report
from harness.report.types import RunReport

REPORT_HTML = "report.html"
SLOWEST = 10

# ---------------------------------------------------------------- verdict

def _verdict(report: RunReport) -> str:
    status = report.status
    css, headline = STATUS_STYLE.get(status, ("muted", status))
    totals = report.totals
    problems = []
    failing = totals.failed + totals.errors
    if failing:
        problems.append(f"{failing} test{'s' if failing != 1 else ''} failed")
    bad_artifacts = len(report.validation.get("failures", []))
    if bad_artifacts:
        problems.append(f"{bad_artifacts} invalid artifact{'s' if bad_artifacts != 1 else ''}")
    violations = [f for f in report.findings if f.severity == "violation"]
    if violations:
        problems.append(f"{len(violations)} budget/escalation violation section"
                        f"{'s' if len(violations) != 1 else ''}")
    if report.collection_errors:
        problems.append(f"{len(report.collection_errors)} collection error(s)")
    if totals.not_run:
        problems.append(f"{totals.not_run} selected test(s) did not run")
    detail = "; ".join(problems) or ("every selected test passed, artifacts valid, no budget "
                                     "violation" if status == "passed" else "")
    stats = "".join(f'<div class="stat"><b>{count}</b>{label}</div>'
                    for count, label in ((totals.passed, "passed"), (totals.failed, "failed"),
                                         (totals.errors, "errors"), (totals.skipped, "skipped")))
    selection = report.selection
    scale = _scaleout_text(report)
    return (f'<div class="verdict {css}"><div><div class="big">{_e(headline.upper())}</div>'
            f'<div class="sub">{_e(detail)}</div></div><div class="stats">{stats}</div></div>'
            f'<p class="meta">cadence <b>{_e(selection.label)}</b> · groups '
            f'{_e(", ".join(selection.groups))} · run <code>{_e(report.run_id)}'
            f'</code> · commit <code>{_e((report.commit or "unknown")[:12])}</code> · '
            f'{_seconds(report.wall_seconds)} wall · exit {_e(report.exit_code)}'
            f'{scale}</p>{_shard_warning(report)}')


def _shard_warning(report: RunReport) -> str:
    warning = shard_warning(report)
    return f'<div class="card warn">{_e(warning)}</div>' if warning else ""


def _scaleout_text(report: RunReport) -> str:
    return "".join(f" · {_e(fact)}" for fact in scaleout_facts(report))


# ---------------------------------------------------------------- findings / escalations

def _escalations(report: RunReport) -> str:
    cards = []
    for esc in report.escalations or []:
        evidence = "".join(f"<li><code>{_e(line)}</code></li>" for line in esc.evidence)
        steps = "".join(f"<li>{_e(step)}</li>" for step in esc.steps)
        cards.append(
            f'<div class="card bad"><b>{_e(esc.title)}</b> → '
            f'<b>{_e(esc.component)}</b> <span class="small">owner '
            f'{_e(esc.owner)} · contact {_e(esc.contact)} · label '
            f'<code>{_e(esc.label)}</code></span>'
            f'<div><b>Next step:</b> {_e(esc.next_step)}</div>'
            f'<div class="small">subjects: {_e(", ".join(esc.subjects))}</div>'
            f'<details><summary>evidence and all steps</summary><ul>{evidence}</ul>'
            f'<ol>{steps}</ol></details></div>')
    return "".join(cards)


def _findings(report: RunReport) -> str:
    """Every findings section (an info section folded), except the escalations' text when
    their structured form (report.escalations) is shown above."""
    structured = bool(report.escalations)
    cards = []
    for finding in report.findings:
        if structured and finding.source == "escalation":
            continue
        severity = finding.severity
        items = "".join(f"<li>{_e(item)}</li>" for item in finding.items)
        body = f'<ul>{items or "<li>(none)</li>"}</ul>'
        if severity == "info":
            body = f"<details><summary>{len(finding.items)} line(s)</summary>{body}</details>"
        cards.append(f'<div class="card {VERDICT_CLASS.get(severity, "muted")}">'
                     f'<b>{_e(finding.title)}</b> {_pill(severity)} '
                     f'<span class="small">{_e(finding.source)}</span>{body}</div>')
    return "".join(cards)


# ---------------------------------------------------------------- tests

def _failures(report: RunReport) -> str:
    parts = []
    for error in report.collection_errors:
        parts.append(f'<div class="card bad"><b>collection error</b> <code>{_e(error["nodeid"])}'
                     f'</code><pre class="mono">{_e(error.get("message", ""))}</pre></div>')
    for test in report.tests:
        if test.get("outcome") in ("failed", "error"):
            log = test.get("log")
            link = f' · log <a href="{_e(log)}"><code>{_e(log)}</code></a>' if log else ""
            parts.append(f'<div class="card bad">{_pill(test["outcome"], "failed")} '
                         f'<code>{_e(test["nodeid"])}</code> <span class="small">'
                         f'({_e(test.get("group"))}){link}</span>'
                         f'<div class="mono">{_e(test.get("message") or "")}</div></div>')
    for v in report.validation.get("failures", []):
        parts.append(f'<div class="card warn"><b>invalid artifact</b> <code>{_e(v.get("path"))}'
                     f'</code> [{_e(v.get("kind"))}] rule <code>{_e(v.get("rule"))}</code>: '
                     f'{_e(v.get("message"))}</div>')
    for worker in report.crashed_workers:
        parts.append(f'<div class="card bad"><b>crashed worker</b> {_e(worker)}</div>')
    return "".join(parts) or '<p class="empty">nothing broke</p>'


def _skipped(report: RunReport) -> str:
    rows = [f'<tr><td><code>{_e(t["nodeid"])}</code></td><td>{_e(t.get("group"))}</td>'
            f'<td>{_pill(t["outcome"], "muted")}</td><td>{_e(t.get("message") or "")}</td></tr>'
            for t in report.tests if t.get("outcome") in ("skipped", "xfailed")]
    if not rows:
        return ""
    return _section("Skipped tests and their reasons", '<table><thead><tr><th>test</th>'
                    '<th>group</th><th>outcome</th><th>reason</th></tr></thead><tbody>'
                    + "".join(rows) + "</tbody></table>", "skipped")


def _slowest(report: RunReport) -> str:
    tests = sorted(report.tests, key=lambda t: -float(t.get("seconds") or 0))[:SLOWEST]
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


# ---------------------------------------------------------------- page

def _environment(report: RunReport) -> str:
    return (f'<footer>{_e(_short_env(report.environment))} · fingerprint '
            f'<code>{_e(report.fingerprint_hash)}</code> · started '
            f'{_e(report.started_utc)} · finished {_e(report.finished_utc)} · '
            'files: report.json, report.md, junit.xml, logs/, tests/</footer>')


def _guarded(render, *args) -> str:
    """A section whose input is broken says so; the rest of the page still renders."""
    try:
        return render(*args)
    except Exception as exc:  # noqa: BLE001 - the report must not be lost to one bad section
        return f'<p class="empty">section not rendered: {_e(type(exc).__name__)}: {_e(exc)}</p>'


def render(report: RunReport | dict, run_dir: Path, sections: Iterable[str] = ()) -> str:
    """The whole page as a string. `sections`: a project's own HTML sections (the
    pytest_harness_html_sections hook), placed after the slowest tests."""
    report, run_dir = RunReport.of(report), Path(run_dir)
    try:
        bars = _budget_bars(report)
    except Exception:  # noqa: BLE001 - no bars then; the group table still renders
        bars = {}
    label = report.selection.label
    findings = _guarded(_escalations, report) + _guarded(_findings, report)
    body = [
        f"<h1>Regression harness · {_e(label)}</h1>",
        _guarded(_verdict, report),
        _section("Groups and budgets", _guarded(_groups_table, report, bars)
                 + _guarded(_other_budgets, report, bars), "groups"),
        _section("Escalations and findings", findings or '<p class="empty">no findings</p>',
                 "findings"),
        _section("What broke", _guarded(_failures, report), "failures"),
        _guarded(mutation_report.html_section, report.attached, run_dir),  # harness mutate
        _guarded(_skipped, report),
        _section("Slowest tests", _guarded(_slowest, report), "slowest"),
        *sections,
        _section("Runtime trend per group", _guarded(_trends, report, run_dir, bars), "trends"),
        _guarded(_environment, report),
    ]
    status = report.status
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_e(STATUS_STYLE.get(status, ('', status))[1])} · {_e(label)} · "
            f"{_e(report.run_id)}</title><style>{CSS}</style></head>"
            f"<body><main>{''.join(body)}</main></body></html>\n")


def write(run_dir: Path, report: RunReport | dict, sections: Iterable[str] = ()) -> Path:
    """Render and write <run>/report.html atomically; returns its path."""
    path = Path(run_dir) / REPORT_HTML
    runfolder.write_atomic(path, render(report, run_dir, sections))
    return path
