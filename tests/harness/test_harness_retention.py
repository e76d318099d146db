"""Retention: the newest K runs, every failing run and every unfinished run survive a prune."""
import json

from harness.runs import retention
from harness.records import runfolder
from harness.config.selectors import RetentionPolicy


def make_run(root, name, status=None, failed=0):
    run = root / name
    run.mkdir(parents=True)
    if status is not None:
        (run / "report.json").write_text(json.dumps({"status": status,
                                                      "totals": {"failed": failed}}))
    return run


def test_prune_keeps_newest_failing_and_incomplete(tmp_path):
    runs = {
        "20260101T000000Z-per_pr": "passed",
        "20260102T000000Z-per_pr": "failed",
        "20260103T000000Z-nightly": None,  # no report.json: crashed or still starting
        "20260104T000000Z-per_pr": "running",
        "20260105T000000Z-weekly": "invalid",
        "20260106T000000Z-per_pr": "interrupted",
        "20260107T000000Z-per_pr": "passed",
        "20260107T000000Z-per_pr-2": "passed",
        "20260108T000000Z-per_pr": "passed",
    }
    for name, status in runs.items():
        make_run(tmp_path, name, status)
    (tmp_path / "ledger.jsonl").write_text("")
    dry = retention.prune(tmp_path, RetentionPolicy(keep_last=2, keep_failing=True), dry_run=True)
    assert len(runfolder.list_runs(tmp_path)) == len(runs)
    decisions = retention.prune(tmp_path, RetentionPolicy(keep_last=2, keep_failing=True))
    assert [(d.run.name, d.keep) for d in decisions] == [(d.run.name, d.keep) for d in dry]
    assert [run.name for run in runfolder.list_runs(tmp_path)] == [
        "20260102T000000Z-per_pr", "20260103T000000Z-nightly", "20260104T000000Z-per_pr",
        "20260105T000000Z-weekly", "20260107T000000Z-per_pr-2", "20260108T000000Z-per_pr"]
    assert (tmp_path / "ledger.jsonl").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".pruning-")]


def test_prune_without_keep_failing(tmp_path):
    make_run(tmp_path, "20260101T000000Z-per_pr", "failed")
    make_run(tmp_path, "20260102T000000Z-per_pr", "passed")
    retention.prune(tmp_path, RetentionPolicy(keep_last=1, keep_failing=False))
    assert [r.name for r in runfolder.list_runs(tmp_path)] == ["20260102T000000Z-per_pr"]


def test_only_the_newest_failing_runs_are_kept_beyond_keep_last(tmp_path):
    for day in range(1, 6):
        make_run(tmp_path, f"2026010{day}T000000Z-per_pr", "over_budget")
    make_run(tmp_path, "20260106T000000Z-per_pr", "running")
    make_run(tmp_path, "20260107T000000Z-per_pr", "passed")
    decisions = retention.prune(tmp_path, RetentionPolicy(keep_last=1, keep_failing=True,
                                                          keep_failing_max=2))
    assert [r.name for r in runfolder.list_runs(tmp_path)] == [
        "20260104T000000Z-per_pr", "20260105T000000Z-per_pr", "20260106T000000Z-per_pr",
        "20260107T000000Z-per_pr"]
    reasons = {d.run.name: d.reason for d in decisions}
    assert reasons["20260103T000000Z-per_pr"] == (
        "failing run (over_budget) beyond the newest 2 kept")
