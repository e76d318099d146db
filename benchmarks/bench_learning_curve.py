"""Where on its learning curve each integration chain stops: phase and amplitude r against the
truth after E epochs, for E around the scenario's own epoch count.

    pip install -e ".[dev,bench]"     # matplotlib, for the plot
    python benchmarks/bench_learning_curve.py [--seeds 42 7] [--factors 0.25 0.5 1 1.5 2]
                                              [--scenario NAME ...] [--parallel 2]

Each point is the scenario's train -> infer chain through the console scripts
(tests/suite/integration/scenarios.py), with `--nepochs` set to factor x the scenario's epochs
(and `--seed`). Training has no schedule and a seeded order, so a run of E epochs is the first E
epochs of a longer one: the points of one seed are one learning curve. Reported per scenario and
seed: r at each epoch count, and the gain from the scenario's epochs to the largest count (a
plateau: small against the metric's tolerance in baselines/metrics.json). Results:
benchmarks/results/learning_curve.json and learning_curve.png.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from _timing import RESULTS, write_results

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests" / "suite"))

import suite_support  # noqa: E402
from integration import scenarios  # noqa: E402
from ptycho.fileio import atomic_output  # noqa: E402

CURVE_METRICS = ("phase_r", "amp_r")


def scenario_epochs(scenario: scenarios.Scenario) -> int:
    """The scenario's --nepochs (its last occurrence wins, as with argparse)."""
    options = list(scenario.train_options)
    last = len(options) - 1 - options[::-1].index("--nepochs")
    return int(options[last + 1])


def measure(names: list[str], seeds: list[int], factors: list[float], parallel: int,
            work: Path) -> dict:
    """{scenario: {"epochs": own, "curves": {seed: {epochs: {metric: value}}}}}."""
    data = suite_support.cached_dataset(work / "data")
    jobs = {}
    results = {name: {"epochs": scenario_epochs(scenarios.SCENARIOS[name]), "curves": {}}
               for name in names}
    for name in names:
        own = results[name]["epochs"]
        for seed in seeds:
            for epochs in sorted({max(1, round(own * f)) for f in factors}):
                variant = scenarios.Variant(f"seed{seed}-e{epochs}",
                                            ("--nepochs", str(epochs), "--seed", str(seed)))
                jobs[(name, seed, epochs)] = scenarios.Job(
                    (name, seed, epochs), scenarios.SCENARIOS[name],
                    work / f"{name}-{variant.name}", variant)
    pool = scenarios.ChainPool(data, parallel)
    pool.start(jobs.values())
    try:
        for (name, seed, epochs), job in jobs.items():
            chain = pool.result(job)
            if not chain.ok:
                sys.exit(f"error: {name} seed {seed}, {epochs} epochs failed:\n{chain.describe()}")
            point = {metric: round(float(chain.metrics[metric]), 4) for metric in CURVE_METRICS}
            results[name]["curves"].setdefault(str(seed), {})[str(epochs)] = point
            print(f"{name} seed {seed}: {epochs:4d} epochs  " + "  ".join(
                f"{metric} {value:.3f}" for metric, value in point.items()), flush=True)
    finally:
        pool.close()
    return results


def summarise(results: dict) -> None:
    """Adds per scenario and metric: r at its own epochs and at the most epochs (medians over
    seeds) and the gain between them, next to the recorded tolerance."""
    recorded = scenarios.load_baselines()["scenarios"]
    for name, entry in results.items():
        own = str(entry["epochs"])
        most = max(int(e) for e in next(iter(entry["curves"].values())))
        tolerances = recorded.get(name, {}).get("metrics", {})
        entry["summary"] = {}
        for metric in CURVE_METRICS:
            at_own = statistics.median(c[own][metric] for c in entry["curves"].values())
            at_most = statistics.median(c[str(most)][metric] for c in entry["curves"].values())
            tolerance = tolerances.get(metric, {}).get("tolerance")
            entry["summary"][metric] = {"at_own_epochs": at_own, "most_epochs": most,
                                        "at_most_epochs": at_most,
                                        "gain": round(at_most - at_own, 4),
                                        "recorded_tolerance": tolerance}
            print(f"{name} {metric}: {at_own:.3f} at {own} epochs (the scenario), "
                  f"{at_most:.3f} at {most} (gain {at_most - at_own:+.3f}; recorded tolerance "
                  f"{tolerance})")


def plot(results: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 3.6), squeeze=False)
    for axis, (name, entry) in zip(axes[0], results.items()):
        for metric, colour in zip(CURVE_METRICS, ("tab:purple", "tab:green")):
            for (seed, curve), marker in zip(entry["curves"].items(), "os^vD*"):
                epochs = sorted(int(e) for e in curve)
                axis.plot(epochs, [curve[str(e)][metric] for e in epochs], marker=marker,
                          color=colour, alpha=0.8, label=f"{metric} (seed {seed})")
        axis.axvline(entry["epochs"], color="grey", linestyle="--", label="scenario's epochs")
        axis.axhline(0.9, color="black", linewidth=0.6, label="r = 0.9")
        axis.set(title=name, xlabel="epochs", ylabel="r against the truth", ylim=(0, 1))
        axis.legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    with atomic_output(path) as handle:
        fig.savefig(handle, format="png", dpi=110)
    plt.close(fig)
    print(f"wrote {path}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", action="append", choices=sorted(scenarios.SCENARIOS),
                        help="this scenario only (repeatable; default: all)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 7])
    parser.add_argument("--factors", type=float, nargs="+", default=[0.25, 0.5, 1, 1.5, 2],
                        help="epoch counts as multiples of each scenario's own")
    parser.add_argument("--parallel", type=int, default=suite_support.thread_budget())
    args = parser.parse_args(argv)
    if 1 not in args.factors or any(f <= 0 for f in args.factors):
        parser.error("--factors must be positive and include 1 (the scenario's own epochs)")
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-learning-") as work:
        results = measure(args.scenario or list(scenarios.SCENARIOS), args.seeds, args.factors,
                          args.parallel, Path(work))
    summarise(results)
    plot(results, RESULTS / "learning_curve.png")
    write_results("learning_curve", load_before, seeds=args.seeds, factors=args.factors,
                  scenarios=results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
