"""`--harness-findings-of REPORT_JSON`: call the pytest_harness_findings hook on a finished
report (a merged one: harness.runs.merge.hook_findings runs `pytest -p harness.plugin
--collect-only --harness-findings-of FILE`) and write the sections beside it."""
from __future__ import annotations

import json
from pathlib import Path

from harness.records import runfolder
from harness.runs.merge import FINDINGS_OUTPUT


def pytest_addoption(parser):
    parser.getgroup("harness").addoption(
        "--harness-findings-of", metavar="REPORT_JSON",
        help="(harness merge) call pytest_harness_findings on this report instead of collecting")


def pytest_collection(session):
    """With --harness-findings-of: call the findings hook on that report, write the sections
    beside it and skip collection (returning True ends this firstresult hook)."""
    source = session.config.getoption("harness_findings_of")
    if not source:
        return None
    data = json.loads(Path(source).read_text(encoding="utf-8"))
    sections = [section for result in session.config.hook.pytest_harness_findings(
        config=session.config, report=data) if result for section in result]
    runfolder.write_json_atomic(Path(source).with_name(FINDINGS_OUTPUT), sections)
    return True
