"""What a new recording changes in a baseline (`harness baseline record` shows it before it
writes): per subject and clock, the old and new medians."""
from __future__ import annotations

import math
from dataclasses import dataclass

from harness.config.budgets import KINDS
from harness.records.baseline_files import Baseline, Entry


@dataclass(frozen=True)
class Change:
    kind: str
    subject: str
    old: Entry | None
    new: Entry | None

    @property
    def status(self) -> str:
        if self.old is None:
            return "added"
        if self.new is None:
            return "removed"
        return "unchanged" if self.old == self.new else "changed"

    def relative(self, clock: str) -> float | None:
        """(new - old) / old of the median on `clock`, None when either side lacks it."""
        old = self.old and self.old.clock(clock)
        new = self.new and self.new.clock(clock)
        if not old or not new or old.median == 0:
            return None
        return (new.median - old.median) / old.median


def diff(old: Baseline | None, new: Baseline | None) -> list[Change]:
    """Every subject whose entry differs between the two (added, removed or changed)."""
    changes = []
    for kind in KINDS:
        before = old.entries.get(kind, {}) if old else {}
        after = new.entries.get(kind, {}) if new else {}
        for subject in sorted(set(before) | set(after)):
            change = Change(kind, subject, before.get(subject), after.get(subject))
            if change.status != "unchanged":
                changes.append(change)
    return changes


def _cell(entry: Entry | None, clock: str) -> str:
    stats = entry.clock(clock) if entry else None
    if stats is None:
        return "-"
    return f"{stats.median:.3f} ± {stats.mad:.3f} (n={stats.n})"


def _percent(value: float | None) -> str:
    if value is None or math.isnan(value):
        return ""
    colour = "red" if value > 0.05 else "green" if value < -0.05 else "default"
    return f"[{colour}]{value:+.1%}[/{colour}]"


def diff_table(old: Baseline | None, new: Baseline | None):
    """A rich Table of diff(old, new): medians ± MAD on both clocks and the relative change.
    (rich is imported here only, for the CLI: the pytest plugin reads baselines without it.)"""
    from rich.markup import escape
    from rich.table import Table

    title = f"runtime baseline {new.fingerprint_hash if new else old.fingerprint_hash}"
    table = Table(title=title)
    for column in ("kind", "subject", "status", "wall old", "wall new", "wall Δ",
                   "cpu old", "cpu new", "cpu Δ"):
        table.add_column(column, justify="right" if "Δ" in column else "left")
    for change in diff(old, new):
        table.add_row(change.kind, escape(change.subject), change.status,  # ids hold [params]
                      _cell(change.old, "wall"), _cell(change.new, "wall"),
                      _percent(change.relative("wall")),
                      _cell(change.old, "cpu"), _cell(change.new, "cpu"),
                      _percent(change.relative("cpu")))
    return table
