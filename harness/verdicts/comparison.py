"""The verdict of an A/B comparison (`harness compare`, harness.runs.compare runs it): per group
and cadence the HEAD/BASE ratio of each pair at equal machine speed, their geometric mean and a
bootstrap interval; slower or faster beyond the threshold with the interval clear of 1."""
from __future__ import annotations

import math
import random
import statistics
from dataclasses import asdict, dataclass
from typing import Any, Mapping, Sequence

from harness.measure import calibration
from harness.measure.timing import Measurement

ARMS = ("base", "head")
BOOTSTRAP = 2000
CONFIDENCE = 0.95
SEED = 20261202


def pair_ratio(base: Measurement, head: Measurement, clock: str = "cpu",
               normalise_load: bool = True) -> float | None:
    """HEAD / BASE on `clock` (CPU falls back to wall where a side lacks it), divided by the
    speed probe's ratio of the two runs when both have a reading and normalise_load is on.
    None when BASE measured nothing."""
    use_cpu = clock == "cpu" and base.cpu_s is not None and head.cpu_s is not None
    b, h = (base.cpu_s, head.cpu_s) if use_cpu else (base.wall_s, head.wall_s)
    if not b or b <= 0:
        return None
    ratio = h / b
    if normalise_load and base.speed_s and head.speed_s:
        ratio /= calibration.probe_ratio(head.speed_s, base.speed_s)
    return ratio


def geometric_mean(values: Sequence[float]) -> float:
    return math.exp(statistics.fmean(math.log(v) for v in values))


def bootstrap_interval(ratios: Sequence[float], resamples: int = BOOTSTRAP,
                       confidence: float = CONFIDENCE, seed: int = SEED) -> tuple[float, float]:
    """Percentile interval of the geometric mean, pairs resampled with replacement."""
    if len(ratios) < 2:
        return ratios[0], ratios[0]
    rng = random.Random(seed)
    logs = [math.log(r) for r in ratios]
    means = sorted(statistics.fmean(rng.choices(logs, k=len(logs))) for _ in range(resamples))
    tail = (1 - confidence) / 2
    lo = means[int(tail * (resamples - 1))]
    hi = means[int(math.ceil((1 - tail) * (resamples - 1)))]
    return math.exp(lo), math.exp(hi)


@dataclass(frozen=True)
class Result:
    subject: str
    kind: str                  # group | cadence
    ratios: tuple[float, ...]  # one per pair, HEAD / BASE at equal machine speed
    ratio: float               # geometric mean
    interval: tuple[float, float]
    verdict: str               # slower | faster | same
    base_median_s: float
    head_median_s: float
    clock: str

    @property
    def regression(self) -> bool:
        return self.verdict == "slower"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ratios"] = [round(r, 4) for r in self.ratios]
        data["interval"] = [round(x, 4) for x in self.interval]
        for key in ("ratio", "base_median_s", "head_median_s"):
            data[key] = round(data[key], 4)
        return data

    def summary(self) -> str:
        return (f"{self.kind} {self.subject}: HEAD/BASE {self.ratio:.3f} "
                f"({CONFIDENCE:.0%} interval {self.interval[0]:.3f}-{self.interval[1]:.3f}, "
                f"{len(self.ratios)} pairs; {self.clock} {self.base_median_s:.2f} -> "
                f"{self.head_median_s:.2f} s) -> {self.verdict}")


def verdict_of(ratios: Sequence[float], threshold: float, seed: int = SEED,
               resamples: int = BOOTSTRAP) -> tuple[float, tuple[float, float], str]:
    """(geometric mean, bootstrap interval, slower | faster | same) of per-pair ratios."""
    ratio = geometric_mean(ratios)
    lo, hi = bootstrap_interval(ratios, resamples=resamples, seed=seed)
    if ratio > 1 + threshold and lo > 1:
        return ratio, (lo, hi), "slower"
    if ratio < 1 / (1 + threshold) and hi < 1:
        return ratio, (lo, hi), "faster"
    return ratio, (lo, hi), "same"


def judge(kind: str, subject: str, pairs: Sequence[tuple[Measurement, Measurement]],
          threshold: float, clock: str = "cpu", normalise_load: bool = True,
          seed: int = SEED) -> Result | None:
    """One subject's verdict from its (base, head) measurements, one tuple per pair."""
    ratios = [r for b, h in pairs if (r := pair_ratio(b, h, clock, normalise_load)) is not None]
    if not ratios:
        return None
    ratio, (lo, hi), verdict = verdict_of(ratios, threshold, seed)
    use_cpu = clock == "cpu" and all(b.cpu_s is not None and h.cpu_s is not None for b, h in pairs)

    def median(index: int) -> float:
        return statistics.median((p[index].cpu_s if use_cpu else p[index].wall_s) for p in pairs)

    return Result(subject, kind, tuple(ratios), ratio, (lo, hi), verdict, median(0), median(1),
                  "cpu" if use_cpu else "wall")


def judge_all(runs: Sequence[Mapping[str, Any]], threshold: float, clock: str = "cpu",
              normalise_load: bool = True) -> list[Result]:
    """Results for every group (and cadence) that both arms of every pair measured. `runs`:
    [{"arm": "base"|"head", "pair": i, "measurements": {kind: {subject: Measurement}}}]."""
    by_pair: dict[int, dict[str, Mapping]] = {}
    for run in runs:
        by_pair.setdefault(run["pair"], {})[run["arm"]] = run["measurements"]
    complete = [arms for _, arms in sorted(by_pair.items()) if set(arms) == set(ARMS)]
    results = []
    for kind in ("cadence", "group"):
        subjects = sorted(set.intersection(*(set(arms[arm].get(kind, {}))
                                             for arms in complete for arm in ARMS))) \
            if complete else []
        for subject in subjects:
            pairs = [(arms["base"][kind][subject], arms["head"][kind][subject])
                     for arms in complete]
            result = judge(kind, subject, pairs, threshold, clock, normalise_load)
            if result is not None:
                results.append(result)
    return results
