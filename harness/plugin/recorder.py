"""The run recorder: the core of the harness's pytest plugin (harness.plugin loads it).

Always (cheap): load selectors/*.toml (a broken file is a UsageError), register the group
markers and `persistent_artifacts`, mark every test under the suite root with its group and
report a test in no group, or in two, as a collection error; provide the `artifact_dir` fixture
(a tmp folder outside a harness run).

With `--harness-run CADENCE|GROUP[,...]` (what `harness run` passes): collect only the suite
root, deselect everything outside the selected groups, cap threads per process, and - unless
`--collect-only` - record a run folder (`RunRecorder`): report.json (status 'running' at once,
final at the end), report.md, junit.xml, events.jsonl, logs/<test>.log, tests/<test>/
artifacts, a ledger line and retention. SIGTERM becomes KeyboardInterrupt so an interrupted run
still writes its report. Under pytest-xdist the recorder runs on the controller and aggregates
the workers' reports; workers only run tests and archive their artifacts.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from harness.config import selectors
from harness.measure import environment
from harness.plugin.session import (_MAX_MESSAGE, CollectionLister, _grouping_error, _is_worker,
                                    _phase_outcome, _short_message, _signals_deferred,
                                    _sigterm_to_interrupt, _worker_id, _write_test_log, cap_threads)
from harness.records import runfolder
from harness.report import model as report
from harness.runs import finish

_CONFIG = pytest.StashKey[selectors.HarnessConfig]()
_SELECTION = pytest.StashKey["selectors.Selection | None"]()
_RECORDER = pytest.StashKey["RunRecorder"]()
_PHASES = pytest.StashKey[dict]()
_LOG_LEVEL = pytest.StashKey[int]()

GROUP_PROPERTY = "harness_group"
ARTIFACTS_PROPERTY = "harness_artifacts"
VALIDATION_PROPERTY = "harness_validation"
TIMING_PROPERTY = "harness_timing"  # {wall_s, cpu_s, ...}: harness.plugin.budgets measures it
PERSISTENT_MARKER = "persistent_artifacts"


def pytest_addoption(parser):
    group = parser.getgroup("harness", "regression harness (see `harness --help`)")
    group.addoption("--harness-run", metavar="CADENCE|GROUP[,...]",
                    help="run a cadence or selector group and record a run folder")
    group.addoption("--harness-artifacts", metavar="DIR",
                    help="harness root for run folders and the ledger (default: $HARNESS_ARTIFACTS "
                         "or [artifacts] root in selectors/harness.toml)")
    group.addoption("--harness-run-dir", metavar="DIR",
                    help="record into this existing run folder (the `harness` CLI creates it)")
    group.addoption("--harness-collect-json", metavar="FILE",
                    help="write the selected test ids, their groups and collection errors as JSON")


@pytest.hookimpl(tryfirst=True)  # before junitxml reads option.xmlpath
def pytest_configure(config):
    try:
        settings = selectors.load(config.rootpath)
    except selectors.ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[_CONFIG] = settings
    for group in settings.groups.values():
        if group.marker:
            config.addinivalue_line(
                "markers", f"{group.marker}: regression group {group.name!r}: {group.description}")
    config.addinivalue_line(
        "markers", f"{PERSISTENT_MARKER}: keep this test's artifact_dir even when it passes")

    targets = config.getoption("harness_run")
    selection = None
    if targets:
        try:
            selection = settings.resolve([t for t in targets.split(",") if t])
        except selectors.ConfigError as exc:
            raise pytest.UsageError(f"--harness-run: {exc}") from None
    config.stash[_SELECTION] = selection
    listing = config.getoption("harness_collect_json")
    if listing and not _is_worker(config):
        config.pluginmanager.register(CollectionLister(Path(listing).resolve(), GROUP_PROPERTY), "harness-lister")
    if selection is None:
        return
    threads = cap_threads(config, settings)
    if settings.package_logger:  # [run] package_logger of selectors/harness.toml
        package_logger = logging.getLogger(settings.package_logger)
        config.stash[_LOG_LEVEL] = package_logger.level
        package_logger.setLevel(logging.DEBUG)  # its debug records reach the per-test logs
    if _is_worker(config) or config.option.collectonly:
        return
    recorder = RunRecorder(config, settings, selection, threads)
    config.stash[_RECORDER] = recorder
    if not config.option.xmlpath:
        config.option.xmlpath = str(recorder.run_dir / runfolder.JUNIT_XML)
    config.pluginmanager.register(recorder, "harness-recorder")


def pytest_report_header(config):
    recorder = config.stash.get(_RECORDER, None)
    if recorder is not None:
        return f"harness: {recorder.selection.label} -> {recorder.run_dir}"
    return None


def pytest_ignore_collect(collection_path, config):
    selection = config.stash.get(_SELECTION, None)
    if selection is None:
        return None
    try:
        relative = collection_path.relative_to(config.rootpath).as_posix()
    except ValueError:
        return None
    settings = config.stash[_CONFIG]
    return None if settings.may_contain_selected(relative, selection) else True


@pytest.hookimpl(tryfirst=True)  # group markers must exist before `-m` deselects
def pytest_collection_modifyitems(session, config, items):
    settings = config.stash[_CONFIG]
    selection = config.stash.get(_SELECTION, None)
    kept, deselected, errors = [], [], []
    for item in items:
        if not settings.in_suite(item.nodeid):
            (deselected if selection else kept).append(item)
            continue
        markers = {mark.name for mark in item.iter_markers()}
        names = settings.groups_of(item.nodeid, markers)
        if len(names) != 1:
            errors.append(_grouping_error(settings, item.nodeid, names))
            continue
        group = settings.groups[names[0]]
        if group.marker and group.marker not in markers:
            item.add_marker(group.marker)
        item.user_properties.append((GROUP_PROPERTY, group.name))
        if selection is not None and group.name not in selection.groups:
            deselected.append(item)
        else:
            kept.append(item)
    items[:] = kept
    if deselected:
        config.hook.pytest_deselected(items=deselected)
    for error in errors:
        config.hook.pytest_collectreport(report=error)


def pytest_unconfigure(config):
    if _LOG_LEVEL in config.stash:
        logging.getLogger(config.stash[_CONFIG].package_logger).setLevel(config.stash[_LOG_LEVEL])


def _test_name(config, nodeid: str) -> str:
    """The node id without the suite-root prefix: names of logs/ and tests/ entries."""
    suite_root = config.stash[_CONFIG].suite_root
    return nodeid[len(suite_root) + 1:] if nodeid.startswith(suite_root + "/") else nodeid


def _run_dir(config) -> Path | None:
    if _is_worker(config):
        value = config.workerinput.get("harness_run_dir")
        return Path(value) if value else None
    recorder = config.stash.get(_RECORDER, None)
    return recorder.run_dir if recorder is not None else None


class RunRecorder:
    """Controller-side recording of one harness run (registered as a plugin in run mode)."""

    def __init__(self, config, settings, selection, threads: int):
        self.config = config
        self.settings = settings
        self.selection = selection
        try:
            self.root = runfolder.resolve_root(settings.project_root, settings.artifacts_root,
                                               config.getoption("harness_artifacts"),
                                               config.invocation_params.dir)
        except runfolder.NotARootFolder as exc:
            raise pytest.UsageError(str(exc)) from None
        given = config.getoption("harness_run_dir")
        if given:
            self.run_dir = Path(given).resolve()
            if not self.run_dir.is_dir():
                raise pytest.UsageError(f"--harness-run-dir: {given}: no such folder "
                                        "(create it, or leave the option out)")
        else:
            self.run_dir = runfolder.create_run_folder(self.root, selection.label)
        (self.run_dir / runfolder.LOGS_DIR).mkdir(exist_ok=True)
        self.started = time.time()
        self.started_utc = runfolder.utc_iso()
        self.threads = threads
        self.environment = environment.collect(settings.project_root)
        self.fingerprint = environment.fingerprint(self.environment)
        self.fingerprint_hash = environment.fingerprint_hash(self.fingerprint)
        self.partial: dict[str, dict] = {}
        self.finished: dict[str, dict] = {}
        self.collection_errors: list[dict] = []
        self.crashed_workers: list[str] = []
        self.collected: int | None = None
        self.interrupted = False
        self.final_report: dict | None = None
        self._events = open(self.run_dir / runfolder.EVENTS, "a", encoding="utf-8")
        self._event("start", run_id=self.run_dir.name, label=selection.label,
                    groups=list(selection.groups), pid=os.getpid())
        self._write_report(self._build("running"))
        self._previous_sigterm = None
        if threading.current_thread() is threading.main_thread():
            self._previous_sigterm = signal.signal(signal.SIGTERM, _sigterm_to_interrupt)

    # -- events -----------------------------------------------------------------------------
    def _event(self, kind: str, **fields) -> None:
        if self._events.closed:
            return
        self._events.write(json.dumps({"event": kind, "time": round(time.time(), 3), **fields}) + "\n")
        self._events.flush()

    # -- collection -------------------------------------------------------------------------
    def pytest_collection_finish(self, session):
        self.collected = len(session.items)
        self._event("collected", total=self.collected)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids):
        if self.collected is None:
            self.collected = len(ids)
            self._event("collected", total=self.collected)

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node):
        node.workerinput["harness_run_dir"] = str(self.run_dir)

    def pytest_collectreport(self, report):
        if report.failed:
            message = report.longreprtext.strip()
            self.collection_errors.append({"nodeid": report.nodeid, "message": message})
            self._event("collection_error", nodeid=report.nodeid, message=message[:_MAX_MESSAGE])

    # -- tests ------------------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)  # before junitxml: the validation list is not for junit.xml
    def pytest_runtest_logreport(self, report):
        record = self.partial.setdefault(report.nodeid, {
            "nodeid": report.nodeid, "group": None, "outcome": None, "seconds": 0.0,
            "start": None, "stop": None, "message": None, "failures": [], "sections": [],
            "worker": None, "crashed": False, "artifacts": None, "validation": [],
            "timing": None})
        properties = dict(report.user_properties)
        report.user_properties = [p for p in report.user_properties
                                  if p[0] not in (VALIDATION_PROPERTY, TIMING_PROPERTY)]
        record["group"] = properties.get(GROUP_PROPERTY) or record["group"]
        record["artifacts"] = properties.get(ARTIFACTS_PROPERTY) or record["artifacts"]
        record["validation"] = properties.get(VALIDATION_PROPERTY) or record["validation"]
        record["timing"] = properties.get(TIMING_PROPERTY) or record["timing"]
        record["worker"] = _worker_id(report) or record["worker"]
        record["seconds"] += report.duration or 0.0
        if report.start:
            record["start"] = min(record["start"] or report.start, report.start)
        if report.stop:
            record["stop"] = max(record["stop"] or report.stop, report.stop)
        if report.sections:
            record["sections"] = list(report.sections)  # cumulative: the last phase has them all
        crashed = report.when not in ("setup", "call", "teardown")  # xdist's "???" crash report
        outcome = _phase_outcome(report, crashed)
        current = record["outcome"]
        # the call phase decides; a later failure or error overrides a success or skip
        if outcome and (current is None or (outcome in ("failed", "error")
                                            and current not in ("failed", "error"))):
            record["outcome"] = outcome
        if report.failed or outcome in ("skipped", "xfailed"):
            record["message"] = record["message"] or _short_message(report)
        if report.failed:
            record["failures"].append((report.when, report.longreprtext))
        if crashed:
            record["crashed"] = True
        if report.when == "teardown" or crashed:
            self._finish(record)

    def _finish(self, record: dict) -> None:
        self.partial.pop(record["nodeid"], None)
        record["outcome"] = record["outcome"] or "passed"
        record["group"] = record["group"] or self._group_by_path(record["nodeid"])
        record["seconds"] = round(record["seconds"], 3)
        log_path = runfolder.log_path_for(self.run_dir, _test_name(self.config, record["nodeid"]))
        _write_test_log(log_path, record)
        record["log"] = log_path.relative_to(self.run_dir).as_posix()
        del record["sections"], record["failures"]
        self.finished[record["nodeid"]] = record
        self._event("test", nodeid=record["nodeid"], group=record["group"],
                    outcome=record["outcome"], seconds=record["seconds"],
                    message=(record["message"] or "")[:_MAX_MESSAGE],
                    invalid=sum(not v["ok"] for v in record["validation"]))

    def _group_by_path(self, nodeid: str) -> str:
        # a crashed test whose setup report never arrived: its group by path / node id
        names = self.settings.groups_of(nodeid, set())
        return names[0] if len(names) == 1 else "unknown"

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error):
        if error and error != "keyboard-interrupt":
            self.crashed_workers.append(f"{node.gateway.id}: {error}")

    def pytest_keyboard_interrupt(self, excinfo):
        # Session.Interrupted (collection errors, xdist stop) is a KeyboardInterrupt too.
        if not excinfo.errisinstance(pytest.Session.Interrupted):
            self.interrupted = True

    # -- end of run -------------------------------------------------------------------------
    @pytest.hookimpl(trylast=True)  # after the runner tore down fixtures
    def pytest_sessionfinish(self, session, exitstatus):
        with _signals_deferred():
            for record in list(self.partial.values()):  # started, never finished
                if record["outcome"] in ("failed", "error"):
                    self._finish(record)
            status = report.decide_status(
                tests=list(self.finished.values()), collection_errors=self.collection_errors,
                interrupted=self.interrupted,
                internal_error=exitstatus in (pytest.ExitCode.INTERNAL_ERROR,
                                              pytest.ExitCode.USAGE_ERROR))
            final = self._build(status, exitstatus)
            self._apply_findings(final)
            finish.write_reports(self.run_dir, final, self._warn,
                                 _html_sections(self.config, final, self.run_dir))
            self._event("finished", status=final["status"], exit_code=final["exit_code"])
            self._events.close()
            self.final_report = final
            finish.record(self.root, final, self.settings.retention, self._warn)
            session.exitstatus = final["exit_code"]

    def _build(self, status: str, exitstatus=None) -> dict:
        finished = status != "running"
        return report.build(
            run_id=self.run_dir.name, selection=self.selection, config=self.settings,
            tests=list(self.finished.values()), collection_errors=self.collection_errors,
            status=status, started_utc=self.started_utc,
            finished_utc=runfolder.utc_iso() if finished else None,
            wall_seconds=time.time() - self.started if finished else 0.0,
            environment=self.environment, fingerprint=self.fingerprint,
            fingerprint_hash=self.fingerprint_hash,
            pytest_info={"args": list(self.config.invocation_params.args),
                         "exitstatus": int(exitstatus) if exitstatus is not None else None,
                         "workers": int(getattr(self.config.option, "numprocesses", 0) or 0),
                         "threads_per_worker": self.threads,
                         "pid": os.getpid(), **_scaleout_info(self.config)},
            collected=self.collected, crashed_workers=self.crashed_workers)

    def _apply_findings(self, final: dict) -> None:
        if final["pytest"].get("shard"):  # a part of a cadence: judged whole by `harness merge`
            report.apply_findings(final, [{
                "source": "harness", "title": "Budgets and escalations deferred", "severity": "info",
                "items": [f"shard {final['pytest']['shard']['spec']}: budgets and escalations are "
                          "judged on the merged run (`harness merge`)"]}])
            return
        try:
            sections = [f for result in self.config.hook.pytest_harness_findings(
                config=self.config, report=final) if result for f in result]
            report.apply_findings(final, sections)
        except Exception as exc:  # a broken checker must not cost the report
            report.apply_findings(final, [{
                "source": "harness", "title": "findings hook failed", "severity": "warning",
                "items": [f"{type(exc).__name__}: {exc}"]}])
            if final["status"] == "passed":
                final["status"] = "error"
                final["exit_code"] = report.exit_code("error")

    def _warn(self, message: str) -> None:
        terminal = self.config.pluginmanager.get_plugin("terminalreporter")
        if terminal is not None:
            terminal.write_line(f"harness: {message}", red=True)

    def _write_report(self, data: dict) -> None:
        runfolder.write_json_atomic(self.run_dir / runfolder.REPORT_JSON, data)

    def pytest_terminal_summary(self, terminalreporter):
        final = self.final_report
        if final is not None:
            terminalreporter.write_sep(
                "-", f"harness {final['selection']['label']}: {final['status']} "
                     f"(exit {final['exit_code']}) -> {self.run_dir}")

    def pytest_unconfigure(self, config):
        if self.final_report is None:  # sessionfinish never ran: do not look complete-and-green
            try:
                final = self._build("error")
                self._write_report(final)
            except Exception:
                pass
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)
        if not self._events.closed:
            self._events.close()


def _html_sections(config, final: dict, run_dir: Path) -> list[str]:
    from harness.plugin import findings  # imported by pytest as a plugin first (assertion rewriting)

    return findings.html_sections(config, final, run_dir)


def _scaleout_info(config) -> dict:
    from harness.plugin import scaleout  # imported by pytest as a plugin first (assertion rewriting)

    return scaleout.info(config)
