"""The project's hooks on a finished report, outside the run that made it (harness.runs.merge runs
`pytest -p harness.plugin --collect-only OPTION=FILE`):

- `--harness-findings-of REPORT_JSON` (`harness merge`): pytest_harness_findings and
  pytest_harness_html_sections on the merged report;
- `--harness-html-of REPORT_JSON` (`harness report --format html`): the html sections only.

What they return goes beside the report as {"findings": [...], "html_sections": [...]};
collection is skipped. `html_sections` is also what the recorder calls when a run finishes.
"""
from __future__ import annotations

import json
from pathlib import Path

from harness.records import runfolder
from harness.report.figures import escape, section
from harness.runs.merge import FINDINGS_OUTPUT


def pytest_addoption(parser):
    group = parser.getgroup("harness")
    group.addoption("--harness-findings-of", metavar="REPORT_JSON",
                    help="(harness merge) call the harness hooks on this report instead of "
                         "collecting")
    group.addoption("--harness-html-of", metavar="REPORT_JSON",
                    help="(harness report) call pytest_harness_html_sections on this report "
                         "instead of collecting")


def html_sections(config, report: dict, run_dir: Path) -> list[str]:
    """The project's report.html sections; a hook that raises becomes a section saying so."""
    try:
        return [html for result in config.hook.pytest_harness_html_sections(
            config=config, report=report, run_dir=Path(run_dir)) if result for html in result]
    except Exception as exc:  # noqa: BLE001 - the page must not be lost to one bad section
        return [section("Project sections", f'<p class="empty">pytest_harness_html_sections '
                        f'failed: {escape(type(exc).__name__)}: {escape(exc)}</p>', "project")]


def pytest_collection(session):
    """With --harness-findings-of / --harness-html-of: call the hooks on that report, write
    what they returned beside it and skip collection (True ends this firstresult hook)."""
    config = session.config
    findings_of, html_of = config.getoption("harness_findings_of"), config.getoption("harness_html_of")
    source = findings_of or html_of
    if not source:
        return None
    data = json.loads(Path(source).read_text(encoding="utf-8"))
    findings = [found for result in config.hook.pytest_harness_findings(
        config=config, report=data) if result for found in result] if findings_of else []
    runfolder.write_json_atomic(Path(source).with_name(FINDINGS_OUTPUT), {
        "findings": findings, "html_sections": html_sections(config, data, Path(source).parent)})
    return True
