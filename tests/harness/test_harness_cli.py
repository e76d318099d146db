"""The `harness` CLI end to end (subprocesses): list, run, report, validate, history, prune,
check-ckpt; interrupted, concurrent and parallel (xdist) runs."""
import json
import os
import shutil
import signal
import time
from pathlib import Path

import jsonschema
import pytest

from harness.report.exitcodes import ExitCode
from harness.report.types import RunReport
from waiting import wait_for

REPO = Path(__file__).resolve().parents[2]

FAILING = "def test_broken():\n    assert 'parity' == 'drift'\n"
IMAGE = '''
import random
from PIL import Image

def test_writes_png(artifact_dir):
    rng = random.Random(0)
    data = bytes(rng.randrange(256) for _ in range(64 * 64 * 3))
    Image.frombytes("RGB", (64, 64), data).save(artifact_dir / "reconstructed_amplitude.png")
'''


def one_error_line(done) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    return lines[0]


def test_list_shows_groups_cadences_and_selected_ids(suite):
    budgets = suite.path / "selectors" / "budgets.toml"
    shutil.copy(REPO / "selectors" / "budgets.toml", budgets)
    with open(budgets, "a") as handle:  # an entry for a test of the synthetic suite
        handle.write('\n[tests."tests/suite/integration/*::*save_load*"]\nmin_s = 0.5\nmax_s = 30.0\n')
    done = suite.harness("list", "per_pr")
    assert done.returncode == 0, done.stderr
    assert "tests/suite/integration/test_integration.py::test_train_save_load_infer" in done.stdout
    assert "tests/suite/backend_selection/test_backend_selection.py::test_dispatch" in done.stdout
    assert "test_forward_parity" not in done.stdout and "test_unit" not in done.stdout
    assert "tolerance_s = 5.0" in done.stdout and "max_s = 90.0" in done.stdout  # budgets.toml
    # a test id shows the limits of its [tests."<glob>"] entry; one without an entry shows none
    lines = done.stdout.splitlines()
    assert ("  tests/suite/integration/test_integration.py::test_train_save_load_infer  "
            "max_s = 30.0, min_s = 0.5") in lines
    assert "  tests/suite/backend_selection/test_backend_selection.py::test_dispatch" in lines
    bad = suite.harness("list", "hourly")
    assert bad.returncode == 2
    assert one_error_line(bad).startswith("error: unknown cadence or group 'hourly' (use one of")
    suite.write("tests/suite/misc/test_orphan.py", "def test_orphan():\n    pass\n")
    orphan = suite.harness("list")
    assert orphan.returncode == 2 and "belongs to no selector group" in orphan.stdout


def test_machine_readable_list_history_validate_and_version(suite):
    """--json for scripts and CI: the same facts as the tables; --version like its neighbours."""
    version = suite.harness("--version")
    assert version.returncode == 0 and version.stdout.startswith("harness ")
    listed = suite.harness("list", "per_pr", "--json")
    assert listed.returncode == 0, listed.stderr
    document = json.loads(listed.stdout)
    assert document["groups"]["integration"]["selected"] is True
    assert document["groups"]["parity"]["selected"] is False
    assert "integration" in document["cadences"]["per_pr"]["groups"]
    assert {"nodeid": "tests/suite/integration/test_integration.py::test_train_save_load_infer",
            "group": "integration"} in document["tests"] and document["errors"] == []
    assert json.loads(suite.harness("history", "--json").stdout)["runs"] == []
    done = suite.harness("run", "backend_selection")
    assert done.returncode == 0, done.stdout + done.stderr
    runs = json.loads(suite.harness("history", "--json").stdout)["runs"]
    assert [run["cadence"] for run in runs] == ["backend_selection"]
    dispatch = "tests/suite/backend_selection/test_backend_selection.py::test_dispatch"
    assert dispatch in runs[0]["tests"]          # the ledger keeps the slowest tests' seconds
    trend = suite.harness("history", "--tests", "5")
    assert "trend of the 5 slowest tests" in trend.stdout and "test_dispatch" in trend.stdout
    schema = json.loads(suite.harness("report", "--schema").stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(suite.report()))
    assert errors == [], [error.message for error in errors]
    # the typed report reads and writes the same JSON (keys in the same order)
    typed = RunReport.from_json(suite.report())
    assert typed.to_json() == suite.report() and list(typed.to_json()) == list(suite.report())
    assert typed.groups["backend_selection"].counts.passed == typed.totals.passed > 0
    checked = json.loads(suite.harness("validate", "--json").stdout)
    assert checked["failed"] == 0 and checked["checks"] == len(checked["results"]) > 0
    # github-action-benchmark's customSmallerIsBetter: name, unit, value per entry
    exported = json.loads(suite.harness("export", "--format", "github-action-benchmark").stdout)
    names = [entry["name"] for entry in exported]
    assert names[0] == "backend_selection (wall)" and "group backend_selection" in names
    assert "tests/suite/backend_selection/test_backend_selection.py::test_dispatch" in names
    assert all(entry["unit"] == "s" and entry["value"] >= 0 for entry in exported)


def test_a_run_started_as_a_subprocess_gives_the_forked_runs_result(suite):
    """Where fork is missing (Windows), or when asked, pytest starts as `python -m pytest`."""
    results = {}
    for method in ("fork", "subprocess"):
        done = suite.harness("run", "per_pr", "--harness-start", method)
        report_doc = suite.report()
        results[method] = (done.returncode, report_doc["status"],
                           sorted((t["nodeid"], t["outcome"]) for t in report_doc["tests"]))
    assert results["fork"] == results["subprocess"] and results["fork"][0] == 0, results
    bad = suite.harness("run", "per_pr", env={**os.environ, "HARNESS_START": "spawn"})
    assert bad.returncode == 2
    assert one_error_line(bad) == "error: HARNESS_START='spawn': use one of fork, subprocess (or unset it)"


def test_malformed_toml_is_one_line_and_exit_2(suite):
    suite.edit_toml("harness.toml", "keep_last = 20", "keep_last = 20\nkeep_first = 1")
    for command in (["list", "--no-collect"], ["run", "per_pr"], ["history"]):
        done = suite.harness(*command)
        assert done.returncode == 2
        assert one_error_line(done) == (
            "error: selectors/harness.toml: retention.keep_first: unknown key "
            "(allowed: keep_failing, keep_failing_max, keep_last)")
    assert not suite.artifacts.exists()


def test_run_report_validate_history(suite):
    suite.write("tests/suite/integration/test_broken.py", FAILING)
    suite.write("tests/suite/integration/test_image.py",
                "import pytest\n" + IMAGE.replace("def test_writes_png",
                                                  "@pytest.mark.persistent_artifacts\ndef test_writes_png"))
    done = suite.harness("run", "per_pr", "--", "-p", "no:randomly")
    assert done.returncode == ExitCode.FAILED, done.stdout + done.stderr
    assert "FAILED tests/suite/integration/test_broken.py::test_broken" in done.stdout
    [run] = suite.runs()
    assert (run / "pytest.log").read_text().count("passed") >= 1
    data = suite.report(run)
    assert data["status"] == "failed" and data["pytest"]["args"][-2:] == ["-p", "no:randomly"]

    shown = suite.harness("report")
    assert shown.returncode == 0 and run.name in shown.stdout and "integration" in shown.stdout
    as_json = json.loads(suite.harness("report", run.name, "--format", "json").stdout)
    assert as_json["run_id"] == run.name
    assert "| integration |" in suite.harness("report", "--format", "markdown").stdout

    assert suite.harness("validate").returncode == 0
    png = run / next(t["artifacts"] for t in data["tests"] if t["artifacts"]
                     and "writes_png" in t["nodeid"]) / "reconstructed_amplitude.png"
    png.write_bytes(png.read_bytes()[:2000])  # truncated: still > 1 KB, no longer decodes
    invalid = suite.harness("validate", run.name)
    assert invalid.returncode == ExitCode.INVALID
    assert "decodes" in invalid.stdout

    second = suite.harness("run", "backend_selection")
    assert second.returncode == 0, second.stdout + second.stderr
    with open(suite.artifacts / "ledger.jsonl", "a") as handle:
        handle.write("{torn line\n")
    history = suite.harness("history")
    assert history.returncode == 0, history.stderr
    assert "ledger.jsonl line 3 skipped" in history.stdout
    assert "✗" in history.stdout and "✓" in history.stdout
    assert suite.harness("report", "no-such-run").returncode == 2


def test_run_hands_options_it_does_not_know_to_pytest(suite):
    # what `nox -s per_pr -- -k ... --maxfail=1` runs: no second `--` needed
    done = suite.harness("run", "per_pr", "-k", "dispatch and not train", "--maxfail=1",
                         "--", "-p", "no:randomly")
    assert done.returncode == 0, done.stdout + done.stderr
    data = suite.report()
    assert data["pytest"]["args"][-5:] == ["-k", "dispatch and not train", "--maxfail=1",
                                           "-p", "no:randomly"]
    assert [t["nodeid"].split("::")[-1] for t in data["tests"]] == ["test_dispatch"]


def test_prune_cli_applies_retention(project):
    for name, status in (("20260101T000000Z-per_pr", "failed"), ("20260102T000000Z-per_pr", "passed"),
                         ("20260103T000000Z-per_pr", "passed")):
        (project.artifacts / name).mkdir(parents=True)
        (project.artifacts / name / "report.json").write_text(json.dumps({"status": status}))
    dry = project.harness("prune", "--keep", "1", "--dry-run")
    assert dry.returncode == 0 and "would delete 20260102T000000Z-per_pr" in dry.stdout
    assert len(project.runs()) == 3
    assert project.harness("prune", "--keep", "1").returncode == 0
    assert [r.name for r in project.runs()] == ["20260101T000000Z-per_pr", "20260103T000000Z-per_pr"]


def test_check_ckpt(project):
    torch = pytest.importorskip("torch")
    project.write("tinymod.py", "import torch\n\nclass Tiny(torch.nn.Module):\n"
                                "    def __init__(self, width):\n        super().__init__()\n"
                                "        self.layer = torch.nn.Linear(2, width)\n")
    layer = torch.nn.Linear(2, 4)
    state = {f"layer.{k}": v for k, v in layer.state_dict().items()}
    torch.save({"state_dict": state, "hyper_parameters": {"width": 4}}, project.path / "good.ckpt")
    torch.save({"state_dict": dict(state, extra=torch.zeros(1)), "hyper_parameters": {"width": 4}},
               project.path / "bad.ckpt")
    env = dict(os.environ, PYTHONPATH=str(project.path))
    good = project.harness("check-ckpt", "good.ckpt", "--module-class", "tinymod.Tiny", env=env)
    assert good.returncode == 0, good.stderr
    assert "2 tensors" in good.stdout
    bad = project.harness("check-ckpt", "bad.ckpt", "--module-class", "tinymod.Tiny", env=env)
    assert bad.returncode == 3
    assert one_error_line(bad).startswith("invalid: bad.ckpt: state-dict: load_state_dict(strict=True)")
    missing = project.harness("check-ckpt", "nothing.ckpt")
    assert missing.returncode == 2 and one_error_line(missing).startswith("error: nothing.ckpt: no such file")


def stop_mid_run_and_check_the_report(suite, stop_signal: signal.Signals) -> None:
    """Send `stop_signal` to the `harness run` CLI while the second of two tests runs: exit 130,
    report.json and the ledger line 'interrupted', the finished test kept."""
    suite.write("tests/suite/integration/test_slow.py",
                "import time\n\ndef test_a_fast():\n    pass\n\n"
                "def test_b_slow():\n    time.sleep(120)\n")
    process = suite.harness_popen("run", "integration")
    try:
        def fast_test_done():
            runs = suite.runs()
            events = runs[-1] / "events.jsonl" if runs else None
            return bool(events and events.exists() and "test_a_fast" in events.read_text())

        assert wait_for(fast_test_done, interval=0.1), "the fast test never finished"
        time.sleep(0.5)  # let the slow test start
        process.send_signal(stop_signal)
        process.wait(90)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == ExitCode.INTERRUPTED, process.stderr.read()
    data = suite.report()
    assert data["status"] == "interrupted" and data["exit_code"] == 130
    finished = {t["nodeid"].split("::")[-1]: t["outcome"] for t in data["tests"]}
    assert finished["test_a_fast"] == "passed" and "test_b_slow" not in finished
    assert data["totals"]["not_run"] >= 1
    [line] = suite.ledger_lines()
    assert line["status"] == "interrupted"


def test_sigterm_mid_run_writes_an_interrupted_report(suite):
    stop_mid_run_and_check_the_report(suite, signal.SIGTERM)


def test_ctrl_c_mid_run_writes_an_interrupted_report(suite):
    # a terminal's Ctrl-C reaches only the CLI (pytest runs in its own session): it forwards it
    stop_mid_run_and_check_the_report(suite, signal.SIGINT)


def test_concurrent_runs_get_their_own_folders_and_ledger_lines(suite):
    processes = [suite.harness_popen("run", "backend_selection") for _ in range(2)]
    for process in processes:
        process.wait(180)
        assert process.returncode == 0, process.stderr.read()
    runs = suite.runs()
    assert len(runs) == 2 and runs[0] != runs[1]
    assert all(suite.report(run)["status"] == "passed" for run in runs)
    lines = suite.ledger_lines()
    assert sorted(line["run_id"] for line in lines) == sorted(run.name for run in runs)


def thread_check_env(expected: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_THREADS")}
    env["EXPECTED_THREADS"] = str(expected)
    return env


PARALLEL_SUITE = {
    "tests/suite/integration/test_broken.py": FAILING,
    "tests/suite/integration/test_image.py": IMAGE,
    "tests/suite/parity/test_threads.py":
        "import os\n\ndef test_threads_capped():\n"
        "    for name in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'TF_NUM_INTRAOP_THREADS',\n"
        "                 'TF_NUM_INTEROP_THREADS'):\n"
        "        assert os.environ[name] == os.environ['EXPECTED_THREADS'], name\n",
}


def comparable(data: dict) -> tuple:
    tests = [{k: t[k] for k in ("nodeid", "group", "outcome", "message", "artifacts", "validation",
                                "log")} for t in data["tests"]]
    groups = {name: (g["counts"], g["verdict"], g["artifacts_validated"], g["validation_failures"])
              for name, g in data["groups"].items()}
    return data["status"], data["totals"], tests, groups


def test_parallel_run_reports_like_a_serial_one(suite, monkeypatch):
    for relative, text in PARALLEL_SUITE.items():
        suite.write(relative, text)
    monkeypatch.setenv("EXPECTED_THREADS", "1")  # the fixture pinned the thread variables to 1
    suite.pytester.runpytest("--harness-run", "weekly")
    serial = suite.report()
    parallel_run = suite.harness("run", "weekly", "-n", "2",
                                 env=thread_check_env(max(1, (os.cpu_count() or 1) // 2)))
    assert parallel_run.returncode == 1, parallel_run.stdout + parallel_run.stderr
    parallel = suite.report()
    assert parallel["pytest"]["workers"] == 2 and serial["pytest"]["workers"] == 0
    assert {t["worker"] for t in parallel["tests"]} == {"gw0", "gw1"}
    assert comparable(parallel) == comparable(serial)
    assert parallel["status"] == "failed" and parallel["totals"]["passed"] == 6


def test_crashed_worker_is_reported(suite):
    suite.write("tests/suite/integration/test_crash.py",
                "import os\n\ndef test_crashes():\n    os._exit(3)\n")
    done = suite.harness("run", "per_pr", "-n", "2")
    assert done.returncode == ExitCode.FAILED, done.stdout + done.stderr
    data = suite.report()
    crash = next(t for t in data["tests"] if t["nodeid"].endswith("test_crashes"))
    assert crash["outcome"] == "failed" and crash["crashed"] and "crashed" in crash["message"]
    assert crash["group"] == "integration"
    assert data["crashed_workers"]
    assert {t["nodeid"].split("::")[-1] for t in data["tests"] if t["outcome"] == "passed"} == {
        "test_train_save_load_infer", "test_dispatch"}
