"""Helpers of the run recorder that are not hooks: the thread cap of a test process, a test's
outcome, message and log from pytest's reports, SIGTERM as KeyboardInterrupt (deferred while
the final report is written), the grouping error of a test, and the collection lister of
`harness list`."""
from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

import pytest


from harness.config import selectors
from harness.records import runfolder


THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                    "TF_NUM_INTEROP_THREADS")
_MAX_MESSAGE = 500


def _is_worker(config) -> bool:
    return hasattr(config, "workerinput")


def cap_threads(config, settings) -> int:
    """Threads per test process: the configured number, else cores / xdist workers. Set in the
    environment (xdist workers inherit it; TF/OpenMP read it at import) and in torch if it is
    already imported."""
    if _is_worker(config):
        workers = int(config.workerinput.get("workercount", 1))
    else:
        workers = int(getattr(config.option, "numprocesses", 0) or 0)
    threads = settings.threads_per_worker or max(1, (os.cpu_count() or 1) // max(1, workers))
    for name in THREAD_VARIABLES:
        current = os.environ.get(name, "")
        if not (current.isdigit() and 0 < int(current) <= threads):
            os.environ[name] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    return threads


def _phase_outcome(test_report, crashed: bool) -> str | None:
    if crashed:
        return "failed"
    xfail = hasattr(test_report, "wasxfail")
    if test_report.when == "call":
        if xfail:
            return "xfailed" if test_report.skipped else "xpassed"
        return test_report.outcome
    if test_report.failed:
        return "error"
    if test_report.skipped:
        return "xfailed" if xfail else "skipped"
    return None


def _worker_id(test_report) -> str | None:
    gateway = getattr(getattr(test_report, "node", None), "gateway", None)
    return getattr(gateway, "id", None)


def _short_message(test_report) -> str:
    crash = getattr(test_report.longrepr, "reprcrash", None)
    if crash is not None and crash.message:
        text = crash.message
    elif isinstance(test_report.longrepr, tuple) and len(test_report.longrepr) == 3:
        text = str(test_report.longrepr[2])  # skip: (file, line, reason)
    else:
        lines = [line for line in test_report.longreprtext.splitlines() if line.strip()]
        text = lines[-1] if lines else test_report.outcome
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE - 3] + "..."


def _write_test_log(path: Path, record: dict) -> None:
    parts = [f"test: {record['nodeid']}", f"group: {record['group']}",
             f"outcome: {record['outcome']}", f"seconds: {record['seconds']}"]
    if record["worker"]:
        parts.append(f"worker: {record['worker']}")
    parts.append("")
    for title, content in record["sections"]:
        parts += [f"----- {title} -----", content.rstrip("\n"), ""]
    if not record["sections"]:
        parts += ["(no captured output)", ""]
    for when, text in record["failures"]:
        parts += [f"----- failure ({when}) -----", text.rstrip("\n"), ""]
    runfolder.write_atomic(path, "\n".join(parts))


def _sigterm_to_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


class _signals_deferred:
    """Ignore SIGINT/SIGTERM while the final report is written, so a second Ctrl-C cannot
    leave it half-written (main thread only; elsewhere signals are not ours to handle)."""

    def __enter__(self):
        self.saved = None
        if threading.current_thread() is threading.main_thread():
            self.saved = {sig: signal.signal(sig, signal.SIG_IGN)
                          for sig in (signal.SIGINT, signal.SIGTERM)}

    def __exit__(self, *exc):
        for sig, handler in (self.saved or {}).items():
            signal.signal(sig, handler)


def _grouping_error(settings, nodeid: str, names: list[str]) -> pytest.CollectReport:
    if names:
        what = (f"{nodeid} belongs to {len(names)} selector groups ({', '.join(names)}); "
                "a regression test must be in exactly one (drop a marker or narrow the paths/node_ids "
                f"in {selectors.GROUPS_FILE})")
    else:
        paths = ", ".join(p for g in settings.groups.values() for p in g.paths) or "-"
        markers = ", ".join(g.marker for g in settings.groups.values() if g.marker) or "-"
        what = (f"{nodeid} is under {settings.suite_root}/ but belongs to no selector group "
                f"(move it under one of: {paths}; or mark it with one of: {markers}; "
                f"or list it in {selectors.GROUPS_FILE})")
    return pytest.CollectReport(nodeid, "failed", longrepr=what, result=[])


class CollectionLister:
    """`--harness-collect-json FILE`: the selected ids with their groups, and collection errors
    (what `harness list` shows)."""

    def __init__(self, target: Path, group_property: str):
        self.target, self.group_property = target, group_property
        self.errors: list[dict] = []

    def pytest_collectreport(self, report):
        if report.failed:
            self.errors.append({"nodeid": report.nodeid, "message": report.longreprtext.strip()})

    def pytest_collection_finish(self, session):
        tests = [{"nodeid": item.nodeid, "group": dict(item.user_properties).get(self.group_property)}
                 for item in session.items]
        runfolder.write_json_atomic(self.target, {"tests": tests, "errors": self.errors})
