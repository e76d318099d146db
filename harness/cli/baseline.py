"""`harness baseline record|show|adopt`: the only writers of baselines/runtime/."""
from __future__ import annotations

import subprocess
import time

from rich.console import Console

from harness.cli.common import UsageProblem, _context
from harness.records import ledger, runfolder
from harness.runs import pytest_process


def cmd_baseline(args, console: Console) -> int:
    """`baseline record CADENCE|GROUP... --runs N [--dry-run]` / `baseline adopt [--dry-run]` /
    `baseline show`: the only writers of baselines/runtime/ (a run never changes a baseline
    file). Groups record their group and test entries; a cadence its cadence entry too;
    adopt writes the provisional baseline learnt from the ledger."""
    # imported here, like each command's own modules: `harness run` loads only what it needs
    # before it forks pytest (harness/runs/pytest_process.py)
    from harness.records import baselines
    from harness.records import baseline_diff
    from harness.records import measurements
    from harness.report.types import RunReport
    from harness.config import budgets
    from harness.measure import environment

    ctx = _context(args)
    folder = ctx.project_root / baselines.BASELINES_DIR
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
        console.print(baseline_diff.diff_table(None, reference.baseline))
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
        console.print(baseline_diff.diff_table(recording.old, recording.new))
        console.print(("dry run: would write " if args.dry_run else "wrote ")
                      + f"{recording.path} (commit it)", highlight=False)
        return 0
    selection = ctx.settings.resolve(args.targets)
    done = []

    def run_once():
        run_dir = runfolder.create_run_folder(ctx.artifacts, f"{selection.label}-baseline")
        # no timeouts: a recording measures (on a busy machine a test may need longer than the
        # budget-derived timeout); no confirmation re-runs: every run is a sample
        command = pytest_process.pytest_command(
            "-q", "-p", "no:timeout", targets=selection.targets, run_dir=run_dir,
            artifacts=ctx.artifacts, extra=["--harness-reruns=0"])
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
        return measurements.measurements(RunReport.from_json(final), ctx.settings.cadences)

    try:
        recording = baselines.record_cadence(selection.label, args.runs, run_once, folder,
                                             fingerprint, write_file=not args.dry_run)
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None
    console.print(baseline_diff.diff_table(recording.old, recording.new))
    console.print(("dry run: would write " if args.dry_run else "wrote ") + str(recording.path),
                  highlight=False)
    return 0
