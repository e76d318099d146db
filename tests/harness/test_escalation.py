"""Escalation routing through selectors/owners.toml, and the run's exit status."""
import tomllib
from pathlib import Path

import pytest
import pytest_timeout

from harness.config import budgets as budget_rules
from harness.verdicts import budgets
from harness.config import owners as owners_file
from harness.verdicts import escalation
from harness.config import selectors
from harness.verdicts.escalation import ArtifactProblem, Failure
from harness.config.selectors import ConfigError

REPO = Path(__file__).resolve().parents[2]
SHIPPED = (REPO / owners_file.OWNERS_FILE).read_text()
GROUP_OWNERS = {"integration": "backend implementation", "backend_selection": "dispatcher",
                "parity": "backend implementation", "model_manager": "checkpoint persistence"}
RUN = "artifacts/runs/20251019T215800Z_per_pr"


def owners(text: str = SHIPPED) -> owners_file.Owners:
    return owners_file.parse(tomllib.loads(text))


def edited(old: str, new: str) -> owners_file.Owners:
    assert old in SHIPPED, old
    return owners(SHIPPED.replace(old, new, 1))


def escalate(**found):
    return escalation.escalate(owners(), group_owners=GROUP_OWNERS, run_dir=RUN, cadence="per_pr",
                               **found)


def verdicts(measurements):
    return budgets.judge(measurements, budget_rules.load(REPO))


def test_matrix_has_the_five_components_with_contacts_and_steps():
    matrix = owners_file.load(REPO)
    assert set(matrix.components) == {g.owner for g in selectors.load(REPO).groups.values()} | {
        "test harness", "config bridge"}
    for component in matrix.components.values():
        assert component.owner and component.contact and component.label
        assert len(component.steps) >= 3


@pytest.mark.parametrize("text, group, trigger, component", [
    ("E   RuntimeError: PyTorch backend selected but torch is not installed (pip install torch>=2.2)",
     "backend_selection", "policy_violation", "dispatcher"),
    ("E   AssertionError: CONFIG-001: params.cfg['gridsize'] is 1, config says 2",
     "integration", "config_violation", "config bridge"),
    ("E   ptycho.errors.ArchiveError: out/wts.h5.zip: archived backend 'tensorflow', active 'pytorch'",
     "model_manager", "checkpoint_load_failure", "checkpoint persistence"),
    ("E   _pickle.UnpicklingError: Weights only load failed", "integration",
     "checkpoint_load_failure", "checkpoint persistence"),
    ("E   AssertionError: max |tf - torch| = 3e-3 > 1e-5", "parity", "parity_breach",
     "backend implementation"),
])
def test_failures_route_to_their_owner(text, group, trigger, component):
    (found,) = escalate(failures=[Failure("tests/suite/x.py::t", group, text, f"{RUN}/x.log")])
    assert (found.trigger, found.component, found.target) == (trigger, component, group)
    assert found.subjects == ("tests/suite/x.py::t",)
    assert f"tests/suite/x.py::t: {text[1:].strip()}" in found.evidence
    assert f"  log: {RUN}/x.log" in found.evidence and f"run folder: {RUN}" in found.evidence


def test_specific_triggers_win_over_group_matches():
    (found,) = escalate(failures=[Failure("t.py::a", "parity", "E  RuntimeError: POLICY-001 broken")])
    assert found.trigger == "policy_violation"


def test_names_in_traceback_source_lines_do_not_match():
    longrepr = ("    def test_roundtrip():\n>       with pytest.raises(ArchiveError):\n"
                "E       AssertionError: assert 2 == 3\n")
    assert escalate(failures=[Failure("t.py::a", "model_manager", longrepr)]) == []


def test_ordinary_failures_and_timeouts_are_not_escalated_as_failures():
    timeout = "E   Failed: " + pytest_timeout.PYTEST_FAILURE_MESSAGE % 60.0
    assert escalate(failures=[Failure("t.py::a", "integration", "E   assert 1 == 2"),
                              Failure("t.py::b", "parity", timeout)]) == []


def test_runtime_findings_go_to_the_group_owner_cadences_to_the_harness():
    found = escalate(verdicts=verdicts({"cadence": {"per_pr": 95.0},
                                        "group": {"integration": 125.0, "backend_selection": 4.0}}))
    routed = {(e.trigger, e.component, e.target, e.subjects) for e in found}
    assert routed == {("runtime_budget", "test harness", "per_pr", ("per_pr",)),
                      ("runtime_budget", "backend implementation", "integration", ("integration",))}
    integration = next(e for e in found if e.target == "integration")
    assert any("125.00 s vs baseline 36.00 s, allowed 31.00-41.00 s, margin -84.00 s -> too_slow"
               in line for line in integration.evidence)
    # an estimated verdict inside the safety margin (x3.3 of the default baseline) is advisory
    assert escalate(verdicts=verdicts({"group": {"integration": 44.0}})) == []
    assert integration.next_step.startswith("Re-run `harness run integration` to confirm")


def test_test_level_findings_go_to_the_owner_of_the_tests_group():
    test = "tests/suite/model_manager/test_ckpt.py::test_train_then_save"
    bounded = budgets.judge({"test": {test: 0.01}}, budget_rules.parse(tomllib.loads(
        (REPO / budget_rules.BUDGETS_FILE).read_text() + f'\n[tests."{test}"]\nmin_s = 1.0\n')))
    (found,) = escalation.escalate(owners(), verdicts=bounded, test_groups={test: "model_manager"},
                                   group_owners=GROUP_OWNERS, run_dir=RUN)
    assert (found.component, found.target) == ("checkpoint persistence", "model_manager")
    assert "too_fast" in found.evidence[0]


def test_artifact_problems_go_to_the_artifacts_producer():
    found = escalate(problems=[
        ArtifactProblem(f"{RUN}/tests/a/last.ckpt", "no hyper_parameters", "t.py::a", "model_manager"),
        ArtifactProblem(f"{RUN}/tests/b/reconstructed_phase.png", "512 bytes < 1024", "t.py::b",
                        "integration"),
        ArtifactProblem(f"{RUN}/tests/b/train.log", "Traceback in log", "t.py::b", "integration"),
    ])
    routed = {(e.component, e.subjects) for e in found}
    assert routed == {("checkpoint persistence", (f"{RUN}/tests/a/last.ckpt",)),
                      ("backend implementation", (f"{RUN}/tests/b/reconstructed_phase.png",)),
                      ("test harness", (f"{RUN}/tests/b/train.log",))}
    ckpt = next(e for e in found if e.component == "checkpoint persistence")
    assert f"{RUN}/tests/a/last.ckpt: no hyper_parameters (left by t.py::a)" in ckpt.evidence
    assert "harness check-ckpt" in ckpt.next_step


def test_findings_of_one_trigger_and_target_are_reported_together():
    failures = [Failure(f"t.py::p{i}", "parity", "E   AssertionError: too far") for i in range(3)]
    (found,) = escalate(failures=failures)
    assert found.subjects == ("t.py::p0", "t.py::p1", "t.py::p2")
    assert all("{" not in step for step in found.steps)
    assert f"titled 'Parity tolerance breach: t.py::p0, t.py::p1, t.py::p2'" in found.steps[2]
    assert found.as_dict()["component"] == "backend implementation"


def test_green_verdicts_raise_nothing():
    assert escalate(verdicts=verdicts({"group": {"parity": 10.0}})) == []


@pytest.mark.parametrize("old, new, message", [
    ('component = "dispatcher"', 'component = "dispatch"',
     "triggers.policy_violation.component: unknown component 'dispatch'"),
    ("{run_dir} (report.md", "{run_folder} (report.md", "bad placeholder 'run_folder'"),
    ('match_text = ["CONFIG-001"]', 'match_text = []',
     "triggers.config_violation.match_text: a failure trigger needs match_text or match_groups"),
    ('[triggers.runtime_budget]', '[triggers.runtime]', "triggers.runtime_budget: missing"),
    ('"*.png" = "backend implementation"', '"*.png" = "backend"',
     "triggers.artifact_validation.by_artifact.*.png: unknown component 'backend'"),
])
def test_bad_owner_entries_name_file_entry_and_fix(old, new, message):
    with pytest.raises(ConfigError) as caught:
        edited(old, new)
    assert str(caught.value).startswith("selectors/owners.toml: ") and message in str(caught.value)
