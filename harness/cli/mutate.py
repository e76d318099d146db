"""`harness mutate [COMPONENT ...] [--shard I/N] [-n N] [--list] [--merge RUN ...]`.

A run writes a run folder `<root>/<stamp>-mutation[-shardIofN]/` like a cadence run:
report.json (status `running` at once, atomically replaced at the end; its `mutation` section
holds per-component scores and every mutant), report.md, report.html and one ledger line with
the scores (`mutation`), so `harness history --cadence mutation` shows their trend.

Shards: the mutants of the selected components are split with harness.sharding's LPT planner
(every mutant a unit, weighted by its component's `mutant_seconds`), so each CI matrix job
computes the same plan from the checkout; `harness mutate --merge RUN...` joins the shard runs
into one run (scores over all mutants, one ledger line that counts). Exit codes as for a
cadence: 0 every target met, 4 a component below its target, 2 usage / configuration error or
a component whose tests fail unmutated, 130 interrupted.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from harness.config import components as mconfig
from harness.config import selectors
from harness.measure import environment
from harness.records import ledger, runfolder
from harness.report import model as report
from harness.report import mutation as render
from harness.runs import finish as finishing
from harness.runs import mutation as engine
from harness.runs import sharding
from harness.verdicts import mutation as score

LABEL = "mutation"


def warn(message: str) -> None:
    """One line for what failed after the run's report was safe (report.html, ledger)."""
    print(f"harness mutate: {message}", file=sys.stderr)


class MutateProblem(Exception):
    """Bad input to `harness mutate` (one error line, exit 2)."""


def _tool_version() -> str:
    from importlib import metadata

    try:
        return f"cosmic-ray {metadata.version('cosmic-ray')}"
    except metadata.PackageNotFoundError:
        return "cosmic-ray (version unknown)"


def plan_mutants(mutants: list[engine.Mutant], components: dict[str, mconfig.Component],
                 count: int) -> sharding.Plan:
    durations = {m.id: components[m.component].mutant_seconds for m in mutants}
    return sharding.plan([m.id for m in mutants], count, durations)


def _report(*, run_id: str, status: str, started: str, wall: float, env: dict,
            names: list[str], workers: int, shard: dict | None, mutation: dict,
            found: list[dict], escalations: list[dict]) -> dict[str, Any]:
    """report.json of a mutation run: the keys every run has (no test groups: the tests ran
    once per mutant, inside `mutation`), the findings, escalations and `mutation`."""
    fingerprint = environment.fingerprint(env)
    data = {
        "schema": report.SCHEMA_VERSION, "run_id": run_id, "status": status,
        "exit_code": report.exit_code(status),
        "selection": {"label": LABEL, "targets": names, "groups": []},
        "started_utc": started, "finished_utc": runfolder.utc_iso(), "wall_seconds": round(wall, 3),
        "commit": env.get("git", {}).get("commit"), "environment": env,
        "fingerprint": fingerprint, "fingerprint_hash": environment.fingerprint_hash(fingerprint),
        "pytest": {"args": [], "exitstatus": None, "workers": 0, "threads_per_worker":
                   mutation.get("threads"), "shard": shard},
        "totals": {**report.counts([]), "not_run": 0}, "guardrails": {}, "groups": {},
        "tests": [], "validation": {"checked": 0, "failures": []}, "collection_errors": [],
        "crashed_workers": [], "findings": [],
        "files": {"markdown": runfolder.REPORT_MD, "html": "report.html"},
    }
    report.apply_findings(data, found)
    if status not in ("passed", "over_budget"):   # apply_findings never lowers a status
        data["status"], data["exit_code"] = status, report.exit_code(status)
    data["escalations"] = escalations
    data["mutation"] = mutation
    return data


def finish(ctx_root: Path, artifacts: Path, run_dir: Path, cfg: mconfig.MutationConfig,
           retention: selectors.RetentionPolicy,
           names: list[str], mutants: list[dict], baselines: dict[str, dict], *, started: str,
           wall: float, workers: int, shard: dict | None, merged_from: list[str] | None = None,
           interrupted: bool = False) -> dict:
    """Score, write report.json / report.md / report.html, append the ledger line."""
    stale = score.mark_equivalents(mutants, cfg.equivalents)
    if shard is not None or interrupted:
        stale = []      # a part of the mutants: an unmatched entry may match in another part
    summary = {name: score.component_summary(cfg.components[name],
                                             [m for m in mutants if m["component"] == name],
                                             baselines.get(name))
               for name in names}
    errors = [m for m in mutants if m["outcome"] == score.ERROR]
    status = "interrupted" if interrupted else score.status_of(summary, errors)
    found = score.findings(summary, mutants, stale, errors)
    escalations = score.escalations(cfg, summary, mutants, str(run_dir))
    if shard is not None and not interrupted:
        # a shard holds part of each component's mutants: targets, findings and escalations
        # are judged on the merged run (`harness mutate --merge`), as budgets are for cadences
        status, found, escalations = "passed", [], []
    mutation = {"tool": _tool_version(), "operators": list(cfg.settings.operators),
                "threads": cfg.settings.threads, "workers": workers, "components": summary, "mutants": mutants}
    if merged_from:
        mutation["merged_from"] = merged_from
    if shard is None:
        mutation["trend"] = _trend(artifacts, summary)
    data = _report(run_id=run_dir.name, status=status, started=started, wall=wall,
                   env=environment.collect(ctx_root), names=names, workers=workers, shard=shard,
                   mutation=mutation, found=found, escalations=escalations)
    if merged_from:
        data["merged_from"] = merged_from
    runfolder.write_atomic(run_dir / runfolder.JUNIT_XML, junit_xml(mutants, wall))
    data["files"]["junit"] = runfolder.JUNIT_XML
    finishing.write_reports(run_dir, data, warn)
    finishing.record(artifacts, data, retention, warn)
    return data


def _trend(artifacts: Path, summary: dict[str, dict]) -> dict[str, list]:
    """Each component's score in the earlier ledger lines of mutation runs (shard lines left
    out: their merged run stands for them), then this run's: the trend the reports show."""
    entries, _ = ledger.read(artifacts / runfolder.LEDGER)
    earlier = [e for e in entries if e.get("cadence") == LABEL and not e.get("shard")]
    return {name: [*render.trend(earlier, name, render.TREND_RUNS - 1), comp["score"]]
            for name, comp in summary.items()}


def junit_xml(mutants: list[dict], wall: float) -> str:
    """One <testcase> per mutant (classname: its component) for CI test reporters: a survivor
    is a <failure> carrying its diff, an equivalent one <skipped> with the reason, an untestable
    one an <error>; killed and timed-out mutants pass (the suite noticed them)."""
    import xml.etree.ElementTree as ElementTree

    suite = ElementTree.Element("testsuite", name=LABEL, tests=str(len(mutants)),
                                time=f"{wall:.3f}")
    counts = {"failures": 0, "errors": 0, "skipped": 0}
    for mutant in mutants:
        case = ElementTree.SubElement(suite, "testcase", classname=mutant["component"],
                                      name=f"{mutant['id']} ({mutant['file']}:{mutant['line']})",
                                      time=f"{mutant['seconds']:.3f}")
        if mutant["outcome"] == score.SURVIVED and mutant.get("equivalent"):
            ElementTree.SubElement(case, "skipped", message=f"equivalent: {mutant['equivalent']}")
            counts["skipped"] += 1
        elif mutant["outcome"] == score.SURVIVED:
            failure = ElementTree.SubElement(case, "failure", message="mutant survived: no "
                                             "guarding test failed")
            failure.text = mutant.get("diff", "")
            counts["failures"] += 1
        elif mutant["outcome"] == score.ERROR:
            ElementTree.SubElement(case, "error", message=str(mutant.get("killed_by")))
            counts["errors"] += 1
    suite.attrib.update({key: str(value) for key, value in counts.items()})
    return ElementTree.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def _line(result: engine.Result, equivalents) -> str:
    record = result.as_dict()
    score.mark_equivalents([record], equivalents)  # a listed survivor is no finding: say so live
    tag = ("[dim]survived, equivalent[/]" if record.get("equivalent") else
           {"killed": "[green]killed[/]", "survived": "[red]SURVIVED[/]",
            "timed_out": "[yellow]timed out[/]", "error": "[red]error[/]"}[result.outcome])
    return f"{tag} {result.mutant.where} {result.mutant.operator} ({result.seconds:.1f} s)"


def run(args, console, project_root: Path, artifacts: Path, cfg: mconfig.MutationConfig,
        retention: selectors.RetentionPolicy) -> int:
    chosen = mconfig.select(cfg, args.components)
    components = {c.name: c for c in chosen}
    mutants = [m for c in chosen for m in engine.enumerate_mutants(project_root, c, cfg.settings)]
    shard = None
    if args.shard:
        try:
            spec = sharding.parse_spec(args.shard)
        except ValueError as exc:
            raise MutateProblem(f"--shard: {exc}") from None
        plan = plan_mutants(mutants, components, spec.count)
        wanted = set(plan.tests(spec.index))
        mutants = [m for m in mutants if m.id in wanted]
        shard = plan.describe(spec.index)
        shard["modules"] = []   # every mutant is a unit: the ids are in mutation.mutants
    if args.list:
        for c in chosen:
            mine = [m for m in mutants if m.component == c.name]
            console.print(f"{c.name}: {len(mine)} mutants in {', '.join(c.paths)}; tests "
                          f"{' '.join(c.test_targets(cfg.harness))}", highlight=False)
        return 0
    targets = {c.name: c.test_targets(cfg.harness) for c in chosen}
    if args.workers is not None and args.workers < 1:
        raise MutateProblem(f"--workers {args.workers}: must be >= 1")
    workers = args.workers or cfg.settings.workers
    label = LABEL if shard is None else f"{LABEL}-shard{shard['index']}of{shard['count']}"
    run_dir = runfolder.create_run_folder(artifacts, label)
    started, start = runfolder.utc_iso(), time.monotonic()
    runfolder.write_json_atomic(run_dir / runfolder.REPORT_JSON, {
        "schema": report.SCHEMA_VERSION, "run_id": run_dir.name, "status": "running",
        "selection": {"label": LABEL, "targets": list(components), "groups": []}})
    console.print(f"harness mutate: {len(mutants)} mutants of {', '.join(components)} "
                  f"({workers} workers, {cfg.settings.threads} thread(s) each) -> {run_dir}",
                  highlight=False)
    done = [0]

    def progress(kind: str, item) -> None:
        if kind == "baseline":
            console.print(f"  {item.component}: unmutated tests {item.seconds:.1f} s, timeout "
                          f"{item.timeout_s:.0f} s", highlight=False)
            return
        done[0] += 1
        if args.verbose or item.outcome != score.KILLED:
            console.print(f"  [{done[0]}/{len(mutants)}] {_line(item, cfg.equivalents)}",
                          highlight=False)

    results: list[engine.Result] = []
    interrupted = False
    try:
        baselines, results = engine.run_all(project_root, components, targets, mutants,
                                            cfg.settings, workers, exclude=[artifacts],
                                            progress=progress)
    except engine.BaselineFailed as exc:
        data = {"schema": report.SCHEMA_VERSION, "run_id": run_dir.name, "status": "error",
                "exit_code": report.exit_code("error"), "selection": {
                    "label": LABEL, "targets": list(components), "groups": []},
                "error": str(exc)}
        runfolder.write_json_atomic(run_dir / runfolder.REPORT_JSON, data)
        raise MutateProblem(str(exc)) from None
    except KeyboardInterrupt:
        interrupted, baselines = True, {}
    records = [r.as_dict() for r in results]
    data = finish(project_root, artifacts, run_dir, cfg, retention, list(components), records,
                  {n: {"seconds": round(b.seconds, 3), "timeout_s": round(b.timeout_s, 1),
                       "command": b.command[1:]} for n, b in baselines.items()},
                  started=started, wall=time.monotonic() - start, workers=workers, shard=shard,
                  interrupted=interrupted)
    _summary(console, data, run_dir)
    return data["exit_code"]


def merge(args, console, project_root: Path, artifacts: Path, cfg: mconfig.MutationConfig,
          retention: selectors.RetentionPolicy) -> int:
    parts = []
    for name in args.merge:
        try:
            run_dir = runfolder.find_run(artifacts, name)
        except FileNotFoundError as exc:
            raise MutateProblem(str(exc)) from None
        data = runfolder.read_report(run_dir)
        shard = (data or {}).get("pytest", {}).get("shard") if data else None
        if not runfolder.is_complete(data) or "mutation" not in data or not shard:
            raise MutateProblem(f"{run_dir}: not a finished mutation shard run (run "
                                "`harness mutate --shard I/N` for every shard first)")
        parts.append((run_dir, data, shard))
    plans = {shard["plan"] for _, _, shard in parts}
    count = parts[0][2]["count"]
    indexes = sorted(shard["index"] for _, _, shard in parts)
    if len(plans) != 1 or indexes != list(range(1, count + 1)):
        raise MutateProblem(f"shards {indexes} of plans {sorted(plans)}: need each of 1..{count} "
                            "once, all of one plan (same checkout, components and shard count)")
    names = list(dict.fromkeys(n for _, d, _ in parts for n in d["selection"]["targets"]))
    mutants = [dict(m, equivalent=None) for _, d, _ in parts for m in d["mutation"]["mutants"]]
    baselines = {}
    for _, d, _ in parts:
        for name, comp in d["mutation"]["components"].items():
            if comp.get("baseline"):
                baselines.setdefault(name, comp["baseline"])
    run_dir = runfolder.create_run_folder(artifacts, LABEL)
    data = finish(project_root, artifacts, run_dir, cfg, retention, names, mutants, baselines,
                  started=min(d["started_utc"] for _, d, _ in parts),
                  wall=sum(d["wall_seconds"] for _, d, _ in parts),
                  workers=max(d["mutation"].get("workers", 1) for _, d, _ in parts), shard=None,
                  merged_from=[d["run_id"] for _, d, _ in parts])
    _summary(console, data, run_dir)
    return data["exit_code"]


def _summary(console, data: dict, run_dir: Path) -> None:
    console.print(render.rich_table(data))
    console.print(f"{data['status']} (exit {data['exit_code']}) · run folder: {run_dir}",
                  highlight=False)


def cmd_mutate(args, console) -> int:
    project_root = selectors.find_project_root(Path.cwd())
    settings = selectors.load(project_root)
    artifacts = runfolder.resolve_root(project_root, settings.artifacts_root,
                                       getattr(args, "harness_artifacts", None), Path.cwd())
    cfg = mconfig.load(project_root, settings)
    try:
        if args.merge:
            if args.components or args.shard or args.list:
                raise MutateProblem("--merge takes shard run folders only (no components, "
                                    "--shard or --list)")
            return merge(args, console, project_root, artifacts, cfg, settings.retention)
        return run(args, console, project_root, artifacts, cfg, settings.retention)
    except MutateProblem as exc:
        raise selectors.ConfigError(str(exc)) from None


def add_parser(commands, common) -> None:
    """Register `harness mutate` on the CLI's subcommands."""
    mutate = commands.add_parser(
        "mutate", parents=[common],
        help="mutation score per component: mutate the guarded modules, run their tests")
    mutate.add_argument("components", nargs="*", metavar="COMPONENT",
                        help="components of selectors/components.toml (default: all)")
    mutate.add_argument("-n", "--workers", type=int, metavar="N",
                        help="mutants tested in parallel, each in its own scratch copy "
                             "(default: [settings] workers)")
    mutate.add_argument("--shard", metavar="I/N", help="test part I of N of the mutants "
                                                       "(join the parts with --merge)")
    mutate.add_argument("--merge", nargs="+", metavar="RUN",
                        help="join mutation shard runs into one run")
    mutate.add_argument("--list", action="store_true",
                        help="show the components, their mutant counts and tests; run nothing")
    mutate.add_argument("-v", "--verbose", action="store_true", help="print every mutant")
    mutate.set_defaults(handler=cmd_mutate)
