"""Recorded runs (`--harness-run`, in-process through pytester): run folder, report.json /
report.md / junit.xml / logs, archival of artifacts, findings hook, status and exit codes."""
import json
import sys
from datetime import datetime, timezone

import pytest

from harness.report import model as report
from harness.records import runfolder
from harness.report.exitcodes import ExitCode

# PNGs are written with Pillow: noise is incompressible, so 64x64 RGB is well above 1 KB.
MIXED = '''
import logging, os, random
import pytest
from PIL import Image

def png(path, flat=False):
    rng = random.Random(0)
    data = bytes(0 if flat else rng.randrange(256) for _ in range(64 * 64 * 3))
    Image.frombytes("RGB", (64, 64), data).save(path, compress_level=0 if flat else 6)

def test_passes_with_artifacts(artifact_dir):
    logging.getLogger("ptycho.workflow").debug("package debug detail")
    print("to stdout")
    png(artifact_dir / "reconstructed_amplitude.png")
    (artifact_dir / "train.log").write_text("INFO training done\\n")

def test_fails(artifact_dir):
    png(artifact_dir / "reconstructed_phase.png")
    assert 2 + 2 == 5, "arithmetic is broken"

@pytest.mark.persistent_artifacts
def test_persistent(artifact_dir):
    (artifact_dir / "notes.txt").write_text("kept on purpose")

def test_sees_running_report(artifact_dir):
    run_dir = artifact_dir.parents[1]
    assert json.loads((run_dir / "report.json").read_text())["status"] == "running"

@pytest.fixture
def broken():
    raise RuntimeError("fixture exploded")

def test_setup_error(broken):
    pass

@pytest.mark.skip(reason="not on this machine")
def test_skipped():
    pass

@pytest.mark.xfail(reason="known gap")
def test_xfail():
    assert False
'''.replace("import logging, os", "import json, logging, os")


def run_tests(project, *args):
    return project.pytester.runpytest("-q", *args)


def test_report_contents_of_a_failing_run(suite):
    suite.write("tests/suite/integration/test_mixed.py", MIXED)
    result = run_tests(suite, "--harness-run", "per_pr")
    assert result.ret == ExitCode.FAILED
    [run] = suite.runs()
    assert run.name.endswith("-per_pr")
    data = suite.report(run)
    assert data["status"] == "failed" and data["exit_code"] == 1
    assert data["selection"] == {"label": "per_pr", "targets": ["per_pr"],
                                 "groups": ["integration", "backend_selection"]}
    outcomes = {t["nodeid"].split("::")[-1]: t["outcome"] for t in data["tests"]}
    assert outcomes == {
        "test_passes_with_artifacts": "passed", "test_fails": "failed", "test_persistent": "passed",
        "test_sees_running_report": "passed", "test_setup_error": "error",
        "test_skipped": "skipped", "test_xfail": "xfailed",
        "test_train_save_load_infer": "passed", "test_dispatch": "passed"}
    integration = data["groups"]["integration"]
    assert integration["counts"] == {"passed": 4, "failed": 1, "errors": 1, "skipped": 1,
                                     "xfailed": 1, "xpassed": 0, "total": 8}
    assert integration["verdict"] == "failed"
    assert integration["owner"] == "backend implementation"
    assert len(integration["slowest"]) == report.SLOWEST_PER_GROUP
    assert integration["artifacts_validated"] == 3  # two PNGs and train.log
    assert integration["validation_failures"] == 0
    assert data["groups"]["backend_selection"]["verdict"] == "passed"
    assert data["totals"]["failed"] == 1 and data["totals"]["not_run"] == 0
    failing = next(t for t in data["tests"] if t["outcome"] == "failed")
    assert failing["message"].startswith("AssertionError: arithmetic is broken")
    errored = next(t for t in data["tests"] if t["outcome"] == "error")
    assert "fixture exploded" in errored["message"]
    env = data["environment"]
    assert env["python"] == ".".join(map(str, sys.version_info[:3]))
    assert set(env["packages"]) >= {"torch", "tensorflow", "lightning"}
    assert env["cuda"]["method"] and env["cpu_count"]
    assert len(data["fingerprint_hash"]) == 12
    assert data["findings"] == []

    # per-test logs: captured output and the package's DEBUG records
    logs = {t["nodeid"].split("::")[-1]: (run / t["log"]).read_text() for t in data["tests"]}
    assert "to stdout" in logs["test_passes_with_artifacts"]
    assert "DEBUG" in logs["test_passes_with_artifacts"]
    assert "package debug detail" in logs["test_passes_with_artifacts"]
    assert "arithmetic is broken" in logs["test_fails"]
    assert (run / "junit.xml").read_text().count("<testcase") == 9
    markdown = (run / "report.md").read_text()
    assert "| integration | backend implementation | ❌ failed | 4 | 1 | 1 | 1 |" in markdown
    assert "### Failures" in markdown and "arithmetic is broken" in markdown
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events][:2] == ["start", "collected"]
    assert events[1]["total"] == 9 and events[-1]["event"] == "finished"
    assert sum(e["event"] == "test" for e in events) == 9
    [line] = suite.ledger_lines()
    assert line["run_id"] == run.name and line["status"] == "failed"
    assert line["groups"]["integration"]["verdict"] == "failed"
    assert line["fingerprint_hash"] == data["fingerprint_hash"]


def test_archival_keeps_failing_and_persistent_artifacts_only(suite):
    suite.write("tests/suite/integration/test_mixed.py", MIXED)
    run_tests(suite, "--harness-run", "integration")
    [run] = suite.runs()
    data = suite.report(run)
    kept = {t["nodeid"].split("::")[-1]: t["artifacts"] for t in data["tests"]}
    assert kept["test_passes_with_artifacts"] is None
    assert kept["test_fails"] == "tests/integration.test_mixed.py__test_fails"
    assert kept["test_persistent"] == "tests/integration.test_mixed.py__test_persistent"
    assert sorted(p.name for p in (run / "tests").iterdir()) == [
        "integration.test_mixed.py__test_fails", "integration.test_mixed.py__test_persistent"]
    assert (run / kept["test_fails"] / "reconstructed_phase.png").is_file()


def test_persistent_cadence_keeps_everything(suite):
    suite.write("tests/suite/integration/test_mixed.py", MIXED)
    run_tests(suite, "--harness-run", "weekly", "-k", "passes_with_artifacts")
    data = suite.report()
    [test] = data["tests"]
    assert test["artifacts"] and (suite.runs()[-1] / test["artifacts"] / "train.log").is_file()


def test_invalid_artifact_gives_exit_3_and_is_kept(suite):
    suite.write("tests/suite/integration/test_mixed.py", MIXED)
    suite.write("tests/suite/integration/test_bad_png.py",
                "from test_mixed import png\n\ndef test_flat(artifact_dir):\n"
                "    png(artifact_dir / 'flat.png', flat=True)\n")
    result = run_tests(suite, "--harness-run", "integration", "-k", "flat or passes_with")
    assert result.ret == ExitCode.INVALID
    data = suite.report()
    assert data["status"] == "invalid"
    [failure] = data["validation"]["failures"]
    assert failure["path"] == "tests/integration.test_bad_png.py__test_flat/flat.png"
    assert failure["kind"] == "png" and failure["rule"] == "not-constant"
    assert failure["nodeid"].endswith("test_flat")
    assert (suite.runs()[-1] / failure["path"]).is_file()
    assert data["groups"]["integration"]["verdict"] == "invalid"
    assert "### Artifact validation failures" in (suite.runs()[-1] / "report.md").read_text()


def test_nothing_selected_is_status_empty(project):
    project.write("tests/unit/test_unit.py", "def test_unit():\n    pass\n")
    result = run_tests(project, "--harness-run", "per_pr")
    assert result.ret == ExitCode.EMPTY
    assert project.report()["status"] == "empty"


def test_collection_error_is_status_error(suite):
    suite.write("tests/suite/misc/test_orphan.py", "def test_orphan():\n    pass\n")
    result = run_tests(suite, "--harness-run", "weekly")
    assert result.ret == ExitCode.ERROR
    data = suite.report()
    assert data["status"] == "error"
    [error] = data["collection_errors"]
    assert "belongs to no selector group" in error["message"]


@pytest.mark.parametrize("severity, status", [("info", "passed"), ("violation", "over_budget")])
def test_findings_hook_extends_the_report(suite, severity, status):
    suite.write("tests/suite/conftest.py", f'''
def pytest_harness_findings(config, report):
    seconds = report["groups"]["integration"]["seconds"]
    return [{{"source": "budgets", "title": "Runtime budgets", "severity": "{severity}",
             "items": [f"integration took {{seconds:.3f}} s"]}}]
''')
    result = run_tests(suite, "--harness-run", "per_pr")
    data = suite.report()
    assert data["status"] == status and result.ret == ExitCode.of(status)
    [finding] = data["findings"]
    assert finding["source"] == "budgets" and finding["items"][0].startswith("integration took")
    assert "### Runtime budgets (budgets, " in (suite.runs()[-1] / "report.md").read_text()


def test_run_folders_are_unique_within_a_second(tmp_path):
    moment = datetime(2026, 11, 28, 20, 15, tzinfo=timezone.utc)
    first = runfolder.create_run_folder(tmp_path, "per_pr", moment)
    second = runfolder.create_run_folder(tmp_path, "per_pr", moment)
    assert (first.name, second.name) == ("20261128T201500Z-per_pr", "20261128T201500Z-per_pr-2")
    assert runfolder.list_runs(tmp_path) == [first, second]



def test_runs_in_one_second_keep_the_order_they_were_made_across_labels(tmp_path):
    # a merge that starts in its last shard's second is the newest run, although "merged" < "quick"
    moment = datetime(2026, 12, 2, 15, 7, 24, tzinfo=timezone.utc)
    shard = runfolder.create_run_folder(tmp_path, "quick-shard2of2", moment)
    merged = runfolder.create_run_folder(tmp_path, "merged", moment)
    assert merged.name == "20261202T150724Z-merged-2"
    assert runfolder.list_runs(tmp_path) == [shard, merged]
    assert runfolder.find_run(tmp_path, None) == merged

def test_safe_names_stay_distinct():
    assert runfolder.safe_name("integration/test_a.py::test_x") == "integration.test_a.py__test_x"
    lossy = [runfolder.safe_name(n) for n in ("test_a.py::t[a b]", "test_a.py::t[a_b]")]
    assert lossy[0] != lossy[1] and all("[" not in n and " " not in n for n in lossy)
    assert len(runfolder.safe_name("x" * 400)) <= 120
