"""The run report: build report.json's dict from per-test records, decide the status and exit
code, and render it as Markdown (GitHub job summary) or a rich terminal table.

Extension point for later checks (budgets, baselines, escalations): "findings" sections.
`apply_findings(report, findings)` appends them and turns a green run into `over_budget`
(exit 4) when one of them is a violation; both renderers show every section generically.
A finding section is {"source": str, "title": str, "severity": "info"|"warning"|"violation",
"items": [str, ...]} plus, optionally, "attach": {key: JSON value} - new top-level keys of
report.json (the budget checks add `budgets` and `escalations` this way).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from harness.report import mutation as mutation_report
from harness.report.exitcodes import ExitCode
from harness.report.types import Counts, GroupSummary, RunReport, Selection, SlowTest
from harness.verdicts import mutation as mutation_verdicts

SCHEMA_VERSION = 1
SCHEMA_FILE = Path(__file__).with_name("schemas") / "report.schema.json"  # package data
FAILING_STATUSES = frozenset({"failed", "error", "invalid", "over_budget"})
OUTCOMES = ("passed", "failed", "errors", "skipped", "xfailed", "xpassed")
# per-test outcome -> the counter it feeds
_COUNTER = {"passed": "passed", "failed": "failed", "error": "errors", "skipped": "skipped",
            "xfailed": "xfailed", "xpassed": "xpassed"}
SLOWEST_PER_GROUP = 5   # recorded in report.json
SLOWEST_SHOWN_PER_GROUP = 3  # shown by report.md and the terminal
SEVERITIES = ("info", "warning", "violation")


def exit_code(status: str) -> int:
    return int(ExitCode.of(status))


def counts(tests: Iterable[dict]) -> dict[str, int]:
    result = dict.fromkeys(OUTCOMES, 0)
    total = 0
    for test in tests:
        result[_COUNTER[test["outcome"]]] += 1
        total += 1
    result["total"] = total
    return result


def _verdict(group_counts: dict[str, int], validation_failures: int) -> str:
    if group_counts["failed"] or group_counts["errors"]:
        return "failed"
    if validation_failures:
        return "invalid"
    return "passed" if group_counts["total"] else "empty"


def guardrails_text(budget: dict[str, Any], separator: str = ", ") -> str:
    return separator.join(f"{key} = {value}" for key, value in budget.items())


def group_summary(group, tests: list[dict]) -> dict[str, Any]:
    """`group` is a selectors.Group; `tests` its finished test records."""
    validations = [v for t in tests for v in t.get("validation", [])]
    failures = sum(not v["ok"] for v in validations)
    group_counts = counts(tests)
    starts = [t["start"] for t in tests if t.get("start")]
    stops = [t["stop"] for t in tests if t.get("stop")]
    slowest = sorted(tests, key=lambda t: t["seconds"], reverse=True)[:SLOWEST_PER_GROUP]
    return {
        "description": group.description,
        "owner": group.owner,
        "cadences": list(group.cadences),
        "verdict": _verdict(group_counts, failures),
        "counts": group_counts,
        "seconds": round(sum(t["seconds"] for t in tests), 3) if tests else 0.0,
        "span_seconds": round(max(stops) - min(starts), 3) if starts and stops else 0.0,
        "artifacts_validated": len(validations),
        "validation_failures": failures,
        "slowest": [{"nodeid": t["nodeid"], "seconds": t["seconds"]} for t in slowest],
        "guardrails": dict(group.budget),
        "guardrails_text": guardrails_text(group.budget),
    }


def decide_status(*, tests: list[dict], collection_errors: list[dict], interrupted: bool,
                  internal_error: bool) -> str:
    if interrupted:
        return "interrupted"
    if collection_errors or internal_error:
        return "error"
    if any(t["outcome"] in ("failed", "error") for t in tests):
        return "failed"
    if any(not v["ok"] for t in tests for v in t.get("validation", [])):
        return "invalid"
    return "passed" if tests else "empty"


def build(*, run_id: str, selection, config, tests: list[dict], collection_errors: list[dict],
          status: str, started_utc: str, finished_utc: str | None, wall_seconds: float,
          environment: dict, fingerprint: dict, fingerprint_hash: str, pytest_info: dict,
          collected: int | None, crashed_workers: list[str]) -> dict[str, Any]:
    """report.json's content. `selection`/`config` are selectors.Selection/HarnessConfig."""
    by_group: dict[str, list[dict]] = {name: [] for name in selection.groups}
    for test in tests:
        by_group.setdefault(test["group"], []).append(test)
    groups = {name: group_summary(config.groups[name], group_tests)
              for name, group_tests in by_group.items() if name in config.groups}
    totals = counts(tests)
    totals["not_run"] = max(0, (collected or 0) - len(tests))
    validation = [dict(v, nodeid=t["nodeid"]) for t in tests for v in t.get("validation", [])]
    return RunReport(
        schema=SCHEMA_VERSION,
        run_id=run_id,
        status=status,
        exit_code=exit_code(status),
        selection=Selection(selection.label, list(selection.targets), list(selection.groups)),
        started_utc=started_utc,
        finished_utc=finished_utc,
        wall_seconds=round(wall_seconds, 3),
        commit=environment.get("git", {}).get("commit"),
        environment=environment,
        fingerprint=fingerprint,
        fingerprint_hash=fingerprint_hash,
        pytest=pytest_info,
        totals=Counts.from_json(totals),
        guardrails={name: {"budget": budget, "text": guardrails_text(budget)}
                    for name, budget in selection.budgets.items()},
        groups={name: GroupSummary.from_json(group) for name, group in groups.items()},
        tests=sorted(tests, key=lambda t: t["nodeid"]),
        validation={"checked": len(validation),
                    "failures": [v for v in validation if not v["ok"]]},
        collection_errors=collection_errors,
        crashed_workers=crashed_workers,
        findings=[],
        files={"junit": "junit.xml", "markdown": "report.md", "events": "events.jsonl",
               "logs": "logs/", "artifacts": "tests/"},
    ).to_json()


def apply_findings(report: dict[str, Any], findings: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Append finding sections (see module doc); a violation turns 'passed' into 'over_budget'."""
    for finding in findings:
        if finding.get("severity") not in SEVERITIES:
            raise ValueError(f"finding from {finding.get('source')!r}: severity must be one of "
                             f"{', '.join(SEVERITIES)}, got {finding.get('severity')!r}")
        report["findings"].append({"source": str(finding.get("source", "")),
                                   "title": str(finding.get("title", "")),
                                   "severity": finding["severity"],
                                   "items": [str(item) for item in finding.get("items", [])]})
        # structured data for report.json (e.g. "budgets", "escalations"); never a built key
        for key, value in (finding.get("attach") or {}).items():
            if key in report:
                raise ValueError(f"finding from {finding.get('source')!r}: attach key {key!r} "
                                 "is already in the report (use a new top-level key)")
            report[key] = value
        if finding["severity"] == "violation" and report["status"] == "passed":
            report["status"] = "over_budget"
    report["exit_code"] = exit_code(report["status"])
    return report


def ledger_entry(report: RunReport | dict[str, Any]) -> dict[str, Any]:
    """One ledger line. A shard run's line carries `shard: "I/N"` (its merged run has the line
    that counts: readers skip shard lines) and a merged run's `merged_from: [run ids]`; a
    judged run's `timing` keeps its budget measurements (kind -> subject -> wall_s, cpu_s,
    speed_s) for provisional baselines."""
    typed = RunReport.of(report)
    entry = {
        "schema": SCHEMA_VERSION,
        "run_id": typed.run_id,
        "cadence": typed.selection.label,
        "targets": typed.selection.targets,
        "status": typed.status,
        "exit_code": typed.exit_code,
        "commit": typed.commit,
        "started_utc": typed.started_utc,
        "finished_utc": typed.finished_utc,
        "wall_seconds": typed.wall_seconds,
        "workers": typed.pytest.get("workers", 0),
        "fingerprint": typed.fingerprint,
        "fingerprint_hash": typed.fingerprint_hash,
        "totals": typed.totals.to_json(),
        "groups": {name: {"verdict": g.verdict, "seconds": g.seconds,
                          "span_seconds": g.span_seconds, "counts": g.counts.to_json()}
                   for name, g in typed.groups.items()},
        # per-test trends (harness history --tests): the slowest tests of the run, bounded so
        # that the ledger stays small
        "tests": {t["nodeid"]: t["seconds"] for t in sorted(
            (t for t in typed.tests if isinstance(t.get("seconds"), (int, float))),
            key=lambda t: -t["seconds"])[:LEDGER_TESTS]},
    }
    budgets = typed.budgets
    if budgets is not None and budgets.measurements:
        # what the budget checks timed (cadence, groups, listed tests): the samples a
        # provisional baseline of this fingerprint is learnt from (harness.records.baselines)
        entry["timing"] = budgets.measurements
        if budgets.contention is not None and budgets.contention.contended:
            entry["contended"] = True  # not a sample of this machine's normal speed
    shard = typed.pytest.get("shard")
    if shard:
        entry["shard"] = shard["spec"]
    merged_from, mutation = typed.attached.get("merged_from"), typed.attached.get("mutation")
    if merged_from:
        entry["merged_from"] = list(merged_from)
    if mutation:  # harness mutate: the scores per component, for their trend
        entry["mutation"] = mutation_verdicts.ledger_field(mutation)
    return entry


LEDGER_TESTS = 25   # slowest tests per ledger line

_ICON = {"passed": "✅", "failed": "❌", "error": "⛔", "invalid": "⚠️", "over_budget": "⏱️",
         "empty": "➖", "interrupted": "⏹️", "running": "⏳"}


def _short_env(env: dict) -> str:
    packages = env.get("packages", {})
    parts = [f"Python {env.get('python')}"]
    parts += [f"{name} {packages[name]}" for name in ("torch", "tensorflow", "lightning")
              if packages.get(name)]
    cuda = env.get("cuda", {})
    parts.append(f"{env.get('cpu_model')} ({env.get('cpu_count')} cores)")
    parts.append("CUDA: " + (", ".join(cuda.get("gpus", [])) or "none") + f" [{cuda.get('method')}]")
    return " · ".join(parts)


def scaleout_facts(report: RunReport) -> list[str]:
    """How the run was spread out, as short plain-text facts (accelerator, shard and its plan's
    balance, merged shard runs, xdist workers) for report.md, the terminal and report.html."""
    info = report.pytest
    facts = [f"accelerator {info['accelerator']}"] if info.get("accelerator") else []
    shard = info.get("shard")
    if isinstance(shard, dict) and shard.get("spec"):
        balance = f"; {shard['balance']}" if shard.get("balance") else ""
        facts.append(f"shard {shard['spec']} ({shard.get('tests', '?')} of "
                     f"{shard.get('tests_total', '?')} tests{balance})")
    merged_from = report.attached.get("merged_from")
    if merged_from:
        facts.append(f"merged from {len(merged_from)} shard runs")
    if info.get("workers"):
        facts.append(f"{info['workers']} xdist workers")
    return facts


def shard_warning(report: RunReport) -> str | None:
    """A shard run's lopsided plan (harness.runs.sharding.Plan.warning); a merged run carries it
    as a findings section instead."""
    shard = report.pytest.get("shard")
    return shard.get("warning") if isinstance(shard, dict) else None


def slowest_tests(report: RunReport) -> list[tuple[str, SlowTest]]:
    """(group, test): the slowest few tests of each group, as the reports show them."""
    return [(name, test) for name, g in report.groups.items()
            for test in g.slowest[:SLOWEST_SHOWN_PER_GROUP]]


def _md_cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(report: RunReport | dict[str, Any]) -> str:
    typed = RunReport.of(report)
    status, totals = typed.status, typed.totals
    commit = (typed.commit or "unknown")[:12]
    warning = shard_warning(typed)
    lines = [
        f"## {_ICON.get(status, '')} Regression harness: `{typed.selection.label}` — {status}",
        "",
        " · ".join([f"Run `{typed.run_id}`", f"commit `{commit}`",
                    f"{typed.wall_seconds:.1f} s", f"exit {typed.exit_code}",
                    *scaleout_facts(typed)]),
        "",
        *([f"> **Warning:** {warning}", ""] if warning else []),
        "| group | owner | verdict | passed | failed | errors | skipped | seconds | artifacts "
        "(bad) | guardrails |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, g in typed.groups.items():
        c = g.counts
        lines.append(
            f"| {name} | {g.owner} | {_ICON.get(g.verdict, '')} {g.verdict} | "
            f"{c.passed} | {c.failed} | {c.errors} | {c.skipped} | {g.seconds:.2f} | "
            f"{g.artifacts_validated} ({g.validation_failures}) | "
            f"{_md_cell(g.guardrails_text or '-')} |")
    lines.append(f"| **total** | | | {totals.passed} | {totals.failed} | "
                 f"{totals.errors} | {totals.skipped} | | "
                 f"{typed.validation.get('checked', 0)} "
                 f"({len(typed.validation.get('failures', []))}) | |")
    if totals.not_run:
        lines += ["", f"**{totals.not_run} selected test(s) did not run.**"]
    for name, guard in typed.guardrails.items():
        lines += ["", f"Cadence guardrails ({name}): {guard['text']}"]
    problems = [t for t in typed.tests if t["outcome"] in ("failed", "error")]
    if typed.collection_errors:
        lines += ["", "### Collection errors", ""]
        lines += [f"- `{e['nodeid']}`: {_md_cell(e['message'])}" for e in typed.collection_errors]
    if problems:
        lines += ["", "### Failures", ""]
        lines += [f"- `{t['nodeid']}` ({t['group']}, {t['outcome']}): {_md_cell(t.get('message') or '')}"
                  f" — log `{t.get('log')}`" for t in problems]
    if typed.crashed_workers:
        lines += ["", "### Crashed workers", ""] + [f"- {w}" for w in typed.crashed_workers]
    failures = typed.validation.get("failures", [])
    if failures:
        lines += ["", "### Artifact validation failures", ""]
        lines += [f"- `{v['path']}` [{v['kind']}] rule `{v['rule']}`: {_md_cell(v['message'])}"
                  for v in failures]
    for finding in typed.findings:
        lines += ["", f"### {finding.title} ({finding.source}, {finding.severity})", ""]
        lines += [f"- {_md_cell(item)}" for item in finding.items] or ["- (none)"]
    slow = slowest_tests(typed)
    if slow:
        lines += ["", "<details><summary>Slowest tests</summary>", "", "| group | test | s |",
                  "| --- | --- | ---: |"]
        lines += [f"| {name} | `{s.nodeid}` | {s.seconds:.2f} |" for name, s in slow]
        lines += ["", "</details>"]
    if typed.attached.get("mutation"):   # harness mutate: scores per component, survivors
        lines += mutation_report.markdown_lines(typed.attached)
    lines += ["", f"Environment: {_short_env(typed.environment)} · "
                  f"fingerprint `{typed.fingerprint_hash}`", ""]
    return "\n".join(lines)


def render_rich(report: RunReport | dict[str, Any], console) -> None:
    """Print the report to a rich Console (rich is imported here only: the plugin never is)."""
    from rich.markup import escape
    from rich.table import Table

    typed = RunReport.of(report)
    status = typed.status
    style = {"passed": "green", "empty": "yellow", "interrupted": "yellow"}.get(status, "red")
    console.print(" · ".join([
        f"[bold]{escape(typed.run_id)}[/]", f"[{style}]{status}[/]",
        f"exit {typed.exit_code}", f"{typed.wall_seconds:.1f} s",
        f"commit {(typed.commit or 'unknown')[:12]}",
        *map(escape, scaleout_facts(typed))]))
    warning = shard_warning(typed)
    if warning:
        console.print(f"[yellow]warning[/] {escape(warning)}")
    table = Table(title=f"harness: {typed.selection.label}", show_lines=False)
    for column, justify in (("group", "left"), ("owner", "left"), ("verdict", "left"),
                            ("pass", "right"), ("fail", "right"), ("err", "right"),
                            ("skip", "right"), ("seconds", "right"), ("artifacts", "right"),
                            ("guardrails", "left")):
        table.add_column(column, justify=justify)
    for name, g in typed.groups.items():
        c = g.counts
        verdict_style = {"passed": "green", "empty": "yellow"}.get(g.verdict, "red")
        table.add_row(escape(name), escape(g.owner), f"[{verdict_style}]{g.verdict}[/]",
                      str(c.passed), str(c.failed), str(c.errors), str(c.skipped),
                      f"{g.seconds:.2f}", f"{g.artifacts_validated} ({g.validation_failures} bad)",
                      escape(guardrails_text(g.guardrails, "\n") or "-"))
    console.print(table)
    if typed.totals.not_run:
        console.print(f"[yellow]{typed.totals.not_run} selected test(s) did not run[/]")
    for error in typed.collection_errors:
        console.print(f"[red]collection error[/] {escape(error['nodeid'])}: {escape(error['message'])}")
    for test in typed.tests:
        if test["outcome"] in ("failed", "error"):
            console.print(f"[red]{test['outcome'].upper()}[/] {escape(test['nodeid'])}: "
                          f"{escape(test.get('message') or '')}  [dim](log: {test.get('log')})[/]",
                          highlight=False)
    for worker in typed.crashed_workers:
        console.print(f"[red]crashed worker[/] {escape(worker)}")
    for v in typed.validation.get("failures", []):
        console.print(f"[red]INVALID[/] {escape(v['path'])} \\[{v['kind']}] {v['rule']}: "
                      f"{escape(v['message'])}", highlight=False)
    for finding in typed.findings:
        console.print(f"[bold]{escape(finding.title)}[/] ({escape(finding.source)}, "
                      f"{finding.severity})")
        for item in finding.items:
            console.print(f"  - {item}", highlight=False, markup=False)
    if typed.attached.get("mutation"):   # harness mutate: scores per component
        console.print(mutation_report.rich_table(typed.attached))
    slow = slowest_tests(typed)
    if slow:
        slowest = Table(title="slowest tests", title_justify="left", box=None, pad_edge=False)
        for column, justify in (("group", "left"), ("test", "left"), ("s", "right")):
            slowest.add_column(column, justify=justify)
        for name, test in slow:
            slowest.add_row(escape(name), escape(test.nodeid), f"{test.seconds:.2f}")
        console.print(slowest)
    console.print(f"[dim]{escape(_short_env(typed.environment))}[/]", highlight=False)
