"""The verdicts a run's timings get against its runtime budgets (harness.config.budgets).

Three checks, each its own Verdict so that every number in it is on one clock:
- ceiling (max_s): wall time, never scaled; CI's promise ("the per-PR gate within 90 s").
- band: a baseline +/- a half-width, two-sided: above it the subject got slower (too_slow);
  below it the subject stopped doing its work (too_fast: training skipped, a test turned
  no-op). The baseline is the recorded median (baselines/, carried to this session by the
  machine speed, see baselines.Reference) or else the entry's `baseline_s` default.
- floor (min_s) alone, when a subject has no band: below it is too_fast.

Estimated verdicts - a band around another machine's recorded median (unscaled) or around a
`baseline_s` default - are advisory: outside the band but within `[defaults] estimated_factor`
(F) of the baseline (baseline / F .. baseline x F) they are reported with the command that makes
them exact and do not fail the gate; only beyond that margin are they findings. Exact verdicts
(this fingerprint's committed or provisional baseline, harness.records.baselines) fail as before.
On a run that other processes contended (harness.measure.contention) every slow verdict -
too_slow or over_ceiling, exact or estimated - is advisory; too_fast still fails, but only
below the unscaled band too (the speed probe's load correction is confounded by the
neighbour). A ceiling is promised for `[defaults] wall_budget_cores` usable cores (CI's
runner), and so are wall-clock bands around a `baseline_s` default or another machine's
baseline: on a run with fewer (say `taskset -c 0`) their slow verdicts are advisory; exact
bands (this fingerprint's) still judge.

The detector rule (`[defaults]` in budgets.toml) was chosen with benchmarks/bench_budget_detector.py:
bands judge CPU time (time spent waiting for a core does not count); recorded seconds are carried
to the speed the machine had while the subject ran - the speed probe's reading
(harness.measure.calibration.SpeedProbe), else the session calibration - also on the recording machine
(normalise_load); the half-width is max(k_mad * 1.4826 * MAD, rel_floor * median, abs_floor_s),
at most rel_cap * median. With `confirm_reruns` > 0 a band/floor finding counts only when most
of the runs - the first and the re-runs of its group - repeat it (`confirm`). Entry points:
`judge(measurements, budgets, reference, contention, usable_cores)`, `confirm(first, reruns)`,
`rerun_targets(verdicts)`, `timeout_for(...)`, `timeout_verdict(...)`.
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, replace
from typing import Any, Iterable, Mapping, Sequence

from harness.config.budgets import KINDS, BandRule, Budgets, Limits
from harness.measure.contention import Contention
from harness.measure.timing import Measurement
from harness.records.baselines import Entry, Measurements, Reference, Stats

# pytest-timeout's failure text is "Timeout (>12.0s) from pytest-timeout."
_TIMEOUT_FAILURE = re.compile(r"Timeout \(>[0-9.]+s\) from pytest-timeout")
SLOW_STATUSES = ("too_slow", "over_ceiling")  # what a neighbour on the cores can cause


@dataclass(frozen=True)
class Verdict:
    kind: str          # cadence | group | test
    subject: str       # cadence name, group name or test node id
    check: str         # ceiling | band | floor | timeout
    clock: str         # wall | cpu: the clock of measured_s, baseline_s and allowed
    measured_s: float
    baseline_s: float | None
    allowed: tuple[float, float]  # (lo, hi); hi is math.inf for a floor
    margin_s: float    # distance to the nearest limit; negative when outside
    status: str        # ok | too_slow | too_fast | over_ceiling
    estimated: bool    # the baseline was not measured on this machine
    basis: str         # where the numbers come from, for the report
    advisory: bool = False  # estimated and inside the safety margin, or slow while contended

    @property
    def finding(self) -> bool:
        """Outside its limits and counted: fails the gate, is confirmed and escalated."""
        return self.status != "ok" and not self.advisory

    @property
    def advice(self) -> bool:
        """Outside its band but advisory (estimated inside the safety margin, or too_slow on a
        contended machine)."""
        return self.status != "ok" and self.advisory

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (report.json): infinity becomes null."""
        data = asdict(self)
        data["allowed"] = [None if math.isinf(x) else round(x, 3) for x in self.allowed]
        for key in ("measured_s", "baseline_s", "margin_s"):
            data[key] = None if data[key] is None else round(data[key], 3)
        return data

    def summary(self) -> str:
        """One line for the report: "group integration band (cpu): 44.10 s vs baseline 35.90 s,
        allowed 31.49-40.31 s, margin -3.79 s -> too_slow [estimated]"."""
        hi = "inf" if math.isinf(self.allowed[1]) else f"{self.allowed[1]:.2f}"
        baseline = "" if self.baseline_s is None else f" vs baseline {self.baseline_s:.2f} s"
        return (f"{self.kind} {self.subject} {self.check} ({self.clock}): {self.measured_s:.2f} s"
                f"{baseline}, allowed {self.allowed[0]:.2f}-{hi} s, margin {self.margin_s:+.2f} s"
                f" -> {self.status}{self._marks()}")

    def _marks(self) -> str:
        marks = [name for name, on in (("estimated", self.estimated),
                                       ("advisory", self.advisory)) if on]
        return f" [{', '.join(marks)}]" if marks else ""


def _verdict(kind: str, subject: str, check: str, clock: str, measured: float,
             baseline: float | None, lo: float, hi: float, estimated: bool, basis: str,
             too_slow: str = "too_slow") -> Verdict:
    status = too_slow if measured > hi else "too_fast" if measured < lo else "ok"
    # the distance to the limit that can be crossed: a lower edge of 0 s (a ceiling's, or a
    # band clamped at 0) is no limit, since nothing runs in less than no time
    margin = min(hi - measured, measured - lo if lo > 0 else math.inf)
    return Verdict(kind, subject, check, clock, measured, baseline, (lo, hi), margin, status,
                   estimated, basis)


def _work_clock(rule: BandRule, measurement: Measurement, entry: Entry | None) -> str:
    """Bands and floors judge CPU time when the rule asks for it and both sides have it."""
    has_cpu = measurement.cpu_s is not None and (entry is None or entry.cpu is not None)
    return "cpu" if rule.clock == "cpu" and has_cpu else "wall"


def _baseline_name(reference: Reference, exact: bool) -> str:
    if exact and reference.provisional:
        return (f"provisional baseline {reference.baseline.fingerprint_hash} from "
                f"{reference.provisional_runs} green ledger runs of this machine")
    if exact:
        return f"baseline {reference.baseline.fingerprint_hash}"
    other = reference.fallback if reference.fallback is not None else reference.baseline
    return f"baseline {other.fingerprint_hash}, another machine, not scaled"


def _band(kind: str, subject: str, m: Measurement, limits: Limits | None, entry: Entry | None,
          budgets: Budgets, reference: Reference, exact: bool = True,
          contended: bool = False) -> Verdict:
    rule = budgets.band
    # a baseline_s default is a wall-clock figure (the handoff plan's); recorded ones have both
    clock = _work_clock(rule, m, entry) if entry is not None else "wall"
    where = f"{budgets.source} [{limits.where}]" if limits else budgets.source
    if entry is not None:
        scale, how_scaled = reference.scale_for(entry, m, rule.normalise_load, exact)
        stats = entry.clock(clock).scaled(scale)
        center, estimated = stats.median, not exact
        source = (f"recorded median {stats.median:.3f} s (MAD {stats.mad:.3f} s, n={stats.n}, "
                  f"{entry.recorded_utc}, {_baseline_name(reference, exact)})")
        if how_scaled != "none":
            source += f" scaled x{scale:.2f} by the {how_scaled} (machine load)"
    else:
        scale, stats, center, estimated = 1.0, None, limits.baseline_s, True
        source = (f"default baseline_s={center:g} s from {where} (no recorded baseline: "
                  "`harness baseline record <cadence> --runs 5`)")
    lo, hi, how = _band_limits(center, stats, scale, limits, rule)
    measured = m.cpu_s if clock == "cpu" else m.wall_s
    verdict = _verdict(kind, subject, "band", clock, measured, center, lo, hi, estimated,
                       f"{source}; {how}")
    if estimated:
        return _estimated_rule(verdict, rule.estimated_factor)
    if verdict.finding and scale != 1.0 and rule.unscaled_agrees:
        # the load correction may move the band, never the direction: a subject whose time lies
        # below its recorded median was not slower, one above it was not faster
        recorded = entry.clock(clock).median
        same_side = measured > recorded if verdict.status == "too_slow" else measured < recorded
        if not same_side:
            return replace(verdict, status="ok", basis=(
                f"{verdict.basis}; {verdict.status} only after the load correction "
                f"x{scale:.2f}: unscaled, {measured:.3f} s is on the other side of the recorded "
                f"median {recorded:.3f} s - not counted ([defaults] unscaled_agrees)"))
    if contended and verdict.status == "too_fast" and scale != 1.0:
        return _unscaled_too_fast(verdict, entry.clock(clock), limits, rule, scale)
    return verdict


def _unscaled_too_fast(verdict: Verdict, recorded: Stats, limits: Limits | None, rule: BandRule,
                       scale: float) -> Verdict:
    """On a contended run the speed probe shares its core with the neighbour and reads the
    time slicing as a slower machine (x1.16-1.30 with a burner on the other core) while the
    subject's CPU time barely moves: a band carried up by that reading calls unchanged work
    too_fast. There, too_fast counts only below the unscaled band too."""
    lo, _, _ = _band_limits(recorded.median, recorded, 1.0, limits, rule)
    if verdict.measured_s < lo:
        return verdict
    return replace(verdict, status="ok", basis=(
        f"{verdict.basis}; too_fast only after the load correction x{scale:.2f}, which a "
        f"neighbour confounds on a contended run: unscaled, {verdict.measured_s:.3f} s is "
        f"within the band (from {lo:.3f} s) - not counted"))


def _band_limits(center: float, stats: Stats | None, scale: float, limits: Limits | None,
                 rule: BandRule) -> tuple[float, float, str]:
    """(lo, hi, how) of a band around `center` (its half-width: the entry's tolerance, else
    the rule's), raised to the entry's floor min_s, never below 0."""
    if limits and limits.tolerance_s is not None:
        half, how = limits.tolerance_s * scale, f"tolerance_s={limits.tolerance_s:g}"
    elif limits and limits.tolerance_rel is not None:
        half, how = limits.tolerance_rel * center, f"tolerance_rel={limits.tolerance_rel:g}"
    else:
        half, how = rule.half_width(center, stats)
    lo, floor = center - half, ""
    if limits and limits.min_s is not None and limits.min_s > lo:
        lo, floor = limits.min_s, f", floor min_s={limits.min_s:g}"
    return max(lo, 0.0), center + half, f"+/- {half:.3f} s ({how}){floor}"


def _estimated_rule(verdict: Verdict, factor: float) -> Verdict:
    """An estimated band verdict outside its band fails the gate only beyond the safety margin
    baseline / factor .. baseline x factor; inside it, it is advisory, with the way to an exact
    verdict."""
    if verdict.status == "ok" or not verdict.baseline_s:
        return verdict
    lo, hi = verdict.baseline_s / factor, verdict.baseline_s * factor
    if lo <= verdict.measured_s <= hi:
        exact = ("`harness baseline record <cadence> --runs 5`, or run the cadence until this "
                 "machine's provisional baseline exists and commit it with `harness baseline "
                 "adopt`")
        return replace(verdict, advisory=True, basis=(
            f"{verdict.basis}; advisory: estimated, inside the safety margin x{factor:g} "
            f"({lo:.2f}-{hi:.2f} s), the gate fails only beyond it; make it exact: {exact}"))
    return replace(verdict, basis=(
        f"{verdict.basis}; estimated and beyond the safety margin x{factor:g} "
        f"({lo:.2f}-{hi:.2f} s): fails the gate"))


def _contended_rule(verdict: Verdict, contention: Contention | None) -> Verdict:
    """A neighbour only ever slows work down, on both clocks (wall: it holds a core; CPU:
    shared caches, memory bandwidth, a hyperthread sibling): on a contended run every slow
    verdict - too_slow and over_ceiling, exact or estimated - is advisory, with the evidence
    and the comparison that holds under load. too_fast (work skipped) still fails."""
    if contention is None or not contention.contended or verdict.advisory \
            or verdict.status not in SLOW_STATUSES:
        return verdict
    return replace(verdict, advisory=True, basis=(
        f"{verdict.basis}; advisory: {contention.describe()} - a neighbour slows work on "
        "both clocks; confirm on a quiet machine, or with `harness compare BASE_REF`, which "
        "interleaves both commits on the same machine"))


def _fewer_cores_rule(verdict: Verdict, usable_cores: int | None, promised: int) -> Verdict:
    """Wall time on one core is not the wall time a two-core runner promised: a slow
    verdict on the wall clock that holds this run to a promise - a ceiling, or an estimated
    band (a `baseline_s` default, another machine's baseline) - is advisory on fewer usable
    cores than `[defaults] wall_budget_cores`. Exact bands were recorded on this very
    fingerprint (its core count included) and still judge."""
    promise = verdict.check == "ceiling" or (verdict.clock == "wall" and verdict.estimated)
    if usable_cores is None or usable_cores >= promised or verdict.advisory or not promise \
            or verdict.status not in SLOW_STATUSES:
        return verdict
    return replace(verdict, advisory=True, basis=(
        f"{verdict.basis}; advisory: this run had {usable_cores} usable core(s), wall-time "
        f"budgets are promised for {promised} ([defaults] wall_budget_cores, CI's runner); make "
        f"it exact on {promised} cores (no taskset), or let this fingerprint learn its own "
        "baseline (provisional after its green runs)"))


def judge(measurements: Measurements, budgets: Budgets,
          reference: Reference = Reference(None),
          contention: Contention | None = None,
          usable_cores: int | None = None) -> list[Verdict]:
    """Verdicts for one run. `measurements`: {"cadence"|"group"|"test": {subject: Measurement
    or wall seconds}}. Cadences and groups are judged whenever they have an entry or a
    recorded baseline; tests only when budgets.toml has an entry for them (node id or glob):
    judging hundreds of small tests would make some noise cross a limit on every run. On a
    `contention`-ed machine slow verdicts are advisory (`_contended_rule`), and so are ceilings
    and estimated wall-clock bands on fewer `usable_cores` than they promise
    (`_fewer_cores_rule`)."""
    unknown = set(measurements) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown measurement kind(s) {sorted(unknown)} (use {', '.join(KINDS)})")
    contended = contention is not None and contention.contended

    def slow_rules(verdict: Verdict) -> Verdict:
        return _fewer_cores_rule(_contended_rule(verdict, contention), usable_cores,
                                 budgets.band.wall_budget_cores)

    verdicts = []
    for kind in KINDS:
        for subject, value in measurements.get(kind, {}).items():
            m = Measurement.of(value)
            limits = budgets.limits(kind, subject)
            if kind == "test" and limits is None:
                continue
            entry, exact = reference.entry(kind, subject)
            if limits and limits.max_s is not None:
                recorded = entry.wall.median if entry else limits.baseline_s
                ceiling = _verdict(
                    kind, subject, "ceiling", "wall", m.wall_s, recorded, 0.0, limits.max_s,
                    False, f"ceiling max_s={limits.max_s:g} s from {budgets.source} "
                           f"[{limits.where}] (wall time, never scaled)", "over_ceiling")
                verdicts.append(slow_rules(ceiling))
            if entry is not None or (limits and limits.baseline_s is not None):
                verdicts.append(slow_rules(_band(kind, subject, m, limits, entry, budgets,
                                                 reference, exact, contended)))
            elif limits and limits.min_s is not None:
                clock = _work_clock(budgets.band, m, None)
                verdicts.append(_verdict(
                    kind, subject, "floor", clock, m.cpu_s if clock == "cpu" else m.wall_s,
                    None, limits.min_s, math.inf, False,
                    f"floor min_s={limits.min_s:g} s from {budgets.source} [{limits.where}] "
                    "(less means the work was skipped)"))
    return verdicts


# ---------------------------------------------------------------- confirmation

CONFIRMED_CHECKS = ("band", "floor")  # ceilings and timeouts are facts about this run: no re-run


def rerun_targets(verdicts: Iterable[Verdict], test_groups: Mapping[str, str] = {}) -> list[str]:
    """What to re-run ([defaults] confirm_reruns times) before band/floor findings count: the
    group of each finding (a test's group for a test), the cadence for a cadence finding."""
    targets = []
    for v in verdicts:
        if v.finding and v.check in CONFIRMED_CHECKS:
            target = test_groups.get(v.subject) if v.kind == "test" else v.subject
            if target and target not in targets:
                targets.append(target)
    return targets


def confirm(first: Sequence[Verdict], reruns: Sequence[Sequence[Verdict]]) -> list[Verdict]:
    """A band or floor finding counts only if most runs (first + re-runs) repeat it - same
    subject, check and status: one noisy run never raises an alarm, one lucky run never hides
    a regression. The verdict shown is the least severe of the repeating runs (largest margin;
    for too_slow the fastest); an unconfirmed finding shows the best run. Verdicts without
    re-run data are left as they are."""
    later = [{(v.kind, v.subject, v.check): v for v in run} for run in reruns]
    confirmed = []
    for verdict in first:
        key = (verdict.kind, verdict.subject, verdict.check)
        runs = [verdict, *(run[key] for run in later if key in run)]
        if not verdict.finding or verdict.check not in CONFIRMED_CHECKS or len(runs) == 1:
            confirmed.append(verdict)
            continue
        statuses = ", ".join(v.status for v in runs)
        repeating = [v for v in runs if v.status == verdict.status]
        best = max(runs, key=lambda v: v.margin_s)
        if 2 * len(repeating) > len(runs):
            shown = max(repeating, key=lambda v: v.margin_s)
            note = (f"confirmed: {len(repeating)} of {len(runs)} runs {verdict.status} "
                    f"({statuses}); least severe of them shown")
        elif best.finding:  # every run outside its limits, on different sides: erratic
            shown, note = verdict, f"runs disagree on the direction ({statuses}); first run shown"
        else:
            shown = best
            note = (f"first run {verdict.status} by {-verdict.margin_s:.3f} s, not confirmed "
                    f"({statuses}): noise; best run shown")
        confirmed.append(replace(shown, basis=f"{shown.basis}; {note}"))
    return confirmed


# ---------------------------------------------------------------- timeouts

def _timeout(nodeid: str, group: str | None, budgets: Budgets,
             reference: Reference) -> tuple[float, str]:
    """(seconds, basis). The reference is the test's own budget (max_s, band top) or its
    recorded slowest run; without those its group's (one test should never need its whole
    group's budget, so this is generous); else [timeouts].default_s. Recorded times follow the
    calibration ratio (a busy machine gets more time, never less than recorded)."""
    rule = budgets.timeouts
    for kind, subject in (("test", nodeid), ("group", group)):
        if subject is None:
            continue
        limits = budgets.limits(kind, subject)
        entry, exact = reference.entry(kind, subject)
        candidates = {}
        if limits and limits.max_s is not None:
            candidates[f"{kind} max_s"] = limits.max_s
        if limits and limits.baseline_s is not None:
            candidates[f"{kind} baseline_s + tolerance"] = limits.baseline_s + (
                limits.tolerance_s or (limits.tolerance_rel or budgets.band.rel_floor)
                * limits.baseline_s)
        if entry is not None:
            scale = max(1.0, reference.scale_for(entry, None, True, exact)[0])
            candidates[f"{kind} recorded slowest run"] = entry.wall.max * scale
        if candidates:
            name = max(candidates, key=candidates.get)
            seconds = max(rule.min_s, rule.factor * candidates[name])
            return seconds, (f"timeout {seconds:.0f} s = max(min_s={rule.min_s:g}, "
                             f"factor={rule.factor:g} x {name} {candidates[name]:.2f} s)")
    return rule.default_s, f"timeout default_s={rule.default_s:g} s (no budget or baseline)"


def timeout_for(nodeid: str, group: str | None, budgets: Budgets,
                reference: Reference = Reference(None)) -> float:
    """Seconds for pytest-timeout's marker on this test (see _timeout for the derivation)."""
    return _timeout(nodeid, group, budgets, reference)[0]


def timed_out(failure_text: str) -> bool:
    """Whether a test's failure text is pytest-timeout firing."""
    return _TIMEOUT_FAILURE.search(failure_text) is not None


def timeout_verdict(nodeid: str, group: str | None, elapsed_s: float, budgets: Budgets,
                    reference: Reference = Reference(None)) -> Verdict:
    """The budget verdict for a test that pytest-timeout stopped (its log is in the run folder)."""
    seconds, basis = _timeout(nodeid, group, budgets, reference)
    return Verdict("test", nodeid, "timeout", "wall", elapsed_s, None, (0.0, seconds),
                   seconds - elapsed_s, "over_ceiling", False,
                   f"stopped by pytest-timeout: {basis}")
