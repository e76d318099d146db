"""Shared by bench_cli_torch.py and bench_cli_tf.py: wall-clock timing of the real console
scripts on the same work, start-up included.

Work: `ptycho-simulate` writes the default synthetic scan (512 patterns of 64x64, with
objectGuess) once; each run is `ptycho-train --backend B --nepochs 2 --n-groups 512` then
`ptycho-infer` on the same file (which writes metrics.json against objectGuess). Backends are
interleaved run by run so a change in machine load hits them alike; the median over runs is
reported, with the load average, since this 2-core machine may be shared. Each command's CPU
seconds (user + sys of the child) are recorded too: unlike wall time they barely move with
other jobs' load, so they show what the work itself costs when the machine is busy.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from _timing import RESULTS, timed


N_IMAGES = 512
N = 64
NEPOCHS = 2
_TRAIN_SECONDS = re.compile(r"training took ([0-9.]+) s")


def _script(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        sys.exit(f"error: {name} is not on PATH (install the project: pip install -e \".[dev]\")")
    return path


def _timed(command: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of running `command`; exits on failure."""
    outcome = timed(command)
    if outcome["returncode"] != 0:
        sys.exit(f"error: {' '.join(command)} exited {outcome['returncode']}:\n"
                 f"{outcome['stderr'][-2000:]}")
    return outcome["wall_s"], outcome["cpu_s"]


def simulate(folder: Path) -> Path:
    data = folder / "scan.npz"
    _timed([_script("ptycho-simulate"), "--output", str(data), "--n-images", str(N_IMAGES),
            "--N", str(N), "--seed", "0"])
    return data


def run_once(backend: str, data: Path, folder: Path, nepochs: int) -> dict:
    """One train + infer through the CLIs; wall seconds of each and what they wrote."""
    train_dir, infer_dir = folder / "train", folder / "infer"
    train_s, train_cpu_s = _timed([
        _script("ptycho-train"), "--backend", backend, "--train-data", str(data),
        "--output-dir", str(train_dir), "--nepochs", str(nepochs), "--n-groups", str(N_IMAGES),
        "--quiet"])
    infer_s, infer_cpu_s = _timed([
        _script("ptycho-infer"), "--model-path", str(train_dir), "--test-data", str(data),
        "--output-dir", str(infer_dir), "--quiet"])
    fit = _TRAIN_SECONDS.search((train_dir / "train.log").read_text(encoding="utf-8"))
    return {
        "backend": backend, "train_s": train_s, "infer_s": infer_s, "total_s": train_s + infer_s,
        "train_cpu_s": train_cpu_s, "infer_cpu_s": infer_cpu_s, "total_cpu_s": train_cpu_s + infer_cpu_s,
        "fit_s": float(fit.group(1)) if fit else None,
        "history": json.loads((train_dir / "history.json").read_text(encoding="utf-8")),
        "metrics": json.loads((infer_dir / "metrics.json").read_text(encoding="utf-8")),
    }


def _summary(runs: list[dict]) -> dict:
    def median(key):
        values = [r[key] for r in runs if r[key] is not None]
        return statistics.median(values) if values else None
    keys = ("train_s", "infer_s", "total_s", "fit_s", "total_cpu_s")
    return {"runs": len(runs), **{f"median_{k}": median(k) for k in keys},
            "phase_ssim": runs[-1]["metrics"]["phase_ssim"], "amp_ssim": runs[-1]["metrics"]["amp_ssim"],
            "final_loss": runs[-1]["history"]["loss"][-1]}


def main(name: str, backends: list[str], target_s: float | None = None,
         max_ratio: float | None = None, argv=None) -> int:
    """Time `backends` (the first is the subject; a second is the reference for max_ratio),
    print a summary, write benchmarks/results/<name>.json. Exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per backend (default 3)")
    parser.add_argument("--nepochs", type=int, default=NEPOCHS, help=f"epochs (default {NEPOCHS})")
    parser.add_argument("--only", action="store_true", help=f"time {backends[0]} alone (no reference)")
    args = parser.parse_args(argv)
    if args.only:
        backends = backends[:1]
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix=f"{name}-") as tmp:
        tmp = Path(tmp)
        data = simulate(tmp)
        runs = {backend: [] for backend in backends}
        for index in range(args.runs):
            for backend in backends:
                result = run_once(backend, data, tmp / f"{backend}-{index}", args.nepochs)
                runs[backend].append(result)
                print(f"{backend:>10} run {index + 1}: train {result['train_s']:.1f} s "
                      f"(fit {result['fit_s']:.1f} s) + infer {result['infer_s']:.1f} s = "
                      f"{result['total_s']:.1f} s (CPU {result['total_cpu_s']:.1f} s); "
                      f"phase SSIM {result['metrics']['phase_ssim']:.3f}",
                      flush=True)
    summaries = {backend: _summary(results) for backend, results in runs.items()}
    subject = summaries[backends[0]]
    verdicts = {}
    if target_s is not None:
        verdicts[f"total <= {target_s} s"] = subject["median_total_s"] <= target_s
    if max_ratio is not None and len(backends) > 1:
        ratio = subject["median_total_s"] / summaries[backends[1]]["median_total_s"]
        subject["ratio_to_reference"] = ratio
        verdicts[f"total <= {max_ratio} x {backends[1]}"] = ratio <= max_ratio
    report = {"benchmark": name, "when_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "work": {"n_images": N_IMAGES, "N": N, "nepochs": args.nepochs},
              "loadavg_before": load_before, "loadavg_after": os.getloadavg(), "cpus": os.cpu_count(),
              "summaries": summaries, "verdicts": verdicts, "runs": runs}
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{name}.json"
    out.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    for backend, summary in summaries.items():
        print(f"{backend:>10} median: total {summary['median_total_s']:.1f} s (train "
              f"{summary['median_train_s']:.1f}, infer {summary['median_infer_s']:.1f}; CPU "
              f"{summary['median_total_cpu_s']:.1f} s); "
              f"phase SSIM {summary['phase_ssim']:.3f}, amp SSIM {summary['amp_ssim']:.3f}")
    for verdict, ok in verdicts.items():
        print(f"{'PASS' if ok else 'MISS'}: {verdict}")
    print(f"load average before {load_before[0]:.2f}, after {report['loadavg_after'][0]:.2f}; wrote {out}")
    return 0 if all(verdicts.values()) else 1
