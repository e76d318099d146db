"""`harness merge RUN...`: join the shard runs of one cadence into one run folder.

The shards (`harness run CADENCE --shard I/N`, one CI matrix job each) must be complete runs of
the same targets and accelerator, of one plan (harness.runs.sharding: same digest, so the same
tests were split the same way) and together cover 1..N exactly once. The merged folder
`<UTC stamp>-<cadence>-merged/` holds what a serial run of the cadence would have written:
report.json built by harness.report.model from all shards' test records (groups, totals, status,
validation), the shards' logs/ and tests/ copied in (the report's paths stay valid),
junit.xml with each shard's <testsuite>, report.md, report.html and one ledger line.

Ledger: shard runs write lines marked `shard: "I/N"`, which `harness history` and the trend
charts skip; the merged run's line (with `merged_from`) is the one that counts. Budgets and
escalations are not judged in shards (a shard holds part of each group): the merged report is
judged whole by the same `pytest_harness_findings` hook as a serial run, called in a pytest
process that collects nothing (`hook_findings`; this module is its plugin), so every findings
plugin of the project takes part exactly as in `harness run`.

Times: a test keeps its own seconds, so group times are the sums a serial run would report;
`wall_seconds` is the sum of the shards' wall times (the cadence's total work, comparable with
a serial run and its baseline) and `elapsed_seconds` the longest shard (what CI waited for).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Callable

from harness.config import selectors
from harness.records import runfolder
from harness.report import model as report
from harness.report.types import RunReport
from harness.runs import finish, pytest_process

MERGED_SUFFIX = "merged"
FINDINGS_INPUT = ".findings-input.json"
FINDINGS_OUTPUT = ".findings-output.json"
# (merged report, its run folder) -> (finding sections, report.html sections)
ProjectHooks = Callable[[dict, Path], tuple[list[dict], list[str]]]


class MergeError(Exception):
    """Shard runs that cannot be merged; the message names the run folder and the fix."""


def load_shards(run_dirs: list[Path]) -> list[tuple[Path, dict]]:
    """(folder, report) per shard, ordered by shard index, after every consistency check."""
    if not run_dirs:
        raise MergeError("no run folders given (pass the shard runs: harness merge RUN RUN...)")
    shards = []
    for run_dir in run_dirs:
        data = runfolder.read_report(run_dir)
        if not runfolder.is_complete(data):
            raise MergeError(f"{run_dir}: no finished report.json (the shard run is missing, "
                             "crashed or still running; re-run that shard)")
        if not (data.get("pytest") or {}).get("shard"):
            raise MergeError(f"{run_dir}: not a shard run (report.json has no pytest.shard; "
                             "shards come from `harness run CADENCE --shard I/N`)")
        shards.append((Path(run_dir), data))
    first_dir, first = shards[0]
    plan = first["pytest"]["shard"]
    for run_dir, data in shards[1:]:
        for what, mine, theirs in (
                ("targets", data["selection"]["targets"], first["selection"]["targets"]),
                ("accelerator", data["pytest"].get("accelerator"),
                 first["pytest"].get("accelerator")),
                ("commit", data.get("commit"), first.get("commit")),
                ("shard count", data["pytest"]["shard"]["count"], plan["count"]),
                ("plan", data["pytest"]["shard"]["plan"], plan["plan"])):
            if mine != theirs:
                raise MergeError(f"{run_dir}: {what} {mine!r} differs from {first_dir.name}'s "
                                 f"{theirs!r} (merge only the shards of one `harness run "
                                 "--shard` matrix: same commit, cadence and baselines)")
    shards.sort(key=lambda pair: pair[1]["pytest"]["shard"]["index"])
    indices = [data["pytest"]["shard"]["index"] for _, data in shards]
    expected = list(range(1, plan["count"] + 1))
    if indices != expected:
        count = plan["count"]
        missing = [f"{i}/{count}" for i in expected if i not in indices]
        doubled = [f"{i}/{count} twice" for i in sorted(set(indices)) if indices.count(i) > 1]
        given = ", ".join(f"{i}/{count}" for i in indices)
        problems = "; ".join(([f"missing {', '.join(missing)}"] if missing else []) + doubled)
        raise MergeError(f"shards {given} given: {problems} (pass each shard run exactly once)")
    seen: dict[str, str] = {}
    for run_dir, data in shards:
        for test in data["tests"]:
            if test["nodeid"] in seen:
                raise MergeError(f"{run_dir}: {test['nodeid']} also ran in {seen[test['nodeid']]} "
                                 "(the shards were not cut from one plan)")
            seen[test["nodeid"]] = run_dir.name
    return shards


def merged_report(shards: list[tuple[Path, dict]], run_id: str,
                  settings: selectors.HarnessConfig) -> dict:
    """report.json's dict for the merged run (findings not yet applied)."""
    reports = [RunReport.from_json(data) for _, data in shards]
    first = reports[0]
    selection = settings.resolve(first.selection.targets)
    tests = [test for data in reports for test in data.tests]
    collection_errors, seen = [], set()
    for data in reports:
        for error in data.collection_errors:
            key = (error.get("nodeid"), error.get("message"))
            if key not in seen:
                seen.add(key)
                collection_errors.append(error)
    crashed = [f"shard {data.pytest['shard']['spec']}: {worker}"
               for data in reports for worker in data.crashed_workers]
    status = report.decide_status(
        tests=tests, collection_errors=collection_errors,
        interrupted=any(data.status == "interrupted" for data in reports),
        internal_error=any(data.status == "error" and not data.collection_errors
                           for data in reports))
    pytest_info = {key: value for key, value in first.pytest.items()
                   if key not in ("pid", "exitstatus", "args", "shard")}
    pytest_info.update(args=[], exitstatus=None, pid=None, shard=None,
                       workers=max(int(d.pytest.get("workers") or 0) for d in reports))
    collected = sum(d.totals.total + (d.totals.not_run or 0) for d in reports)
    merged = report.build(
        run_id=run_id, selection=selection, config=settings, tests=tests,
        collection_errors=collection_errors, status=status,
        started_utc=min(d.started_utc for d in reports),
        finished_utc=max(d.finished_utc or "" for d in reports) or None,
        wall_seconds=sum(float(d.wall_seconds or 0) for d in reports),
        environment=first.environment, fingerprint=first.fingerprint,
        fingerprint_hash=first.fingerprint_hash, pytest_info=pytest_info,
        collected=collected, crashed_workers=crashed)
    merged["elapsed_seconds"] = max(float(d.wall_seconds or 0) for d in reports)
    merged["merged_from"] = [run_dir.name for run_dir, _ in shards]
    merged["shards"] = [{"run_id": run_dir.name, "spec": data.pytest["shard"]["spec"],
                         "status": data.status, "wall_seconds": data.wall_seconds,
                         "tests": data.totals.total,
                         "estimated_seconds": data.pytest["shard"].get("estimated_seconds"),
                         "fingerprint_hash": data.fingerprint_hash, "commit": data.commit}
                        for (run_dir, _), data in zip(shards, reports)]
    return merged


def plan_findings(shards: list[tuple[Path, dict]]) -> list[dict]:
    """A warning section when the shards' plan was lopsided (harness.runs.sharding.Plan.warning): the
    merged run's report.md is the CI job summary, where whoever sizes the matrix looks."""
    # one plan: load_shards checked the digests
    warning = report.shard_warning(RunReport.from_json(shards[0][1]))
    if not warning:
        return []
    ran = [f"shard {data['pytest']['shard']['spec']}: estimated "
           f"{data['pytest']['shard']['estimated_seconds']:.1f} s, ran "
           f"{float(data.get('wall_seconds') or 0):.1f} s wall" for _, data in shards]
    return [{"source": "harness", "title": "Shard plan unbalanced", "severity": "warning",
             "items": [warning, *ran]}]


def _copy_tree(source: Path, target: Path) -> None:
    """Copy a shard's logs/ or tests/ into the merged run; two shards never write one path."""
    if not source.is_dir():
        return
    for path in sorted(source.rglob("*")):
        destination = target / path.relative_to(source)
        if path.is_dir():
            destination.mkdir(parents=True, exist_ok=True)
        elif destination.exists():
            raise MergeError(f"{path}: {destination.relative_to(target.parent)} already came "
                             "from another shard (the shards overlap)")
        else:
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)


def merge_junit(shards: list[tuple[Path, dict]], target: Path) -> None:
    """One <testsuites> holding each shard's <testsuite> (named pytest[shard I/N]) and the
    summed counts; a shard without a readable junit.xml is an error."""
    suites = ElementTree.Element("testsuites", name="pytest tests")
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    seconds = 0.0
    for run_dir, data in shards:
        path = run_dir / runfolder.JUNIT_XML
        try:
            root = ElementTree.parse(path).getroot()
        except (OSError, ElementTree.ParseError) as exc:
            raise MergeError(f"{path}: unreadable junit.xml ({exc}); re-run that shard") from None
        for suite in ([root] if root.tag == "testsuite" else root.findall("testsuite")):
            spec = data["pytest"]["shard"]["spec"]
            suite.set("name", f"{suite.get('name', 'pytest')}[shard {spec}]")
            for key in totals:
                totals[key] += int(suite.get(key, 0) or 0)
            seconds += float(suite.get("time", 0) or 0)
            suites.append(suite)
    for key, value in totals.items():
        suites.set(key, str(value))
    suites.set("time", f"{seconds:.3f}")
    ElementTree.indent(suites)
    runfolder.write_atomic(target, ElementTree.tostring(suites, encoding="unicode",
                                                        xml_declaration=True) + "\n")


def merge(run_dirs: list[Path], artifacts_root: Path, settings: selectors.HarnessConfig,
          hooks: ProjectHooks | None = None) -> tuple[Path, dict]:
    """Write the merged run folder; returns (folder, report). `hooks(report, run_dir)` returns
    the finding sections of the merged view (budgets, escalations) and the project's
    report.html sections: hook_findings."""
    shards = load_shards([Path(d) for d in run_dirs])
    label = shards[0][1]["selection"]["label"]
    run_dir = runfolder.create_run_folder(artifacts_root, f"{label}-{MERGED_SUFFIX}")
    try:
        for shard_dir, _ in shards:
            _copy_tree(shard_dir / runfolder.LOGS_DIR, run_dir / runfolder.LOGS_DIR)
            _copy_tree(shard_dir / runfolder.TESTS_DIR, run_dir / runfolder.TESTS_DIR)
        merge_junit(shards, run_dir / runfolder.JUNIT_XML)
        final = merged_report(shards, run_dir.name, settings)
        findings, html_sections = hooks(final, run_dir) if hooks else ([], [])
        report.apply_findings(final, findings + plan_findings(shards))
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)  # nothing half-merged looks like a run
        raise

    def warn(message: str) -> None:
        print(f"harness: {message}", file=sys.stderr)

    runfolder.write_atomic(run_dir / runfolder.EVENTS, "")
    finish.write_reports(run_dir, final, warn, html_sections)
    finish.record(artifacts_root, final, settings.retention, warn)
    return run_dir, final


# ---------------------------------------------------------------- the project's hooks

def _hook_process(project_root: Path, final: dict, run_dir: Path, option: str,
                  extra: list[str]) -> dict:
    """Runs `pytest -p harness.plugin --collect-only OPTION=FILE --harness-run TARGETS` in
    `project_root` on `final` (written to FILE in the run folder); the plugin
    (harness.plugin.findings) calls the project's hooks and writes what they returned back:
    {"findings": [...], "html_sections": [...]}."""
    source, target = Path(run_dir) / FINDINGS_INPUT, Path(run_dir) / FINDINGS_OUTPUT
    runfolder.write_json_atomic(source, final)
    command = pytest_process.pytest_command(
        "--collect-only", *pytest_process.QUIET, rootdir=project_root,
        targets=final["selection"]["targets"], extra=[f"{option}={source}", *extra])
    if final["pytest"].get("accelerator"):
        command += ["--accelerator", final["pytest"]["accelerator"]]
    try:
        done = subprocess.run(command, cwd=project_root, capture_output=True, text=True)
        try:
            return json.loads(target.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
            raise MergeError(f"the harness hooks did not run (pytest exit {done.returncode}: "
                             f"{(lines or ['no output'])[-1]})") from None
    finally:
        source.unlink(missing_ok=True)
        target.unlink(missing_ok=True)


def hook_findings(project_root: Path, reruns: int | None = None) -> ProjectHooks:
    """The `hooks` callable for merge(): pytest_harness_findings (budgets, escalations) and
    pytest_harness_html_sections on the merged report, in a pytest process of the project.
    `reruns`: confirmation re-runs of band/floor findings (`--harness-reruns`; None: the
    configured default, as in a serial run - they run the groups concerned here)."""
    def hooks(merged: dict, run_dir: Path) -> tuple[list[dict], list[str]]:
        extra = [] if reruns is None else [f"--harness-reruns={reruns}"]
        done = _hook_process(project_root, merged, run_dir, "--harness-findings-of", extra)
        return done["findings"], done["html_sections"]
    return hooks


def html_sections_of(project_root: Path, final: dict, run_dir: Path) -> list[str]:
    """The project's report.html sections of a finished run (`harness report --format html`)."""
    return _hook_process(project_root, final, run_dir, "--harness-html-of", [])["html_sections"]
