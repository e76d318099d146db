"""Record the integration scenarios' metric baselines into baselines/metrics.json.

    python benchmarks/record_metric_baselines.py [--scenario NAME ...] [--parallel 2]

Each scenario (tests/suite/integration/scenarios.py) runs its train -> infer chain through the
console scripts exactly as the integration test does, once per numeric variant
(scenarios.numeric_variants: the tested run, two other seeds, two threads per pool, and for
TensorFlow its oneDNN kernels off - what another CPU can do to a training trajectory), plus
once untrained (one epoch at learning rate 1e-30: the same commands with weights that cannot
move). Stored per scenario and candidate metric (scenarios.METRICS), with the settings it was
recorded for:

    baseline   median of the variant runs
    spread     the largest distance of a variant run from that median
    tolerance  scenarios.TOLERANCE_RULE
    untrained  the untrained chain's value
    gap        baseline - untrained
    gated      scenarios.GATE_RULE
    runs       every variant's value

A scenario is refused (exit 1, nothing written) when a metric is no better than untrained or
no metric can be gated: its test could not tell a trained network from an untrained one.
Other scenarios' entries are kept.
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
from harness.measure import environment  # noqa: E402
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


def summarise(runs: dict[str, float], untrained: float, floor: float) -> dict:
    """One metric's baseline entry from its variant runs {variant: value} (module docstring)."""
    baseline = statistics.median(runs.values())
    spread = max(abs(value - baseline) for value in runs.values())
    tolerance = max(floor, scenarios.TOLERANCE_FACTOR * spread)
    gap = baseline - untrained
    return {"baseline": round(baseline, 4), "spread": round(spread, 4),
            "tolerance": round(tolerance, 4), "untrained": round(untrained, 4),
            "gap": round(gap, 4), "gated": gap >= scenarios.GATE_RATIO * tolerance,
            "runs": {name: round(value, 4) for name, value in runs.items()}}


def record(names: list[str], parallel: int, work_root: Path) -> dict:
    """{scenario name: baseline entry} measured now."""
    data = suite_support.cached_dataset(work_root / "data")
    jobs = {}
    for name in names:
        scenario = scenarios.SCENARIOS[name]
        for variant in [*scenarios.numeric_variants(scenario), scenarios.UNTRAINED]:
            jobs[(name, variant.name)] = scenarios.Job(
                (name, variant.name), scenario, work_root / f"{name}-{variant.name}", variant)
    pool = scenarios.ChainPool(data, parallel)
    pool.start(jobs.values())
    entries = {}
    try:
        for name in names:
            variants = [v.name for v in scenarios.numeric_variants(scenarios.SCENARIOS[name])]
            measured = {v: _metrics(pool.result(jobs[(name, v)])) for v in variants}
            untrained = _metrics(pool.result(jobs[(name, scenarios.UNTRAINED.name)]))
            entry = {"settings": scenarios.SCENARIOS[name].settings(), "metrics": {}}
            for metric in scenarios.METRICS:
                entry["metrics"][metric] = summarise(
                    {v: m[metric] for v, m in measured.items()}, untrained[metric],
                    scenarios.TOLERANCE_FLOORS[metric])
                print(f"{name}: {metric} {entry['metrics'][metric]}", flush=True)
            entry.update({
                "recorded_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "recorded_with": f"{scenarios.RECORD_COMMAND} (variants: {', '.join(variants)}; "
                                 "every step its own process)",
                "host": {"platform": platform.platform(), "cpu": environment.cpu_model(),
                         "cpus": os.cpu_count(), **_versions()},
            })
            entries[name] = entry
    finally:
        pool.close()
    return entries


def learning_is_clear(entry: dict) -> bool:
    stored = entry["metrics"].values()
    return all(m["gap"] > 0 for m in stored) and any(m["gated"] for m in stored)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", action="append", choices=sorted(scenarios.SCENARIOS),
                        help="record only this scenario (repeatable; default: all)")
    parser.add_argument("--parallel", type=int, default=suite_support.thread_budget(),
                        help="chains run side by side (default: the thread budget)")
    parser.add_argument("--output", type=Path, default=scenarios.BASELINE_FILE)
    args = parser.parse_args(argv)
    names = args.scenario or list(scenarios.SCENARIOS)
    with tempfile.TemporaryDirectory(prefix="metric-baselines-") as work:
        entries = record(names, args.parallel, Path(work))
    unclear = [name for name, entry in entries.items() if not learning_is_clear(entry)]
    if unclear:
        print(f"error: {', '.join(unclear)}: no metric's learning gap is {scenarios.GATE_RATIO:g} x "
              "its tolerance; train longer or change the scenario (nothing written)",
              file=sys.stderr)
        return 1
    try:
        document = scenarios.load_baselines(args.output)
    except scenarios.BaselineError:
        document = {"format": scenarios.BASELINE_FORMAT, "version": scenarios.BASELINE_VERSION}
    document.update({"metrics": list(scenarios.METRICS), "tolerance_rule": scenarios.TOLERANCE_RULE,
                     "gate_rule": scenarios.GATE_RULE, "parity_rule": scenarios.PARITY_RULE,
                     "record_command": scenarios.RECORD_COMMAND})
    document.setdefault("scenarios", {}).update(entries)
    print(f"wrote {scenarios.write_baselines(document, args.output)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
