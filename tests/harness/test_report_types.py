"""The typed report (harness/report/types.py): a judged run's report.json - its `budgets` and
`escalations` included - reads typed and writes back the same JSON, keys in the same order; an
attached section that does not parse stays JSON."""
import json
import shutil
from pathlib import Path

from harness.report.types import BudgetReport, Escalation, RunReport

REPO = Path(__file__).resolve().parents[2]
BUDGETS = ("[defaults]\nconfirm_reruns = 0\ncontention_cores = 1024\n"
           "[groups.integration]\nmax_s = 0.05\n")


def same_json(typed: RunReport, data: dict) -> bool:
    """Equal and in the same key order, at every depth."""
    return json.dumps(typed.to_json()) == json.dumps(data)


def test_a_judged_run_reads_typed_and_writes_the_same_json(suite):
    shutil.copy(REPO / "selectors" / "owners.toml", suite.path / "selectors" / "owners.toml")
    suite.write("selectors/budgets.toml", BUDGETS)
    suite.write("tests/suite/integration/test_integration.py",
                "import time\n\ndef test_train_save_load_infer():\n    time.sleep(0.5)\n")
    suite.write("tests/suite/backend_selection/test_backend_selection.py",
                'def test_dispatch():\n    raise RuntimeError("POLICY-001: PyTorch backend '
                'selected but torch is not installed")\n')
    assert suite.pytester.runpytest("-q", "--harness-run", "per_pr").ret == 1
    data = suite.report()
    typed = RunReport.from_json(data)
    assert same_json(typed, data) and list(typed.attached) == ["budgets", "escalations"]
    budgets = typed.budgets
    assert isinstance(budgets, BudgetReport) and budgets.findings >= 1
    assert (budgets.baseline, budgets.exact, budgets.provisional_runs) == (None, False, 0)
    # measured over a run of 0.5 s or more (harness.measure.contention.MIN_WINDOW_S)
    assert budgets.contention is not None and budgets.contention.cpus >= 1
    assert not budgets.contention.contended  # contention_cores = 1024
    [ceiling] = [v for v in budgets.verdicts if (v.subject, v.check) == ("integration", "ceiling")]
    assert ceiling.status == "over_ceiling" and ceiling.allowed == [0.0, 0.05]
    assert ceiling.measured_s >= 0.5 and ceiling.clock == "wall"
    assert budgets.measurements["group"]["integration"]["wall_s"] >= 0.5
    triggers = {e.trigger: e for e in typed.escalations}
    assert set(triggers) == {"policy_violation", "runtime_budget"}
    assert triggers["policy_violation"].component == "dispatcher"
    assert triggers["runtime_budget"].target == "integration"


def test_an_attached_section_that_does_not_parse_stays_json():
    data = {"schema": 1, "run_id": "r", "status": "passed", "exit_code": 0,
            "selection": {"label": "per_pr", "targets": ["per_pr"], "groups": []},
            "budgets": {"verdicts": "not a list"}, "escalations": [{"trigger": "t"}],
            "mutation": {"components": {}}}
    typed = RunReport.from_json(data)
    assert typed.budgets is None and typed.attached["budgets"] == {"verdicts": "not a list"}
    assert typed.escalations == [Escalation(trigger="t", title="t")]  # no title: its trigger
    assert list(typed.to_json())[-3:] == ["budgets", "escalations", "mutation"]
    assert RunReport.from_json({**data, "escalations": ["text"]}).escalations is None
    assert RunReport.from_json({**data, "budgets": None}).to_json()["budgets"] is None


def test_an_older_report_without_later_keys_writes_back_what_it_had():
    """Reports of an older harness lack `contention` and a verdict's `advisory`: they read as
    None / False and are not added on the way back."""
    verdict = {"kind": "group", "subject": "parity", "check": "ceiling", "clock": "wall",
               "measured_s": 1.5, "baseline_s": None, "allowed": [0.0, 1.0], "margin_s": -0.5,
               "status": "over_ceiling", "estimated": False, "basis": "ceiling max_s=1"}
    budgets = {"baseline": None, "exact": False, "calibration_s": None, "findings": 1,
               "verdicts": [verdict]}
    typed = BudgetReport.from_json(budgets)
    assert typed.contention is None and typed.verdicts[0].advisory is False
    assert json.dumps(typed.to_json()) == json.dumps(budgets)
    assert list(BudgetReport().to_json())[-3:] == ["contention", "verdicts", "measurements"]
