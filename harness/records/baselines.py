"""Recorded runtime baselines: baselines/runtime/<fingerprint-hash>.json, one file per machine.

A file holds robust statistics over several recording runs (median, MAD, IQR, n, min, max) for
every cadence, group and test that was timed, on both clocks (wall, cpu; see harness.measure.timing),
plus the machine speed measured alongside (harness.measure.calibration: the session calibration and
the speed probe) so that the numbers can be carried to another machine, or to a busier moment
on the same machine. Files are committed and
meant to be read in a diff: sorted keys, indent 2, values rounded to 0.1 ms, written atomically.

    {
      "format": "harness-runtime-baseline", "version": 1,
      "fingerprint": {...harness.measure.environment.fingerprint()...}, "fingerprint_hash": "3f2a9c01b4de",
      "cadences": {"per_pr": ENTRY}, "groups": {"integration": ENTRY}, "tests": {"<node id>": ENTRY}
    }
    ENTRY = {"cadence": "per_pr", "recorded_utc": "2025-10-19T21:58:00Z",
             "calibration_s": 0.112,   # median calibration CPU s/repetition of the recording runs
             "speed_s": 0.00031,       # median speed-probe CPU s/repetition while it ran
             "wall": STATS, "cpu": STATS}   # "cpu", "calibration_s", "speed_s" may be null
    STATS = {"median": 35.92, "mad": 0.41, "iqr": 0.83, "n": 5, "min": 35.1, "max": 37.0}

Recording (`harness baseline record CADENCE --runs N` -> record_cadence) and adopting
(`harness baseline adopt` -> the provisional baseline written out) are the only writers: a
normal run never changes a baseline file.

Provisional baselines (`provisional`): a fingerprint without a committed file learns its own
from the ledger. Every judged run's ledger line carries its timings (`timing`, see
harness.report.model.ledger_entry); once `min_runs` green runs (status passed) of this very
fingerprint hold a subject, the newest `window` of them are summarised exactly as a recording
is, and that subject is judged exactly against them. Lines of other fingerprints are never
read, so runs on one machine never move another's baseline.

Another machine's baseline is not scaled to this one: no short workload predicted the suite's
groups across machines and conditions (benchmarks/bench_calibration.py), so its verdicts stay
unscaled, marked estimated, and fail the gate only beyond a wide safety margin
(harness.verdicts.budgets, [defaults] estimated_factor).
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence


from harness.config.budgets import KINDS, ProvisionalRule
from harness.measure import calibration, environment
from harness.measure.timing import Measurement
# the files' data and I/O, used here and by the callers of this module as baselines.<name>
from harness.records.baseline_files import (BASELINES_DIR, RUNTIME_DIR, Baseline, Entry,  # noqa: F401
                                            Measurements, Stats, load, load_all, path_for, write)


# ---------------------------------------------------------------- matching

def _release(version: Any) -> tuple[int, ...]:
    digits = []
    for part in str(version or "").split("+")[0].split("."):
        if not part.isdigit():
            break
        digits.append(int(part))
    return tuple(digits[:3])


def version_distance(a: Any, b: Any) -> int:
    """0 same, 1 patch differs, 2 minor differs, 3 major differs or one is missing."""
    if a == b:
        return 0
    ra, rb = _release(a), _release(b)
    if not ra or not rb or ra[0] != rb[0]:
        return 3
    return 1 if ra[:2] == rb[:2] else 2


def fingerprint_distance(a: Mapping[str, Any], b: Mapping[str, Any]) -> tuple[int, ...]:
    """Rank for the nearest baseline (lexicographic, smaller is nearer): same core count first
    (it bounds parallel work), then same platform (system, machine, implementation), same GPU
    count, then how far Python and the framework versions are apart, then the CPU model."""
    packages_a, packages_b = a.get("packages") or {}, b.get("packages") or {}
    versions = version_distance(a.get("python"), b.get("python")) + sum(
        version_distance(packages_a.get(name), packages_b.get(name))
        for name in sorted(set(packages_a) | set(packages_b)))
    platform = sum(a.get(key) != b.get(key) for key in ("system", "machine", "implementation"))
    return (int(a.get("cpu_count") != b.get("cpu_count")), platform,
            int(a.get("gpus") != b.get("gpus")), versions, int(a.get("cpu_model") != b.get("cpu_model")))


@dataclass(frozen=True)
class Reference:
    """What one session's timings are judged against (see harness.verdicts.budgets.judge).

    baseline: this machine's baseline: the committed file of this fingerprint, else the
      provisional one learnt from the ledger (`provisional_runs` > 0), else the nearest other
      machine's file (exact False); None: no baseline anywhere.
    exact: `baseline` was measured on this very fingerprint (committed or provisional).
    calibration_s: this session's calibration (CPU s per repetition), None if not measured.
    fallback: the nearest other machine's file, for subjects an exact baseline lacks (e.g. a
      group no run of this machine has timed yet); its verdicts are estimated.
    provisional_runs: how many ledger runs the provisional baseline was built from (0: not
      provisional).
    """

    baseline: Baseline | None
    exact: bool = False
    calibration_s: float | None = None
    fallback: Baseline | None = None
    provisional_runs: int = 0

    @property
    def provisional(self) -> bool:
        return self.provisional_runs > 0

    def entry(self, kind: str, subject: str) -> tuple[Entry | None, bool]:
        """(entry, exact): this machine's entry, else the fallback's (estimated), else None."""
        if self.baseline is not None:
            found = self.baseline.entry(kind, subject)
            if found is not None:
                return found, self.exact
        if self.fallback is not None:
            found = self.fallback.entry(kind, subject)
            if found is not None:
                return found, False
        return None, False

    def scale_for(self, entry: Entry, measurement: Measurement | None,
                  normalise_load: bool, exact: bool | None = None) -> tuple[float, str]:
        """(factor, how): what carries `entry`'s seconds to this measurement's conditions.
        Only an exact entry (this fingerprint's) is carried, and only with normalise_load (it
        cancels a neighbour's load): by the speed probe when both the measurement and the entry
        have a probe speed (the speed of the very seconds it ran in), else by the session
        calibration; 1.0 when neither side can say. Another machine's entry is never scaled
        (1.0, "none"): see the module doc. `exact`: the entry's own (Reference.entry), default
        this reference's."""
        if not (self.exact if exact is None else exact) or not normalise_load:
            return 1.0, "none"
        if measurement is not None and measurement.speed_s and entry.speed_s:
            return calibration.probe_ratio(measurement.speed_s, entry.speed_s), "speed probe"
        if self.calibration_s is not None and entry.calibration_s is not None:
            return calibration.speed_ratio(self.calibration_s, entry.calibration_s), "calibration"
        return 1.0, "none"

    def calibrated(self, *seconds: float) -> Reference:
        """This reference with more calibrations of the session (e.g. one at session end added
        to session_reference's one at the start): the session's speed becomes the geometric
        mean of all of them, so a load that came or went during the session counts half."""
        values = ([self.calibration_s] if self.calibration_s is not None else []) + list(seconds)
        return replace(self, calibration_s=math.prod(values) ** (1 / len(values)))


def match(baselines_dir: Path, fingerprint: Mapping[str, Any]) -> tuple[Baseline | None, bool]:
    """(baseline, exact): the file for this fingerprint, else the nearest one, else None."""
    candidates = load_all(baselines_dir)
    if not candidates:
        return None, False
    nearest = min(candidates, key=lambda b: (fingerprint_distance(fingerprint, b.fingerprint),
                                             b.fingerprint_hash))
    return nearest, nearest.fingerprint_hash == environment.fingerprint_hash(dict(fingerprint))


def session_reference(baselines_dir: Path, fingerprint: Mapping[str, Any],
                      calibrate: Callable[[], calibration.Calibration] | None = calibration.measure,
                      on_recording_machine: bool = True,
                      read_ledger: Callable[[], Sequence[Mapping[str, Any]]] = tuple,
                      rule: ProvisionalRule = ProvisionalRule()) -> Reference:
    """This machine's committed baseline; else the provisional one learnt from the ledger's
    lines (`read_ledger()`, oldest first; read only when there is no committed file) when it
    has enough green runs, the nearest other machine's file then serving the subjects it lacks;
    else the nearest other machine's file (estimated, unscaled). The calibration workload
    (~0.5 s) is measured only for an exact baseline and only with on_recording_machine (pass
    calibrate=None to skip it)."""
    nearest, exact = match(baselines_dir, fingerprint)
    if exact:
        wanted = calibrate is not None and on_recording_machine
        return Reference(nearest, True, calibrate().seconds if wanted else None)
    learnt, runs = provisional(read_ledger(), fingerprint, rule)
    if learnt is not None:
        wanted = calibrate is not None and on_recording_machine
        return Reference(learnt, True, calibrate().seconds if wanted else None,
                         fallback=nearest, provisional_runs=runs)
    return Reference(nearest, False, None)


# ---------------------------------------------------------------- recording

def _adjusted(measured: list[Measurement], speeds: list[float],
              ratio: Callable[[float, float], float]) -> tuple[list[Measurement], float]:
    """The samples brought to their median speed (seconds / ratio(speed_i, median)), and that
    median."""
    central = statistics.median(speeds)
    factors = [1 / ratio(speed, central) for speed in speeds]
    return [Measurement(m.wall_s * f, None if m.cpu_s is None else m.cpu_s * f)
            for m, f in zip(measured, factors)], central


def record(runs: Sequence[Measurements], cadence: str, fingerprint: Mapping[str, Any],
           calibrations: Sequence[float] | None = None, previous: Baseline | None = None,
           recorded_utc: str | None = None) -> Baseline:
    """Summarise `runs` (one Measurements per run) into a Baseline that keeps `previous`'s
    entries for subjects these runs did not time. Before summarising, each sample is brought to
    the median machine speed, so that a neighbour busy during some recording runs does not
    widen the recorded spread: by the speed probe's reading of that very sample when every
    sample of the subject has one (the entry then stores their median as speed_s), and by its
    run's calibration (`calibrations`, one per run) otherwise."""
    if not runs:
        raise ValueError("record needs at least one run")
    if calibrations is not None and len(calibrations) != len(runs):
        raise ValueError(f"{len(calibrations)} calibrations for {len(runs)} runs")
    for kind in {kind for run in runs for kind in run} - set(KINDS):
        raise ValueError(f"unknown measurement kind {kind!r} (use {', '.join(KINDS)})")
    when = recorded_utc or datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    entries = {kind: dict(previous.entries.get(kind, {})) if previous else {} for kind in KINDS}
    for kind in KINDS:
        samples: dict[str, list[tuple[Measurement, float | None]]] = {}
        for index, run in enumerate(runs):
            for subject, value in run.get(kind, {}).items():
                samples.setdefault(subject, []).append(
                    (Measurement.of(value), calibrations[index] if calibrations else None))
        for subject, pairs in samples.items():
            measured = [m for m, _ in pairs]
            speeds = [m.speed_s for m in measured]
            run_calibrations = [c for _, c in pairs]
            speed = calibration_s = None
            if None not in speeds:
                measured, speed = _adjusted(measured, speeds, calibration.probe_ratio)
            if None not in run_calibrations:
                if speed is None:
                    measured, calibration_s = _adjusted(measured, run_calibrations,
                                                        calibration.speed_ratio)
                else:
                    calibration_s = statistics.median(run_calibrations)
            cpus = [m.cpu_s for m in measured]
            entries[kind][subject] = Entry(
                wall=Stats.of([m.wall_s for m in measured]),
                cpu=None if None in cpus else Stats.of(cpus),
                calibration_s=calibration_s, speed_s=speed, cadence=cadence, recorded_utc=when)
    return Baseline(dict(fingerprint), entries)


@dataclass(frozen=True)
class Recording:
    path: Path
    old: Baseline | None
    new: Baseline


def record_cadence(cadence: str, runs: int, run_once: Callable[[], Measurements],
                   baselines_dir: Path, fingerprint: Mapping[str, Any],
                   calibrate: Callable[[], calibration.Calibration] = calibration.measure,
                   write_file: bool = True) -> Recording:
    """`harness baseline record CADENCE --runs N`: run the cadence N times with a calibration
    between runs (a run's speed is the geometric mean of the calibrations before and after it,
    as in a session), summarise, merge into this machine's file and write it (unless
    write_file is False: a dry run). Show the change with `diff_table(recording.old,
    recording.new)`."""
    if runs < 1:
        raise ValueError(f"--runs must be at least 1 (got {runs})")
    path = path_for(baselines_dir, fingerprint)
    old = load(path) if path.exists() else None
    speeds, measured = [calibrate().seconds], []
    for _ in range(runs):
        measured.append(run_once())
        speeds.append(calibrate().seconds)
    calibrations = [math.sqrt(before * after) for before, after in zip(speeds, speeds[1:])]
    new = record(measured, cadence, fingerprint, calibrations, previous=old)
    if write_file:
        write(baselines_dir, new)
    return Recording(path, old, new)


# ---------------------------------------------------------------- provisional (from the ledger)

LEDGER_LABEL = "ledger"  # Entry.cadence of a provisional entry: summarised from ledger runs


def ledger_measurements(entry: Mapping[str, Any]) -> dict[str, dict[str, Measurement]]:
    """A ledger line's `timing` as Measurements (kind -> subject -> Measurement); {} when it
    has none (a line written before timings were kept, a shard, a run without budgets). A
    subject whose numbers are unreadable is left out."""
    timing = entry.get("timing")
    result: dict[str, dict[str, Measurement]] = {}
    if not isinstance(timing, dict):
        return result
    for kind in KINDS:
        section = timing.get(kind)
        for subject, value in (section.items() if isinstance(section, dict) else ()):
            try:
                wall = float(value["wall_s"])
                cpu, speed = (None if value.get(key) is None else float(value[key])
                              for key in ("cpu_s", "speed_s"))
            except (TypeError, KeyError, ValueError):
                continue
            if math.isfinite(wall) and wall >= 0:
                result.setdefault(kind, {})[subject] = Measurement(wall, cpu, speed)
    return result


def provisional(ledger_entries: Sequence[Mapping[str, Any]], fingerprint: Mapping[str, Any],
                rule: ProvisionalRule = ProvisionalRule()) -> tuple[Baseline | None, int]:
    """(baseline, runs): this fingerprint's baseline learnt from the ledger, or (None, 0).

    Only green, quiet runs (status passed and not contended: a run with a budget finding, or
    one that shared its cores with other work, is not a sample of normal speed) of this very
    fingerprint count; shard lines never do (their merged run does). Per
    subject the newest `rule.window` runs that timed it are summarised like a recording
    (`record`: samples brought to their median probe speed); a subject timed by fewer than
    `rule.min_runs` of them is left out (it is judged against the fallback, estimated).
    `runs` is how many ledger runs the baseline uses."""
    wanted = environment.fingerprint_hash(dict(fingerprint))
    counts: dict[tuple[str, str], int] = {}
    chosen: list[tuple[Mapping[str, Any], dict[str, dict[str, Measurement]]]] = []
    for entry in reversed(ledger_entries):  # newest first: the window is the newest runs
        if (entry.get("fingerprint_hash") != wanted or entry.get("status") != "passed"
                or entry.get("shard") or entry.get("contended")):
            continue
        taken: dict[str, dict[str, Measurement]] = {}
        for kind, subjects in ledger_measurements(entry).items():
            for subject, measured in subjects.items():
                if counts.get((kind, subject), 0) < rule.window:
                    counts[kind, subject] = counts.get((kind, subject), 0) + 1
                    taken.setdefault(kind, {})[subject] = measured
        if taken:
            chosen.append((entry, taken))
    enough = {key for key, count in counts.items() if count >= rule.min_runs}
    runs = [{kind: {subject: m for subject, m in subjects.items() if (kind, subject) in enough}
             for kind, subjects in taken.items()} for _, taken in chosen]
    used = [(entry, run) for (entry, _), run in zip(chosen, runs) if any(run.values())]
    if not used:
        return None, 0
    newest = str(used[0][0].get("finished_utc") or used[0][0].get("started_utc") or "")
    baseline = record([run for _, run in reversed(used)], LEDGER_LABEL, fingerprint,
                      recorded_utc=newest or None)
    return baseline, len(used)


def adopt(baselines_dir: Path, fingerprint: Mapping[str, Any],
          ledger_entries: Sequence[Mapping[str, Any]], rule: ProvisionalRule = ProvisionalRule(),
          write_file: bool = True) -> Recording:
    """`harness baseline adopt`: this machine's provisional baseline written to
    baselines/runtime/<fingerprint>.json (merged into the file there: subjects the ledger does
    not hold keep their entries). ValueError when the ledger has no subject with enough green
    runs of this fingerprint."""
    learnt, runs = provisional(ledger_entries, fingerprint, rule)
    if learnt is None:
        wanted = environment.fingerprint_hash(dict(fingerprint))
        green = sum(e.get("fingerprint_hash") == wanted and e.get("status") == "passed"
                    and not e.get("shard") and bool(ledger_measurements(e))
                    for e in ledger_entries)
        raise ValueError(f"{green} green run(s) with timings of fingerprint {wanted} in the "
                         f"ledger; a provisional baseline needs {rule.min_runs} (run the "
                         "cadence again, or record one: harness baseline record CADENCE --runs 5)")
    path = path_for(baselines_dir, fingerprint)
    old = load(path) if path.exists() else None
    entries = {kind: {**(old.entries.get(kind, {}) if old else {}), **learnt.entries.get(kind, {})}
               for kind in KINDS}
    new = Baseline(dict(fingerprint), entries)
    if write_file:
        write(baselines_dir, new)
    return Recording(path, old, new)
