"""Seconds per training epoch, PyTorch/Lightning vs TensorFlow, at the integration scenarios'
settings (tests/suite/integration/scenarios.py: N = 32 dataset, width 0.25, batch 16), through
the real console script, one thread per framework pool as the chains run.

    python benchmarks/bench_epoch_speed.py [--runs 3] [--epochs 4 24] [--onednn]

Per backend and run, `ptycho-train` trains twice, for E1 and E2 epochs; its own log says how
long training took ("training took X s": model build, tracing and Lightning set-up included,
imports not). seconds/epoch = (T(E2) - T(E1)) / (E2 - E1): the fixed costs cancel. Backends are
interleaved run by run; medians are reported. Target: PyTorch <= 1.0 x TensorFlow per epoch.
Results: benchmarks/results/epoch_speed.json.

--onednn: where an epoch goes. Both backends run their convolutions (and TensorFlow its pooling)
as oneDNN primitives; one more E1/E2 pair per backend runs with ONEDNN_VERBOSE=1, whose exec
lines give each primitive's own time. Per epoch: oneDNN seconds by primitive kind, and the
rest of the median epoch (framework dispatch, element-wise ops, autograd, optimizer,
Lightning). Verbose logging slows those runs, so their wall times are not used.
"""
from __future__ import annotations

import argparse
import collections
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


def train(scenario: scenarios.Scenario, data: Path, folder: Path, nepochs: int,
          env: dict | None = None) -> subprocess.CompletedProcess:
    variant = scenarios.Variant(f"{nepochs}-epochs", ("--nepochs", str(nepochs)))
    command = scenario.train_command(data, folder, variant)
    done = subprocess.run(command, cwd=REPO_ROOT,
                          env={**suite_support.subprocess_env(threads=1), **(env or {})},
                          capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"error: {' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return done


def train_seconds(scenario: scenarios.Scenario, data: Path, folder: Path, nepochs: int) -> float:
    train(scenario, data, folder, nepochs)
    return float(_TRAIN_SECONDS.search((folder / "train.log").read_text()).group(1))


def onednn_seconds(scenario: scenarios.Scenario, data: Path, folder: Path,
                   nepochs: int) -> collections.Counter:
    """{primitive kind (e.g. "convolution:backward_weights"): seconds} that oneDNN spent
    executing primitives in one training run of `nepochs` (its ONEDNN_VERBOSE exec lines:
    onednn_verbose,v1,primitive,exec,cpu,<primitive>,<impl>,<prop_kind>,...,<ms>)."""
    done = train(scenario, data, folder, nepochs, {"ONEDNN_VERBOSE": "1"})
    seconds = collections.Counter()
    for line in (done.stdout + done.stderr).splitlines():
        fields = line.split(",")
        if len(fields) > 8 and fields[0] == "onednn_verbose" and fields[3] == "exec":
            seconds[f"{fields[5]}:{fields[7]}"] += float(fields[-1]) / 1000
    if not seconds:
        sys.exit(f"error: {scenario.name} logged no oneDNN primitive (is oneDNN in use?)")
    return seconds


def onednn_breakdown(data: Path, work: Path, short: int, long: int,
                     medians: dict[str, float]) -> dict:
    """Per backend: oneDNN seconds per epoch by primitive kind, their total, and the rest of
    the median epoch."""
    breakdown = {}
    for name in SCENARIOS:
        scenario = scenarios.SCENARIOS[name]
        short_run, long_run = (onednn_seconds(scenario, data, work / f"{name}-onednn-{n}", n)
                               for n in (short, long))
        per_kind = {kind: round((long_run[kind] - short_run[kind]) / (long - short), 4)
                    for kind in sorted(long_run, key=long_run.get, reverse=True)}
        total = sum(per_kind.values())
        breakdown[name] = {"onednn_s_per_epoch": per_kind, "onednn_total_s": round(total, 4),
                           "rest_s": round(medians[name] - total, 4)}
        print(f"{name}: oneDNN {total:.3f} s/epoch ("
              + ", ".join(f"{kind} {value:.3f}" for kind, value in per_kind.items() if value >= 0.005)
              + f"), the rest {medians[name] - total:.3f} s/epoch", flush=True)
    return breakdown


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--epochs", type=int, nargs=2, default=(4, 24), metavar=("E1", "E2"))
    parser.add_argument("--onednn", action="store_true",
                        help="also split each epoch into oneDNN primitives and the rest")
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
        breakdown = onednn_breakdown(data, Path(work), short, long, medians) if args.onednn else None
    write_results("epoch_speed", load_before, epochs=[short, long], runs=per_epoch,
                  median_s_per_epoch=medians, torch_over_tensorflow=round(ratio, 3),
                  **({"onednn_breakdown": breakdown} if breakdown else {}),
                  settings={name: scenarios.SCENARIOS[name].settings() for name in SCENARIOS})
    return 0


if __name__ == "__main__":
    sys.exit(main())
