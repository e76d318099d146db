"""Seconds per training epoch, PyTorch/Lightning vs TensorFlow, at the integration scenarios'
settings (tests/suite/integration/scenarios.py: N = 32 dataset, width 0.25, batch 16), through
the real console script, one thread per framework pool as the chains run.

    python benchmarks/bench_epoch_speed.py [--runs 3] [--epochs 4 24]

Per backend and run, `ptycho-train` trains twice, for E1 and E2 epochs; its own log says how
long training took ("training took X s": model build, tracing and Lightning set-up included,
imports not). seconds/epoch = (T(E2) - T(E1)) / (E2 - E1): the fixed costs cancel. Backends are
interleaved run by run; medians are reported. Target: PyTorch <= 1.0 x TensorFlow per epoch.
Results: benchmarks/results/epoch_speed.json.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _timing import write_results

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests" / "suite"))

import suite_support  # noqa: E402
from integration import scenarios  # noqa: E402

_TRAIN_SECONDS = re.compile(r"training took ([0-9.]+) s")
SCENARIOS = ("tensorflow-gs1", "pytorch-gs1")


def train_seconds(scenario: scenarios.Scenario, data: Path, folder: Path, nepochs: int) -> float:
    variant = scenarios.Variant(f"{nepochs}-epochs", ("--nepochs", str(nepochs)))
    command = scenario.train_command(data, folder, variant)
    done = subprocess.run(command, cwd=REPO_ROOT, env=suite_support.subprocess_env(threads=1),
                          capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"error: {' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return float(_TRAIN_SECONDS.search((folder / "train.log").read_text()).group(1))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--epochs", type=int, nargs=2, default=(4, 24), metavar=("E1", "E2"))
    args = parser.parse_args(argv)
    short, long = sorted(args.epochs)
    if args.runs < 1 or short < 1 or long == short:
        parser.error("need --runs >= 1 and two different epoch counts >= 1")
    load_before = os.getloadavg()
    per_epoch = {name: [] for name in SCENARIOS}
    with tempfile.TemporaryDirectory(prefix="bench-epoch-") as work:
        data = suite_support.cached_dataset(Path(work) / "data")
        for run in range(args.runs):
            for name in SCENARIOS:
                scenario = scenarios.SCENARIOS[name]
                times = [train_seconds(scenario, data, Path(work) / f"{name}-{run}-{n}", n)
                         for n in (short, long)]
                per_epoch[name].append((times[1] - times[0]) / (long - short))
                print(f"{name} run {run + 1}: {times[0]:.2f} s ({short} epochs), {times[1]:.2f} s "
                      f"({long} epochs) -> {per_epoch[name][-1]:.3f} s/epoch", flush=True)
    medians = {name: statistics.median(values) for name, values in per_epoch.items()}
    ratio = medians["pytorch-gs1"] / medians["tensorflow-gs1"]
    print(f"median s/epoch: TensorFlow {medians['tensorflow-gs1']:.3f}, PyTorch "
          f"{medians['pytorch-gs1']:.3f}: PyTorch = {ratio:.2f} x TensorFlow (target <= 1.0)")
    write_results("epoch_speed", load_before, epochs=[short, long], runs=per_epoch,
                  median_s_per_epoch=medians, torch_over_tensorflow=round(ratio, 3),
                  settings={name: scenarios.SCENARIOS[name].settings() for name in SCENARIOS})
    return 0


if __name__ == "__main__":
    sys.exit(main())
