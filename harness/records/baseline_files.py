"""The committed runtime baselines as data: baselines/runtime/<fingerprint hash>.json holds, per
cadence, group and test, the statistics (Stats) of the recorded runs on both clocks (Entry), for
one machine fingerprint (Baseline); reading and writing those files. Matching a run to a
baseline, recording and the provisional baseline: harness.records.baselines."""
from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence


from harness.config.budgets import KINDS, SECTIONS
from harness.config.files import Fields, config_error, read_json
from harness.measure import environment
from harness.measure.timing import Measurement
from harness.records import runfolder
FORMAT = "harness-runtime-baseline"
# still read: the tag files had before the harness stopped naming the package it first guarded
READ_FORMATS = (FORMAT, "ptycho-harness-runtime-baseline")
VERSION = 1
BASELINES_DIR = "baselines"  # under the project root
RUNTIME_DIR = "runtime"
CLOCKS = ("wall", "cpu")
DECIMALS = 4

# kind -> subject -> seconds: what one run of a cadence measured.
Measurements = Mapping[str, Mapping[str, "Measurement | float"]]


@dataclass(frozen=True)
class Stats:
    """Robust summary of repeated timings, in seconds. MAD is the raw median absolute
    deviation (multiply by 1.4826 for a normal-equivalent sigma)."""

    median: float
    mad: float
    iqr: float
    n: int
    min: float
    max: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Stats:
        if not samples:
            raise ValueError("no samples to summarise")
        median = statistics.median(samples)
        mad = statistics.median(abs(s - median) for s in samples)
        iqr = 0.0
        if len(samples) > 1:
            q1, _, q3 = statistics.quantiles(samples, n=4, method="inclusive")
            iqr = q3 - q1
        return cls(median, mad, iqr, len(samples), min(samples), max(samples))

    def scaled(self, factor: float) -> Stats:
        return Stats(self.median * factor, self.mad * factor, self.iqr * factor, self.n,
                     self.min * factor, self.max * factor)

    def as_dict(self) -> dict[str, Any]:
        return {name: (value if name == "n" else round(value, DECIMALS))
                for name, value in vars(self).items()}

    @classmethod
    def from_fields(cls, f: Fields) -> Stats:
        f.only({"median", "mad", "iqr", "n", "min", "max"})
        numbers = {name: f.number(name, required=True)
                   for name in ("median", "mad", "iqr", "min", "max")}
        return cls(n=f.integer("n", minimum=1, required=True), **numbers)


@dataclass(frozen=True)
class Entry:
    """One subject's recorded timings."""

    wall: Stats
    cpu: Stats | None
    calibration_s: float | None
    cadence: str
    recorded_utc: str
    speed_s: float | None = None

    def clock(self, name: str) -> Stats | None:
        return self.wall if name == "wall" else self.cpu

    def scaled(self, factor: float) -> Entry:
        return replace(self, wall=self.wall.scaled(factor),
                       cpu=self.cpu.scaled(factor) if self.cpu else None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "cadence": self.cadence,
            "recorded_utc": self.recorded_utc,
            "calibration_s": None if self.calibration_s is None else round(self.calibration_s, 6),
            "speed_s": None if self.speed_s is None else round(self.speed_s, 9),
            "wall": self.wall.as_dict(),
            "cpu": self.cpu.as_dict() if self.cpu else None,
        }

    @classmethod
    def from_fields(cls, f: Fields) -> Entry:
        f.only({"cadence", "recorded_utc", "calibration_s", "speed_s", "wall", "cpu"})

        def optional(name: str) -> float | None:  # JSON null: not measured
            return None if f.table.get(name) is None else f.number(name, positive=True)

        return cls(
            wall=Stats.from_fields(f.sub("wall", required=True)),
            cpu=None if f.table.get("cpu") is None else Stats.from_fields(f.sub("cpu")),
            calibration_s=optional("calibration_s"),
            cadence=f.text("cadence", required=True),
            recorded_utc=f.text("recorded_utc", required=True),
            speed_s=optional("speed_s"),
        )


@dataclass(frozen=True)
class Baseline:
    fingerprint: dict[str, Any]
    entries: dict[str, dict[str, Entry]] = field(default_factory=dict)  # kind -> subject -> Entry

    @property
    def fingerprint_hash(self) -> str:
        return environment.fingerprint_hash(self.fingerprint)

    def entry(self, kind: str, subject: str) -> Entry | None:
        return self.entries.get(kind, {}).get(subject)

    def as_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "fingerprint": self.fingerprint,
            "fingerprint_hash": self.fingerprint_hash,
        }
        for kind in KINDS:
            document[SECTIONS[kind]] = {subject: entry.as_dict()
                                        for subject, entry in self.entries.get(kind, {}).items()}
        return document

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str | Path) -> Baseline:
        f = Fields(source, data)
        f.only({"format", "version", "fingerprint", "fingerprint_hash", *SECTIONS.values()})
        if data.get("format") not in READ_FORMATS:
            raise f.fail("format", f"must be {FORMAT!r} (got {data.get('format')!r})")
        if data.get("version") != VERSION:
            raise f.fail("version", f"this harness reads version {VERSION} "
                                    f"(got {data.get('version')!r}; re-record the baseline)")
        fingerprint = data.get("fingerprint")
        if not isinstance(fingerprint, dict):
            raise f.fail("fingerprint", f"must be a table (got {fingerprint!r})")
        baseline = cls(fingerprint, {
            kind: {subject: Entry.from_fields(section.sub(subject))
                   for subject in section.table}
            for kind in KINDS
            for section in [f.sub(SECTIONS[kind])]
        })
        if data.get("fingerprint_hash") != baseline.fingerprint_hash:
            raise f.fail("fingerprint_hash", f"does not match the fingerprint (expected "
                                             f"{baseline.fingerprint_hash!r}: the fingerprint was "
                                             "edited by hand; re-record instead)")
        return baseline


# ---------------------------------------------------------------- files

def path_for(baselines_dir: Path, fingerprint: Mapping[str, Any]) -> Path:
    return Path(baselines_dir) / RUNTIME_DIR / f"{environment.fingerprint_hash(dict(fingerprint))}.json"


def load(path: Path) -> Baseline:
    baseline = Baseline.from_dict(read_json(path), path)
    if Path(path).stem != baseline.fingerprint_hash:
        raise config_error(path, "fingerprint_hash",
                           f"file name should be {baseline.fingerprint_hash}.json (rename it)")
    return baseline


def load_all(baselines_dir: Path) -> list[Baseline]:
    """Every baseline file; a broken one is an error, never silently skipped."""
    folder = Path(baselines_dir) / RUNTIME_DIR
    return [load(path) for path in sorted(folder.glob("*.json"))]


def write(baselines_dir: Path, baseline: Baseline) -> Path:
    """Atomically (temp file in the same folder + os.replace): a reader never sees half a file."""
    path = path_for(baselines_dir, baseline.fingerprint)
    path.parent.mkdir(parents=True, exist_ok=True)
    runfolder.write_atomic(path, json.dumps(baseline.as_dict(), indent=2, sort_keys=True) + "\n")
    return path
