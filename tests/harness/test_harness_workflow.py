""".github/workflows/regression.yml: every cadence runs on its trigger, weekly is sharded over a
matrix the harness accepts and merged from the folders the harness names, every job publishes
its run folder. (PyYAML comes with Lightning.)"""
import argparse
import fnmatch
import re
from pathlib import Path

import yaml

from harness import cli, selectors, sharding

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github" / "workflows" / "regression.yml"


def _workflow() -> dict:
    data = yaml.safe_load(WORKFLOW.read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


def _runs(job: dict) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def test_every_cadence_runs_on_its_trigger():
    data = _workflow()
    jobs = data["jobs"]
    assert "pull_request" in data["on"]
    crons = [entry["cron"] for entry in data["on"]["schedule"]]
    assert "harness run per_pr" in _runs(jobs["per_pr"])
    assert "pull_request" in jobs["per_pr"]["if"]
    assert "harness run nightly" in _runs(jobs["nightly"])
    cadences = set(selectors.load(REPO).cadences)
    assert cadences == {"per_pr", "nightly", "weekly"}
    # each schedule starts exactly one of the scheduled jobs
    for cron in crons:
        starts = [name for name, job in jobs.items() if f"'{cron}'" in job.get("if", "")]
        assert len(starts) == 1, (cron, starts)
    assert f"'{crons[0]}'" in jobs["nightly"]["if"]
    assert f"'{crons[1]}'" in jobs["weekly_shard"]["if"]


def test_weekly_is_sharded_and_merged_with_what_the_harness_accepts():
    data = _workflow()
    shard_job, merge_job = data["jobs"]["weekly_shard"], data["jobs"]["weekly_merge"]
    count = int(data["env"]["WEEKLY_SHARDS"])
    matrix = shard_job["strategy"]["matrix"]["shard"]
    assert matrix == list(range(1, count + 1)) and shard_job["strategy"]["fail-fast"] is False
    command = next(r for r in _runs(shard_job) if r.startswith("harness run weekly"))
    for index in matrix:
        spec = command.replace("${{ matrix.shard }}", str(index)).replace(
            "${{ env.WEEKLY_SHARDS }}", str(count)).split("--shard ")[1]
        assert sharding.parse_spec(spec) == sharding.ShardSpec(index, count)

    upload = next(s for s in shard_job["steps"] if s.get("uses", "").startswith(
        "actions/upload-artifact"))
    download = next(s for s in merge_job["steps"] if s.get("uses", "").startswith(
        "actions/download-artifact"))
    uploaded = upload["with"]["name"].replace("${{ matrix.shard }}", "1")
    assert fnmatch.fnmatch(uploaded, download["with"]["pattern"])
    assert merge_job["needs"] == "weekly_shard" and "always()" in merge_job["if"]

    merge = next(r for r in _runs(merge_job) if r.startswith("harness merge"))
    pattern = merge.replace("${{ env.WEEKLY_SHARDS }}", str(count)).split()[-1]
    # the shard run folder's label, as `harness run` names it
    label, _ = cli._scaleout_args(argparse.Namespace(shard=f"1/{count}", accelerator=None),
                                  "weekly")
    folder = f"shards/{uploaded}/20251019T215800Z-{label}"
    assert fnmatch.fnmatch(folder, pattern), (folder, pattern)


def test_every_job_installs_with_pip_cache_and_uploads_its_run_folder():
    for name, job in _workflow()["jobs"].items():
        uses = {step.get("uses", "").split("@")[0]: step for step in job["steps"]}
        assert uses["actions/setup-python"]["with"]["cache"] == "pip", name
        assert 'pip install -e ".[dev]"' in _runs(job), name
        upload = uses["actions/upload-artifact"]
        assert upload["if"] == "always()" and upload["with"]["path"] == "artifacts/", name
        assert re.fullmatch(r"[A-Za-z0-9_-]+(\$\{\{ matrix\.shard \}\})?", upload["with"]["name"])
