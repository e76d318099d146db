"""`harness` (also `python -m harness`): list, run, report, validate, check-ckpt, baseline,
history, prune, merge, brief, compare.

`harness run` forks its pytest process (`pytest -p harness.plugin --harness-run ...`, in the
project root, in its own session; see harness/pytest_process.py): the CLI stays free of test
imports, the test process can be interrupted cleanly, and its output goes to <run>/pytest.log
while the CLI shows live progress from <run>/events.jsonl. Exit codes: see EXIT_CODES in
harness/report.py (0 green, 1 test failures, 2 usage/config/collection error, 3 artifact
validation failures, 4 budget findings only, 5 nothing selected, 130 interrupted).
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness import (export, ledger, pytest_process, report, retention, runfolder, selectors,
                     validators)
from harness.pytest_process import START_METHODS

USAGE_ERROR = report.EXIT_CODES["error"]
VALIDATION_FAILED = report.EXIT_CODES["invalid"]
INTERRUPTED = report.EXIT_CODES["interrupted"]
_POLL_S = 0.1


class UsageProblem(Exception):
    """Bad input to the CLI: printed as one `error: ...` line, exit 2."""


@dataclass
class Context:
    project_root: Path
    settings: selectors.HarnessConfig
    artifacts: Path


def _context(args) -> Context:
    root = selectors.find_project_root(Path.cwd())
    settings = selectors.load(root)
    artifacts = runfolder.resolve_root(root, settings.artifacts_root,
                                       getattr(args, "harness_artifacts", None), Path.cwd())
    return Context(root, settings, artifacts)


PLUGIN_ARGS = ["-p", "harness.plugin"]


def _pytest_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", *PLUGIN_ARGS, *args]


# -- list -------------------------------------------------------------------------------------
def _print_json(document) -> None:
    print(json.dumps(document, indent=2, default=str))


def _list_json(ctx: Context, selection: selectors.Selection, collect: bool) -> int:
    """`harness list --json`: groups, cadences and (unless --no-collect) the selected ids."""
    settings = ctx.settings
    document = {
        "groups": {name: {"owner": g.owner, "description": g.description,
                          "cadences": list(g.cadences), "marker": g.marker,
                          "paths": list(g.paths), "node_ids": list(g.node_ids),
                          "selected": name in selection.groups,
                          "guardrails": report.guardrails_text(g.budget) or None}
                   for name, g in settings.groups.items()},
        "cadences": {name: {"description": c.description,
                            "groups": [g for g, group in settings.groups.items()
                                       if name in group.cadences],
                            "persistent_artifacts": c.persistent_artifacts,
                            "guardrails": report.guardrails_text(c.budget) or None}
                     for name, c in settings.cadences.items()},
    }
    errors = []
    if collect:
        listing = _collect(ctx, selection)
        errors = [error["message"] for error in listing["errors"]]
        document["tests"] = [{"nodeid": t["nodeid"], "group": t["group"]} for t in listing["tests"]]
        document["errors"] = errors
    _print_json(document)
    return USAGE_ERROR if errors else 0


def cmd_list(args, console: Console) -> int:
    ctx = _context(args)
    settings = ctx.settings
    targets = args.targets or list(settings.groups)
    selection = settings.resolve(targets)
    if args.json:
        return _list_json(ctx, selection, not args.no_collect)
    groups = Table(title="selector groups")
    for column in ("group", "owner", "cadences", "selection", "guardrails"):
        groups.add_column(column, no_wrap=column in ("group", "selection", "guardrails"))
    for name, group in settings.groups.items():
        chosen = name in selection.groups
        picks = [f"marker {group.marker}"] if group.marker else []
        picks += [f"path {p}/" for p in group.paths] + [f"id {n}" for n in group.node_ids]
        groups.add_row(f"[bold]{name}[/]" if chosen else f"[dim]{name}[/]", group.owner,
                       ", ".join(group.cadences), escape("\n".join(picks)),
                       escape(report.guardrails_text(group.budget, "\n") or "-"))
    console.print(groups)
    cadences = Table(title="cadences")
    for column in ("cadence", "groups", "persistent artifacts", "guardrails", "description"):
        cadences.add_column(column)
    for name, cadence in settings.cadences.items():
        members = [g.name for g in settings.groups.values() if name in g.cadences]
        cadences.add_row(name, ", ".join(members), "yes" if cadence.persistent_artifacts else "no",
                         escape(report.guardrails_text(cadence.budget, "\n") or "-"),
                         escape(cadence.description))
    console.print(cadences)
    if args.no_collect:
        return 0
    listing = _collect(ctx, selection)
    for error in listing["errors"]:
        console.print(f"[red]collection error[/] {escape(error['message'])}", highlight=False)
    by_group: dict[str, list[str]] = {name: [] for name in selection.groups}
    for test in listing["tests"]:
        by_group.setdefault(test["group"] or "?", []).append(test["nodeid"])
    # the same lookup as the group and cadence guardrails: a [tests."<node id or glob>"] entry
    guardrails = selectors.guardrails_of(ctx.project_root)
    for name, ids in by_group.items():
        description = settings.groups[name].description if name in settings.groups else ""
        console.print(f"[bold]{name}[/] ({len(ids)} test{'s' if len(ids) != 1 else ''}): "
                      f"{escape(description)}", highlight=False)
        for nodeid in ids:
            limits = report.guardrails_text(guardrails("test", nodeid))
            console.print(f"  {escape(nodeid)}" + (f"  [dim]{escape(limits)}[/]" if limits else ""),
                          highlight=False)
    return USAGE_ERROR if listing["errors"] else 0


def _collect(ctx: Context, selection: selectors.Selection) -> dict:
    """`pytest --collect-only -q` in a subprocess; the plugin writes ids, groups and errors."""
    with tempfile.TemporaryDirectory() as scratch:
        target = Path(scratch) / "collected.json"
        command = _pytest_command("--collect-only", "-q", "-p", "no:cacheprovider",
                                  "--harness-run", ",".join(selection.targets),
                                  "--harness-collect-json", str(target))
        done = subprocess.run(command, cwd=ctx.project_root, capture_output=True, text=True)
        if not target.is_file():
            raise UsageProblem(f"pytest --collect-only failed (exit {done.returncode}): "
                               f"{_last_error_line(done.stdout + done.stderr)}")
        return json.loads(target.read_text(encoding="utf-8"))


def _last_error_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")]
    return (errors or lines or ["no output"])[-1]


# -- run --------------------------------------------------------------------------------------
def cmd_run(args, console: Console, pytest_args: list[str]) -> int:
    # pytest starts first (it takes a second to import and collect); the CLI checks the whole
    # configuration meanwhile and stops it again if that is broken. Nothing before the fork
    # may import numpy or start a thread (see harness/pytest_process.py).
    root = selectors.find_project_root(Path.cwd())
    artifacts = runfolder.resolve_root(root, selectors.artifacts_root_of(root),
                                       args.harness_artifacts, Path.cwd())
    try:
        start = pytest_process.start_method(args.harness_start)
    except ValueError as exc:
        raise UsageProblem(f"{exc} (or unset it)") from None
    label = selectors.label_of(args.targets)
    folder_label, scaleout_args = _scaleout_args(args, label)
    artifacts_existed = artifacts.is_dir()
    run_dir = runfolder.create_run_folder(artifacts, folder_label)
    workers = ["-n", str(args.workers)] if args.workers is not None else []
    command = [*PLUGIN_ARGS, "--harness-run", ",".join(dict.fromkeys(args.targets)),
               # `--opt=path`: pytest must not take a path outside the project for a test
               # path when it looks for its rootdir
               f"--harness-run-dir={run_dir}", f"--harness-artifacts={artifacts}",
               *scaleout_args, *workers, *pytest_args]
    with open(run_dir / runfolder.PYTEST_LOG, "wb") as pytest_log:
        child = pytest_process.start_pytest(command, root, pytest_log, start)
        signals_seen = _forward_signals(child)
        try:
            selection = selectors.load(root).resolve(args.targets)
            console.print(f"harness run [bold]{escape(selection.label)}[/]: groups "
                          f"{', '.join(selection.groups)} -> {run_dir}", highlight=False)
            _follow(child, run_dir / runfolder.EVENTS, selection.label, console)
        except selectors.ConfigError:  # nothing ran: leave nothing behind
            child.kill()
            child.wait()
            shutil.rmtree(run_dir, ignore_errors=True)
            if not artifacts_existed:
                with contextlib.suppress(OSError):  # another run may have started meanwhile
                    artifacts.rmdir()
            raise
        finally:
            child.wait()
            _restore_signals(signals_seen)
    interrupted = bool(signals_seen["count"])
    final = runfolder.read_report(run_dir)
    if final is None:
        reason = _last_error_line((run_dir / runfolder.PYTEST_LOG).read_text(errors="replace"))
        shutil.rmtree(run_dir, ignore_errors=True)  # nothing was recorded
        if interrupted:
            return INTERRUPTED
        raise UsageProblem(f"pytest did not start the run (exit {child.returncode}): {reason}")
    if not runfolder.is_complete(final):
        print(f"error: {run_dir}: the run did not finish (pytest exit {child.returncode}); the "
              f"folder stays marked incomplete (see {runfolder.PYTEST_LOG} there)", file=sys.stderr)
        return INTERRUPTED if interrupted else USAGE_ERROR
    report.render_rich(final, console)
    console.print(f"run folder: {run_dir} (report.md, junit.xml, logs/, pytest.log)", highlight=False)
    if final["status"] == "error" and not final["collection_errors"]:
        reason = _last_error_line((run_dir / runfolder.PYTEST_LOG).read_text(errors="replace"))
        print(f"error: pytest exit {child.returncode}: {reason}", file=sys.stderr)
    _append_step_summary(run_dir)
    return final["exit_code"]


def _append_step_summary(run_dir: Path) -> None:
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write((run_dir / runfolder.REPORT_MD).read_text(encoding="utf-8"))


def _scaleout_args(args, label: str) -> tuple[str, list[str]]:
    """(run-folder label, pytest options) for --shard I/N and --accelerator."""
    from harness import sharding

    extra = ["--accelerator", args.accelerator] if args.accelerator else []
    if not args.shard:
        return label, extra
    try:
        spec = sharding.parse_spec(args.shard)
    except ValueError as exc:
        raise UsageProblem(f"--shard: {exc}") from None
    return f"{label}-shard{spec.index}of{spec.count}", ["--harness-shard", spec.text, *extra]


def _forward_signals(child) -> dict:
    """SIGINT/SIGTERM to us: the first asks pytest to stop (SIGTERM, which it turns into
    KeyboardInterrupt and still writes its report); a second kills its process group."""
    state = {"count": 0, "saved": {}}

    def forward(signum, frame):
        state["count"] += 1
        if child.poll() is not None:
            return
        try:
            if state["count"] == 1:
                child.terminate()
            else:
                child.kill_group()
        except ProcessLookupError:
            pass

    for sig in (signal.SIGINT, signal.SIGTERM):
        state["saved"][sig] = signal.signal(sig, forward)
    return state


def _restore_signals(state: dict) -> None:
    for sig, handler in state["saved"].items():
        signal.signal(sig, handler)


class EventFollower:
    """Reads complete new lines of a JSONL file that another process is appending to."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0
        self.pending = b""

    def poll(self) -> list[dict]:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                chunk = handle.read()
        except FileNotFoundError:
            return []
        self.offset += len(chunk)
        *lines, self.pending = (self.pending + chunk).split(b"\n")
        events = []
        for line in lines:
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
        return events


def _follow(child, events_path: Path, label: str, console: Console) -> None:
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn,
                               TextColumn, TimeElapsedColumn)

    follower = EventFollower(events_path)
    tally = dict.fromkeys(("passed", "failed", "error", "skipped", "xfailed", "xpassed"), 0)
    # redrawn 4 times a second in a terminal; elsewhere (CI logs) there is nothing to animate,
    # and a redraw thread would take CPU time from the tests
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                  auto_refresh=console.is_terminal, refresh_per_second=4) as progress:
        task = progress.add_task(f"{label}: collecting", total=None)
        while True:
            running = child.poll() is None
            for event in follower.poll():
                kind = event.get("event")
                if kind == "collected":
                    progress.update(task, total=event["total"], description=f"{label}: running")
                elif kind == "collection_error":
                    progress.console.print(f"[red]collection error[/] {escape(event['nodeid'])}")
                elif kind == "test":
                    tally[event["outcome"]] = tally.get(event["outcome"], 0) + 1
                    progress.advance(task)
                    if event["outcome"] in ("failed", "error"):
                        progress.console.print(f"[red]{event['outcome'].upper()}[/] "
                                               f"{escape(event['nodeid'])}: "
                                               f"{escape(event.get('message') or '')}",
                                               highlight=False)
                    if event.get("invalid"):
                        progress.console.print(f"[yellow]INVALID ARTIFACT[/] "
                                               f"{escape(event['nodeid'])}", highlight=False)
                    shown = ", ".join(f"{n} {k}" for k, n in tally.items() if n)
                    progress.update(task, description=f"{label}: {shown}")
                elif kind == "finished":
                    progress.update(task, description=f"{label}: {event['status']}")
            if not running:
                return
            child.wait(timeout=_POLL_S)  # back at once when pytest exits


# -- report / validate ------------------------------------------------------------------------
def _run_folder(args, ctx: Context) -> Path:
    try:
        return runfolder.find_run(ctx.artifacts, args.run)
    except FileNotFoundError as exc:
        raise UsageProblem(str(exc)) from None


REPORT_SCHEMA = Path(__file__).with_name("schemas") / "report.schema.json"


def cmd_report(args, console: Console) -> int:
    if args.schema:     # the JSON Schema of report.json, for CI users who validate it
        print(REPORT_SCHEMA.read_text(encoding="utf-8"), end="")
        return 0
    ctx = _context(args)
    run_dir = _run_folder(args, ctx)
    final = runfolder.read_report(run_dir)
    if not runfolder.is_complete(final):
        state = "has no readable report.json" if final is None else "is still running or crashed"
        raise UsageProblem(f"{run_dir}: run {state} (status 'running' or no report: incomplete)")
    try:
        if args.format == "html":
            from harness import html_report

            print(html_report.write(run_dir, final))
        elif args.format == "markdown":
            print(report.render_markdown(final))
        elif args.format == "json":
            print(json.dumps(final, indent=2))
        else:
            report.render_rich(final, console)
            console.print(f"run folder: {run_dir}", highlight=False)
    except (KeyError, TypeError, AttributeError, ValueError, IndexError) as exc:
        # a report.json edited by hand or written by another version
        raise UsageProblem(f"{run_dir / runfolder.REPORT_JSON}: malformed ({type(exc).__name__}: "
                           f"{exc}) (re-run the cadence, or restore the file the harness "
                           "wrote)") from None
    return 0


def run_folder_checks(run_dir: Path, settings: selectors.HarnessConfig,
                      module_class: str | None = None) -> list[validators.ValidationResult]:
    """`harness validate`: the run's own files, then every artifact it kept."""
    results: list[validators.ValidationResult] = []

    def check(path: str, kind: str, rule: str, ok: bool, message: str = "") -> None:
        results.append(validators.ValidationResult(path, kind, ok, "" if ok else rule, message))

    final = runfolder.read_report(run_dir)
    check(runfolder.REPORT_JSON, "run", "report", runfolder.is_complete(final),
          "missing, unreadable or status 'running' (the run did not finish)")
    try:
        ElementTree.parse(run_dir / runfolder.JUNIT_XML)
        check(runfolder.JUNIT_XML, "run", "junit", True)
    except (OSError, ElementTree.ParseError) as exc:
        check(runfolder.JUNIT_XML, "run", "junit", False, f"missing or not XML: {exc}")
    validation = settings.validation
    if module_class:
        validation = dataclasses.replace(validation, checkpoint_module_class=module_class)
    for test in (final or {}).get("tests", []):
        log = test.get("log")
        if not (log and (run_dir / log).is_file()):
            check(log or test["nodeid"], "log", "test-log", False, "per-test log missing")
            continue
        try:  # the log of a test that did not pass holds its traceback
            validators.validate_log(run_dir / log, allow=validation.log_allow,
                                    errors_expected=test["outcome"] != "passed")
            check(log, "log", "test-log", True)
        except validators.ValidationError as exc:
            check(log, "log", exc.rule, False, f"{exc.message} ({test['outcome']} test)")
    for artifacts in {t["artifacts"] for t in (final or {}).get("tests", []) if t.get("artifacts")}:
        check(artifacts, "artifacts", "kept-artifacts", (run_dir / artifacts).is_dir(),
              "the report lists kept artifacts that are gone")
    results += validators.validate_tree(run_dir / runfolder.TESTS_DIR, validation,
                                        relative_to=run_dir)
    return results


def cmd_export(args, console: Console) -> int:
    ctx = _context(args)
    run_dir = _run_folder(args, ctx)
    final = runfolder.read_report(run_dir)
    if not runfolder.is_complete(final):
        raise UsageProblem(f"{run_dir}: run has no finished report.json (export a finished run)")
    try:
        entries = export.github_action_benchmark(final)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise UsageProblem(f"{run_dir / runfolder.REPORT_JSON}: malformed ({type(exc).__name__}: "
                           f"{exc}) (re-run the cadence)") from None
    text = json.dumps(entries, indent=2) + "\n"
    if args.output:
        runfolder.write_atomic(Path(args.output), text)
        console.print(f"wrote {escape(args.output)} ({len(entries)} entries)", highlight=False)
    else:
        print(text, end="")
    return 0


def cmd_validate(args, console: Console) -> int:
    ctx = _context(args)
    run_dir = _run_folder(args, ctx)
    results = run_folder_checks(run_dir, ctx.settings, args.module_class)
    failures = sum(not r.ok for r in results)
    if args.json:
        _print_json({"run": str(run_dir), "checks": len(results), "failed": failures,
                     "results": [r.to_dict() for r in results]})
        return VALIDATION_FAILED if failures else 0
    table = Table(title=f"validate {run_dir.name}")
    for column in ("file", "kind", "result"):
        table.add_column(column)
    for result in results:
        verdict = "[green]ok[/]" if result.ok else f"[red]{escape(result.rule)}[/]: {escape(result.message)}"
        table.add_row(escape(result.path), result.kind, verdict)
    console.print(table)
    console.print(f"{len(results)} checks, {failures} failed", highlight=False)
    return VALIDATION_FAILED if failures else 0


def cmd_check_ckpt(args, console: Console) -> int:
    path = Path(args.path)
    if not path.exists():
        raise UsageProblem(f"{path}: no such file (give the path of a .ckpt)")
    if path.is_dir():
        raise UsageProblem(f"{path}: is a directory, not a checkpoint (give the path of a .ckpt "
                           "file, e.g. <train dir>/checkpoints/last.ckpt)")
    if not path.is_file():
        raise UsageProblem(f"{path}: is not a regular file (a FIFO, socket or device); give the "
                           "path of a .ckpt file")
    try:
        facts = validators.validate_checkpoint(path, module_class=args.module_class)
    except validators.ValidationError as exc:
        print(f"invalid: {exc}", file=sys.stderr)
        return VALIDATION_FAILED
    console.print(f"[green]ok[/] {escape(str(path))}: {facts['tensors']} tensors; "
                  f"hyper_parameters {escape(', '.join(facts['hyper_parameters']))}; rebuilt as "
                  f"{escape(facts['module_class'])} (strict load_state_dict)", highlight=False)
    return 0


# -- baseline ---------------------------------------------------------------------------------
def cmd_baseline(args, console: Console) -> int:
    """`baseline record CADENCE|GROUP... --runs N [--dry-run]` / `baseline adopt [--dry-run]` /
    `baseline show`: the only writers of baselines/runtime/ (a run never changes a baseline
    file). Groups record their group and test entries; a cadence its cadence entry too;
    adopt writes the provisional baseline learnt from the ledger."""
    from harness import baselines, budget_plugin, budgets, environment

    ctx = _context(args)
    folder = ctx.project_root / budget_plugin.BASELINES_DIR
    fingerprint = environment.fingerprint(environment.collect(ctx.project_root))
    if args.action in ("show", "adopt"):
        rule = (budgets.load(ctx.project_root).band.provisional
                if (ctx.project_root / budgets.BUDGETS_FILE).is_file()
                else baselines.ProvisionalRule())
        ledger_path = ctx.artifacts / runfolder.LEDGER
        entries, _ = ledger.read(ledger_path)
    if args.action == "show":
        reference = baselines.session_reference(folder, fingerprint, calibrate=None,
                                                read_ledger=lambda: entries, rule=rule)
        if reference.baseline is None:
            console.print(f"no runtime baseline in {folder / baselines.RUNTIME_DIR} and no "
                          f"provisional one in {ledger_path} (record one: harness baseline "
                          "record CADENCE --runs 5, or run a cadence "
                          f"{rule.min_runs} times)", highlight=False)
            return 0
        console.print(baselines.diff_table(None, reference.baseline))
        if reference.provisional:
            where = (f"provisional baseline of this machine from {reference.provisional_runs} "
                     f"green runs in {ledger_path} (not committed: `harness baseline adopt` "
                     f"writes {baselines.path_for(folder, fingerprint)})")
        else:
            where = f"{baselines.path_for(folder, reference.baseline.fingerprint)}: " + (
                "this machine" if reference.exact else "nearest to this machine (another "
                "fingerprint, not scaled: its verdicts are estimated)")
        console.print(where, highlight=False)
        return 0
    if args.action == "adopt":
        try:
            recording = baselines.adopt(folder, fingerprint, entries, rule,
                                        write_file=not args.dry_run)
        except ValueError as exc:
            raise UsageProblem(f"{ledger_path}: {exc}") from None
        console.print(baselines.diff_table(recording.old, recording.new))
        console.print(("dry run: would write " if args.dry_run else "wrote ")
                      + f"{recording.path} (commit it)", highlight=False)
        return 0
    selection = ctx.settings.resolve(args.targets)
    done = []

    def run_once():
        run_dir = runfolder.create_run_folder(ctx.artifacts, f"{selection.label}-baseline")
        # no timeouts: a recording measures (on a busy machine a test may need longer than the
        # budget-derived timeout); no confirmation re-runs: every run is a sample
        command = _pytest_command("-q", "-p", "no:timeout",
                                  "--harness-run", ",".join(selection.targets),
                                  "--harness-reruns=0",
                                  f"--harness-run-dir={run_dir}",
                                  f"--harness-artifacts={ctx.artifacts}")
        if args.workers is not None:
            command += ["-n", str(args.workers)]
        started = time.time()
        with open(run_dir / runfolder.PYTEST_LOG, "wb") as log:
            subprocess.run(command, cwd=ctx.project_root, stdout=log, stderr=subprocess.STDOUT)
        final = runfolder.read_report(run_dir)
        if not runfolder.is_complete(final) or final["status"] not in ("passed", "over_budget"):
            state = final["status"] if final else "no report"
            raise UsageProblem(f"recording run {len(done) + 1} of {selection.label}: {state} "
                               f"({run_dir}); baselines are recorded from green runs only")
        if final["fingerprint_hash"] != environment.fingerprint_hash(fingerprint):
            raise UsageProblem(f"{run_dir}: fingerprint {final['fingerprint_hash']} differs from "
                               "this process's (the environment changed while recording)")
        done.append(run_dir)
        console.print(f"run {len(done)}/{args.runs}: {final['status']}, "
                      f"{time.time() - started:.1f} s -> {run_dir}", highlight=False)
        return budget_plugin.measurements(final, ctx.settings.cadences)

    try:
        recording = baselines.record_cadence(selection.label, args.runs, run_once, folder,
                                             fingerprint, write_file=not args.dry_run)
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None
    console.print(baselines.diff_table(recording.old, recording.new))
    console.print(("dry run: would write " if args.dry_run else "wrote ") + str(recording.path),
                  highlight=False)
    return 0


# -- merge ------------------------------------------------------------------------------------
def cmd_merge(args, console: Console) -> int:
    from harness import merge

    ctx = _context(args)
    runs = [_run_folder(argparse.Namespace(run=name), ctx) for name in args.runs]
    try:
        run_dir, final = merge.merge(runs, ctx.artifacts, ctx.settings,
                                     findings=merge.hook_findings(ctx.project_root, args.reruns))
    except merge.MergeError as exc:
        raise UsageProblem(str(exc)) from None
    report.render_rich(final, console)
    console.print(f"merged {len(runs)} shard runs -> {run_dir} (report.md, report.html, "
                  "junit.xml, logs/, tests/)", highlight=False)
    _append_step_summary(run_dir)
    return final["exit_code"]


# -- compare ----------------------------------------------------------------------------------
def cmd_compare(args, console: Console) -> int:
    """`harness compare BASE_REF [CADENCE|GROUP...]`: A/B of BASE_REF against this working tree
    on this machine (harness/compare.py)."""
    from harness import compare

    ctx = _context(args)
    targets = args.targets or ["per_pr"]
    console.print(f"harness compare {escape(args.base_ref)} vs HEAD: {' '.join(targets)}, "
                  f"{args.pairs} pairs", highlight=False)
    try:
        folder, doc = compare.run_comparison(
            ctx.project_root, ctx.settings, ctx.artifacts, args.base_ref, targets, args.pairs,
            args.threshold, args.warmup,
            progress=lambda line: console.print(escape(line), highlight=False))
    except compare.CompareError as exc:  # before anything ran
        raise UsageProblem(str(exc)) from None
    for result in doc["results"]:
        style = {"slower": "red", "faster": "yellow"}.get(result["verdict"], "green")
        console.print(f"[{style}]{result['verdict']:>6}[/] {escape(result['kind'])} "
                      f"{escape(result['subject'])}: HEAD/BASE {result['ratio']:.3f} "
                      f"(interval {result['interval'][0]:.3f}-{result['interval'][1]:.3f}, "
                      f"{len(result['ratios'])} pairs)", highlight=False)
    if doc.get("error"):
        print(f"error: {doc['error']}", file=sys.stderr)
    console.print(f"compare folder: {folder} (report.md, report.html, report.json, runs/) -> "
                  f"{doc['status']}, exit {doc['exit_code']}", highlight=False)
    _append_step_summary(folder)
    return doc["exit_code"]


# -- brief ------------------------------------------------------------------------------------
def cmd_brief(args, console: Console) -> int:
    from harness import brief

    root = selectors.find_project_root(Path.cwd())
    if args.output == "-":
        sys.stdout.write(brief.render(root))
        return 0
    output = Path(args.output) if args.output else root / brief.BRIEF_FILE
    if args.check:
        difference = brief.check(root, output)
        if difference:
            print("\n".join(difference))
            print(f"error: {output} differs from the configuration (run `harness brief` to "
                  "regenerate it and commit the result)", file=sys.stderr)
            return 1
        console.print(f"{output} is up to date with {', '.join(brief.SOURCES)}", highlight=False)
        return 0
    console.print(f"wrote {brief.write(root, output)}", highlight=False)
    return 0


# -- history / prune --------------------------------------------------------------------------
_TREND = {"passed": "[green]✓[/]", "failed": "[red]✗[/]", "invalid": "[yellow]![/]",
          "empty": "[dim]·[/]"}


def cmd_history(args, console: Console) -> int:
    ctx = _context(args)
    entries, problems = ledger.read(ctx.artifacts / runfolder.LEDGER)
    for problem in problems:
        console.print(f"[yellow]ledger.jsonl line {problem.line} skipped:[/] "
                      f"{escape(problem.message)}", highlight=False)
    entries = [e for e in entries if not e.get("shard")]  # counted through their merged run
    if args.cadence:
        entries = [e for e in entries if e.get("cadence") == args.cadence]
    entries = entries[-args.limit:]
    if args.json:
        _print_json({"runs": entries, "skipped_lines": [
            {"line": p.line, "message": p.message} for p in problems]})
        return 0
    if not entries:
        console.print("no runs recorded" + (f" for {args.cadence}" if args.cadence else ""))
        return 0
    runs = Table(title=f"last {len(entries)} runs")
    for column in ("run", "cadence", "status", "commit", "seconds", "fingerprint"):
        runs.add_column(column)
    for entry in entries:
        runs.add_row(escape(str(entry.get("run_id"))), escape(str(entry.get("cadence"))),
                     escape(str(entry.get("status"))), str(entry.get("commit") or "-")[:10],
                     f"{float(entry.get('wall_seconds') or 0):.1f}",
                     str(entry.get("fingerprint_hash") or "-"))
    console.print(runs)
    trend = Table(title="trend per group (oldest -> newest)")
    for column in ("group", "runs", "verdicts", "last s", "median s", "min-max s"):
        trend.add_column(column)
    for name in ctx.settings.groups:
        seen = [e["groups"][name] for e in entries
                if isinstance(e.get("groups"), dict) and isinstance(e["groups"].get(name), dict)]
        times = [float(g.get("seconds") or 0) for g in seen if g.get("verdict") != "empty"]
        trend.add_row(name, str(len(seen)),
                      "".join(_TREND.get(g.get("verdict"), "?") for g in seen) or "-",
                      f"{times[-1]:.2f}" if times else "-",
                      f"{statistics.median(times):.2f}" if times else "-",
                      f"{min(times):.2f}-{max(times):.2f}" if times else "-")
    console.print(trend)
    if args.tests:
        console.print(_test_trend(entries, args.tests))
    if any("mutation" in e for e in entries):   # harness mutate runs: the score trend
        from harness.mutation import render as mutation_render

        console.print(mutation_render.trend_table(entries))
    return 0


def _test_trend(entries: list[dict], limit: int) -> Table:
    """The `limit` tests slowest in the newest run, their seconds run by run (oldest first;
    '-' where a run did not record the test among its slowest)."""
    newest = entries[-1].get("tests") or {}
    table = Table(title=f"trend of the {limit} slowest tests (seconds, oldest -> newest)")
    for column in ("test", "runs", "seconds per run", "median s"):
        table.add_column(column)
    for nodeid in sorted(newest, key=lambda n: -newest[n])[:limit]:
        times = [(e.get("tests") or {}).get(nodeid) for e in entries]
        seen = [t for t in times if isinstance(t, (int, float))]
        table.add_row(escape(nodeid), str(len(seen)),
                      " ".join("-" if t is None else f"{t:.2f}" for t in times),
                      f"{statistics.median(seen):.2f}" if seen else "-")
    return table


def cmd_prune(args, console: Console) -> int:
    ctx = _context(args)
    policy = ctx.settings.retention
    if args.keep is not None:
        if args.keep < 1:
            raise UsageProblem(f"--keep {args.keep}: must be >= 1 (the newest run is always kept)")
        policy = dataclasses.replace(policy, keep_last=args.keep)
    decisions = retention.prune(ctx.artifacts, policy, dry_run=args.dry_run)
    for decision in decisions:
        action = "keep  " if decision.keep else ("would delete" if args.dry_run else "deleted")
        console.print(f"{action} {decision.run.name}: {decision.reason}", highlight=False)
    removed = sum(not d.keep for d in decisions)
    console.print(f"{len(decisions)} runs, {removed} {'to delete' if args.dry_run else 'deleted'}")
    return 0


# -- entry point ------------------------------------------------------------------------------
def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("ptycho-regression")
    except metadata.PackageNotFoundError:   # run from a checkout that is not installed
        return "unknown"


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return int(text)


def workers_value(text: str) -> str:
    """-n/--workers: a positive number of pytest-xdist workers or 'auto' (checked here, so a
    bad value is one usage line, not a pytest-xdist traceback)."""
    if text == "auto" or (text.isdigit() and int(text) >= 1):
        return text
    raise argparse.ArgumentTypeError(f"expected a number of workers >= 1 or 'auto', got {text!r}")


class OneLineParser(argparse.ArgumentParser):
    """A usage error is one line on stderr and exit 2 (USAGE_ERROR), like every other harness
    error: no usage dump. Subcommand parsers inherit the class."""

    def error(self, message):
        self.exit(USAGE_ERROR, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--harness-artifacts", metavar="DIR",
                        help="harness root (default: $HARNESS_ARTIFACTS, else [artifacts] root "
                             "of selectors/harness.toml)")
    parser = OneLineParser(
        prog="harness", description="Regression harness: selector groups, cadence runs, reports.",
        epilog="exit codes: 0 green, 1 test failures, 2 usage/config/collection error, "
               "3 artifact validation failures, 4 budget findings only, 5 nothing "
               "selected, 130 interrupted")
    parser.add_argument("--version", action="version",
                        version=f"harness {_version()} (ptycho-regression)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    listing = commands.add_parser("list", parents=[common],
                                  help="groups, cadences and the tests they select")
    listing.add_argument("targets", nargs="*", metavar="CADENCE|GROUP")
    listing.add_argument("--no-collect", action="store_true", help="do not collect test ids")
    listing.add_argument("--json", action="store_true",
                         help="print groups, cadences and selected test ids as JSON")
    listing.set_defaults(handler=cmd_list)

    # no abbreviations: a pytest long option must never be taken for a prefix of one of ours
    run = commands.add_parser("run", parents=[common], allow_abbrev=False,
                              help="run cadences/groups: harness run CADENCE|GROUP... [-n N] "
                                   "[PYTEST ARGS]",
                              epilog="Any other option (with the values after it) and "
                                     "everything after -- go to pytest, in order: "
                                     "harness run per_pr -x -k roundtrip. Name the targets "
                                     "first: a value after an option that is not ours "
                                     "cannot be told from a target.")
    run.add_argument("targets", nargs="+", metavar="CADENCE|GROUP")
    run.add_argument("-n", "--workers", metavar="N", type=workers_value,
                     help="pytest-xdist workers (a number >= 1 or 'auto')")
    run.add_argument("--harness-start", choices=START_METHODS,
                     help="how pytest starts: fork (default where the platform has it) or "
                          "subprocess (python -m pytest; default elsewhere; also "
                          "$HARNESS_START)")
    run.add_argument("--shard", metavar="I/N",
                     help="run part I of N, balanced by recorded durations (join the parts with "
                          "`harness merge`)")
    run.add_argument("--accelerator", choices=("cpu", "cuda"),
                     help="cuda adds the GPU variants (default: $HARNESS_ACCELERATOR, else cpu)")
    run.set_defaults(handler=cmd_run)

    show = commands.add_parser("report", parents=[common], help="re-render a run (default: latest)")
    show.add_argument("run", nargs="?", help="run folder name or path")
    show.add_argument("--format", choices=("table", "markdown", "json", "html"), default="table",
                      help="html: (re)write <run>/report.html and print its path")
    show.add_argument("--schema", action="store_true",
                      help="print the JSON Schema of report.json (harness/schemas/) and exit")
    show.set_defaults(handler=cmd_report)

    validate = commands.add_parser("validate", parents=[common],
                                   help="re-validate a run folder's files and kept artifacts")
    validate.add_argument("run", nargs="?", help="run folder name or path (default: latest)")
    validate.add_argument("--json", action="store_true", help="print the checks as JSON")
    validate.add_argument("--module-class", metavar="DOTTED.PATH",
                          help="LightningModule class for checkpoints (default: harness.toml)")
    validate.set_defaults(handler=cmd_validate)

    exporting = commands.add_parser("export", parents=[common],
                                    help="a run's timings for a benchmark dashboard")
    exporting.add_argument("run", nargs="?", help="run folder name or path (default: latest)")
    exporting.add_argument("--format", choices=export.FORMATS, default=export.FORMATS[0],
                           help="github-action-benchmark: its customSmallerIsBetter JSON")
    exporting.add_argument("--output", metavar="FILE", help="write here (default: stdout)")
    exporting.set_defaults(handler=cmd_export)
    ckpt = commands.add_parser("check-ckpt", help="validate a Lightning checkpoint")
    ckpt.add_argument("path", metavar="PATH", help="the .ckpt file to check (weights_only load, "
                                                   "hyper_parameters, state_dict, rebuild)")
    ckpt.add_argument("--module-class", metavar="DOTTED.PATH",
                      default=validators.DEFAULT_MODULE_CLASS)
    ckpt.set_defaults(handler=cmd_check_ckpt)

    joined = commands.add_parser("merge", parents=[common],
                                 help="merge the shard runs of one cadence into one run")
    joined.add_argument("runs", nargs="+", metavar="RUN",
                        help="shard run folders (names under the harness root, or paths)")
    joined.add_argument("--reruns", type=int, metavar="N",
                        help="confirmation re-runs of band/floor findings, run here (default: "
                             "[defaults] confirm_reruns of budgets.toml, as in a serial run)")
    joined.set_defaults(handler=cmd_merge)

    ab = commands.add_parser("compare", parents=[common],
                             help="A/B: run a selection alternately at BASE_REF (a git "
                                  "worktree) and HEAD (this working tree); per-group ratio with "
                                  "a bootstrap interval; exit 4 on a regression")
    ab.add_argument("base_ref", metavar="BASE_REF", help="branch, tag or commit to compare with")
    ab.add_argument("targets", nargs="*", metavar="CADENCE|GROUP", help="default: per_pr")
    ab.add_argument("--pairs", type=int, default=6, help="BASE/HEAD run pairs (default 6)")
    ab.add_argument("--threshold", type=float, default=0.10,
                    help="slowdown (and speed-up) that is flagged, as a fraction (default 0.10)")
    ab.add_argument("--warmup", type=int, default=1,
                    help="unmeasured BASE runs before the pairs (default 1)")
    ab.set_defaults(handler=cmd_compare)

    handoff = commands.add_parser("brief", help="render the handoff brief from selectors/*.toml")
    handoff.add_argument("--output", metavar="FILE",
                         help="where to write it (default docs/handoff_brief.md; - for stdout)")
    handoff.add_argument("--check", action="store_true",
                         help="exit 1 when FILE differs from a fresh render (writes nothing)")
    handoff.set_defaults(handler=cmd_brief)

    baseline = commands.add_parser("baseline", parents=[common],
                                   help="record or show this machine's runtime baseline")
    actions = baseline.add_subparsers(dest="action", required=True, metavar="ACTION")
    record = actions.add_parser("record", parents=[common],
                                help="run CADENCE (or groups) N times, write "
                                     "baselines/runtime/<fingerprint>.json")
    record.add_argument("targets", nargs="+", metavar="CADENCE|GROUP")
    record.add_argument("--runs", type=int, default=5, help="recording runs (default 5)")
    record.add_argument("-n", "--workers", metavar="N", type=workers_value,
                        help="pytest-xdist workers (a number >= 1 or 'auto')")
    record.add_argument("--dry-run", action="store_true", help="show the diff, write nothing")
    adopt = actions.add_parser("adopt", parents=[common],
                               help="write this machine's provisional baseline (learnt from "
                                    "the ledger's green runs) to baselines/runtime/")
    adopt.add_argument("--dry-run", action="store_true", help="show the diff, write nothing")
    actions.add_parser("show", parents=[common], help="the baseline matching this machine")
    baseline.set_defaults(handler=cmd_baseline)

    history = commands.add_parser("history", parents=[common], help="recent trend per group")
    history.add_argument("--limit", type=positive_int, default=20, help="last N runs (default 20)")
    history.add_argument("--cadence", help="only runs of this cadence / label")
    history.add_argument("--tests", type=positive_int, nargs="?", const=10, metavar="N",
                         help="also the per-test trend of the N slowest tests (default 10)")
    history.add_argument("--json", action="store_true",
                         help="print the ledger entries (timings and verdicts per group) as JSON")
    history.set_defaults(handler=cmd_history)

    prune = commands.add_parser("prune", parents=[common], help="apply the retention policy")
    prune.add_argument("--keep", type=int, help="keep the newest K runs (default: harness.toml)")
    prune.add_argument("--dry-run", action="store_true",
                       help="show which run folders would be deleted, delete nothing")
    prune.set_defaults(handler=cmd_prune)

    # harness mutate: mutation score per component (harness/mutation/)
    from harness.mutation import arguments as mutation_arguments

    mutation_arguments.add_parser(commands, common)
    return parser


def parse_arguments(parser: argparse.ArgumentParser,
                    argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """(harness's arguments, pytest's arguments). `harness run` passes every option it does
    not know itself, with the values after it, to pytest in order (so `nox -s per_pr -- -x`
    works), then everything after `--` untouched; other commands refuse unknown arguments."""
    after_dashes: list[str] = []
    if "--" in argv:
        split = argv.index("--")
        argv, after_dashes = argv[:split], argv[split + 1:]
    args, unknown = parser.parse_known_args(argv)
    if args.command != "run":
        if unknown:
            parser.error(f"unrecognized arguments: {' '.join(unknown)} (only `harness run` "
                         "passes options on to pytest)")
        if after_dashes:
            parser.error("arguments after -- are passed to pytest by `harness run` only")
    return args, unknown + after_dashes


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args, pytest_args = parse_arguments(build_parser(), argv)
    # CI logs are wider than the 80 columns rich assumes without a terminal
    console = Console(width=None if sys.stdout.isatty() else 140)
    try:
        if args.command == "run":
            return cmd_run(args, console, pytest_args)
        return args.handler(args, console)
    except (selectors.ConfigError, UsageProblem, runfolder.NotARootFolder) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        return INTERRUPTED
    except BrokenPipeError:  # `harness report | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
