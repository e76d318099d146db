"""Record the integration scenarios' metric baselines into baselines/metrics.json.

    python benchmarks/record_metric_baselines.py [--runs 3] [--scenario NAME ...] [--parallel 2]

Each scenario (tests/suite/integration/scenarios.py) runs its train -> infer chain through the
console scripts `--runs` times, exactly as the integration test does, plus once untrained
(one epoch at learning rate 1e-30: the same commands with weights that cannot move). Stored per
scenario and gated metric (phase_ssim, phase_psnr), with the settings it was recorded for:

    baseline           median of the runs
    tolerance          max(the metric's floor, 3 x the spread of the runs)
    untrained          the untrained chain's value
    min_learning_gain  half the gap between baseline and untrained
    runs               every run's value

The test asserts, per metric, measured >= baseline - tolerance and measured >= untrained +
min_learning_gain. A scenario is refused (exit 1, nothing written) when a metric is no better
than untrained, or when no metric's learning gain clearly exceeds its tolerance: its test
could not tell a trained network from an untrained one. Other scenarios' entries are kept.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests" / "suite"))

import suite_support  # noqa: E402
from integration import scenarios  # noqa: E402


def _versions() -> dict:
    versions = {"python": platform.python_version()}
    for package in ("numpy", "tensorflow-cpu", "torch", "lightning", "keras"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def _metrics(chain: scenarios.ChainResult) -> dict:
    if not chain.ok:
        raise SystemExit(f"error: scenario {chain.scenario.name} failed:\n{chain.describe()}")
    return {metric: float(chain.metrics[metric]) for metric in scenarios.METRICS}


def _summary(values: list[float], untrained: float, floor: float) -> dict:
    baseline = statistics.median(values)
    return {"baseline": round(baseline, 4),
            "tolerance": round(max(floor, 3 * (max(values) - min(values))), 4),
            "untrained": round(untrained, 4),
            "min_learning_gain": round((baseline - untrained) / 2, 4),
            "runs": [round(v, 4) for v in values]}


def record(names: list[str], runs: int, parallel: int, work_root: Path) -> dict:
    """{scenario name: baseline entry} measured now."""
    data = suite_support.cached_dataset(work_root / "data")
    keys = [(name, run) for name in names for run in [*range(runs), "untrained"]]
    jobs = [scenarios.Job((name, run), scenarios.SCENARIOS[name], work_root / f"{name}-{run}",
                          untrained=run == "untrained") for name, run in keys]
    pool = scenarios.ChainPool(data, parallel)
    pool.start(jobs)
    job = {j.key: j for j in jobs}
    entries = {}
    try:
        for name in names:
            measured = [_metrics(pool.result(job[(name, run)])) for run in range(runs)]
            untrained = _metrics(pool.result(job[(name, "untrained")]))
            entry = {"settings": scenarios.SCENARIOS[name].settings()}
            for metric in scenarios.METRICS:
                entry[metric] = _summary([m[metric] for m in measured], untrained[metric],
                                         scenarios.TOLERANCE_FLOORS[metric])
                print(f"{name}: {metric} {entry[metric]}", flush=True)
            entry.update({
                "recorded_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "recorded_with": f"{scenarios.RECORD_COMMAND} --runs {runs} (median of {runs} "
                                 "runs; every step its own process with one thread per pool)",
                "host": {"platform": platform.platform(), "cpus": os.cpu_count(), **_versions()},
            })
            entries[name] = entry
    finally:
        pool.close()
    return entries


def learning_is_clear(entry: dict) -> bool:
    gains = [(entry[m]["min_learning_gain"], entry[m]["tolerance"]) for m in scenarios.METRICS]
    return all(gain > 0 for gain, _ in gains) and any(gain >= tol for gain, tol in gains)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="trained runs per scenario (median)")
    parser.add_argument("--scenario", action="append", choices=sorted(scenarios.SCENARIOS),
                        help="record only this scenario (repeatable; default: all)")
    parser.add_argument("--parallel", type=int, default=suite_support.thread_budget(),
                        help="chains run side by side (default: the thread budget)")
    parser.add_argument("--output", type=Path, default=scenarios.BASELINE_FILE)
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be >= 1")
    names = args.scenario or list(scenarios.SCENARIOS)
    with tempfile.TemporaryDirectory(prefix="metric-baselines-") as work:
        entries = record(names, args.runs, args.parallel, Path(work))
    unclear = [name for name, entry in entries.items() if not learning_is_clear(entry)]
    if unclear:
        print(f"error: {', '.join(unclear)}: the learning gain over an untrained network is not "
              "clearly above the tolerance; train longer or change the scenario (nothing written)",
              file=sys.stderr)
        return 1
    try:
        document = scenarios.load_baselines(args.output)
    except scenarios.BaselineError:
        if args.output.exists():
            raise
        document = {"format": scenarios.BASELINE_FORMAT, "version": scenarios.BASELINE_VERSION}
    document["metrics"] = list(scenarios.METRICS)
    document.setdefault("scenarios", {}).update(entries)
    print(f"wrote {scenarios.write_baselines(document, args.output)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
