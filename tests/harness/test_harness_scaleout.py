"""Scale-out: shard planning (balance, determinism, modules kept whole), `harness run --shard`
+ `harness merge` reporting like a serial run, the ledger, and the CUDA opt-in."""
import json
import shutil
import statistics
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
import repo_facts

from harness.records import baselines
from harness.report.types import RunReport
from harness.runs import sharding
from harness.plugin.scaleout import CUDA_SKIP_REASON

REPO = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- planning

def test_parse_spec():
    assert sharding.parse_spec("2/3") == sharding.ShardSpec(2, 3)
    assert sharding.parse_spec(" 1 / 1 ").text == "1/1"
    for bad, why in (("0/2", "between 1 and N"), ("3/2", "between 1 and N"), ("1-2", "I/N"),
                     ("", "I/N"), ("a/b", "I/N")):
        with pytest.raises(ValueError, match=why):
            sharding.parse_spec(bad)


def _ids(layout: dict[str, int]) -> list[str]:
    return [f"tests/suite/{module}::test_{i}" for module, n in layout.items() for i in range(n)]


def test_lpt_keeps_modules_whole_and_balances():
    nodeids = _ids({"a.py": 3, "b.py": 1, "c.py": 2, "d.py": 4, "e.py": 1})
    durations = {n: 10.0 for n in nodeids if "a.py" in n}            # a: 30 s
    durations.update({n: 4.0 for n in nodeids if "d.py" in n})        # d: 16 s
    durations.update({"tests/suite/b.py::test_0": 25.0})              # b: 25 s
    plan = sharding.plan(nodeids, 2, durations)
    fill = statistics.fmean(durations.values())                      # c, e: the mean each
    assert plan.fill_seconds == pytest.approx(fill) and plan.recorded == 8
    # every test exactly once, a module never split, collection order inside a shard
    assert sorted(plan.tests(1) + plan.tests(2)) == sorted(nodeids)
    for shard in plan.shards:
        modules = [unit.module for unit in shard]
        assert modules == sorted(modules)
    owner = {sharding.module_of(n): i for i in (1, 2) for n in plan.tests(i)}
    assert owner["tests/suite/a.py"] != owner["tests/suite/b.py"]    # the two largest split
    assert sum(plan.loads) == pytest.approx(30 + 25 + 16 + 3 * fill)
    assert plan.imbalance < 1.1
    # deterministic: same input, same plan and digest; another assignment, another digest
    again = sharding.plan(list(nodeids), 2, dict(durations))
    assert again == plan and again.digest == plan.digest
    assert sharding.plan(nodeids, 3, durations).digest != plan.digest


def test_lpt_without_any_recording_balances_by_count():
    plan = sharding.plan(_ids({f"m{i}.py": 1 for i in range(7)}), 3, {})
    assert plan.fill_seconds == sharding.UNRECORDED_SECONDS and plan.recorded == 0
    assert sorted(len(plan.tests(i)) for i in (1, 2, 3)) == [2, 2, 3]
    assert plan.describe(2)["spec"] == "2/3" and plan.describe(2)["tests_total"] == 7


def test_plan_states_its_balance_and_warns_when_a_module_outweighs_the_mean():
    nodeids = _ids({"big.py": 2, "a.py": 1, "b.py": 1, "c.py": 1})
    durations = {n: 12.0 for n in nodeids if "big.py" in n}            # big: 24 s, never split
    durations.update({n: 6.0 for n in nodeids if "big.py" not in n})   # a, b, c: 6 s each
    two = sharding.plan(nodeids, 2, durations)                          # 24 vs 18 s
    assert two.describe(2)["balance"] == "largest shard 1 is 1.14x the mean"
    assert two.describe(2)["imbalance"] == 1.143 and two.describe(2)["warning"] is None
    three = sharding.plan(nodeids, 3, durations)                        # 24 vs 12 vs 6 s
    assert three.describe(1)["warning"] == three.describe(3)["warning"] == (
        "shard plan unbalanced: shard 1 is 1.71x the mean (24.0 s vs 14.0 s; tests/suite/big.py "
        "alone is 24.0 s); a test module is never split - use fewer shards")


def test_weekly_shards_of_the_workflow_balance_on_the_recorded_baselines():
    """No shard more than 20 % above the mean: the tests the weekly cadence selects (collected
    as `harness list weekly` does) split into the CI workflow's WEEKLY_SHARDS shards, weighted by
    the committed runtime baselines as `harness run weekly --shard I/N` plans them."""
    count = int(repo_facts.workflow()["env"]["WEEKLY_SHARDS"])
    nodeids = repo_facts.weekly_selection()
    plan = sharding.plan_for(nodeids, count, REPO)
    if not plan.recorded:
        pytest.skip("no runtime baseline committed under baselines/runtime/ yet (record one "
                    "with `harness baseline record weekly --runs 5`)")
    unrecorded = len(nodeids) - plan.recorded
    assert plan.imbalance <= 1.2 and plan.warning is None, (
        f"{count} shards of weekly, loads {[round(load, 1) for load in plan.loads]} s: "
        f"{plan.balance} ({unrecorded} of {len(nodeids)} tests without a recording counted as "
        f"the mean {plan.fill_seconds:.2f} s): change WEEKLY_SHARDS in "
        ".github/workflows/regression.yml, or re-record the baselines if tests were added")


# ---------------------------------------------------------------- run --shard + merge

SCALEOUT_SUITE = {
    "tests/suite/integration/test_workflow.py": '''
import pytest

@pytest.fixture(scope="module")
def trained():
    return {"model": 1}

def test_train(trained):
    assert trained

@pytest.mark.persistent_artifacts
def test_infer(trained, artifact_dir):
    (artifact_dir / "inference.log").write_text("INFO inference done\\n")
''',
    "tests/suite/integration/test_cli.py": "def test_cli_help():\n    pass\n",
    "tests/suite/backend_selection/test_dispatch.py": '''
import pytest

def test_literals():
    pass

@pytest.mark.skip(reason="not on this machine")
def test_gpu_route():
    pass
''',
    "tests/suite/parity/test_parity_ops.py": '''
def test_translate():
    assert 1e-3 < 1e-6, "PARITY-BREACH translate"

def test_forward():
    pass
''',
    "tests/suite/parity/test_parity_models.py": "def test_models():\n    pass\n",
    "tests/suite/model_manager/test_archive.py": "def test_roundtrip():\n    pass\n",
}


# A findings plugin that needs the whole cadence: each group's test count.
GROUP_SIZES = '''
pytest_plugins = ["harness.plugin"]

def pytest_harness_findings(config, report):
    return [{"source": "sizes", "title": "Group sizes", "severity": "warning",
             "items": [f"{name}: {g['counts']['total']} tests, {g['counts']['failed']} failed"
                       for name, g in report["groups"].items()]}]
'''


@pytest.fixture
def sharded(project):
    """The synthetic suite, a findings plugin, the shipped budgets and owners, and a runtime
    baseline for its tests."""
    for relative, text in SCALEOUT_SUITE.items():
        project.write(relative, text)
    project.write("conftest.py", GROUP_SIZES)
    for name in ("budgets.toml", "owners.toml"):
        shutil.copy(REPO / "selectors" / name, project.path / "selectors" / name)
    seconds = {"tests/suite/integration/test_workflow.py::test_train": 30.0,
               "tests/suite/integration/test_workflow.py::test_infer": 6.0,
               "tests/suite/parity/test_parity_ops.py::test_translate": 12.0,
               "tests/suite/parity/test_parity_ops.py::test_forward": 14.0,
               "tests/suite/parity/test_parity_models.py::test_models": 10.0}
    baseline = baselines.record([{"test": seconds}], "weekly", {"machine": "ci-runner"},
                                recorded_utc="2025-10-19T21:58:00Z")
    baselines.write(project.path / "baselines", baseline)
    return project


# findings whose items quote measured seconds or the run id: compared by what they judged
TIMED_FINDINGS = ("budgets", "escalation")


def comparable(data: dict) -> dict:
    """A report without what differs between any two runs: times, run ids, workers, pids. Of
    the budget verdicts and escalations, what was judged and who it goes to."""
    tests = [{k: v for k, v in t.items()
              if k not in ("seconds", "start", "stop", "worker", "timing")}
             for t in data["tests"]]
    groups = {name: {k: v for k, v in g.items() if k not in ("seconds", "span_seconds", "slowest")}
              for name, g in data["groups"].items()}
    pytest_info = {k: data["pytest"].get(k) for k in ("accelerator", "cuda_tests", "shard")}
    findings = [f if f["source"] not in TIMED_FINDINGS else (f["source"], f["title"])
                for f in data["findings"]]
    verdicts = sorted((v["kind"], v["subject"], v["check"])
                      for v in data.get("budgets", {}).get("verdicts", []))
    escalations = [(e["trigger"], e["component"], e["subjects"])
                   for e in data.get("escalations", [])]
    kept = ("status", "exit_code", "selection", "totals", "guardrails", "validation",
            "collection_errors", "crashed_workers", "files", "schema")
    return {**{k: data[k] for k in kept}, "tests": tests, "groups": groups, "pytest": pytest_info,
            "findings": findings, "verdicts": verdicts, "escalations": escalations}


def test_shards_merge_into_the_serial_report(sharded, monkeypatch):
    serial_run = sharded.harness("run", "weekly")
    assert serial_run.returncode == 1, serial_run.stdout + serial_run.stderr
    serial = sharded.report()

    shard_dirs = []
    for spec in ("1/2", "2/2"):
        done = sharded.harness("run", "weekly", "--shard", spec)
        assert done.returncode in (0, 1), done.stdout + done.stderr
        shard_dirs.append(sharded.runs()[-1])
    shards = [sharded.report(run) for run in shard_dirs]
    # (the second shard may start in the first one's second: "...-weekly-shard2of2-2")
    assert [run.name.split("-", 1)[1].removesuffix("-2") for run in shard_dirs] == [
        "weekly-shard1of2", "weekly-shard2of2"]
    # balanced on the baseline: integration/test_workflow.py (36 s) vs the parity modules
    # (26 + 10 s), the unrecorded modules at the mean (14.4 s) each; modules never split
    plans = [data["pytest"]["shard"] for data in shards]
    assert plans[0]["plan"] == plans[1]["plan"] and plans[0]["tests_total"] == 9
    loads = plans[0]["estimated_loads"]
    assert max(loads) / statistics.fmean(loads) < 1.2
    modules = [set(p["modules"]) for p in plans]
    assert not modules[0] & modules[1]
    shard_ids = {t["nodeid"] for d in shards for t in d["tests"]}
    assert shard_ids == {t["nodeid"] for t in serial["tests"]}
    assert all(f["title"] == "Budgets and escalations deferred" for d in shards
               for f in d["findings"])

    # on GitHub Actions the merge job's summary is the merged report.md, after what was there
    summary = sharded.path / "step_summary.md"
    summary.write_text("## an earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    merged_run = sharded.harness("merge", *(str(run) for run in shard_dirs))
    assert merged_run.returncode == 1, merged_run.stdout + merged_run.stderr
    merged_dir = next(run for run in sharded.runs() if "-weekly-merged" in run.name)
    assert summary.read_text() == "## an earlier step\n" + (merged_dir / "report.md").read_text()
    assert str(merged_dir) in merged_run.stdout.replace("\n", "")
    merged = sharded.report(merged_dir)
    assert comparable(merged) == comparable(serial)
    # budgets and escalations were judged on the whole cadence, as in the serial run
    assert {"cadence", "group"} <= {kind for kind, _, _ in comparable(merged)["verdicts"]}
    assert ("parity_breach", "backend implementation",
            ["tests/suite/parity/test_parity_ops.py::test_translate"]) in \
        comparable(merged)["escalations"]
    (sizes,) = [f for f in merged["findings"] if f["source"] == "sizes"]
    assert sizes["items"] == ["integration: 3 tests, 0 failed",
                                              "backend_selection: 2 tests, 0 failed",
                                              "parity: 3 tests, 1 failed",
                                              "model_manager: 1 tests, 0 failed"]
    assert merged["merged_from"] == [run.name for run in shard_dirs]
    assert [s["spec"] for s in merged["shards"]] == ["1/2", "2/2"]
    assert merged["wall_seconds"] == pytest.approx(sum(d["wall_seconds"] for d in shards), abs=0.01)
    assert merged["elapsed_seconds"] == max(d["wall_seconds"] for d in shards)

    # the merged folder is a complete run: logs, kept artifacts, junit, md, html
    assert sharded.harness("validate", str(merged_dir)).returncode == 0
    junit = ElementTree.parse(merged_dir / "junit.xml").getroot()
    assert junit.get("tests") == "9" and junit.get("failures") == "1"
    assert len(junit.findall("testsuite")) == 2 and len(junit.findall(".//testcase")) == 9
    assert "merged from 2 shard runs" in (merged_dir / "report.md").read_text()
    assert "merged from 2 shard runs" in (merged_dir / "report.html").read_text()

    # one ledger line per run; shard lines are marked and left out of the history
    lines = sharded.ledger_lines()
    assert [line.get("shard") for line in lines] == [None, "1/2", "2/2", None]
    assert lines[-1]["merged_from"] == merged["merged_from"] and lines[-1]["cadence"] == "weekly"
    history = sharded.harness("history")
    assert serial["run_id"] in history.stdout and merged["run_id"] in history.stdout
    assert "shard" not in history.stdout


def test_an_unbalanced_plan_is_stated_in_each_shard_and_in_the_merged_report(sharded):
    """One module longer than the mean shard: the plan cannot balance, and the shard runs
    (report.json, pytest.log, report.html) and the merged report (the CI job summary) say so."""
    seconds = {"tests/suite/integration/test_workflow.py::test_train": 60.0}  # the rest: 1 s
    seconds.update({nodeid: 1.0 for nodeid in (
        "tests/suite/integration/test_workflow.py::test_infer",
        "tests/suite/integration/test_cli.py::test_cli_help",
        "tests/suite/backend_selection/test_dispatch.py::test_literals",
        "tests/suite/backend_selection/test_dispatch.py::test_gpu_route",
        "tests/suite/parity/test_parity_ops.py::test_translate",
        "tests/suite/parity/test_parity_ops.py::test_forward",
        "tests/suite/parity/test_parity_models.py::test_models",
        "tests/suite/model_manager/test_archive.py::test_roundtrip")})
    shutil.rmtree(sharded.path / "baselines")
    baselines.write(sharded.path / "baselines", baselines.record(
        [{"test": seconds}], "weekly", {"machine": "ci-runner"}, recorded_utc="2025-10-19T21:58:00Z"))
    warning = ("shard plan unbalanced: shard 1 is 1.79x the mean (61.0 s vs 34.0 s; "
               "tests/suite/integration/test_workflow.py alone is 61.0 s); a test module is never "
               "split - use fewer shards")
    shard_dirs = []
    for spec in ("1/2", "2/2"):
        done = sharded.harness("run", "weekly", "--shard", spec)
        assert done.returncode in (0, 1), done.stdout + done.stderr
        shard_dirs.append(sharded.runs()[-1])
        plan = sharded.report()["pytest"]["shard"]
        assert (plan["imbalance"], plan["warning"]) == (1.794, warning)
        assert f"warning: {warning}" in (shard_dirs[-1] / "pytest.log").read_text()
        page = (shard_dirs[-1] / "report.html").read_text()
        assert "largest shard 1 is 1.79x the mean" in page and warning in page
        summary = (shard_dirs[-1] / "report.md").read_text()
        assert "largest shard 1 is 1.79x the mean" in summary and warning in summary
        assert "shard plan unbalanced: shard 1 is 1.79x" in " ".join(done.stdout.split())
    merged_run = sharded.harness("merge", *(str(run) for run in shard_dirs))
    assert merged_run.returncode == 1, merged_run.stdout + merged_run.stderr
    # by name: a merged run started in a shard run's second sorts before "<stamp>-...-shard"
    (merged_dir,) = [run for run in sharded.runs() if "shard" not in run.name]
    merged = sharded.report(merged_dir)
    (section,) = [f for f in merged["findings"] if f["title"] == "Shard plan unbalanced"]
    assert section["severity"] == "warning" and section["items"][0] == warning
    assert [item.split(":")[0] for item in section["items"][1:]] == ["shard 1/2", "shard 2/2"]
    assert warning in (sharded.runs()[-1] / "report.md").read_text()


BUDGETED_SUITE = {
    "tests/suite/parity/test_a.py": "import time\n\ndef test_a():\n    time.sleep(0.4)\n",
    "tests/suite/parity/test_b.py": "import time\n\ndef test_b():\n    time.sleep(0.4)\n",
    "tests/suite/integration/test_i.py": "def test_i():\n    pass\n",
}
# parity's ceiling holds for each shard's half of the group (0.4 s) but not for the whole
# contention_cores: the other xdist worker's tests must not turn the ceiling into an advisory
BUDGETS = ("[defaults]\nconfirm_reruns = 0\ncontention_cores = 1024\n\n"
           "[groups.parity]\nmax_s = 0.6\nbaseline_s = 0.3\ntolerance_s = 0.1\n")


def test_budgets_are_judged_on_the_merged_view(project):
    for relative, text in BUDGETED_SUITE.items():
        project.write(relative, text)
    project.write("selectors/budgets.toml", BUDGETS)
    shutil.copy(REPO / "selectors" / "owners.toml", project.path / "selectors" / "owners.toml")
    seconds = {"tests/suite/parity/test_a.py::test_a": 10.0,
               "tests/suite/parity/test_b.py::test_b": 10.0}  # LPT puts them in two shards
    baselines.write(project.path / "baselines", baselines.record(
        [{"test": seconds}], "nightly", {"machine": "ci-runner"},
        recorded_utc="2025-10-19T21:58:00Z"))

    def parity_ceiling(data):
        return next(v for v in data["budgets"]["verdicts"]
                    if (v["kind"], v["subject"], v["check"]) == ("group", "parity", "ceiling"))

    assert project.harness("run", "nightly").returncode == 4
    serial = project.report()
    assert parity_ceiling(serial)["status"] == "over_ceiling"
    shard_dirs = []
    for spec in ("1/2", "2/2"):
        done = project.harness("run", "nightly", "--shard", spec)
        assert done.returncode == 0, done.stdout + done.stderr  # a shard alone is within it
        shard_dirs.append(project.runs()[-1])
        assert "budgets" not in project.report(shard_dirs[-1])
    # --reruns 1: the band finding of the merged view is confirmed by re-running parity here
    merged_run = project.harness("merge", "--reruns", "1", *(str(run) for run in shard_dirs))
    assert merged_run.returncode == 4, merged_run.stdout + merged_run.stderr
    merged_dir = next(r for r in project.runs() if "-merged" in r.name)
    merged = project.report(merged_dir)
    assert merged["status"] == "over_budget"
    verdict = parity_ceiling(merged)
    assert verdict["status"] == "over_ceiling" and verdict["measured_s"] >= 0.8
    band = next(v for v in merged["budgets"]["verdicts"]
                if (v["subject"], v["check"]) == ("parity", "band"))
    assert band["status"] == "too_slow" and "confirmed: 2 of 2 runs too_slow" in band["basis"]
    assert [p.name.split("-", 1)[1] for p in (merged_dir / "reruns").iterdir()
            if p.is_dir()] == ["parity-confirm1"]
    assert not (project.runs()[0] / "reruns").exists()  # the serial run: confirm_reruns = 0
    assert [(e["trigger"], e["component"], e["subjects"]) for e in merged["escalations"]] == [
        (e["trigger"], e["component"], e["subjects"]) for e in serial["escalations"]] == [
        ("runtime_budget", "backend implementation", ["parity"])]
    assert merged["run_id"] in merged["escalations"][0]["next_step"] + " ".join(
        merged["escalations"][0]["evidence"])
    # the typed report reads the merged view (merged_from, shards, budgets, escalations) as written
    typed = RunReport.from_json(merged)
    assert json.dumps(typed.to_json()) == json.dumps(merged)
    assert typed.budgets.verdicts and typed.escalations[0].target == "parity"


def test_merge_refuses_incomplete_or_mixed_shards(sharded):
    sharded.harness("run", "weekly", "--shard", "1/2")
    first = sharded.runs()[-1]
    sharded.harness("run", "weekly")
    # by name, not position: a run started in the shard run's second sorts before it
    (serial,) = [run for run in sharded.runs() if "shard" not in run.name]
    for runs, expected in (([first], "missing 2/2"), ([first, first], "1/2 twice"),
                           ([first, serial], "not a shard run")):
        done = sharded.harness("merge", *(str(run) for run in runs))
        assert done.returncode == 2, done.stdout + done.stderr
        assert expected in done.stderr and len(done.stderr.strip().splitlines()) == 1
    sharded.harness("run", "weekly", "--shard", "2/2")
    second = sharded.runs()[-1]
    data = sharded.report(second)
    (second / "report.json").write_text(json.dumps(dict(data, commit="0123abcd")))
    done = sharded.harness("merge", str(first), str(second))
    assert done.returncode == 2 and "commit '0123abcd' differs" in done.stderr, done.stderr
    assert not any("-merged" in run.name for run in sharded.runs())
    bad = sharded.harness("run", "weekly", "--shard", "3/2")
    assert bad.returncode == 2 and "between 1 and N" in bad.stderr


# ---------------------------------------------------------------- CUDA opt-in

CUDA_SUITE = '''
import pytest

def test_cpu_workflow():
    pass

@pytest.mark.cuda
def test_gpu_workflow():
    pass
'''


def test_cuda_variants_are_opt_in(project, monkeypatch):
    project.write("tests/suite/integration/test_variants.py", CUDA_SUITE)
    default = project.harness("run", "integration")
    assert default.returncode == 0, default.stdout + default.stderr
    data = project.report()
    assert data["pytest"]["accelerator"] == "cpu" and data["pytest"]["cuda_tests"] == 1
    assert [t["nodeid"].split("::")[1] for t in data["tests"]] == ["test_cpu_workflow"]
    assert "accelerator cpu" in (project.runs()[-1] / "report.md").read_text()

    monkeypatch.setenv("HARNESS_ACCELERATOR", "cuda")
    opted = project.harness("run", "integration")
    assert opted.returncode == 0, opted.stdout + opted.stderr
    data = project.report()
    gpu = next(t for t in data["tests"] if t["nodeid"].endswith("test_gpu_workflow"))
    assert data["pytest"]["accelerator"] == "cuda"
    import torch

    if torch.cuda.is_available():
        assert gpu["outcome"] == "passed"
    else:
        assert gpu["outcome"] == "skipped" and CUDA_SKIP_REASON in gpu["message"]
        assert CUDA_SKIP_REASON in (project.runs()[-1] / "report.html").read_text()

    monkeypatch.setenv("HARNESS_ACCELERATOR", "tpu")
    wrong = project.harness("run", "integration")
    assert wrong.returncode == 2 and "HARNESS_ACCELERATOR='tpu'" in wrong.stderr
    explicit = project.harness("run", "integration", "--accelerator", "cpu")
    assert explicit.returncode == 0 and project.report()["pytest"]["accelerator"] == "cpu"
