"""pytest side of runtime budgets, baselines, timeouts and escalations (loaded by harness.plugin).

Active in a harness run (`--harness-run`) of a project that has selectors/budgets.toml:
- session start (controller): match the runtime baseline for this machine's fingerprint
  (baselines/runtime/; without one, the provisional baseline learnt from the ledger's green runs
  of this fingerprint, else the nearest other machine's, estimated) and, where verdicts need it
  (`calibration_needed`), measure the calibration workload
  (harness.records.baselines.session_reference); the reference goes to xdist workers through
  `workerinput`.
- collection: every selected suite test without its own `timeout` marker gets
  `pytest.mark.timeout(budgets.timeout_for(...))` (pytest-timeout), so a hung test fails.
- per test (in the process that runs it, xdist workers too): wall and CPU time of setup + call +
  teardown and the machine's speed meanwhile (harness.measure.timing with harness.measure.calibration's
  SpeedProbe), handed to the controller as a user property and stored in report.json as the
  test's `timing`.
- end (`pytest_harness_findings`, also for `harness merge`, which calls it on the merged
  report): measurements per test / group / cadence (`measurements`), budgets.judge against the
  reference (re-calibrated at the end where needed), a timeout verdict per test stopped by
  pytest-timeout, confirmation re-runs of band/floor findings (`--harness-reruns`, default
  [defaults] confirm_reruns), then escalation.escalate with the verdicts, failing tests and invalid
  artifacts. Sections "Runtime budgets" and "Escalations" (severity violation when something
  was found: a green run exits 4; advisory estimated verdicts only: a warning) carry
  report.json's `budgets` (with the run's `measurements`, which its ledger line keeps for
  provisional baselines) and `escalations` keys.
"""
from __future__ import annotations

import math
import subprocess
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from harness.config import selectors
from harness.config import budgets as budget_rules
from harness.config import owners as owners_file
from harness.measure import calibration, contention, timing
from harness.plugin.recorder import GROUP_PROPERTY, TIMING_PROPERTY
from harness.records import baselines, ledger, runfolder
from harness.records.measurements import measurements
from harness.runs import pytest_process
from harness.report.budget_sections import (artifact_problems, budget_section, escalation_section,
                                            failures_of)
from harness.report.types import BudgetVerdict, RunReport
from harness.verdicts import budgets, escalation

BASELINES_DIR = "baselines"
RERUNS_DIR = "reruns"
_STATE = pytest.StashKey["Session"]()
_TIME = pytest.StashKey[timing.Measurement]()
_WORKER_KEY = "harness_budget_reference"
TIMEOUT_REACHED = 0.9  # share of its timeout a test must have run to have been stopped by it


def pytest_addoption(parser):
    parser.getgroup("harness").addoption(
        "--harness-reruns", type=int, metavar="N", default=None,
        help="confirmation re-runs of a group (or cadence) with a band/floor finding before it "
             "counts (default: [defaults] confirm_reruns of selectors/budgets.toml; 0: none)")


class Session:
    """What one process knows: the budgets, the owners and (once measured) the reference."""

    def __init__(self, root: Path, settings: selectors.HarnessConfig, budget: budget_rules.Budgets,
                 owners: owners_file.Owners | None, reference: baselines.Reference | None = None):
        self.root = root
        self.probe: calibration.SpeedProbe | None = None
        self.started: contention.Sample | None = None  # the controller's, for contention
        self.settings = settings
        self.budgets = budget
        self.owners = owners
        self.reference = reference


def _load(config) -> Session | None:
    """None when the project has no selectors/budgets.toml (budgets are then not judged)."""
    root = Path(config.rootpath)
    if not (root / budget_rules.BUDGETS_FILE).is_file():
        return None
    try:
        budget = budget_rules.load(root)
        settings = selectors.load(root)
        budget.check_names(settings.groups, settings.cadences)
        owners = owners_file.load(root) if (root / owners_file.OWNERS_FILE).is_file() else None
    except selectors.ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    return Session(root, settings, budget, owners)


@pytest.hookimpl(trylast=True)  # after harness.plugin registered its recorder
def pytest_configure(config):
    if not config.getoption("harness_run"):
        return
    state = _load(config)
    if state is None:
        return
    config.stash[_STATE] = state
    runs_tests = hasattr(config, "workerinput") or not getattr(config.option, "numprocesses", 0)
    interval = state.budgets.band.probe_interval_s
    if runs_tests and interval and not config.option.collectonly:  # the speed of a test's seconds
        state.probe = calibration.SpeedProbe(interval)  # started with the tests (runtestloop)
    if hasattr(config, "workerinput"):
        given = config.workerinput.get(_WORKER_KEY)
        state.reference = _reference_from(given) if given else baselines.Reference(None)
        return
    recorder = config.pluginmanager.get_plugin("harness-recorder")
    if recorder is not None:  # a recorded run: calibrate now (merge's hook process does later)
        # contention is measured over the run itself; merge's hook process ran no tests
        state.started = contention.sample()
        state.reference = _session_reference(state, recorder.fingerprint,
                                             recorder.root / runfolder.LEDGER)


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session):
    """Start the speed probe when the tests start: only test phases are timed, so sampling
    collection and the session-start imports would cost CPU time for nothing."""
    state = session.config.stash.get(_STATE, None)
    if state is not None and state.probe is not None:
        state.probe.start()


def pytest_unconfigure(config):
    state = config.stash.get(_STATE, None)
    if state is not None and state.probe is not None:
        state.probe.stop()


def calibration_needed(band: budget_rules.BandRule) -> bool:
    """Whether verdicts against this machine's own baseline use the session calibration: only
    to normalise load without the speed probe. With the probe on, every group and cadence
    carries the probe's reading of its own seconds (a test too short for one reading is left
    unscaled), so the ~0.5 s calibrations at start and end would be spent for nothing. A
    baseline from another machine always needs it (estimated verdicts)."""
    return band.normalise_load and not band.probe_interval_s


def _session_reference(state: Session, fingerprint: dict,
                       ledger_path: Path | None) -> baselines.Reference:
    """The reference of this session; the ledger (this harness root's ledger.jsonl) is read
    only when this machine has no committed baseline."""
    def runs() -> list[dict]:
        return ledger.read(ledger_path)[0] if ledger_path is not None else []

    try:
        return baselines.session_reference(
            state.root / BASELINES_DIR, fingerprint,
            on_recording_machine=calibration_needed(state.budgets.band), read_ledger=runs,
            rule=state.budgets.band.provisional)
    except selectors.ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None


def _reference_from(given: dict) -> baselines.Reference:
    def baseline(key: str) -> baselines.Baseline | None:
        document = given.get(key)
        return None if document is None else baselines.Baseline.from_dict(document, key)

    return baselines.Reference(baseline("baseline"), given["exact"], given["calibration_s"],
                               baseline("fallback"), given.get("provisional_runs", 0))


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    state = node.config.stash.get(_STATE, None)
    if state is None or state.reference is None:
        return
    reference = state.reference
    # the baselines themselves (a provisional one exists in no file), as JSON
    node.workerinput[_WORKER_KEY] = {
        "baseline": reference.baseline.as_dict() if reference.baseline else None,
        "fallback": reference.fallback.as_dict() if reference.fallback else None,
        "exact": reference.exact, "calibration_s": reference.calibration_s,
        "provisional_runs": reference.provisional_runs}


# ---------------------------------------------------------------- timeouts

def pytest_collection_modifyitems(session, config, items):
    state = config.stash.get(_STATE, None)
    if state is None or state.reference is None or not config.pluginmanager.hasplugin("timeout"):
        return  # `-p no:timeout` turns the derived timeouts off
    for item in items:
        group = dict(item.user_properties).get(GROUP_PROPERTY)
        if group is None or item.get_closest_marker("timeout") is not None:
            continue
        seconds = budgets.timeout_for(item.nodeid, group, state.budgets, state.reference)
        item.add_marker(pytest.mark.timeout(seconds))


# ---------------------------------------------------------------- per-test timing

@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    return (yield from _phase(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    return (yield from _phase(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    return (yield from _phase(item))


def _phase(item):
    if _STATE not in item.config.stash:
        return (yield)
    watch = None
    try:
        with timing.stopwatch(item.config.stash[_STATE].probe) as watch:
            return (yield)
    finally:
        if watch is not None and watch.measurement is not None:
            total = item.stash.get(_TIME, None)
            item.stash[_TIME] = watch.measurement if total is None else total + watch.measurement


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    if call.when == "teardown" and _TIME in item.stash:
        # before the report is built: it copies user_properties (and xdist ships them)
        item.user_properties.append((TIMING_PROPERTY, asdict(item.stash[_TIME])))
    return (yield)


# ---------------------------------------------------------------- findings

@pytest.hookimpl
def pytest_harness_findings(config, report):
    state = config.stash.get(_STATE, None)
    if state is None:
        return None
    run_dir = _run_dir(config)
    typed = RunReport.from_json(report)  # the hook's contract is the dict; read it typed
    reference = state.reference or _session_reference(
        state, typed.fingerprint, run_dir.parent / runfolder.LEDGER if run_dir else None)
    if reference.calibration_s is not None:
        # calibrated at the start (where verdicts need it): again at the end, for a load that
        # came or went
        reference = reference.calibrated(calibration.measure().seconds)
    measured = measurements(typed, state.settings.cadences)
    contended = contention.between(state.started, contention.sample(),
                                   state.budgets.band.contention_cores)
    verdicts = budgets.judge(measured, state.budgets, reference, contended,
                             typed.environment.get("cpu_count"))
    test_groups = {t["nodeid"]: t["group"] for t in typed.tests}
    reruns = _rerun_count(config, state)
    confirmed_by = []
    if reruns and run_dir is not None:
        targets = budgets.rerun_targets(verdicts, test_groups)
        if targets:
            _share_ledger(run_dir)
            again = [_rerun(state.root, run_dir, targets, index) for index in range(reruns)]
            verdicts = budgets.confirm(verdicts, again)
            confirmed_by = [f"re-ran {', '.join(targets)} x{reruns} to confirm band/floor "
                            f"findings ({run_dir / RERUNS_DIR})"]
    failures = failures_of(typed, run_dir)
    for failure in failures:
        test = next(t for t in typed.tests if t["nodeid"] == failure.nodeid)
        seconds = max(test["seconds"], (test.get("timing") or {}).get("wall_s", 0.0))
        verdict = budgets.timeout_verdict(failure.nodeid, failure.group, seconds,
                                          state.budgets, reference)
        # a test that failed on a shared fixture that timed out shows the same text, fast
        if budgets.timed_out(failure.text) and seconds >= TIMEOUT_REACHED * verdict.allowed[1]:
            verdicts.append(replace(verdict, basis=f"{verdict.basis}; log {failure.log}"))
    sections = [budget_section(verdicts, reference, confirmed_by,
                               _kept(measured, state.budgets),
                               state.budgets.band.estimated_factor, contended)]
    if state.owners is not None:
        found = escalation.escalate(
            state.owners, verdicts=verdicts, failures=failures,
            problems=artifact_problems(typed),
            test_groups=test_groups,
            group_owners={name: g.owner for name, g in state.settings.groups.items()},
            run_dir=str(run_dir or typed.run_id), cadence=typed.selection.label)
        sections.append(escalation_section(found))
    return sections


def _rerun_count(config, state: Session) -> int:
    given = config.getoption("harness_reruns")
    if given is not None and given < 0:
        raise pytest.UsageError(f"--harness-reruns {given}: must be 0 or more")
    return state.budgets.band.confirm_reruns if given is None else given


def _run_dir(config) -> Path | None:
    recorder = config.pluginmanager.get_plugin("harness-recorder")
    if recorder is not None:
        return recorder.run_dir
    source = config.getoption("harness_findings_of", None)  # harness merge: beside the report
    return Path(source).parent if source else None


def _share_ledger(run_dir: Path) -> None:
    """Re-runs get a copy of the run's ledger in their harness root (<run>/reruns/), so that
    they are judged against the same reference - a provisional baseline is learnt from it - and
    their own lines never reach the real ledger."""
    source = run_dir.parent / runfolder.LEDGER
    target = run_dir / RERUNS_DIR / runfolder.LEDGER
    if source.is_file() and not target.exists():
        target.parent.mkdir(exist_ok=True)
        with ledger.lock_for(source):
            text = source.read_text(encoding="utf-8", errors="replace")
        runfolder.write_atomic(target, text)


def _rerun(root: Path, run_dir: Path, targets: list[str], index: int) -> list[budgets.Verdict]:
    """One confirmation re-run of `targets` (no re-runs of its own) in a subprocess; its run
    folder goes under <run>/reruns/; its budget verdicts come back through its report.json."""
    artifacts = run_dir / RERUNS_DIR
    artifacts.mkdir(exist_ok=True)
    rerun_dir = runfolder.create_run_folder(artifacts, f"{'+'.join(targets)}-confirm{index + 1}")
    command = pytest_process.pytest_command(*pytest_process.QUIET, rootdir=root, targets=targets,
                                            run_dir=rerun_dir, artifacts=artifacts,
                                            extra=["--harness-reruns=0"])
    with open(rerun_dir / runfolder.PYTEST_LOG, "wb") as log:
        subprocess.run(command, cwd=root, stdout=log, stderr=subprocess.STDOUT)
    judged = RunReport.from_json(runfolder.read_report(rerun_dir) or {}).budgets
    return [_verdict_from(v) for v in (judged.verdicts if judged else [])]


def _verdict_from(verdict: BudgetVerdict) -> budgets.Verdict:
    lo, hi = verdict.allowed
    allowed = (lo or 0.0, math.inf if hi is None else hi)
    return budgets.Verdict(**{**verdict.to_json(), "allowed": allowed})


def _kept(measured: dict[str, dict[str, timing.Measurement]],
          budget: budget_rules.Budgets) -> dict[str, dict[str, dict]]:
    """What the run's ledger line keeps for provisional baselines: the cadence, every group
    and the tests budgets.toml lists (the only tests ever judged)."""
    def kept(kind: str, subject: str) -> bool:
        return kind != "test" or budget.limits(kind, subject) is not None

    def rounded(key: str, value: float | None) -> float | None:
        # seconds to 0.1 ms; a probe speed is ~1e-4 s, kept to 1e-9 as in baseline files
        return None if value is None else round(value, 9 if key == "speed_s" else 4)

    return {kind: {subject: {key: rounded(key, value) for key, value in asdict(m).items()}
                   for subject, m in subjects.items() if kept(kind, subject)}
            for kind, subjects in measured.items()}
