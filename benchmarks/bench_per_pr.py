"""Where the per-PR gate's time goes: `nox -s per_pr` end to end (environment already
installed), then a breakdown from the run folder it wrote.

Measured: the nox command's wall time (target <= 45 s on the 2-core CI machine type, so that
the slower CPUs of that type stay well inside the handoff plan's 90 s ceiling); from report.json the pytest session
and each group; from junit.xml each integration chain's `ptycho-train` / `ptycho-infer` process
(wall and CPU seconds, recorded by the round-trip test); and, separately, what one fresh
process pays to import each framework the way the CLIs do (GC paused, ptycho.cli.common), so
the import share of the gate can be estimated. Results: benchmarks/results/per_pr.json.

    python benchmarks/bench_per_pr.py [--runs N]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import timed, write_results  # noqa: E402
from harness.records import runfolder  # noqa: E402
from harness.config import selectors  # noqa: E402

TARGET_S = 45.0
# What a CLI process imports before its first log line (ptycho.cli.common.load_framework).
IMPORTS = {
    "tensorflow (train)": "import ptycho.tf.backend, ptycho.tf.training",
    "pytorch (train)": "import ptycho_torch.backend, ptycho_torch.training",
    "pytorch (infer)": "import ptycho_torch.backend",
}


def import_seconds(statement: str, repeats: int = 3) -> float:
    """Median wall seconds of a fresh interpreter running `statement` with the cyclic GC
    paused (as the console scripts do), start-up and exit included."""
    code = f"import gc; gc.disable(); {statement}; gc.freeze()"
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True,
                       stderr=subprocess.DEVNULL)   # TensorFlow's absl start-up lines
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def chain_steps(junit: Path) -> dict[str, dict[str, float]]:
    """{test id: {train_wall_s, train_cpu_s, infer_wall_s, infer_cpu_s}} from junit properties."""
    steps = {}
    for case in ElementTree.parse(junit).iter("testcase"):
        found = {prop.get("name"): float(prop.get("value")) for prop in case.iter("property")
                 if prop.get("name", "").endswith(("_wall_s", "_cpu_s"))}
        if found:
            steps[case.get("name")] = found
    return steps


def newest_run(artifacts: Path, since: float) -> Path:
    runs = [run for run in runfolder.list_runs(artifacts)
            if run.name.endswith("-per_pr") and run.stat().st_mtime >= since]
    if not runs:
        sys.exit(f"error: no per_pr run folder newer than the benchmark under {artifacts}")
    return runs[-1]


def one_run(artifacts: Path) -> dict:
    started_epoch = time.time()
    done = timed(["nox", "-s", "per_pr"], cwd=ROOT)
    wall = done["wall_s"]
    run = newest_run(artifacts, started_epoch - 1)
    report = json.loads((run / "report.json").read_text(encoding="utf-8"))
    groups = {name: group.get("seconds") for name, group in report["groups"].items()}
    slowest = sorted(report["tests"], key=lambda t: -(t.get("seconds") or 0))[:5]
    return {
        "nox_exit": done["returncode"], "run_folder": str(run), "status": report["status"],
        "nox_wall_s": wall, "pytest_session_s": report["wall_seconds"],
        "outside_pytest_s": wall - report["wall_seconds"], "groups_s": groups,
        "slowest_tests": [(t["nodeid"], t["seconds"]) for t in slowest],
        "chains": chain_steps(run / "junit.xml"),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="nox -s per_pr runs (default 1)")
    args = parser.parse_args(argv)
    artifacts = runfolder.resolve_root(ROOT, selectors.load(ROOT).artifacts_root)
    load_before = os.getloadavg()
    runs = [one_run(artifacts) for _ in range(args.runs)]
    imports = {name: import_seconds(statement) for name, statement in IMPORTS.items()}
    last = runs[-1]
    median_wall = statistics.median(r["nox_wall_s"] for r in runs)

    print(f"nox -s per_pr: median {median_wall:.1f} s over {len(runs)} run(s) "
          f"(target <= {TARGET_S:.0f} s; exit {[r['nox_exit'] for r in runs]})")
    print(f"  outside pytest (nox, harness CLI, collection, report): {last['outside_pytest_s']:.1f} s")
    print(f"  pytest session: {last['pytest_session_s']:.1f} s; groups (sum of test times):")
    for name, seconds in last["groups_s"].items():
        print(f"    {name:<18} {seconds:6.1f} s")
    print("  integration chains (side by side; each step a fresh process):")
    for test, step in last["chains"].items():
        print(f"    {test:<60} train {step.get('train_wall_s', 0):5.1f} s "
              f"(CPU {step.get('train_cpu_s', 0):4.1f}) infer {step.get('infer_wall_s', 0):5.1f} s "
              f"(CPU {step.get('infer_cpu_s', 0):4.1f})")
    print("  one fresh process importing a framework as the CLIs do:")
    for name, seconds in imports.items():
        print(f"    {name:<18} {seconds:5.2f} s")
    print(f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}")

    write_results("per_pr", load_before, target_s=TARGET_S, median_nox_wall_s=median_wall,
                  runs=runs, framework_imports_s=imports)
    return 0 if median_wall <= TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
