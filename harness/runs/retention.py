"""Retention of run folders: keep the newest K runs, the newest M failing runs beyond those
and every run that has not finished (it may still be running); delete the rest."""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from harness.config.selectors import RetentionPolicy
from harness.records import runfolder
from harness.report.model import FAILING_STATUSES
from harness.report.types import RunReport


@dataclass
class Decision:
    run: Path
    keep: bool
    reason: str


def plan(root: Path, policy: RetentionPolicy) -> list[Decision]:
    runs = runfolder.list_runs(root)
    newest = set(runs[-policy.keep_last:])
    decisions = []
    failing_kept = 0
    for run in reversed(runs):  # newest first: the failing runs kept are the newest ones
        if run in newest:  # kept whatever it holds: its report need not be read
            decisions.append(Decision(run, True, f"among the newest {policy.keep_last}"))
            continue
        data = runfolder.read_report(run)
        report = _typed(data)
        if not runfolder.is_complete(data):
            decisions.append(Decision(run, True, "incomplete (running, crashed or no report.json)"))
        elif report is None:
            decisions.append(Decision(run, True, "report.json does not read as a report (kept)"))
        elif policy.keep_failing and is_failing(report):
            if failing_kept < policy.keep_failing_max:
                failing_kept += 1
                decisions.append(Decision(run, True, f"failing run ({report.status})"))
            else:
                decisions.append(Decision(run, False, f"failing run ({report.status}) "
                                          f"beyond the newest {policy.keep_failing_max} kept"))
        else:
            decisions.append(Decision(run, False, f"older than the newest {policy.keep_last}"))
    return decisions[::-1]


def _typed(report: dict | None) -> RunReport | None:
    """report.json typed; None without one, or for one that does not read as a report (edited
    by hand, say)."""
    if report is None:
        return None
    try:
        return RunReport.from_json(report)
    except (KeyError, TypeError, AttributeError, ValueError):
        return None


def is_failing(report: RunReport) -> bool:
    return (report.status in FAILING_STATUSES
            or bool(report.totals.failed) or bool(report.totals.errors))


def prune(root: Path, policy: RetentionPolicy, dry_run: bool = False) -> list[Decision]:
    """Apply `plan`; folders are renamed away first, so a concurrent prune or reader never sees
    a half-deleted run under its real name."""
    root = Path(root)
    if not root.is_dir():
        return []
    with FileLock(str(root / ".prune.lock"), timeout=60):
        decisions = plan(root, policy)
        if not dry_run:
            for decision in decisions:
                if decision.keep:
                    continue
                doomed = root / f".pruning-{decision.run.name}-{os.getpid()}"
                try:
                    os.rename(decision.run, doomed)
                except FileNotFoundError:
                    continue
                shutil.rmtree(doomed, ignore_errors=True)
    return decisions
