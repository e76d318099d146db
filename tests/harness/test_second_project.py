"""The harness is not ptycho's alone: tests/second_project (two groups, its own selectors/*.toml,
budgets, owners and a report.html section of its own) runs through `python -m harness run`,
budgets, `report` and `merge` - with ptycho and ptycho_torch made unimportable, so that a
harness module that reaches into the package it guards fails here."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.records import runfolder

REPO = Path(__file__).resolve().parents[2]
SECOND = REPO / "tests" / "second_project"
BLOCKED = ("ptycho", "ptycho_torch")


@pytest.fixture
def second(tmp_path):
    project = tmp_path / "second"
    shutil.copytree(SECOND, project)
    blocker = tmp_path / "blocker"
    for name in BLOCKED:  # first on sys.path: importing the package raises
        (blocker / name).mkdir(parents=True)
        (blocker / name / "__init__.py").write_text(
            f"raise ImportError('the harness imported {name} in a project that is not ptycho')\n")
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("HARNESS_", "GITHUB_STEP_SUMMARY", "PYTEST_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(blocker), str(REPO)])

    def harness(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "harness", *args], cwd=project, env=env,
                              capture_output=True, text=True, timeout=180)
    harness.project = project
    return harness


def runs(project: Path) -> list[Path]:
    return runfolder.list_runs(project / "artifacts")  # the order they were made in


def report_of(run: Path) -> dict:
    return json.loads((run / "report.json").read_text())


def test_the_blocker_blocks(second):
    done = subprocess.run([sys.executable, "-c", "import ptycho"], cwd=second.project,
                          env={**os.environ, "PYTHONPATH": str(second.project.parent / "blocker")},
                          capture_output=True, text=True)
    assert done.returncode != 0 and "the harness imported ptycho" in done.stderr


def test_second_project_runs_budgets_reports_and_merges(second):
    listed = second("list", "quick", "--json")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert list(json.loads(listed.stdout)["groups"]) == ["alpha", "beta"]

    green = second("run", "alpha")
    assert green.returncode == 0, green.stdout + green.stderr
    final = report_of(runs(second.project)[-1])
    assert final["status"] == "passed" and list(final["groups"]) == ["alpha"]

    # budgets: beta's tests sleep past its ceiling; the escalation goes to beta's owner
    whole = second("run", "quick")
    assert whole.returncode == 4, whole.stdout + whole.stderr
    run = runs(second.project)[-1]
    final = report_of(run)
    assert final["status"] == "over_budget" and set(final["groups"]) == {"alpha", "beta"}
    assert [(e["component"], e["target"]) for e in final["escalations"]] == [("team b", "beta")]
    page = (run / "report.html").read_text()
    assert 'id="second"' in page and "groups of this run: alpha, beta" in page

    # report: re-rendered from report.json, the project's own section included
    (run / "report.html").unlink()
    assert second("report", run.name, "--format", "markdown").returncode == 0
    rendered = second("report", run.name, "--format", "html")
    assert rendered.returncode == 0, rendered.stdout + rendered.stderr
    assert 'id="second"' in (run / "report.html").read_text()

    # merge: two shards of the cadence, judged whole
    shards = []
    for index in (1, 2):
        shard = second("run", "quick", "--shard", f"{index}/2")
        assert shard.returncode == 0, shard.stdout + shard.stderr  # budgets wait for the merge
        shards.append(runs(second.project)[-1].name)
    merged = second("merge", *shards)
    assert merged.returncode == 4, merged.stdout + merged.stderr
    run = runs(second.project)[-1]
    final = report_of(run)
    assert "-merged" in run.name and final["totals"]["passed"] == 4
    assert [(e["component"], e["target"]) for e in final["escalations"]] == [("team b", "beta")]
    assert 'id="second"' in (run / "report.html").read_text()
    ledger = [json.loads(line) for line in
              (second.project / "artifacts" / "ledger.jsonl").read_text().splitlines()]
    assert len(ledger) == 5
