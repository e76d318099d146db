"""Can a short calibration predict the suite's groups across conditions (and so across machines)?

Issue 15: the speed probe read an Intel Xeon as 2-3x faster than the AMD EPYC that recorded the
committed baseline, while the suite's work ran ~1.7x faster, so every per_pr run failed. This
measures, per group, how well three predictors follow the suite when the conditions change:

    numpy calibration   harness.measure.calibration.measure() (small matrix products, FFTs, Python
                        loops): what scaled other machines' baselines until issue 15
    speed probe         the harness's background probe, as read during the group itself
    suite-like          a fresh interpreter: TensorFlow import + 20 conv training steps,
                        torch import + 20 conv training steps, NumPy FFTs (one thread each, like
                        the integration chains); its total CPU time is the prediction

Conditions (benchmarks/_suite.py): quiet (2 cores), one_core (`taskset -c 0`), onednn_off
(TF_ENABLE_ONEDNN_OPTS=0), burner (a busy loop pinned to the other core). In each, `--runs`
per_pr runs in a fresh clone of HEAD and the predictors run alternately with them. For every
group and condition: actual = CPU(condition) / CPU(quiet) (medians), predicted = the
predictor's same ratio; error = predicted / actual - 1. Target (issue 15): within +-15 %.

The cross-machine case: each group's CPU here (quiet median) / recorded in the committed
baseline of another CPU, against the ratio the numpy calibration and the probe give (their
recorded values are in the baseline; the suite-like workload was never run there). `--cross
REPORT BASELINE [--label TEXT]` does this for a given run and baseline file (e.g. an older
revision's, once the suite's work changed and the other CPU's file was removed). Every pair
measured is kept (a re-run of the same pair replaces it), and the results file states the
estimated-verdict margin they call for, by the rule of the metric tolerances: 1.5 x the largest
spread seen, here in log space, F = exp(1.5 x max |ln ratio|) rounded up to 0.1 (budgets.toml's
`[defaults] estimated_factor` must be at least that; tests/harness/test_budgets.py checks it).

    python benchmarks/bench_calibration.py [--runs 2] [--conditions quiet,one_core,...]
    python benchmarks/bench_calibration.py --workload    # one suite-like measurement (JSON)

Writes benchmarks/results/calibration.json.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _suite import CONDITIONS, harness, newest_report, scratch_clone, tree_env  # noqa: E402
from _timing import RESULTS, write_results  # noqa: E402
from harness.records import baselines  # noqa: E402
from harness.measure import environment  # noqa: E402

THREADS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")
STEPS = 20
TARGET = 0.15


def workload() -> dict:
    """The suite-like workload, in this (fresh) process: CPU seconds of each part."""
    import gc

    gc.disable()  # as the console scripts import frameworks (ptycho.cli.common)
    parts, mark = {}, time.process_time()

    def lap(name: str) -> None:
        nonlocal mark
        now = time.process_time()
        parts[name] = round(now - mark, 4)
        mark = now

    import tensorflow as tf
    lap("tf_import")
    model = tf.keras.Sequential([tf.keras.Input((32, 32, 1)),
                                 tf.keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
                                 tf.keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
                                 tf.keras.layers.Conv2D(1, 3, padding="same")])
    optimizer = tf.keras.optimizers.Adam(1e-3)
    x = tf.random.stateless_normal((16, 32, 32, 1), seed=(1, 2))

    @tf.function(autograph=False)
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((model(x, training=True) - x) ** 2)
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables),
                                      model.trainable_variables))
        return loss

    for _ in range(STEPS):
        step()
    lap("tf_steps")
    import torch
    lap("torch_import")
    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv2d(16, 16, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv2d(16, 1, 3, padding=1))
    adam = torch.optim.Adam(net.parameters(), 1e-3)
    xt = torch.randn(16, 1, 32, 32)
    for _ in range(STEPS):
        adam.zero_grad()
        loss = ((net(xt) - xt) ** 2).mean()
        loss.backward()
        adam.step()
    lap("torch_steps")
    import numpy as np
    field = np.random.default_rng(3).standard_normal((64, 64)) + 0j
    for _ in range(2000):
        field = np.fft.ifft2(np.fft.fft2(field) * 0.5)
    lap("fft")
    parts["total"] = round(sum(parts.values()), 4)
    return parts


def in_condition(tree: Path, condition, code: list[str]) -> dict:
    env = tree_env(tree, condition, tree / "artifacts")
    env.update({name: "1" for name in THREADS}, TF_CPP_MIN_LOG_LEVEL="2")
    with condition.running():
        done = subprocess.run([*condition.prefix, sys.executable, *code], cwd=tree, env=env,
                              capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def numpy_calibration(tree: Path, condition) -> float:
    code = ("import json; from harness.measure import calibration; "
            "print(json.dumps(calibration.measure().seconds))")
    return in_condition(tree, condition, ["-c", code])


def groups_of(report: dict) -> dict[str, dict]:
    """{group: {cpu_s, speed_s}} of one run's report.json."""
    from harness.records import measurements
    from harness.report.types import RunReport

    measured = measurements.measurements(RunReport.of(report), [])
    return {name: {"cpu_s": m.cpu_s, "speed_s": m.speed_s} for name, m in measured["group"].items()}


def error(predicted: float, actual: float) -> float:
    return round(predicted / actual - 1, 4)


def analyse(samples: dict) -> dict:
    """Per condition and group: actual ratio to quiet and each predictor's error."""
    from harness.measure import calibration

    def median(condition: str, pick) -> float:
        return statistics.median(pick(run) for run in samples[condition])

    rows = []
    for condition in [name for name in samples if name != "quiet"]:
        groups = samples[condition][0]["groups"]
        for group in groups:
            actual = median(condition, lambda r: r["groups"][group]["cpu_s"]) / median(
                "quiet", lambda r: r["groups"][group]["cpu_s"])
            probe = calibration.probe_ratio(
                median(condition, lambda r: r["groups"][group]["speed_s"]),
                median("quiet", lambda r: r["groups"][group]["speed_s"]))
            numpy_ratio = median(condition, lambda r: r["numpy_s"]) / median(
                "quiet", lambda r: r["numpy_s"])
            suite = median(condition, lambda r: r["suite_like"]["total"]) / median(
                "quiet", lambda r: r["suite_like"]["total"])
            rows.append({"condition": condition, "group": group, "actual": round(actual, 4),
                         "error_numpy_calibration": error(numpy_ratio, actual),
                         "error_speed_probe": error(probe, actual),
                         "error_suite_like": error(suite, actual)})
    return {"rows": rows, "within_target": {
        predictor: all(abs(row[predictor]) <= TARGET for row in rows)
        for predictor in ("error_numpy_calibration", "error_speed_probe", "error_suite_like")}}


def cross_machine(groups: dict[str, dict], numpy_s: float | None, baseline) -> list[dict]:
    """This machine's CPU per group (`groups`: {group: {cpu_s, speed_s}}) against `baseline`
    (harness.records.baselines.Baseline) recorded on another CPU, and what the numpy calibration
    (`numpy_s` here vs the recorded calibration_s) and the probe predicted."""
    from harness.measure import calibration

    rows = []
    for group, entry in baseline.entries.get("group", {}).items():
        if group not in groups or entry.cpu is None:
            continue
        actual = groups[group]["cpu_s"] / entry.cpu.median
        row = {"baseline": baseline.fingerprint_hash,
               "cpu_model": baseline.fingerprint.get("cpu_model"), "group": group,
               "actual": round(actual, 4)}
        if entry.calibration_s and numpy_s:
            row["error_numpy_calibration"] = error(numpy_s / entry.calibration_s, actual)
        if entry.speed_s and groups[group].get("speed_s"):
            row["error_speed_probe"] = error(
                calibration.probe_ratio(groups[group]["speed_s"], entry.speed_s), actual)
        rows.append(row)
    return rows


def cross_from_files(report_path: Path, baseline_path: Path) -> list[dict]:
    """--cross: a run of this machine (report.json, with its session calibration) against a
    baseline file of another CPU (e.g. `git show REV:baselines/runtime/<hash>.json > file`)."""
    from harness.records import baselines
    from harness.config import files as configfile

    run = json.loads(report_path.read_text())
    baseline = baselines.Baseline.from_dict(configfile.read_json(baseline_path), baseline_path)
    return cross_machine(groups_of(run), (run.get("budgets") or {}).get("calibration_s"), baseline)


def with_pair(document: dict, pair: dict) -> dict:
    """`document` (calibration.json) with `pair` ({report, baseline, rows}) among its
    cross-machine pairs, replacing one of the same report and baseline, and the margin they
    derive."""
    pairs = [entry for entry in document.get("cross_machine", [])
             if (entry["report"], entry["baseline"]) != (pair["report"], pair["baseline"])]
    document["cross_machine"] = [*pairs, pair]
    document["estimated_factor_rule"] = estimated_factor_rule(document["cross_machine"])
    return document


def estimated_factor_rule(pairs: list[dict]) -> dict:
    ratios = [row["actual"] for pair in pairs for row in pair["rows"]]
    spread = max(abs(math.log(ratio)) for ratio in ratios)
    widest = max(ratios, key=lambda ratio: abs(math.log(ratio)))
    return {"rule": "F = exp(1.5 x max |ln(CPU here / CPU in the other machine's baseline)|), "
                    "rounded up to 0.1",
            "widest_ratio": widest, "ratios": len(ratios),
            "estimated_factor": math.ceil(math.exp(1.5 * spread) * 10) / 10}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2, help="per_pr runs per condition")
    parser.add_argument("--conditions", default=",".join(CONDITIONS))
    parser.add_argument("--workload", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cross", nargs=2, type=Path, metavar=("REPORT_JSON", "BASELINE_JSON"),
                        help="only the cross-machine rows: a run here vs another CPU's baseline "
                             "file; added to the results file's cross_machine pairs")
    parser.add_argument("--label", help="--cross: how the results file names the run (machine, "
                                        "date, commit), since run folders do not last")
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/bench-calibration"))
    args = parser.parse_args()
    if args.workload:
        print(json.dumps(workload()))
        return 0
    if args.cross:
        rows = cross_from_files(*args.cross)
        for row in rows:
            print(json.dumps(row))
        results = RESULTS / "calibration.json"
        document = json.loads(results.read_text()) if results.is_file() else {}
        pair = {"report": args.label or str(args.cross[0]), "baseline": str(args.cross[1]),
                "rows": rows}
        document = with_pair(document, pair)
        print(json.dumps(document["estimated_factor_rule"]))
        results.write_text(json.dumps(document, indent=2) + "\n")
        return 0
    load_before, started = os.getloadavg(), time.perf_counter()
    names = args.conditions.split(",")
    if names[0] != "quiet":
        parser.error("--conditions must start with quiet (the reference)")
    samples: dict[str, list[dict]] = {name: [] for name in names}
    script = str(Path(__file__).resolve())
    with scratch_clone(args.scratch / "tree") as (tree, sha):
        for index in range(args.runs):
            for name in names:
                condition = CONDITIONS[name]
                artifacts = tree / "artifacts" / name
                run = harness(tree, ["run", "per_pr"], condition, artifacts)
                sample = {"exit": run["exit"], "wall_s": run["wall_s"],
                          "groups": groups_of(newest_report(artifacts)),
                          "numpy_s": numpy_calibration(tree, condition),
                          "suite_like": in_condition(tree, condition, [script, "--workload"])}
                samples[name].append(sample)
                print(f"  {name} {index + 1}: " + ", ".join(
                    f"{g} {v['cpu_s']:.2f} CPU-s" for g, v in sample["groups"].items())
                    + f"; numpy {sample['numpy_s'] * 1e3:.1f} ms, suite-like "
                      f"{sample['suite_like']['total']:.2f} s {sample['suite_like']}")
    within = analyse(samples)
    results = RESULTS / "calibration.json"
    kept = {"cross_machine": json.loads(results.read_text()).get("cross_machine", [])
            if results.is_file() else []}
    machines = []
    here = environment.fingerprint_hash(environment.fingerprint(environment.collect(ROOT)))
    quiet = {group: {key: statistics.median(r["groups"][group][key] for r in samples["quiet"])
                     for key in ("cpu_s", "speed_s")} for group in samples["quiet"][0]["groups"]}
    numpy_quiet = statistics.median(r["numpy_s"] for r in samples["quiet"])
    for baseline in baselines.load_all(ROOT / "baselines"):
        if baseline.fingerprint_hash != here:  # this machine's own file is not cross-machine
            rows = cross_machine(quiet, numpy_quiet, baseline)
            machines += rows
            kept = with_pair(kept, {"report": f"quiet per_pr medians at {sha[:12]}",
                                    "baseline": str(baseline.path), "rows": rows})
    for row in within["rows"]:
        print(f"{row['condition']:>10} {row['group']:>18}: actual x{row['actual']:.3f}, errors "
              f"numpy {row['error_numpy_calibration']:+.1%}, probe {row['error_speed_probe']:+.1%}, "
              f"suite-like {row['error_suite_like']:+.1%}")
    for row in machines:
        print(f"cross-machine {row['cpu_model']} {row['group']}: actual x{row['actual']:.3f}, "
              + ", ".join(f"{k[6:]} {v:+.1%}" for k, v in row.items() if k.startswith("error_")))
    print(f"within +-{TARGET:.0%}: {within['within_target']}")
    write_results("calibration", load_before, commit=sha,
                  seconds=round(time.perf_counter() - started), runs=args.runs,
                  target=TARGET, conditions=names, analysis=within, samples=samples, **kept)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
