"""Split a selection into N shards of about equal runtime (`harness run CADENCE --shard I/N`).

Deterministic greedy LPT (longest processing time first): the units - all selected tests of one
module (file), never split, so module-scoped fixtures are built once - are taken from the
longest to the shortest and each goes to the shard with the least work so far (ties: lowest
index; units of equal length in module order). A test's duration is its recorded wall-clock
median from the committed runtime baselines (baselines/runtime/*.json); with several files
(machines) the median of their medians, so the plan depends only on the checkout and every CI
matrix job computes the same one whatever runner it lands on. A test without a recording counts
as the mean of the recorded ones (1 s each when nothing is recorded: balanced by test count).

LPT cannot split a module, so one module longer than the mean shard makes the plan lopsided
whatever the shard count: `Plan.warning` says so (largest shard over MAX_IMBALANCE x the mean),
and the shard's report.json, pytest output and the merged report carry it.
"""
from __future__ import annotations

import hashlib
import json
import re
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from harness.records import baselines
from harness.records.baseline_files import BASELINES_DIR

UNRECORDED_SECONDS = 1.0
MAX_IMBALANCE = 1.2  # no shard more than 20 % above the mean (the scale-out issue's bar)
_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class ShardSpec:
    index: int  # 1-based
    count: int

    @property
    def text(self) -> str:
        return f"{self.index}/{self.count}"


def parse_spec(text: str) -> ShardSpec:
    """'I/N' with 1 <= I <= N; ValueError says what is wrong and the fix."""
    match = _SPEC.match(str(text))
    if not match:
        raise ValueError(f"shard {text!r}: expected I/N, e.g. 1/2 (the first of two shards)")
    index, count = int(match[1]), int(match[2])
    if count < 1 or not 1 <= index <= count:
        raise ValueError(f"shard {text!r}: I must be between 1 and N (got I={index}, N={count})")
    return ShardSpec(index, count)


def module_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def recorded_durations(baselines_dir: Path) -> dict[str, float]:
    """node id -> seconds: the median over the committed baseline files of each test's recorded
    wall-clock median (a broken baseline file is a ConfigError, as everywhere else)."""
    samples: dict[str, list[float]] = {}
    for baseline in baselines.load_all(baselines_dir):
        for nodeid, entry in baseline.entries.get("test", {}).items():
            samples.setdefault(nodeid, []).append(entry.wall.median)
    return {nodeid: statistics.median(values) for nodeid, values in samples.items()}


@dataclass(frozen=True)
class Unit:
    module: str
    tests: tuple[str, ...]
    seconds: float
    unrecorded: int  # tests that counted as the mean


@dataclass(frozen=True)
class Plan:
    count: int
    shards: tuple[tuple[Unit, ...], ...]
    fill_seconds: float   # what a test without a recording counted as
    recorded: int         # tests with a recorded duration

    @property
    def loads(self) -> list[float]:
        return [sum(unit.seconds for unit in shard) for shard in self.shards]

    @property
    def mean_load(self) -> float:
        return sum(self.loads) / self.count

    @property
    def imbalance(self) -> float:
        """Largest shard over the mean shard (1.0 = perfect); 0 shards of work -> 1.0."""
        mean = self.mean_load
        return max(self.loads) / mean if mean > 0 else 1.0

    @property
    def largest(self) -> int:
        """1-based index of the shard with the most work (the lowest index on a tie)."""
        loads = self.loads
        return loads.index(max(loads)) + 1

    @property
    def balance(self) -> str:
        """The plan's balance in words: "largest shard 2 is 1.04x the mean"."""
        return f"largest shard {self.largest} is {self.imbalance:.2f}x the mean"

    @property
    def warning(self) -> str | None:
        """None for a balanced plan; else what is lopsided, the module to blame and the fix."""
        if self.imbalance <= MAX_IMBALANCE:
            return None
        heaviest = self.shards[self.largest - 1]
        module = max(heaviest, key=lambda unit: unit.seconds)
        return (f"shard plan unbalanced: shard {self.largest} is {self.imbalance:.2f}x the mean "
                f"({self.loads[self.largest - 1]:.1f} s vs {self.mean_load:.1f} s; "
                f"{module.module} alone is {module.seconds:.1f} s); a test module is never split "
                "- use fewer shards")

    def tests(self, index: int) -> list[str]:
        """Node ids of shard `index` (1-based)."""
        return [nodeid for unit in self.shards[index - 1] for nodeid in unit.tests]

    @property
    def digest(self) -> str:
        """Identifies the assignment: shards of one run must agree on it to be merged."""
        canonical = json.dumps([[list(unit.tests) for unit in shard] for shard in self.shards])
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    def describe(self, index: int) -> dict:
        """What report.json records about shard `index` (see harness.runs.merge)."""
        loads = self.loads
        return {"spec": f"{index}/{self.count}", "index": index, "count": self.count,
                "plan": self.digest, "tests": len(self.tests(index)),
                "tests_total": sum(len(unit.tests) for shard in self.shards for unit in shard),
                "modules": [unit.module for unit in self.shards[index - 1]],
                "estimated_seconds": round(loads[index - 1], 3),
                "estimated_loads": [round(load, 3) for load in loads],
                "imbalance": round(self.imbalance, 3), "balance": self.balance,
                "warning": self.warning,
                "recorded_tests": self.recorded, "fill_seconds": round(self.fill_seconds, 3)}


def plan(nodeids: Sequence[str], count: int, durations: Mapping[str, float]) -> Plan:
    """Assign `nodeids` (collection order) to `count` shards; see the module docstring."""
    if count < 1:
        raise ValueError(f"shard count must be at least 1 (got {count})")
    known = [durations[n] for n in nodeids if n in durations]
    fill = statistics.fmean(known) if known else UNRECORDED_SECONDS
    modules: dict[str, list[str]] = {}
    for nodeid in nodeids:
        modules.setdefault(module_of(nodeid), []).append(nodeid)
    units = [Unit(module, tuple(tests), sum(durations.get(n, fill) for n in tests),
                  sum(n not in durations for n in tests)) for module, tests in modules.items()]
    order = {unit.module: position for position, unit in enumerate(units)}
    loads = [0.0] * count
    assigned: list[list[Unit]] = [[] for _ in range(count)]
    for unit in sorted(units, key=lambda u: (-u.seconds, order[u.module])):
        target = min(range(count), key=lambda i: (loads[i], i))
        assigned[target].append(unit)
        loads[target] += unit.seconds
    # run each shard's modules in collection order (fixtures and logs read as in a serial run)
    shards = tuple(tuple(sorted(shard, key=lambda u: order[u.module])) for shard in assigned)
    return Plan(count, shards, fill, len(known))


def plan_for(nodeids: Iterable[str], count: int, project_root: Path) -> Plan:
    return plan(list(nodeids), count, recorded_durations(Path(project_root) / BASELINES_DIR))
