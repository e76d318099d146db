"""`harness compare BASE_REF [CADENCE|GROUP...]`: an A/B comparison on one machine, like
`asv continuous`.

BASE_REF is checked out in a temporary git worktree; after `warmup` unmeasured BASE runs (the
first run after a checkout pays for cold file caches), the same selection runs alternately
at BASE and at HEAD (this working tree, uncommitted changes included) for N pairs, in ABBA
order (pair 1 base first, pair 2 head first, ...) so that a drift of the machine's speed
during the comparison does not favour one side. Every run is an ordinary harness run (its own
run folder under `<compare folder>/runs/`, no confirmation re-runs), whose imports come from
its tree (`PYTHONPATH`, which also reaches the console scripts the suite starts).

Each pair gives one ratio per group (and for the cadence): HEAD's CPU seconds / BASE's, taken
at equal machine speed (divided by the speed probe's ratio of the two runs, as the budget
bands are: harness.measure.calibration.probe_ratio), since the two runs of a pair may meet different
load. A group's ratio is the geometric mean over the pairs, with a bootstrap interval (pairs
resampled, seeded: the same runs give the same report). A group is

    slower   ratio > 1 + threshold and the interval lies above 1: a regression (exit 4)
    faster   ratio < 1 / (1 + threshold) and the interval lies below 1: flagged, not failed
             - a speed-up this size is either the optimisation the change promised or work
             that is no longer done (training skipped, a test turned no-op): look
    same     otherwise

Results: `<harness root>/compare/<UTC stamp>-<label>/` with report.json (this module's
result, `status` and `exit_code` as a run's), report.md (also appended to
$GITHUB_STEP_SUMMARY) and report.html. A run of either side with failing tests stops the
comparison (exit 1): the timings of a broken run say nothing.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from harness.config import budgets, selectors
from harness.measure import environment
from harness.measure.timing import Measurement
from harness.records import measurements, runfolder
from harness.report import comparison_page
from harness.report import model as report
from harness.report.comparison_page import USABLE
from harness.report.exitcodes import ExitCode
from harness.report.types import RunReport
from harness.runs import pytest_process, retention
from harness.verdicts.comparison import ARMS, CONFIDENCE, Result, judge_all

COMPARE_DIR = "compare"
RUNS_DIR = "runs"


class CompareError(Exception):
    """A comparison that cannot start or continue: one `error:` line (exit 2, or 1 when a run's
    tests failed: `exit_code`)."""

    def __init__(self, message: str, exit_code: int = ExitCode.ERROR):
        super().__init__(message)
        self.exit_code = exit_code


# ---------------------------------------------------------------- running

def resolve_ref(project_root: Path, ref: str) -> str:
    done = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
                          cwd=project_root, capture_output=True, text=True)
    if done.returncode != 0 or not done.stdout.strip():
        raise CompareError(f"BASE_REF {ref!r}: not a commit of the repository at {project_root} "
                           "(give a branch, tag or commit; in CI fetch it first, e.g. "
                           "actions/checkout with fetch-depth: 0)")
    return done.stdout.strip()


class Worktree:
    """`git worktree add --detach` of a commit in a temporary folder, removed on exit."""

    def __init__(self, project_root: Path, commit: str):
        self.project_root = project_root
        self.commit = commit
        self.path = Path(tempfile.mkdtemp(prefix="harness-compare-")) / "base"

    def __enter__(self) -> Path:
        done = subprocess.run(["git", "worktree", "add", "--detach", str(self.path), self.commit],
                              cwd=self.project_root, capture_output=True, text=True)
        if done.returncode != 0:
            shutil.rmtree(self.path.parent, ignore_errors=True)
            raise CompareError(f"git worktree add {self.commit[:12]} failed: "
                               f"{done.stderr.strip() or done.stdout.strip()}")
        # compiled once here, so that BASE's first run does not pay for it
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(self.path)],
                       capture_output=True)
        return self.path

    def __exit__(self, *exc) -> None:
        subprocess.run(["git", "worktree", "remove", "--force", str(self.path)],
                       cwd=self.project_root, capture_output=True)
        shutil.rmtree(self.path.parent, ignore_errors=True)
        subprocess.run(["git", "worktree", "prune"], cwd=self.project_root, capture_output=True)


def order(pairs: int) -> list[tuple[int, str]]:
    """(pair, arm) in ABBA order: base first in odd pairs, head first in even ones."""
    return [(pair, arm) for pair in range(1, pairs + 1)
            for arm in (ARMS if pair % 2 else ARMS[::-1])]


def arm_command(targets: Sequence[str], run_dir: Path, runs_root: Path) -> list[str]:
    return pytest_process.pytest_command(*pytest_process.QUIET, targets=targets, run_dir=run_dir,
                                         artifacts=runs_root, extra=["--harness-reruns=0"])


def arm_environment(tree: Path) -> dict[str, str]:
    """This tree's packages first, for the pytest process and every process it starts."""
    env = dict(os.environ)
    env.pop("HARNESS_ARTIFACTS", None)
    env.pop("GITHUB_STEP_SUMMARY", None)  # the comparison writes one summary, not 2N
    env["PYTHONPATH"] = os.pathsep.join([str(tree), *filter(None, [env.get("PYTHONPATH")])])
    return env


RunArm = Callable[[str, int, Path], dict]


def run_arm(trees: Mapping[str, Path], targets: Sequence[str], runs_root: Path,
            label: str) -> RunArm:
    """A callable (arm, pair, run_dir) -> the run's report.json, running pytest in the arm's
    tree; the run folder is created by the caller."""
    def run(arm: str, pair: int, run_dir: Path) -> dict:
        with open(run_dir / runfolder.PYTEST_LOG, "wb") as log:
            subprocess.run(arm_command(targets, run_dir, runs_root), cwd=trees[arm],
                           env=arm_environment(trees[arm]), stdout=log,
                           stderr=subprocess.STDOUT)
        final = runfolder.read_report(run_dir)
        if not runfolder.is_complete(final):
            raise CompareError(f"{run_dir}: the {arm} run of pair {pair} did not finish (see "
                               f"{runfolder.PYTEST_LOG} there)")
        return final

    return run


@dataclass
class Comparison:
    base_ref: str
    base_commit: str
    head: dict[str, Any]
    label: str
    targets: list[str]
    pairs: int
    threshold: float
    clock: str = "cpu"
    normalise_load: bool = True
    warmup: int = 1
    runs: list[dict] = field(default_factory=list)

    def measured(self) -> list[dict]:
        return [r for r in self.runs if "measurements" in r]

    def pairs_done(self) -> int:
        """Pairs whose two runs were both measured."""
        arms: dict[int, set[str]] = {}
        for run in self.measured():
            arms.setdefault(run["pair"], set()).add(run["arm"])
        return sum(found == set(ARMS) for found in arms.values())

    def results(self) -> list[Result]:
        return judge_all(self.measured(), self.threshold, self.clock, self.normalise_load)


def compare(comparison: Comparison, run: RunArm, runs_root: Path,
            measure: Callable[[dict], Mapping[str, Mapping[str, Measurement]]],
            progress: Callable[[str], None] = lambda line: None) -> Comparison:
    """The warm-up runs (pair 0, BASE, not measured), then the arms in ABBA order; stop at the
    first run whose tests did not pass."""
    for pair, arm in [(0, "base")] * comparison.warmup + order(comparison.pairs):
        name = f"{arm}{pair}" if pair else "warmup"
        run_dir = runfolder.create_run_folder(runs_root, f"{comparison.label}-{name}")
        started = time.time()
        final = run(arm, pair, run_dir)
        entry = {"arm": arm, "pair": pair, "run": str(run_dir.relative_to(runs_root.parent)),
                 "status": final.get("status"), "wall_seconds": final.get("wall_seconds")}
        comparison.runs.append(entry)
        progress(f"{f'pair {pair}/{comparison.pairs}' if pair else 'warm-up'} {arm}: "
                 f"{final.get('status')}, {time.time() - started:.1f} s -> {run_dir}")
        if final.get("status") not in USABLE:
            raise CompareError(
                f"{run_dir}: the {arm} run of pair {pair} ended {final.get('status')!r} (exit "
                f"{final.get('exit_code')}); its timings say nothing - fix the tests first",
                ExitCode.FAILED if final.get("status") == "failed"
                else ExitCode.ERROR)
        if not pair:
            continue
        entry["measurements"] = measure(final)
        if not entry["measurements"].get("group"):
            raise CompareError(f"{run_dir}: no test of the {arm} run was timed (the budget "
                               "checks time the tests: add selectors/budgets.toml to compare)")
    return comparison


def result_document(comparison: Comparison, error: str | None = None,
                    exit_code: int | None = None) -> dict[str, Any]:
    """report.json of a comparison."""
    results = comparison.results()
    regressions = [r for r in results if r.regression]
    if error is not None:
        status = "failed" if exit_code == ExitCode.FAILED else "error"
    else:
        status = "over_budget" if regressions else "passed"
    runs = [{key: value for key, value in run.items() if key != "measurements"}
            | ({"measurements": {kind: {s: asdict(m) for s, m in subjects.items()}
                                 for kind, subjects in run["measurements"].items()}}
               if "measurements" in run else {})
            for run in comparison.runs]
    return {
        "kind": "compare",
        "status": status,
        "exit_code": report.exit_code(status),
        "error": error,
        "label": comparison.label,
        "targets": comparison.targets,
        "base": {"ref": comparison.base_ref, "commit": comparison.base_commit},
        "head": comparison.head,
        "pairs": comparison.pairs,
        "pairs_done": comparison.pairs_done(),
        "warmup": comparison.warmup,
        "threshold": comparison.threshold,
        "clock": comparison.clock,
        "normalise_load": comparison.normalise_load,
        "confidence": CONFIDENCE,
        "rule": rule_text(comparison.threshold),
        "results": [r.as_dict() for r in results],
        "regressions": [r.subject for r in regressions],
        "speedups": [r.subject for r in results if r.verdict == "faster"],
        "runs": runs,
        "finished_utc": runfolder.utc_iso(),
    }


def rule_text(threshold: float) -> str:
    return (f"slower: HEAD/BASE > {1 + threshold:.2f} with the {CONFIDENCE:.0%} bootstrap "
            f"interval above 1 (a regression, exit 4); faster: < {1 / (1 + threshold):.3f} with "
            "the interval below 1 (flagged: intended, or work skipped?)")


def write(folder: Path, doc: Mapping[str, Any]) -> None:
    """report.json, report.md, report.html of a comparison (each written atomically)."""
    runfolder.write_json_atomic(folder / runfolder.REPORT_JSON, doc)
    runfolder.write_atomic(folder / runfolder.REPORT_MD, comparison_page.render_markdown(doc))
    runfolder.write_atomic(folder / "report.html", comparison_page.render_html(doc))


def compare_root(artifacts: Path) -> Path:
    return Path(artifacts) / COMPARE_DIR


def run_comparison(project_root: Path, settings: selectors.HarnessConfig, artifacts: Path,
                   base_ref: str, targets: Sequence[str], pairs: int, threshold: float,
                   warmup: int = 1,
                   progress: Callable[[str], None] = lambda line: None) -> tuple[Path, dict]:
    """`harness compare`: the whole A/B run; returns (compare folder, report.json's dict)."""
    if pairs < 2:
        raise CompareError(f"--pairs {pairs}: at least 2 (an interval needs two pairs)")
    if warmup < 0:
        raise CompareError(f"--warmup {warmup}: 0 or more")
    if not 0 < threshold < 1:
        raise CompareError(f"--threshold {threshold}: a fraction between 0 and 1 (0.10 = 10 %)")
    selection = settings.resolve(list(targets))
    commit = resolve_ref(project_root, base_ref)
    band = (budgets.load(project_root).band if (project_root / budgets.BUDGETS_FILE).is_file()
            else budgets.BandRule())
    root = compare_root(artifacts)
    folder = runfolder.create_run_folder(root, selection.label)
    runs_root = folder / RUNS_DIR
    runs_root.mkdir()
    comparison = Comparison(base_ref, commit, environment.git_state(project_root),
                            selection.label, list(selection.targets), pairs, threshold,
                            band.clock, band.normalise_load, warmup)
    runfolder.write_json_atomic(folder / runfolder.REPORT_JSON,
                                {"kind": "compare", "status": "running"})

    def measure(final: dict) -> dict:
        return measurements.measurements(RunReport.from_json(final), settings.cadences)

    error, code = None, None
    try:
        with Worktree(project_root, commit) as base_tree:
            run = run_arm({"base": base_tree, "head": project_root}, selection.targets,
                          runs_root, selection.label)
            compare(comparison, run, runs_root, measure, progress)
    except CompareError as exc:
        error, code = str(exc), exc.exit_code
    finally:  # an interrupted comparison still leaves what it measured
        doc = result_document(comparison, error, code)
        if error is None and sys.exc_info()[0] is not None:
            doc.update(status="interrupted", exit_code=ExitCode.INTERRUPTED)
        write(folder, doc)
        retention.prune(root, settings.retention)
    return folder, doc
