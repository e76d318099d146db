"""Finishing a run - one way for `harness run`'s recorder (harness.plugin.recorder) and for
`harness merge` alike: report.json, report.md and report.html in the run folder, then the
run's ledger line and retention in the harness root.

report.json and report.md are the record: a failure to write them propagates. report.html is a
convenience and the ledger/retention come after the report is safe: their failures are reported
through `warn` (one line) and the run goes on.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

from harness.config.selectors import RetentionPolicy
from harness.records import ledger, runfolder
from harness.report import html as html_report
from harness.report import model as report
from harness.runs import retention

Warn = Callable[[str], None]


def write_reports(run_dir: Path, final: dict, warn: Warn, html_sections: Iterable[str] = ()) -> None:
    """report.json, report.md, report.html (with a project's extra `html_sections`)."""
    runfolder.write_json_atomic(run_dir / runfolder.REPORT_JSON, final)
    runfolder.write_atomic(run_dir / runfolder.REPORT_MD, report.render_markdown(final))
    try:
        html_report.write(run_dir, final, html_sections)
    except Exception as exc:  # report.json/md are written; the page is a convenience
        warn(f"report.html failed: {type(exc).__name__}: {exc}")


def record(harness_root: Path, final: dict, policy: RetentionPolicy, warn: Warn) -> None:
    """The run's ledger line, then retention of the harness root's run folders."""
    try:
        ledger.append(harness_root / runfolder.LEDGER, report.ledger_entry(final))
        retention.prune(harness_root, policy)
    except Exception as exc:  # the report is written; say what failed and go on
        warn(f"ledger/retention failed: {type(exc).__name__}: {exc}")
