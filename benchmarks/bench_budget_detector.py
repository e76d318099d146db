"""Does the runtime-budget detector catch real regressions without crying wolf?

A fixed workload (a small NumPy training loop, ~0.5 s) is timed like a harness session times a
group: calibration (harness.measure.calibration.measure) before and after, the workload under a
stopwatch (harness.measure.timing) with the speed probe (harness.measure.calibration.SpeedProbe) running, then
harness.verdicts.budgets.judge() against a baseline that harness.records.baselines.record() made from separate
runs; a trial whose first session is flagged gets the harness's confirmation re-runs
(harness.verdicts.budgets.confirm). Conditions, `--runs` trials each, variants interleaved:

    quiet      nothing added (other jobs on this shared machine may still run)
    loaded     a CPU burner pinned to the other core for the whole block
    variants   normal (must pass), +25% (1.25x the epochs: must be flagged as too_slow),
               no-op (the training loop skipped: must be flagged as too_fast)

Every candidate rule (clock; no / calibration / probe load normalisation; confirmation; band
width) judges the SAME samples through the same judge()/confirm(); the DEFAULT row is
selectors/budgets.toml [defaults], the rule the harness uses.
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
import contextlib  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import asdict, dataclass, replace  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _suite import Burner  # noqa: E402
from harness.records import baselines  # noqa: E402
from harness.config import budgets as budget_rules  # noqa: E402
from harness.verdicts import budgets  # noqa: E402
from harness.measure import calibration  # noqa: E402
from harness.measure import environment  # noqa: E402
from harness.measure.timing import Measurement, stopwatch  # noqa: E402

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


def session(epochs: int, probe: calibration.SpeedProbe) -> dict:
    """One harness-like session: calibrate, run the workload (under the speed probe that runs
    all through the benchmark, as it runs all through a pytest session), calibrate again."""
    before = calibration.measure().seconds
    with stopwatch(probe) as watch:
        train(epochs)
    after = calibration.measure().seconds
    return {"wall_s": watch.measurement.wall_s, "cpu_s": watch.measurement.cpu_s,
            "speed_s": watch.measurement.speed_s,
            "calibration_before_s": before, "calibration_after_s": after,
            "loadavg_1m": os.getloadavg()[0]}


# ---------------------------------------------------------------- rules

@dataclass(frozen=True)
class Rule:
    band: budget_rules.BandRule
    probe: bool    # measurements carry the speed probe's reading (else: session calibration)
    confirm: bool  # re-run band.confirm_reruns times and keep only repeated findings


def rules(default: budget_rules.BandRule) -> dict[str, Rule]:
    """The candidates; DEFAULT is budgets.toml [defaults] as the harness applies it."""
    raw = replace(default, normalise_load=False)
    majority = max(default.confirm_reruns, 2)  # "confirmed": most of 1 + 2 runs must agree

    def confirmed(band: budget_rules.BandRule) -> budget_rules.BandRule:
        return replace(band, confirm_reruns=majority)

    candidates = {
        "wall, raw, one run": Rule(replace(raw, clock="wall"), False, False),
        "cpu, raw, one run": Rule(raw, False, False),
        "cpu, raw, confirmed": Rule(confirmed(raw), False, True),
        "cpu, calibration-normalised, one run": Rule(default, False, False),
        "cpu, calibration-normalised, confirmed": Rule(confirmed(default), False, True),
        "wall, probe-normalised, confirmed": Rule(confirmed(replace(default, clock="wall")), True, True),
        "cpu, probe-normalised, confirmed": Rule(confirmed(default), True, True),
        "DEFAULT: cpu, probe-normalised" + (", confirmed" if default.confirm_reruns else ", one run"):
            Rule(default, True, default.confirm_reruns > 0),
    }
    for name, band in ((f"k_mad {default.k_mad * 0.6:g}", replace(default, k_mad=default.k_mad * 0.6)),
                       (f"k_mad {default.k_mad * 1.6:g}", replace(default, k_mad=default.k_mad * 1.6)),
                       (f"rel_floor {default.rel_floor * 2 / 3:.0%}",
                        replace(default, rel_floor=default.rel_floor * 2 / 3)),
                       (f"rel_floor {default.rel_floor * 4 / 3:.0%}",
                        replace(default, rel_floor=default.rel_floor * 4 / 3,
                                rel_cap=max(default.rel_cap, default.rel_floor * 4 / 3))),
                       ("rel_cap 20%", replace(default, rel_cap=0.2)),
                       (f"rel_cap {default.rel_floor:.0%}", replace(default, rel_cap=default.rel_floor))):
        candidates[f"  DEFAULT with {name}"] = Rule(band, True, default.confirm_reruns > 0)
    return candidates


def measurement(run: dict, probe: bool) -> Measurement:
    return Measurement(run["wall_s"], run["cpu_s"], run["speed_s"] if probe else None)


def record_baseline(record: list[dict], probe: bool, fingerprint: dict) -> baselines.Baseline:
    """What `harness baseline record` makes of the recording runs."""
    return baselines.record(
        [{"group": {GROUP: measurement(r, probe)}} for r in record], "bench", fingerprint,
        calibrations=[math.sqrt(r["calibration_before_s"] * r["calibration_after_s"])
                      for r in record])


def judged(run: dict, rule: Rule, config: budget_rules.Budgets, recorded: dict):
    reference = baselines.Reference(recorded[rule.probe], exact=True).calibrated(
        run["calibration_before_s"], run["calibration_after_s"])
    measured = {"group": {GROUP: measurement(run, rule.probe)}}
    return budgets.judge(measured, replace(config, band=rule.band), reference)


def verdict_of(trial: list[dict], rule: Rule, config: budget_rules.Budgets,
               recorded: dict) -> tuple[budgets.Verdict, bool]:
    """The harness's final verdict on one trial: the first session, confirmed by the re-runs;
    and whether re-runs were missing (--from-samples with a rule that flags a first run no
    rule flagged when the samples were taken: confirmed with those there are)."""
    first = judged(trial[0], rule, config, recorded)
    missing = False
    if rule.confirm and any(v.finding for v in first):
        reruns = trial[1:1 + rule.band.confirm_reruns]
        missing = len(reruns) < rule.band.confirm_reruns
        first = budgets.confirm(first, [judged(r, rule, config, recorded) for r in reruns])
    (verdict,) = first
    return verdict, missing


def collect(runs: int, burner_core: int | None, needs_reruns, reruns: int,
            probe: calibration.SpeedProbe, console: Console) -> dict:
    trials = {"quiet": [], "loaded": []}
    for condition in trials:
        console.print(f"{condition}: {runs} trials x {len(VARIANTS)} variants "
                      f"(+{reruns} re-runs of a trial whose first run any rule flags)")
        context = Burner(burner_core) if condition == "loaded" else contextlib.nullcontext()
        with context:
            for _ in range(runs):
                for variant, epochs in VARIANTS.items():
                    trial = [session(epochs, probe)]
                    if needs_reruns(trial[0]):
                        trial += [session(epochs, probe) for _ in range(reruns)]
                    trials[condition].append({"variant": variant, "sessions": trial})
    return trials


def evaluate(trials: dict, recorded: dict, config: budget_rules.Budgets) -> list[dict]:
    results = []
    for name, rule in rules(config.band).items():
        counts: dict[str, dict[str, int]] = {}
        margins, missing = [], 0
        for condition, condition_trials in trials.items():
            for trial in condition_trials:
                verdict, lacking = verdict_of(trial["sessions"], rule, config, recorded)
                missing += lacking
                tally = counts.setdefault(f"{condition} {trial['variant']}",
                                          {"runs": 0, "flagged": 0, "right_status": 0})
                tally["runs"] += 1
                tally["flagged"] += verdict.finding
                tally["right_status"] += verdict.status == EXPECTED[trial["variant"]]
                if trial["variant"] == "normal":
                    margins.append(verdict.margin_s / (verdict.allowed[1] - verdict.baseline_s))
        normal = [counts[f"{c} normal"] for c in trials]
        injected = [counts[f"{c} {v}"] for c in trials for v in VARIANTS if v != "normal"]
        detected = sum(t["right_status"] for t in injected)
        results.append({
            "rule": name, "band": asdict(rule.band), "probe": rule.probe,
            "confirmed": rule.confirm,
            "false_alarms": sum(t["flagged"] for t in normal),
            "normal_runs": sum(t["runs"] for t in normal),
            "detected": detected, "injected_runs": sum(t["runs"] for t in injected),
            "detection_rate": detected / sum(t["runs"] for t in injected),
            "min_normal_margin_of_half_width": min(margins),
            "trials_missing_reruns": missing,
            "by_condition": counts,
        })
    return results


def spread(values: list[float], unit: str = "s", scale: float = 1.0) -> str:
    values = [v * scale for v in values]
    return (f"{statistics.median(values):.3f} {unit} (min {min(values):.3f}, max {max(values):.3f}, "
            f"max/min {max(values) / min(values):.2f})")


def measure(args, config: budget_rules.Budgets, console: Console):
    """Record a baseline, then run the trials (see the module docstring)."""
    cores = sorted(os.sched_getaffinity(0))
    burner_core = None
    if len(cores) >= 2:  # this process on the first core, the burner on the second
        os.sched_setaffinity(0, {cores[0]})
        burner_core = cores[1]
    probe = calibration.SpeedProbe(config.band.probe_interval_s).start()
    console.print(f"recording the baseline: {args.record_runs} quiet runs")
    record = [session(EPOCHS, probe) for _ in range(args.record_runs)]
    fingerprint = environment.fingerprint(environment.collect(ROOT))
    recorded = {probed: record_baseline(record, probed, fingerprint) for probed in (True, False)}

    confirming = [rule for rule in rules(config.band).values() if rule.confirm]
    reruns = max(rule.band.confirm_reruns for rule in confirming)

    def needs_reruns(run: dict) -> bool:
        return any(v.finding for rule in confirming for v in judged(run, rule, config, recorded))

    trials = collect(args.runs, burner_core, needs_reruns, reruns, probe, console)
    probe.stop()
    return record, trials, recorded, fingerprint, burner_core


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="trials per condition and variant")
    parser.add_argument("--record-runs", type=int, default=10, help="runs behind the baseline")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks/results/budget_detector.json")
    parser.add_argument("--from-samples", type=Path, metavar="JSON",
                        help="judge the samples of an earlier result file again (after a rule "
                             "change) instead of measuring")
    args = parser.parse_args()
    console = Console(width=200)

    started = time.perf_counter()
    config = budget_rules.load(ROOT)
    config = replace(config, groups={GROUP: budget_rules.Limits(f"groups.{GROUP}")}, cadences={}, tests={})
    if args.from_samples:
        earlier = json.loads(args.from_samples.read_text(encoding="utf-8"))
        record, trials, fingerprint = earlier["record"], earlier["trials"], earlier["fingerprint"]
        burner_core, measured_utc = earlier["burner_core"], earlier["measured_utc"]
        recorded = {probed: record_baseline(record, probed, fingerprint) for probed in (True, False)}
    else:
        record, trials, recorded, fingerprint, burner_core = measure(args, config, console)
        measured_utc = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    results = evaluate(trials, recorded, config)
    runs_per_variant = len(trials["quiet"]) // len(VARIANTS)

    firsts = {"record": record, **{c: [t["sessions"][0] for t in ts if t["variant"] == "normal"]
                                   for c, ts in trials.items()}}
    for condition, runs in firsts.items():
        console.print(f"{condition:>6} normal: wall {spread([r['wall_s'] for r in runs])}; "
                      f"cpu {spread([r['cpu_s'] for r in runs])}; calibration "
                      f"{spread([r['calibration_before_s'] for r in runs])}; speed probe "
                      f"{spread([r['speed_s'] for r in runs], 'ms', 1e3)}; "
                      f"load avg {statistics.mean(r['loadavg_1m'] for r in runs):.2f}")
    table = Table(title=f"budget detector: {runs_per_variant} trials per condition and variant, "
                        f"baseline from {len(record)} runs")
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
            f"{r['min_normal_margin_of_half_width']:+.2f}"
            + (f" ({r['trials_missing_reruns']} trials lacked re-runs)"
               if r["trials_missing_reruns"] else ""))
    console.print(table)
    default = next(r for r in results if r["rule"].startswith("DEFAULT"))
    met = default["false_alarms"] == 0 and default["detection_rate"] >= 0.95
    console.print(f"default rule: {default['false_alarms']} false alarms, "
                  f"{default['detection_rate']:.0%} detected -> target {'MET' if met else 'MISSED'}")

    args.output.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "measured_utc": measured_utc,
        "judged_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "seconds": round(time.perf_counter() - started, 1),
        "fingerprint": fingerprint, "runs": runs_per_variant, "record_runs": len(record),
        "epochs": VARIANTS, "burner_core": burner_core,
        "baseline": recorded[True].as_dict()["groups"][GROUP],
        "results": results, "record": record, "trials": trials, "target_met": met,
    }
    temporary = args.output.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, args.output)
    console.print(f"wrote {args.output}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
