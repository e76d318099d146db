"""`harness report`, `export`, `validate`, `check-ckpt`, `brief`, `history` and `prune`:
reading finished runs and the configuration."""
from __future__ import annotations

import dataclasses
import json
import statistics
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.cli.common import VALIDATION_FAILED, UsageProblem, _context, _print_json, _run_folder
from harness.config import selectors
from harness.records import ledger, runfolder
from harness.report import export
from harness.report import model as report
from harness.report import mutation as mutation_report
from harness.runs import retention
from harness.verdicts import validators


REPORT_SCHEMA = report.SCHEMA_FILE


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
            from harness.report import html as html_report

            from harness.runs import merge

            sections = merge.html_sections_of(ctx.project_root, final, run_dir)
            print(html_report.write(run_dir, final, sections))
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
    module_class = args.module_class or _configured_module_class()
    try:
        facts = validators.validate_checkpoint(path, module_class=module_class)
    except validators.ValidationError as exc:
        print(f"invalid: {exc}", file=sys.stderr)
        return VALIDATION_FAILED
    rebuilt = (f"rebuilt as {facts['module_class']} (strict load_state_dict)"
               if facts["module_class"] else "not rebuilt (give --module-class, or set "
               "[validation] checkpoint_module_class in selectors/harness.toml)")
    console.print(f"[green]ok[/] {escape(str(path))}: {facts['tensors']} tensors; "
                  f"hyper_parameters {escape(', '.join(facts['hyper_parameters']))}; "
                  f"{escape(rebuilt)}", highlight=False)
    return 0


def _configured_module_class() -> str | None:
    """The project's `[validation] checkpoint_module_class`; None outside a project."""
    try:
        root = selectors.find_project_root(Path.cwd())
    except selectors.ConfigError:
        return None
    return selectors.load(root).validation.checkpoint_module_class


def cmd_brief(args, console: Console) -> int:
    from harness.report import brief

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
        console.print(mutation_report.trend_table(entries))
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
