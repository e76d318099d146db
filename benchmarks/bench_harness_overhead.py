"""Harness overhead: the per-PR selection run through `harness run per_pr` versus the same
tests under plain pytest (the plugin stays loaded from conftest.py but is inactive without
--harness-run). After one untimed warm-up run of each (file caches), runs alternate, the
order reversed every other pair (target: the harness adds <= 3 % wall time).

This machine's speed swings by 10-20 % between consecutive half-minute runs, more than the
effect measured, so each pair is also compared at equal machine speed: a speed probe
(harness.measure.calibration.SpeedProbe, in this process) reads the machine while each run goes, and
the pair's wall-time ratio is divided by the probe's ratio ** PROBE_EXPONENT, as the budget
bands do. Reported: the ratio of the medians, and the median of the pair ratios, raw and at
equal speed (the headline, with a bootstrap interval: 20 pairs by default, as 10 left it a few
points either way). Results: benchmarks/results/harness_overhead.json.

    python benchmarks/bench_harness_overhead.py [--runs N]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import interleaved, write_results  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from harness.measure import calibration  # noqa: E402

TARGET = 0.03


def commands() -> dict[str, list[str]]:
    """The same tests both ways, in the same order: plain pytest gets the per_pr groups'
    folders and markers from the selectors config (the folders, so that both collect the same
    modules - with `tests/suite -m ...` pytest would also import every other group's modules),
    sorted as the harness collects them (it walks the suite root)."""
    from harness.config import selectors

    settings = selectors.load(ROOT)
    groups = [settings.groups[name] for name in settings.resolve(["per_pr"]).groups]
    return {
        "harness": ["harness", "run", "per_pr"],
        "pytest": [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                   *sorted(path for group in groups for path in group.paths),
                   "-m", " or ".join(group.marker for group in groups)],
    }


def pair_overheads(harness: list[dict], plain: list[dict]) -> tuple[list[float], list[float]]:
    """Each pair's extra wall time of the harness run: raw, and at equal machine speed (the
    wall ratio divided by the speed probe's ratio, see harness.measure.calibration.probe_ratio)."""
    raw, equal_speed = [], []
    for h, p in zip(harness, plain):
        ratio = h["wall_s"] / p["wall_s"]
        raw.append(ratio - 1)
        equal_speed.append(ratio / calibration.probe_ratio(h["speed_s"], p["speed_s"]) - 1)
    return raw, equal_speed


def median_interval(values: list[float], level: float = 0.9, resamples: int = 5000) -> tuple[float, float]:
    """Bootstrap interval of the median: with this machine's 10-20 % run-to-run spread, a
    median of a few pairs can land a few points either side of the true overhead."""
    import numpy as np

    samples = np.random.default_rng(0).choice(values, size=(resamples, len(values)))
    low, high = np.quantile(np.median(samples, axis=1), [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="pairs of runs (default 20)")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    compared = commands()
    interleaved(compared, 1, ROOT, report=lambda line: print("warm-up: " + line.strip()))
    with calibration.SpeedProbe() as probe:
        results = interleaved(compared, args.runs, ROOT, probe=probe, counterbalanced=True)
    harness, plain = results["harness"], results["pytest"]
    overhead = harness["median_wall_s"] / plain["median_wall_s"] - 1
    cpu_overhead = harness["median_cpu_s"] / plain["median_cpu_s"] - 1
    raw, equal_speed = pair_overheads(harness["runs"], plain["runs"])
    headline = statistics.median(equal_speed)
    interval = median_interval(equal_speed)
    print(f"harness run per_pr {harness['median_wall_s']:.1f} s vs plain pytest "
          f"{plain['median_wall_s']:.1f} s (medians): {overhead:+.1%} wall, {cpu_overhead:+.1%} CPU")
    print("pairs, raw:          " + ", ".join(f"{x:+.1%}" for x in raw)
          + f"  (median {statistics.median(raw):+.1%})")
    print("pairs, equal speed:  " + ", ".join(f"{x:+.1%}" for x in equal_speed)
          + f"  (median {headline:+.1%}, 90 % interval {interval[0]:+.1%}..{interval[1]:+.1%}; "
            f"target <= {TARGET:.0%})")
    write_results("harness_overhead", load_before, commands=compared, results=results,
                  wall_overhead=overhead, cpu_overhead=cpu_overhead,
                  pair_overheads_raw=raw, pair_overheads_equal_speed=equal_speed,
                  median_pair_overhead_raw=statistics.median(raw),
                  median_pair_overhead_equal_speed=headline,
                  median_pair_overhead_equal_speed_interval_90=interval, target=TARGET)
    return 0 if headline <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
