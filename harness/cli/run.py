"""`harness run`: fork pytest with the harness plugin, forward signals, follow its events."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from harness.cli.common import INTERRUPTED, USAGE_ERROR, UsageProblem, _last_error_line
from harness.config import selectors
from harness.records import runfolder
from harness.report import model as report
from harness.runs import pytest_process


_POLL_S = 0.1


def cmd_run(args, console: Console, pytest_args: list[str]) -> int:
    # pytest starts first (it takes a second to import and collect); the CLI checks the whole
    # configuration meanwhile and stops it again if that is broken. Nothing before the fork
    # may import numpy or start a thread (see harness/runs/pytest_process.py).
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
    command = pytest_process.harness_args(targets=args.targets, run_dir=run_dir,
                                          artifacts=artifacts,
                                          extra=[*scaleout_args, *workers, *pytest_args])
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
    from harness.runs import sharding

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
