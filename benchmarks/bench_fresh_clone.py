"""Issue 15's acceptance run: a fresh clone on a machine its committed baselines never saw.

A `git clone` of HEAD (empty ledger; this machine's own baseline file, if one was committed
since, is removed from the clone so that only other CPUs' baselines remain) runs, with its own
code (PYTHONPATH) and its own harness root:

    per_pr x `--runs` in each of: quiet, one_core (`taskset -c 0`), burner (a busy loop on the
    other core); then nightly and weekly x `--runs-long` each (quiet)

Every one of them must exit 0: the first runs are judged against another CPU's baseline
(estimated: advisory inside the safety margin), from the `provisional_runs`-th green run on
against this machine's provisional baseline (exact). Then a slowdown is injected into one group
(`--slowdown` of its CPU time, benchmarks/_suite.py) and per_pr runs `--slowed-runs` times: the
provisional band must flag it (exit 4); and `harness compare HEAD per_pr` (the clone's working
tree holds the slowdown) must flag it too (`--compare-pairs`, 0 = skip).

    python benchmarks/bench_fresh_clone.py [--runs 5] [--runs-long 2] [--slowdown 0.25]

Writes benchmarks/results/fresh_clone.json.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _suite import CONDITIONS, harness, inject_slowdown, newest_report, scratch_clone  # noqa: E402
from _timing import write_results  # noqa: E402
from harness.runs import compare  # noqa: E402
from harness.measure import environment  # noqa: E402
from harness.records import runfolder  # noqa: E402


def describe(report: dict) -> dict:
    budgets = report.get("budgets") or {}
    verdicts = budgets.get("verdicts", [])
    return {"status": report["status"], "exit": report["exit_code"],
            "wall_s": report["wall_seconds"], "reference": budgets.get("baseline"),
            "exact": budgets.get("exact"), "provisional_runs": budgets.get("provisional_runs"),
            "foreign_cores": (budgets.get("contention") or {}).get("foreign_cores"),
            "findings": [f"{v['kind']} {v['subject']} {v['check']} {v['status']}"
                         for v in verdicts if v["status"] != "ok" and not v.get("advisory")],
            "advisories": [f"{v['kind']} {v['subject']} {v['status']} {v['measured_s']:.2f} vs "
                           + (f"{v['baseline_s']:.2f}" if v["check"] != "ceiling" else
                              f"max {v['allowed'][1]:g}")
                           for v in verdicts if v.get("advisory")]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="per_pr runs per condition")
    parser.add_argument("--runs-long", type=int, default=2, help="nightly and weekly runs")
    parser.add_argument("--conditions", default="quiet,one_core,burner")
    parser.add_argument("--cadence", default="per_pr", help="what runs per condition")
    parser.add_argument("--group", default="backend_selection")
    parser.add_argument("--slowdown", type=float, default=0.25)
    parser.add_argument("--slowed-runs", type=int, default=2)
    parser.add_argument("--compare-pairs", type=int, default=6)
    parser.add_argument("--commit", default="HEAD", help="what the clone checks out")
    parser.add_argument("--results", default="fresh_clone",
                        help="benchmarks/results/<name>.json (default fresh_clone)")
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/bench-fresh-clone"))
    args = parser.parse_args()
    load_before, started = os.getloadavg(), time.perf_counter()
    here = environment.fingerprint_hash(environment.fingerprint(environment.collect(ROOT)))
    runs, slowed, compared = [], [], None
    with scratch_clone(args.scratch / "tree", args.commit) as (tree, sha):
        own = tree / "baselines" / "runtime" / f"{here}.json"
        removed = own.is_file()
        own.unlink(missing_ok=True)
        others = sorted(p.stem for p in (tree / "baselines" / "runtime").glob("*.json"))
        print(f"fresh clone of {sha[:12]}; baselines of other machines: {others}"
              + (f" (removed this machine's {own.name})" if removed else ""))
        artifacts = tree / "artifacts"
        plan = [(name, args.cadence) for name in args.conditions.split(",")
                for _ in range(args.runs)]
        plan += [("quiet", cadence) for cadence in ("nightly", "weekly")
                 for _ in range(args.runs_long)]
        for name, cadence in plan:
            outcome = harness(tree, ["run", cadence], CONDITIONS[name], artifacts)
            runs.append({"condition": name, "cadence": cadence,
                         **describe(newest_report(artifacts))})
            print(f"    {runs[-1]}")
        inject_slowdown(tree, args.group, args.slowdown)
        for _ in range(args.slowed_runs):
            harness(tree, ["run", args.cadence], CONDITIONS["quiet"], artifacts)
            slowed.append(describe(newest_report(artifacts)))
            print(f"    slowed: {slowed[-1]}")
        if args.compare_pairs:
            outcome = harness(tree, ["compare", sha, args.cadence, "--pairs",
                                     str(args.compare_pairs)],
                              CONDITIONS["quiet"], artifacts)
            folder = runfolder.list_runs(artifacts / compare.COMPARE_DIR)[-1]
            doc = json.loads((folder / runfolder.REPORT_JSON).read_text())
            compared = {"exit": outcome["exit"], "regressions": doc["regressions"],
                        "results": {r["subject"]: [r["ratio"], r["interval"], r["verdict"]]
                                    for r in doc["results"]}}
            print(f"    compare: {compared}")
    unchanged_green = sum(r["exit"] == 0 for r in runs)
    summary = {
        "unchanged_runs_exit_0": f"{unchanged_green}/{len(runs)}",
        "by_condition": {f"{r['condition']} {r['cadence']}": sum(
            o["exit"] == 0 for o in runs if (o["condition"], o["cadence"]) ==
            (r["condition"], r["cadence"])) for r in runs},
        "slowed_flagged_by_band": f"{sum(args.group in ' '.join(s['findings']) for s in slowed)}"
                                  f"/{len(slowed)}",
        "slowed_flagged_by_compare": None if compared is None
        else args.group in compared["regressions"],
    }
    print(json.dumps(summary, indent=2))
    write_results(args.results, load_before, commit=sha,
                  seconds=round(time.perf_counter() - started), fingerprint=here,
                  removed_own_baseline=removed, other_baselines=others,
                  args={k: str(v) for k, v in vars(args).items()}, summary=summary,
                  runs=runs, slowed=slowed, compare=compared)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
