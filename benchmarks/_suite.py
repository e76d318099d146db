"""Shared by the benchmarks that run the real regression suite under conditions this machine
can produce (bench_calibration, bench_compare, bench_fresh_clone): the conditions, a CPU burner,
a scratch checkout of a commit, a slowdown injected into one group, and one harness command run
in a checkout (its own packages first on PYTHONPATH, its own harness root)."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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


@dataclass(frozen=True)
class Condition:
    """How a command runs: a prefix (taskset), extra environment, a burner on the last core."""

    name: str
    prefix: tuple[str, ...] = ()
    env: dict = field(default_factory=dict)
    burner: bool = False

    def running(self):
        cores = sorted(os.sched_getaffinity(0))
        return Burner(cores[-1]) if self.burner and len(cores) > 1 else contextlib.nullcontext()


CONDITIONS = {
    "quiet": Condition("quiet"),
    "one_core": Condition("one_core", prefix=("taskset", "-c", "0")),
    "onednn_off": Condition("onednn_off", env={"TF_ENABLE_ONEDNN_OPTS": "0"}),
    "burner": Condition("burner", burner=True),
}


def git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


@contextlib.contextmanager
def scratch_clone(path: Path, commit: str = "HEAD"):
    """A fresh `git clone` of this repository at `commit` (committed files only: no ledger,
    no run folders, nobody's uncommitted work), removed afterwards."""
    shutil.rmtree(path, ignore_errors=True)
    sha = git("rev-parse", commit)
    subprocess.run(["git", "clone", "--quiet", "--no-checkout", str(ROOT), str(path)], check=True)
    git("checkout", "--quiet", "--detach", sha, cwd=path)
    try:
        yield path, sha
    finally:
        shutil.rmtree(path, ignore_errors=True)


INJECTION = '''

# ---- benchmark injection (benchmarks/_suite.py): +{percent:g} % CPU work in this group ----
import time as _bench_time

import pytest as _bench_pytest

from harness.measure.timing import cpu_seconds as _bench_cpu_seconds


@_bench_pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    item.stash[_BENCH_START] = _bench_cpu_seconds()


@_bench_pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item, nextitem):
    """After the fixtures are torn down, inside the harness's timing of the teardown: burn
    {percent:g} % of the CPU time the test took (its process and reaped children)."""
    start = item.stash.get(_BENCH_START, None)
    if start is None:
        return
    end = _bench_time.thread_time() + {fraction!r} * (_bench_cpu_seconds() - start)
    while _bench_time.thread_time() < end:
        pass


_BENCH_START = _bench_pytest.StashKey[float]()
'''


def inject_slowdown(tree: Path, group: str, fraction: float) -> Path:
    """Append to tests/suite/<group>/conftest.py in `tree` hooks that make each of the group's
    tests do `fraction` more CPU work (measured per test, so the slowdown is proportional)."""
    conftest = Path(tree) / "tests" / "suite" / group / "conftest.py"
    conftest.write_text(conftest.read_text() + INJECTION.format(percent=fraction * 100,
                                                                fraction=fraction))
    return conftest


def tree_env(tree: Path, condition: Condition, artifacts: Path) -> dict:
    env = dict(os.environ, **condition.env)
    env["PYTHONPATH"] = os.pathsep.join([str(tree), *filter(None, [env.get("PYTHONPATH")])])
    env["HARNESS_ARTIFACTS"] = str(artifacts)
    env.pop("GITHUB_STEP_SUMMARY", None)
    return env


def harness(tree: Path, args: list[str], condition: Condition, artifacts: Path,
            log=print) -> dict:
    """`python -m harness ARGS` in `tree` under `condition`: {"exit", "wall_s", "stdout"}."""
    command = [*condition.prefix, sys.executable, "-m", "harness", *args]
    started = time.perf_counter()
    with condition.running():
        done = subprocess.run(command, cwd=tree, env=tree_env(tree, condition, artifacts),
                              capture_output=True, text=True)
    wall = time.perf_counter() - started
    log(f"  [{condition.name}] harness {' '.join(args)}: exit {done.returncode}, {wall:.1f} s")
    return {"exit": done.returncode, "wall_s": round(wall, 2),
            "stdout": done.stdout[-4000:], "stderr": done.stderr[-2000:]}


def newest_report(artifacts: Path) -> dict:
    sys.path.insert(0, str(ROOT))
    from harness.records import runfolder

    return json.loads((runfolder.list_runs(artifacts)[-1] / runfolder.REPORT_JSON).read_text())
