"""`harness compare BASE_REF`: ABBA order, ratios at equal machine speed, the bootstrap interval
and the verdicts, a comparison that stops on a broken run, the reports, and the whole CLI on a
throw-away git repository (BASE from a worktree, HEAD from the working tree)."""
import json
import subprocess

import pytest

from harness.measure import calibration
from harness.measure.timing import Measurement
from harness.records import runfolder
from harness.report import comparison_page
from harness.report.exitcodes import ExitCode
from harness.runs import compare
from harness.runs.compare import Comparison
from harness.verdicts import comparison as ab

# The group's test does a fixed amount of CPU work, so that an A/A comparison measures that
# work and not a few milliseconds of noise;
# BUSY does 0.4 CPU-s more.
WORKLOAD = ("import time\n\ndef test_train_save_load_infer():\n    time.sleep(0.1)\n"
            "    end = time.thread_time() + {cpu_s}\n    while time.thread_time() < end:\n"
            "        pass\n")
SLEEPY = WORKLOAD.format(cpu_s=0.3)
BUSY = WORKLOAD.format(cpu_s=0.7)


def pairs(base_cpu, head_cpu, base_speed=None, head_speed=None):
    return [(Measurement(c, c, base_speed), Measurement(h, h, head_speed))
            for c, h in zip(base_cpu, head_cpu)]


def test_abba_order_alternates_which_side_runs_first():
    assert compare.order(3) == [(1, "base"), (1, "head"), (2, "head"), (2, "base"),
                                (3, "base"), (3, "head")]


def test_pair_ratio_is_taken_at_equal_machine_speed():
    base, head = Measurement(10.0, 8.0, 0.0002), Measurement(12.0, 12.0, 0.0003)
    expected = 1.5 / calibration.probe_ratio(0.0003, 0.0002)
    assert ab.pair_ratio(base, head) == pytest.approx(expected)
    assert ab.pair_ratio(base, head, normalise_load=False) == pytest.approx(1.5)
    assert ab.pair_ratio(base, head, clock="wall", normalise_load=False) == pytest.approx(1.2)
    assert ab.pair_ratio(Measurement(1.0, None), Measurement(2.0, 1.0)) == pytest.approx(2.0)
    assert ab.pair_ratio(Measurement(0.0, 0.0), head) is None


@pytest.mark.parametrize("head, verdict", [
    ([1.15, 1.18, 1.14, 1.16, 1.17, 1.15], "slower"),   # +15 %, consistent
    ([1.01, 0.99, 1.02, 0.98, 1.00, 1.01], "same"),     # A/A
    ([1.30, 0.85, 1.35, 0.90, 1.25, 0.95], "same"),     # +10 % on average but erratic
    ([0.50, 0.52, 0.49, 0.51, 0.50, 0.48], "faster"),   # half the work: skipped?
])
def test_verdicts_need_the_ratio_beyond_the_threshold_and_the_interval_clear_of_one(head, verdict):
    result = ab.judge("group", "integration", pairs([1.0] * 6, head), threshold=0.10)
    assert result.verdict == verdict and result.regression is (verdict == "slower")
    assert result.interval[0] <= result.ratio <= result.interval[1]
    assert len(result.ratios) == 6 and result.clock == "cpu"
    again = ab.judge("group", "integration", pairs([1.0] * 6, head), threshold=0.10)
    assert again == result  # seeded bootstrap: the same runs give the same report


def comparison(pairs_count=2, warmup=0):
    return Comparison("main", "a" * 40, {"commit": "b" * 40, "dirty": False}, "per_pr",
                      ["per_pr"], pairs_count, 0.10, warmup=warmup)


def fake_runs(head_factor=1.0, fail_at=None):
    """A RunArm that returns report.json dicts with synthetic timings (no pytest)."""
    calls = []

    def run(arm, pair, run_dir):
        calls.append((pair, arm))
        status = "failed" if (pair, arm) == fail_at else "passed"
        cpu = 10.0 * (head_factor if arm == "head" else 1.0) * (1 + 0.01 * pair)
        return {"status": status, "exit_code": ExitCode.of(status), "wall_seconds": cpu,
                "cpu": cpu}

    return run, calls


def measure(final):
    return {"group": {"integration": Measurement(final["cpu"], final["cpu"])},
            "cadence": {"per_pr": Measurement(final["cpu"] * 1.2, final["cpu"] * 1.5)}}


def test_a_slower_head_is_a_regression_exit_4_with_reports(tmp_path):
    run, calls = fake_runs(head_factor=1.3)
    done = compare.compare(comparison(3, warmup=1), run, tmp_path / "runs", measure)
    assert calls == [(0, "base")] + compare.order(3)  # a warm-up run first, not measured
    assert "measurements" not in done.runs[0] and done.runs[0]["pair"] == 0
    doc = compare.result_document(done)
    assert doc["status"] == "over_budget" and doc["exit_code"] == 4 and doc["pairs_done"] == 3
    assert doc["regressions"] == ["per_pr", "integration"]
    [integration] = [r for r in doc["results"] if r["subject"] == "integration"]
    assert integration["ratio"] == pytest.approx(1.3) and integration["verdict"] == "slower"
    assert doc["runs"][1]["measurements"]["group"]["integration"]["cpu_s"] == pytest.approx(10.1)
    compare.write(tmp_path, doc)
    assert json.loads((tmp_path / "report.json").read_text())["exit_code"] == 4
    markdown = (tmp_path / "report.md").read_text()
    assert "| group integration | 10.20 | 13.26 | 1.300 |" in markdown and "❌ slower" in markdown
    html = (tmp_path / "report.html").read_text()
    assert "REGRESSION" in html and "<svg" in html and "integration" in html

    same = compare.result_document(compare.compare(comparison(2), fake_runs()[0],
                                                   tmp_path / "runs2", measure))
    assert same["status"] == "passed" and same["exit_code"] == 0 and same["regressions"] == []


def test_a_run_with_failing_tests_stops_the_comparison(tmp_path):
    run, calls = fake_runs(fail_at=(2, "head"))
    started = comparison(3)
    with pytest.raises(compare.CompareError, match="head run of pair 2 ended 'failed'") as caught:
        compare.compare(started, run, tmp_path / "runs", measure)
    assert caught.value.exit_code == ExitCode.FAILED
    assert calls == compare.order(3)[:3]  # nothing ran after the broken run
    doc = compare.result_document(started, str(caught.value), caught.value.exit_code)
    assert doc["status"] == "failed" and doc["exit_code"] == 1 and doc["pairs_done"] == 1
    assert "Stopped:" in comparison_page.render_markdown(doc)


# ---------------------------------------------------------------- the CLI on a git repository

def git(project, *args):
    done = subprocess.run(["git", *args], cwd=project.path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
def repository(suite):
    suite.write("tests/suite/integration/test_integration.py", SLEEPY)
    suite.write(".gitignore", "artifacts/\n__pycache__/\n")
    # times the tests; raw CPU: the speed probe's few readings in a half-second run swung an
    # unchanged HEAD to 1.18-1.40 x BASE in 2 of 10 comparisons
    suite.write("selectors/budgets.toml", "[defaults]\nconfirm_reruns = 0\nnormalise_load = false\n")
    git(suite, "init", "-q", "-b", "main")
    git(suite, "-c", "user.email=t@example.com", "-c", "user.name=t", "add", "-A")
    git(suite, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-q", "-m", "base")
    return suite


def test_cli_flags_a_slower_head_and_passes_an_unchanged_one(repository):
    same = repository.harness("compare", "HEAD", "integration", "--pairs", "2", timeout=300)
    assert same.returncode == 0, same.stdout + same.stderr
    [folder] = runfolder.list_runs(repository.artifacts / "compare")
    doc = json.loads((folder / "report.json").read_text())
    assert doc["status"] == "passed" and doc["pairs_done"] == 2
    assert len(list((folder / "runs").glob("*-integration-base*"))) == 2
    assert len(list((folder / "runs").glob("*-integration-warmup"))) == 1
    assert (folder / "report.md").is_file() and (folder / "report.html").is_file()
    assert git(repository, "worktree", "list").count("\n") == 0  # the BASE worktree is gone

    # HEAD (the working tree) does ~0.4 s more CPU work per run than BASE (the commit)
    repository.write("tests/suite/integration/test_integration.py", BUSY)
    slower = repository.harness("compare", "main", "integration", "--pairs", "2", timeout=300)
    assert slower.returncode == 4, slower.stdout + slower.stderr
    assert "slower group integration" in " ".join(slower.stdout.split())
    newest = runfolder.list_runs(repository.artifacts / "compare")[-1]
    doc = json.loads((newest / "report.json").read_text())
    assert doc["regressions"] == ["integration"] and doc["base"]["ref"] == "main"
    assert doc["head"]["dirty"] is True


def test_untimed_runs_stop_the_comparison(tmp_path):
    with pytest.raises(compare.CompareError, match="no test of the base run was timed"):
        compare.compare(comparison(2), fake_runs()[0], tmp_path / "runs", lambda final: {})


def test_cli_refuses_an_unknown_base_ref(repository):
    done = repository.harness("compare", "no-such-branch", "integration")
    assert done.returncode == 2
    assert "BASE_REF 'no-such-branch': not a commit" in done.stderr
    assert not (repository.artifacts / "compare").exists()
