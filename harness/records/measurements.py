"""The timings of one run's report.json as Measurements: per test, per group and per cadence -
what budgets judge and what `harness baseline record` and `harness compare` summarise."""
from __future__ import annotations

from dataclasses import replace
from typing import Iterable, Protocol

from harness.measure.timing import Measurement


class _Selection(Protocol):
    label: str
    targets: list[str]


class TimedReport(Protocol):
    """What is read here of a harness.report.types.RunReport (the typed report.json; records
    sits below the report layer and does not import it)."""

    tests: list[dict]
    selection: _Selection
    wall_seconds: float | None


def _measurement(data: dict) -> Measurement:
    return Measurement(**data)


def measurements(report: TimedReport, cadences: Iterable[str]) -> dict[str, dict[str, Measurement]]:
    """kind -> subject -> Measurement of one run's report: each timed test; each group = the
    sum of its tests; the cadence (when the run was one) = the run's wall time and the sum of
    its tests' CPU time. Also what `harness baseline record` summarises."""
    tests, groups = {}, {}
    for test in report.tests:
        if not test.get("timing"):
            continue
        m = _measurement(test["timing"])
        tests[test["nodeid"]] = m
        if test.get("group"):
            groups[test["group"]] = groups[test["group"]] + m if test["group"] in groups else m
    result = {"test": tests, "group": groups}
    selection = report.selection
    if tests and selection.targets == [selection.label] and selection.label in set(cadences):
        work = sum(tests.values(), start=Measurement(0.0, 0.0))
        result["cadence"] = {selection.label: replace(
            work, wall_s=float(report.wall_seconds or 0.0))}
    return result
