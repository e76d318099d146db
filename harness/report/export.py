"""`harness export RUN --format github-action-benchmark`: a run's timings in the JSON that the
github-action-benchmark dashboard charts (its `customSmallerIsBetter` tool): one entry per
cadence, group and test, seconds of wall time, smaller is better.

    [{"name": "group integration", "unit": "s", "value": 31.01, "extra": "passed; 7 tests"}, ...]
"""
from __future__ import annotations

from typing import Any

FORMATS = ("github-action-benchmark",)


def github_action_benchmark(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Entries for the run in `report` (report.json): the selection's wall time, each group's
    summed test time, each test's time; a test without a duration is left out."""
    label = report.get("selection", {}).get("label") or report.get("run_id", "run")
    entries = [{"name": f"{label} (wall)", "unit": "s",
                "value": round(float(report.get("wall_seconds") or 0.0), 3),
                "extra": f"{report.get('status')}; commit {str(report.get('commit') or '-')[:12]}"}]
    for name, group in report.get("groups", {}).items():
        counts = group.get("counts", {})
        entries.append({"name": f"group {name}", "unit": "s",
                        "value": round(float(group.get("seconds") or 0.0), 3),
                        "extra": f"{group.get('verdict')}; {counts.get('total', 0)} tests"})
    for test in report.get("tests", []):
        if isinstance(test.get("seconds"), (int, float)):
            entries.append({"name": test["nodeid"], "unit": "s", "value": round(test["seconds"], 3),
                            "extra": f"{test.get('group')}; {test.get('outcome')}"})
    return entries
