"""Break learning on purpose and check that the per-PR gate catches each break.

    python benchmarks/break_learning.py [NAME ...]

Each break below is one source edit that stops or damages learning in one backend. For each,
the committed HEAD is checked out into a temporary git worktree, the edit is applied there,
`python -m harness run per_pr` runs in it (its own artifacts folder), and the run must exit
non-zero. The failing tests and the first assertion lines are printed and written to
benchmarks/results/break_learning.json. ~45 s per break on the 2-core CI machine type.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from _timing import write_results

REPO_ROOT = Path(__file__).resolve().parents[1]

# name -> (file, exact text, replacement, what it breaks)
BREAKS = {
    "tf-step-changes-nothing": (
        "ptycho/tf/training.py",
        "        optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights))",
        "        tape.gradient(loss, weights)",
        "TensorFlow: the optimiser step is computed but never applied"),
    "torch-trains-no-epoch": (
        "ptycho_torch/training.py", "        max_epochs=config.nepochs,", "        max_epochs=0,",
        "PyTorch: the Lightning loop runs no epoch"),
    "tf-gauge-weight-zero": (
        "ptycho/tf/backend.py", "phase_offset_weight=config.phase_offset_weight,",
        "phase_offset_weight=0.0,",
        "TensorFlow: a loss term with the wrong weight (the phase gauge term dropped)"),
    "torch-phase-head-constant": (
        "ptycho_torch/model.py",
        '        phase = math.pi * torch.tanh(self._decode("phase", features))',
        '        phase = math.pi * torch.tanh(0 * self._decode("phase", features))',
        "PyTorch: the phase decoder head stuck at a constant"),
    "tf-amp-head-constant": (
        "ptycho/tf/model.py",
        '    x = _conv(n_channels, f"{head}_out", activation=None)(x)',
        '    x = _conv(n_channels, f"{head}_out", activation=None)(x)\n'
        '    x = 0.0 * x if head == "amp" else x',
        "TensorFlow: the amplitude decoder head stuck at a constant"),
    "torch-learning-rate-lost": (
        "ptycho_torch/lightning_module.py", "lr=self.learning_rate, fused=True)",
        "lr=1e-9, fused=True)", "PyTorch: the configured learning rate never reaches Adam"),
}
_FAILED = re.compile(r"^FAILED (\S+?):?(?:\s|$)", re.M)
_ASSERTION = re.compile(r"^E\s+AssertionError: (.*)$", re.M)


def run_break(name: str, work: Path) -> dict:
    path, old, new, what = BREAKS[name]
    tree = work / name
    subprocess.run(["git", "-C", str(REPO_ROOT), "worktree", "add", "-q", "--detach", str(tree),
                    "HEAD"], check=True)
    try:
        source = tree / path
        text = source.read_text()
        if text.count(old) != 1:
            sys.exit(f"error: {name}: the text to break is not in {path} exactly once "
                     "(update BREAKS to the current code)")
        source.write_text(text.replace(old, new))
        env = {**os.environ, "HARNESS_ARTIFACTS": str(work / f"{name}-artifacts")}
        done = subprocess.run([sys.executable, "-m", "harness", "run", "per_pr"], cwd=tree,
                              env=env, capture_output=True, text=True)
        log = done.stdout + done.stderr
        runs = sorted((work / f"{name}-artifacts").glob("*-per_pr"))
        if runs and (runs[-1] / "pytest.log").is_file():
            log += (runs[-1] / "pytest.log").read_text(errors="replace")
    finally:
        subprocess.run(["git", "-C", str(REPO_ROOT), "worktree", "remove", "--force", str(tree)],
                       check=False)
    failed = sorted(set(_FAILED.findall(log)))
    return {"what": what, "exit": done.returncode, "caught": done.returncode != 0,
            "failed_tests": failed,
            "assertions": list(dict.fromkeys(a[:300] for a in _ASSERTION.findall(log)))[:4]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"breaks to try (default all: {', '.join(BREAKS)})")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(BREAKS))
    if unknown:
        parser.error(f"unknown break(s) {', '.join(unknown)} (choose from {', '.join(BREAKS)})")
    load_before = os.getloadavg()
    results = {}
    with tempfile.TemporaryDirectory(prefix="break-learning-") as work:
        for name in args.names or BREAKS:
            results[name] = run_break(name, Path(work))
            outcome = results[name]
            print(f"{name}: exit {outcome['exit']} ({'caught' if outcome['caught'] else 'MISSED'})"
                  f" - {outcome['what']}", flush=True)
            for line in outcome["failed_tests"] + outcome["assertions"]:
                print(f"    {line}", flush=True)
    write_results("break_learning", load_before, breaks=results)
    return 0 if all(r["caught"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
