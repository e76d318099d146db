"""Does the runtime-budget detector catch real regressions without crying wolf?

A fixed workload (a small NumPy training loop, ~0.5 s) is timed like a harness session times a
group: calibration (harness.calibration) before and after, the workload under a stopwatch
(harness.timing), then harness.budgets.judge() against a baseline that harness.baselines.record()
made from separate runs. Conditions, each `--runs` times, variants interleaved:

    quiet      nothing added (other jobs on this shared machine may still run)
    loaded     a CPU burner pinned to the other core for the whole block
    variants   normal (must pass), +25% (1.25x the epochs: must be flagged as too_slow),
               no-op (the training loop skipped: must be flagged as too_fast)

Every candidate rule (clock, load normalisation, band width) judges the SAME samples through the
same judge(); the rule in selectors/budgets.toml [defaults] is the one the harness uses.
Target: no false alarm in the normal runs, >= 95% of the injected regressions flagged.

    python benchmarks/bench_budget_detector.py [--runs 20] [--record-runs 10]

Prints a table and writes benchmarks/results/budget_detector.json.
"""
from __future__ import annotations

import os

# Before NumPy loads: one BLAS thread, so the workload is what is timed, not thread scheduling.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import asdict, replace  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness import baselines, budgets, calibration, environment  # noqa: E402
from harness.timing import Measurement, stopwatch  # noqa: E402

GROUP = "detector_workload"
EPOCHS = 400
VARIANTS = {"normal": EPOCHS, "slow+25%": round(EPOCHS * 1.25), "no-op": 0}
EXPECTED = {"normal": "ok", "slow+25%": "too_slow", "no-op": "too_fast"}


def train(epochs: int) -> float:
    """A tiny MLP trained by hand: mini-batches of small matrix products, like a unit-size
    training test. epochs=0 is the silently skipped training the band must catch."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((512, 32))
    y = (x[:, :4].sum(axis=1) > 0).astype(float)[:, None]
    w1, w2 = rng.standard_normal((32, 48)) * 0.1, rng.standard_normal((48, 1)) * 0.1
    loss = 0.0
    for _ in range(epochs):
        for start in range(0, len(x), 32):
            xb, yb = x[start:start + 32], y[start:start + 32]
            hidden = np.maximum(xb @ w1, 0.0)
            p = 1.0 / (1.0 + np.exp(-(hidden @ w2)))
            grad = (p - yb) / len(xb)
            w1 -= 0.1 * (xb.T @ ((grad @ w2.T) * (hidden > 0)))
            w2 -= 0.1 * (hidden.T @ grad)
            loss = float(-np.mean(yb * np.log(p + 1e-9) + (1 - yb) * np.log(1 - p + 1e-9)))
    return loss


def session(epochs: int) -> dict:
    """One harness-like session: calibrate, run the workload, calibrate again."""
    before = calibration.measure().seconds
    with stopwatch() as watch:
        train(epochs)
    after = calibration.measure().seconds
    return {"wall_s": watch.measurement.wall_s, "cpu_s": watch.measurement.cpu_s,
            "calibration_before_s": before, "calibration_after_s": after,
            "loadavg_1m": os.getloadavg()[0]}


class Burner:
    """A busy loop pinned to another core than this process."""

    def __init__(self, core: int | None):
        self.core, self.process = core, None

    def __enter__(self):
        pin = f"import os; os.sched_setaffinity(0, {{{self.core}}})\n" if self.core is not None else ""
        self.process = subprocess.Popen([sys.executable, "-c", pin + "while True: pass"])
        time.sleep(0.5)
        return self

    def __exit__(self, *exc):
        self.process.kill()
        self.process.wait()


def collect(runs: int, record_runs: int, burner_core: int | None, console: Console) -> dict:
    samples = {"record": [], "quiet": [], "loaded": []}
    console.print(f"recording the baseline: {record_runs} quiet runs")
    for _ in range(record_runs):
        samples["record"].append(session(EPOCHS))
    for condition in ("quiet", "loaded"):
        console.print(f"{condition}: {runs} runs x {len(VARIANTS)} variants")
        context = Burner(burner_core) if condition == "loaded" else None
        if context:
            context.__enter__()
        try:
            for _ in range(runs):
                for variant, epochs in VARIANTS.items():
                    samples[condition].append({"variant": variant, **session(epochs)})
        finally:
            if context:
                context.__exit__()
    return samples


# ---------------------------------------------------------------- rules

def rules(default: budgets.BandRule) -> dict[str, tuple[budgets.BandRule, str]]:
    """name -> (band rule, which calibration stands for the session)."""
    plain = replace(default, normalise_load=False)
    candidates = {
        "wall, raw": (replace(plain, clock="wall"), "before"),
        "cpu, raw": (replace(plain, clock="cpu"), "before"),
        "wall, load-normalised": (replace(default, clock="wall"), "both"),
        "cpu, load-normalised (calibration before only)": (default, "before"),
        "cpu, load-normalised (before+after) = DEFAULT": (default, "both"),
    }
    for rel in (0.06, 0.09, 0.15, 0.18):
        if not math.isclose(rel, default.rel_floor):
            candidates[f"  default, rel_floor {rel:.0%}"] = (replace(default, rel_floor=rel), "both")
    return candidates


def session_calibration(run: dict, which: str) -> float:
    if which == "before":
        return run["calibration_before_s"]
    return math.sqrt(run["calibration_before_s"] * run["calibration_after_s"])


def evaluate(samples: dict, baseline: baselines.Baseline, budget_file: budgets.Budgets) -> list[dict]:
    results = []
    for name, (rule, which) in rules(budget_file.band).items():
        config = replace(budget_file, band=rule, groups={GROUP: budgets.Limits(f"groups.{GROUP}")},
                         cadences={}, tests={})
        counts: dict[str, dict[str, int]] = {}
        margins = []
        for condition in ("quiet", "loaded"):
            for run in samples[condition]:
                reference = baselines.Reference(baseline, exact=True,
                                                calibration_s=session_calibration(run, which))
                measured = {"group": {GROUP: Measurement(run["wall_s"], run["cpu_s"])}}
                (verdict,) = budgets.judge(measured, config, reference)
                key = f"{condition} {run['variant']}"
                tally = counts.setdefault(key, {"runs": 0, "flagged": 0, "right_status": 0})
                tally["runs"] += 1
                tally["flagged"] += verdict.finding
                tally["right_status"] += verdict.status == EXPECTED[run["variant"]]
                if run["variant"] == "normal":
                    margins.append(verdict.margin_s / (verdict.allowed[1] - verdict.baseline_s))
        normal = [counts[f"{c} normal"] for c in ("quiet", "loaded")]
        injected = [counts[f"{c} {v}"] for c in ("quiet", "loaded") for v in VARIANTS if v != "normal"]
        false_alarms = sum(t["flagged"] for t in normal)
        detected = sum(t["right_status"] for t in injected)
        results.append({
            "rule": name, "band": asdict(rule), "session_calibration": which,
            "false_alarms": false_alarms, "normal_runs": sum(t["runs"] for t in normal),
            "detected": detected, "injected_runs": sum(t["runs"] for t in injected),
            "detection_rate": detected / sum(t["runs"] for t in injected),
            "min_normal_margin_of_half_width": min(margins),
            "by_condition": counts,
        })
    return results


def spread(values: list[float]) -> str:
    median = statistics.median(values)
    return f"{median:.3f} s (min {min(values):.3f}, max {max(values):.3f}, max/min {max(values) / min(values):.2f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="runs per condition and variant")
    parser.add_argument("--record-runs", type=int, default=10, help="runs behind the baseline")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks/results/budget_detector.json")
    args = parser.parse_args()
    console = Console()

    cores = sorted(os.sched_getaffinity(0))
    burner_core = None
    if len(cores) >= 2:  # this process on the first core, the burner on the second
        os.sched_setaffinity(0, {cores[0]})
        burner_core = cores[1]
    started = time.perf_counter()
    samples = collect(args.runs, args.record_runs, burner_core, console)
    fingerprint = environment.fingerprint(environment.collect(ROOT))
    record = samples["record"]
    baseline = baselines.record(
        [{"group": {GROUP: Measurement(r["wall_s"], r["cpu_s"])}} for r in record], "bench",
        fingerprint, calibrations=[r["calibration_before_s"] for r in record])
    budget_file = budgets.load(ROOT)
    results = evaluate(samples, baseline, budget_file)

    for condition in ("record", "quiet", "loaded"):
        runs = [r for r in samples[condition] if r.get("variant", "normal") == "normal"]
        console.print(f"{condition:>6} normal: wall {spread([r['wall_s'] for r in runs])}; "
                      f"cpu {spread([r['cpu_s'] for r in runs])}; calibration "
                      f"{spread([r['calibration_before_s'] for r in runs])}; "
                      f"load avg {statistics.mean(r['loadavg_1m'] for r in runs):.2f}")
    table = Table(title=f"budget detector: {args.runs} runs per condition/variant, "
                        f"baseline from {args.record_runs} runs")
    for column in ("rule", "false alarms", "detected", "rate", "quiet +25%", "loaded +25%",
                   "quiet no-op", "loaded no-op", "min normal margin"):
        table.add_column(column)
    for r in results:
        c = r["by_condition"]
        table.add_row(
            r["rule"], f"{r['false_alarms']}/{r['normal_runs']}",
            f"{r['detected']}/{r['injected_runs']}", f"{r['detection_rate']:.0%}",
            *(f"{c[k]['right_status']}/{c[k]['runs']}" for k in
              ("quiet slow+25%", "loaded slow+25%", "quiet no-op", "loaded no-op")),
            f"{r['min_normal_margin_of_half_width']:+.2f}")
    console.print(table)
    default = next(r for r in results if "DEFAULT" in r["rule"])
    met = default["false_alarms"] == 0 and default["detection_rate"] >= 0.95
    console.print(f"default rule: {default['false_alarms']} false alarms, "
                  f"{default['detection_rate']:.0%} detected -> target {'MET' if met else 'MISSED'}")

    args.output.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "created_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "seconds": round(time.perf_counter() - started, 1),
        "fingerprint": fingerprint, "runs": args.runs, "record_runs": args.record_runs,
        "epochs": VARIANTS, "burner_core": burner_core,
        "baseline": baseline.as_dict()["groups"][GROUP],
        "results": results, "samples": samples, "target_met": met,
    }
    temporary = args.output.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, args.output)
    console.print(f"wrote {args.output.relative_to(ROOT)}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
