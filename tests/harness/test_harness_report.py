"""Status precedence, exit codes, findings, environment fingerprint, light imports."""
import subprocess
import sys

import pytest

from harness.measure import environment
from harness.report import model as report
from harness.report.exitcodes import ExitCode


def record(outcome, validation=()):
    return {"nodeid": f"t::{outcome}", "outcome": outcome, "validation": list(validation)}


BAD = {"path": "x.png", "kind": "png", "ok": False, "rule": "min-bytes", "message": "tiny"}


@pytest.mark.parametrize("kwargs, status", [
    ({"tests": [record("passed")]}, "passed"),
    ({"tests": [record("passed"), record("skipped"), record("xfailed")]}, "passed"),
    ({"tests": []}, "empty"),
    ({"tests": [record("passed", [BAD])]}, "invalid"),
    ({"tests": [record("failed"), record("passed", [BAD])]}, "failed"),
    ({"tests": [record("error")]}, "failed"),
    ({"tests": [record("passed")], "collection_errors": [{"nodeid": "x", "message": "m"}]}, "error"),
    ({"tests": [record("failed")], "interrupted": True}, "interrupted"),
    ({"tests": [], "internal_error": True}, "error"),
])
def test_status_precedence(kwargs, status):
    arguments = {"collection_errors": [], "interrupted": False, "internal_error": False, **kwargs}
    assert report.decide_status(**arguments) == status


def test_exit_codes_are_documented_values():
    assert {code.status: int(code) for code in ExitCode} == {
        "passed": 0, "failed": 1, "error": 2, "invalid": 3, "over_budget": 4, "empty": 5,
        "interrupted": 130}
    assert ExitCode.of("over_budget") is ExitCode.OVER_BUDGET
    assert report.exit_code("running") == ExitCode.ERROR == 2


def test_findings_only_escalate_a_green_run():
    green = {"status": "passed", "findings": []}
    report.apply_findings(green, [{"source": "budgets", "title": "t", "severity": "violation",
                                   "items": ["integration 50 s > 41 s"]}])
    assert (green["status"], green["exit_code"]) == ("over_budget", 4)
    red = {"status": "failed", "findings": []}
    report.apply_findings(red, [{"source": "b", "title": "t", "severity": "violation"}])
    assert red["status"] == "failed" and red["findings"][0]["items"] == []
    with pytest.raises(ValueError, match="severity must be one of info, warning, violation"):
        report.apply_findings({"status": "passed", "findings": []}, [{"severity": "fatal"}])


def test_fingerprint_is_stable_and_ignores_the_commit():
    env = environment.collect(".")
    other = dict(env, git={"commit": "0" * 40, "dirty": True}, platform="something else")
    fingerprint = environment.fingerprint(env)
    assert fingerprint == environment.fingerprint(other)
    assert environment.fingerprint_hash(fingerprint) == environment.fingerprint_hash(
        dict(reversed(list(fingerprint.items()))))
    changed = dict(fingerprint, cpu_count=(fingerprint["cpu_count"] or 0) + 1)
    assert environment.fingerprint_hash(changed) != environment.fingerprint_hash(fingerprint)
    assert env["packages"]["torch"] and env["cpu_model"]


def test_harness_modules_import_no_framework():
    code = ("import sys, harness.cli, harness.plugin.recorder, harness.plugin.budgets; "
            "import harness.measure.environment as e; e.collect('.');"
            "heavy = [m for m in ('torch', 'tensorflow', 'lightning', 'rich.progress') "
            "if m in sys.modules]; print(heavy)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def group(slowest):
    return {"owner": "o", "verdict": "passed", "seconds": sum(t["seconds"] for t in slowest),
            "artifacts_validated": 0, "validation_failures": 0, "guardrails": {},
            "guardrails_text": "",
            "counts": dict.fromkeys(report.OUTCOMES, 1), "slowest": slowest}


def test_terminal_report_shows_the_slowest_tests_like_report_md():
    from rich.console import Console

    slowest = [{"nodeid": f"tests/suite/parity/test_p.py::test_{n}", "seconds": s}
               for n, s in (("a", 9.5), ("b", 4.25), ("c", 2.0), ("d", 1.0))]
    data = {"run_id": "r1", "status": "passed", "exit_code": 0, "selection": {"label": "nightly"},
            "groups": {"parity": group(slowest),
                       "integration": group([{"nodeid": "t.py::test_chain", "seconds": 12.0}])},
            "environment": {}}
    console = Console(width=160, record=True)
    report.render_rich(data, console)
    shown = [line.rstrip() for line in console.export_text().splitlines()]
    start = shown.index("slowest tests")
    rows = [line.split() for line in shown[start + 2:start + 6]]  # after title and header
    assert rows == [["parity", "tests/suite/parity/test_p.py::test_a", "9.50"],
                    ["parity", "tests/suite/parity/test_p.py::test_b", "4.25"],
                    ["parity", "tests/suite/parity/test_p.py::test_c", "2.00"],
                    ["integration", "t.py::test_chain", "12.00"]]
    assert "test_d" not in console.export_text()  # the same three per group as report.md
    markdown = report.render_markdown(dict(data, totals={}, validation={}))
    assert all(f"`{test[1]}` | {test[2]} |" in markdown for test in rows)


def test_report_files_are_readable_by_others(tmp_path):
    """Reports are read by people and uploaded by CI: 0644, not mkstemp's 0600."""
    from harness.records import runfolder

    target = tmp_path / "report.md"
    runfolder.write_atomic(target, "# report\n")
    runfolder.write_json_atomic(tmp_path / "report.json", {"status": "passed"})
    for path in (target, tmp_path / "report.json"):
        assert path.stat().st_mode & 0o777 == 0o644, oct(path.stat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json", "report.md"]


def test_the_pytest_plugin_imports_no_rich():
    """rich is for the CLI's terminal; a plain `pytest --harness-run` must not need it."""
    import subprocess
    import sys

    code = ("import sys, harness.plugin.recorder, harness.plugin.budgets, harness.plugin.scaleout, "
            "harness.plugin.findings, harness.records.baselines; "
            "print(sorted(m for m in sys.modules if m == 'rich' or m.startswith('rich.')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
