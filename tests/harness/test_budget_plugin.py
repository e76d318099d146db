"""Budgets wired into harness runs (harness/plugin/budgets.py): verdicts in report.json / report.md,
exit 4 for budget-only findings, too_fast floors, timeouts, estimated baselines, escalation
routing, and `harness baseline record|show`."""
import json
import os
import shutil
import signal
from pathlib import Path

import pytest

from harness.records import baselines
from harness.report.exitcodes import ExitCode

REPO = Path(__file__).resolve().parents[2]

SLEEPY = "import time\n\ndef test_train_save_load_infer():\n    time.sleep(0.2)\n"
POLICY = ('def test_dispatch():\n'
          '    raise RuntimeError("POLICY-001: PyTorch backend selected but torch is not '
          'installed")\n')
HANGS = "import time\n\ndef test_dispatch():\n    time.sleep(60)\n"
# 0.2 s of sleep and ~0.3 s of CPU work: slower than SLEEPY on both clocks
BUSY = ("import time\n\ndef test_train_save_load_infer():\n    time.sleep(0.2)\n"
        "    end = time.thread_time() + 0.3\n    while time.thread_time() < end:\n        pass\n")
TRAIN = "tests/suite/integration/test_integration.py::test_train_save_load_infer"

# budgets.toml for a synthetic project: no cadence/group entries unless a test adds them.
# These runs time synthetic work; whatever else the test machine runs must not turn their
# findings advisory (harness.measure.contention), so contention needs more cores than there are.
BUDGETS = """
[defaults]
confirm_reruns = 0
contention_cores = 1024
[timeouts]
factor = 3.0
min_s = 60.0
default_s = 600.0
"""


@pytest.fixture
def budgeted(suite):
    for name in ("owners.toml",):
        shutil.copy(REPO / "selectors" / name, suite.path / "selectors" / name)
    suite.write("selectors/budgets.toml", BUDGETS)
    suite.write("tests/suite/integration/test_integration.py", SLEEPY)
    return suite


def run(project, *args):
    return project.pytester.runpytest("-q", "--harness-run", "per_pr", *args)


def budget_verdicts(data, **match):
    return [v for v in data["budgets"]["verdicts"]
            if all(v.get(key) == value for key, value in match.items())]


def test_tiny_ceiling_is_a_budget_finding_exit_4_with_numbers_and_owner(budgeted):
    budgeted.write("selectors/budgets.toml", BUDGETS + "[groups.integration]\nmax_s = 0.05\n")
    result = run(budgeted, "-n", "2")  # timed in the xdist workers, judged on the controller
    assert result.ret == ExitCode.OVER_BUDGET == 4
    data = budgeted.report()
    assert data["status"] == "over_budget" and data["totals"]["failed"] == 0
    [ceiling] = budget_verdicts(data, kind="group", subject="integration", check="ceiling")
    assert ceiling["status"] == "over_ceiling" and ceiling["allowed"] == [0.0, 0.05]
    assert ceiling["measured_s"] >= 0.2 and ceiling["margin_s"] < -0.1
    timing = {t["nodeid"]: t["timing"] for t in data["tests"]}[TRAIN]
    assert timing["wall_s"] >= 0.2 and timing["cpu_s"] < timing["wall_s"]  # sleeping is no work
    [esc] = data["escalations"]
    assert (esc["trigger"], esc["component"], esc["target"]) == (
        "runtime_budget", "backend implementation", "integration")  # the group's owner
    markdown = (budgeted.runs()[-1] / "report.md").read_text()
    assert "group integration ceiling (wall)" in markdown
    assert "allowed 0.00-0.05 s, margin -0." in markdown and "-> over_ceiling" in markdown
    assert "owner INTEGRATE-PYTORCH-001 (PyTorch / TensorFlow backends)" in markdown
    assert "next step: Re-run `harness run integration`" in markdown


def test_a_test_that_stopped_working_is_too_fast_and_confirmed_by_reruns(budgeted):
    budgeted.write("selectors/budgets.toml", BUDGETS + f'[tests."{TRAIN}"]\nmin_s = 2.0\n')
    result = run(budgeted, "--harness-reruns=1")
    assert result.ret == 4
    data = budgeted.report()
    [floor] = budget_verdicts(data, kind="test", subject=TRAIN)
    assert floor["check"] == "floor" and floor["status"] == "too_fast"
    assert floor["allowed"] == [2.0, None] and floor["margin_s"] < 0
    assert "confirmed: 2 of 2 runs too_fast (too_fast, too_fast)" in floor["basis"]
    assert [p.name.endswith("integration-confirm1") for p in
            (budgeted.runs()[-1] / "reruns").iterdir() if p.is_dir()] == [True]


def test_a_hanging_test_fails_by_timeout_with_a_budget_verdict_and_its_log(budgeted):
    budgeted.write("selectors/budgets.toml", BUDGETS.replace("min_s = 60.0", "min_s = 1.0")
                   + '[tests."tests/suite/backend_selection/*"]\nmax_s = 0.3\n')
    budgeted.write("tests/suite/backend_selection/test_backend_selection.py", HANGS)
    result = run(budgeted)
    assert result.ret == ExitCode.FAILED  # a test failed: 1 wins over budgets
    data = budgeted.report()
    [verdict] = budget_verdicts(data, check="timeout")
    assert verdict["subject"].endswith("::test_dispatch") and verdict["allowed"] == [0.0, 1.0]
    assert verdict["status"] == "over_ceiling" and 0.9 <= verdict["measured_s"] < 10
    assert "stopped by pytest-timeout" in verdict["basis"] and "log logs/" in verdict["basis"]
    [esc] = data["escalations"]
    assert esc["component"] == "dispatcher" and esc["trigger"] == "runtime_budget"


def test_without_a_baseline_for_this_machine_verdicts_are_estimated(budgeted):
    budgeted.write("selectors/budgets.toml", BUDGETS + "[groups.integration]\nbaseline_s = 0.2\n")
    assert run(budgeted).ret in (0, 4)
    [band] = budget_verdicts(budgeted.report(), kind="group", subject="integration")
    assert band["check"] == "band" and band["estimated"] is True and band["clock"] == "wall"
    assert "no recorded baseline" in band["basis"]

    # a baseline from another machine: the nearest one, not scaled
    data = budgeted.report()
    fingerprint = dict(data["fingerprint"], cpu_model="another cpu", cpu_count=999)
    other = baselines.record([{"group": {"integration": 0.2}}], "per_pr", fingerprint,
                             calibrations=[0.05])
    baselines.write(budgeted.path / "baselines", other)
    assert run(budgeted).ret in (0, 4)
    data = budgeted.report()
    [band] = budget_verdicts(data, kind="group", subject="integration")
    assert band["estimated"] is True and "another machine, not scaled" in band["basis"]
    assert data["budgets"]["baseline"] == other.fingerprint_hash
    assert data["budgets"]["exact"] is False and data["budgets"]["calibration_s"] is None
    assert "[estimated" in (budgeted.runs()[-1] / "report.md").read_text()


def test_estimated_verdicts_inside_the_margin_are_advisory_beyond_it_they_fail(budgeted):
    """Another machine's baseline 1.4x below (or 3x below) what this machine measures."""
    fingerprint = dict(json.loads(json.dumps(_fingerprint(budgeted))), cpu_model="another cpu")
    for recorded, code, severity in ((0.22, 0, "warning"), (0.1, 4, "violation")):
        other = baselines.record([{"group": {"integration": baselines.Measurement(recorded, recorded)}}],
                                 "per_pr", fingerprint)
        baselines.write(budgeted.path / "baselines", other)
        budgeted.write("tests/suite/integration/test_integration.py", BUSY)
        assert run(budgeted).ret == code
        data = budgeted.report()
        [band] = budget_verdicts(data, kind="group", subject="integration", check="band")
        assert band["status"] == "too_slow" and band["estimated"] is True
        assert band["advisory"] is (code == 0)
        [section] = [f for f in data["findings"] if f["source"] == "budgets"]
        assert section["title"] == "Runtime budgets · estimated (no baseline of this machine yet)"
        assert section["severity"] == severity
        assert ("make it exact" in band["basis"]) is (code == 0)
        assert data["budgets"]["advisories"] == (1 if code == 0 else 0)
        assert bool(data.get("escalations")) is (code == 4)  # an advisory is not escalated
        (budgeted.path / "baselines" / "runtime" / f"{other.fingerprint_hash}.json").unlink()


def test_after_k_green_runs_a_provisional_baseline_makes_bands_exact(budgeted):
    budgeted.write("selectors/budgets.toml", BUDGETS.replace(
        "confirm_reruns = 0", "confirm_reruns = 0\nprovisional_runs = 2"))
    early = budgeted.harness("baseline", "adopt")
    assert early.returncode == 2 and "ledger.jsonl: 0 green run(s)" in early.stderr
    for _ in range(2):
        assert run(budgeted).ret == 0
        data = budgeted.report()
        assert data["budgets"]["exact"] is False and data["budgets"]["provisional_runs"] == 0
    [line] = budgeted.ledger_lines()[-1:]
    timing = line["timing"]["group"]["integration"]
    assert timing["wall_s"] >= 0.2 and timing["cpu_s"] is not None
    assert set(line["timing"]) == {"cadence", "group", "test"} and line["timing"]["test"] == {}
    assert run(budgeted, "-n", "2").ret in (0, 4)  # xdist workers get the learnt baseline too
    data = budgeted.report()
    assert data["budgets"]["exact"] is True and data["budgets"]["provisional_runs"] == 2
    [band] = budget_verdicts(data, kind="group", subject="integration", check="band")
    assert band["estimated"] is False and "provisional baseline" in band["basis"]
    assert "### Runtime budgets · PROVISIONAL baseline of this machine" in (
        budgeted.runs()[-1] / "report.md").read_text()
    assert "PROVISIONAL baseline of this machine" in (budgeted.runs()[-1] / "report.html").read_text()
    # the same ledger seen by another machine (a different fingerprint) teaches it nothing
    from harness.records import ledger
    lines, _ = ledger.read(budgeted.artifacts / "ledger.jsonl")
    elsewhere = dict(_fingerprint(budgeted), cpu_model="another cpu")
    assert baselines.provisional(lines, elsewhere) == (None, 0)
    assert baselines.provisional(lines, _fingerprint(budgeted), baselines.ProvisionalRule(2, 10))[1] >= 2
    # ... and a slowed group is caught by the provisional band, exactly, and confirmed by a
    # re-run judged against the same provisional baseline (it gets a copy of the ledger)
    budgeted.write("tests/suite/integration/test_integration.py", BUSY)
    lines_before = len(budgeted.ledger_lines())
    assert run(budgeted, "--harness-reruns", "1").ret == 4
    [band] = budget_verdicts(budgeted.report(), kind="group", subject="integration", check="band")
    assert band["status"] == "too_slow" and band["estimated"] is False and not band["advisory"]
    assert "confirmed: 2 of 2 runs too_slow" in band["basis"]
    [rerun] = (budgeted.runs()[-1] / "reruns").glob("*-confirm1")
    assert budgeted.report(rerun)["budgets"]["provisional_runs"] >= 2
    assert len(budgeted.ledger_lines()) == lines_before + 1  # the re-run's line stays there

    shown = budgeted.harness("baseline", "show")
    assert shown.returncode == 0 and "provisional baseline of this machine" in shown.stdout
    dry = budgeted.harness("baseline", "adopt", "--dry-run")
    assert dry.returncode == 0 and "dry run: would write" in dry.stdout
    assert not (budgeted.path / "baselines").exists()
    adopted = budgeted.harness("baseline", "adopt")
    assert adopted.returncode == 0, adopted.stderr
    [path] = (budgeted.path / "baselines" / "runtime").glob("*.json")
    assert json.loads(path.read_text())["groups"]["integration"]["cpu"]["n"] >= 2
    budgeted.write("tests/suite/integration/test_integration.py", SLEEPY)
    assert run(budgeted).ret in (0, 4)
    data = budgeted.report()
    assert data["budgets"]["exact"] is True and data["budgets"]["provisional_runs"] == 0
    assert data["budgets"]["baseline"] == path.stem


def test_ledger_timings_keep_the_probe_speed_precise():
    """A probe speed is ~1e-4 s: rounded like seconds it would scale a provisional baseline
    by a wrong load factor (x1.36 seen on an unchanged run)."""
    from harness.plugin import budgets as budget_plugin
    from harness.config import budgets
    from harness.measure import timing

    kept = budget_plugin._kept(
        {"group": {"integration": timing.Measurement(1.234567, 1.0, 0.000123456789)},
         "test": {"t.py::unlisted": timing.Measurement(1.0, 1.0)}}, budgets.parse({}))
    assert kept == {"group": {"integration": {"wall_s": 1.2346, "cpu_s": 1.0,
                                              "speed_s": 0.000123457}}, "test": {}}


def _fingerprint(project) -> dict:
    return project.report(project.runs()[0])["fingerprint"] if project.runs() else \
        _first_run_fingerprint(project)


def _first_run_fingerprint(project) -> dict:
    assert run(project).ret in (0, 4)
    return project.report()["fingerprint"]


def test_policy_001_failure_escalates_to_the_dispatcher_owner(budgeted):
    budgeted.write("tests/suite/backend_selection/test_backend_selection.py", POLICY)
    assert run(budgeted).ret == 1
    data = budgeted.report()
    [esc] = data["escalations"]
    assert (esc["trigger"], esc["component"]) == ("policy_violation", "dispatcher")
    assert esc["owner"] == "INTEGRATE-PYTORCH-001 (backend dispatcher)"
    assert esc["subjects"] == ["tests/suite/backend_selection/test_backend_selection.py::"
                               "test_dispatch"]
    assert any("POLICY-001: PyTorch backend selected" in line for line in esc["evidence"])
    assert any(line.startswith("  log: logs/") for line in esc["evidence"])


def test_baseline_record_writes_only_when_asked_and_the_next_run_is_exact(budgeted):
    assert not (budgeted.path / "baselines").exists()
    dry = budgeted.harness("baseline", "record", "per_pr", "--runs", "1", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "dry run: would write" in dry.stdout and not (budgeted.path / "baselines").exists()
    assert run(budgeted).ret == 0  # a run never writes a baseline
    assert not (budgeted.path / "baselines").exists()

    done = budgeted.harness("baseline", "record", "per_pr", "--runs", "2")
    assert done.returncode == 0, done.stderr
    [path] = (budgeted.path / "baselines" / "runtime").glob("*.json")
    recorded = json.loads(path.read_text())
    assert recorded["cadences"]["per_pr"]["wall"]["n"] == 2
    assert recorded["groups"]["integration"]["cpu"]["n"] == 2
    assert TRAIN in recorded["tests"] and "added" in done.stdout

    assert run(budgeted).ret in (0, 4)
    data = budgeted.report()
    assert data["budgets"]["exact"] is True and data["budgets"]["baseline"] == path.stem
    [band] = budget_verdicts(data, kind="group", subject="integration")
    assert band["estimated"] is False
    shown = budgeted.harness("baseline", "show")
    assert shown.returncode == 0 and "this machine" in shown.stdout

    wrong = budgeted.harness("baseline", "record", "nightlyy", "--runs", "1")
    assert wrong.returncode == 2 and "nightlyy" in wrong.stderr


def test_a_neighbour_on_the_cores_makes_an_exact_too_slow_advisory_not_a_failure(budgeted):
    """A detached CPU burner (not the run's descendant) holds a core all through the run: the
    run is contended, its exact too_slow band is advisory (exit 0), and its ledger line is
    no sample for a provisional baseline."""
    from test_contention import detached_burner

    budgeted.write("selectors/budgets.toml", BUDGETS.replace("contention_cores = 1024",
                                                             "contention_cores = 0.5"))
    exact = baselines.record([{"group": {"integration": baselines.Measurement(0.01, 0.01)}}],
                             "per_pr", _fingerprint(budgeted))
    baselines.write(budgeted.path / "baselines", exact)
    budgeted.write("tests/suite/integration/test_integration.py", BUSY)
    burner = detached_burner(30.0)
    try:
        assert run(budgeted).ret == 0
    finally:
        os.kill(burner, signal.SIGKILL)
    data = budgeted.report()
    [band] = budget_verdicts(data, kind="group", subject="integration", check="band")
    assert band["status"] == "too_slow" and band["estimated"] is False and band["advisory"]
    assert "machine CONTENDED" in band["basis"] and "harness compare" in band["basis"]
    assert data["budgets"]["contention"]["contended"] is True
    assert data["budgets"]["contention"]["foreign_cores"] >= 0.5
    assert not data.get("escalations")
    assert budgeted.ledger_lines()[-1]["contended"] is True
    assert "machine CONTENDED" in (budgeted.runs()[-1] / "report.md").read_text()
