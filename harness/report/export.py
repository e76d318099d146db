"""`harness export RUN --format github-action-benchmark`: a run's timings in the JSON that the
github-action-benchmark dashboard charts (its `customSmallerIsBetter` tool): one entry per
cadence, group and test, seconds of wall time, smaller is better.

    [{"name": "group integration", "unit": "s", "value": 31.01, "extra": "passed; 7 tests"}, ...]
"""
from __future__ import annotations

from typing import Any

from harness.report.types import RunReport

FORMATS = ("github-action-benchmark",)


def github_action_benchmark(report: RunReport | dict[str, Any]) -> list[dict[str, Any]]:
    """Entries for the run in `report` (report.json): the selection's wall time, each group's
    summed test time, each test's time; a test without a duration is left out."""
    report = RunReport.of(report)
    label = report.selection.label or report.run_id or "run"
    entries = [{"name": f"{label} (wall)", "unit": "s",
                "value": round(float(report.wall_seconds or 0.0), 3),
                "extra": f"{report.status}; commit {str(report.commit or '-')[:12]}"}]
    for name, group in report.groups.items():
        entries.append({"name": f"group {name}", "unit": "s",
                        "value": round(float(group.seconds or 0.0), 3),
                        "extra": f"{group.verdict}; {group.counts.total} tests"})
    for test in report.tests:
        if isinstance(test.get("seconds"), (int, float)):
            entries.append({"name": test["nodeid"], "unit": "s", "value": round(test["seconds"], 3),
                            "extra": f"{test.get('group')}; {test.get('outcome')}"})
    return entries
