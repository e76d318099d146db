"""Enumerate mutants with cosmic-ray's operators and run each against its component's tests.

cosmic-ray mutates a module on disk (`cosmic_ray.mutating.use_mutation`, which puts the original
back afterwards) and runs an arbitrary test command in a fresh process. That fits this project:
TensorFlow is not fork-safe once initialised and the tests start CLIs with `python -m`, so every
mutant gets a fresh `python -m pytest -x` process that imports the mutated file from disk.

The project is never mutated in place: each worker mutates its own scratch copy of the project
(a temporary folder, removed afterwards), so an interrupted run leaves the checkout untouched
and two workers never see each other's mutants. Each test process runs in its copy with
PYTHONPATH pointing there (a child `python -m ptycho...` imports the mutated copy too),
PYTHONDONTWRITEBYTECODE (a mutant written within the same second as the original must not be
served from a stale .pyc), HARNESS_ARTIFACTS inside the copy, and one thread per framework.

Outcomes: killed (the tests failed, errored or could not even import the mutant: pytest exit
1-4), survived (exit 0), timed_out (ran past the component's timeout: the unmutated run's time
x timeout_factor, at least timeout_min_s; counted as detected, as Stryker does: a hang is noticed)
and error (the test command could not run, or exit 5: no test collected).
"""
from __future__ import annotations

import contextlib
import difflib
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from harness.config.components import Component, Settings
from harness.verdicts.mutation import ERROR, KILLED, SURVIVED, TIMED_OUT

FORBID_ENV = "HARNESS_FORBID_IMPORTS"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")
_COPY_IGNORED = (".git", "__pycache__", ".nox", ".pytest_cache", "node_modules", "*.egg-info",
                 ".mutation-artifacts")
_DIFF_CONTEXT = 1
HARNESS_HOME = Path(__file__).resolve().parents[2]   # the folder holding this harness package


@dataclass(frozen=True)
class Mutant:
    component: str
    file: str            # posix path relative to the project root
    operator: str        # cosmic-ray operator name
    occurrence: int      # cosmic-ray's index of this position among the operator's positions
    line: int
    column: int
    definition: str | None

    @property
    def id(self) -> str:
        """Unique and stable while the file does not change; never contains '::', so the shard
        planner (harness.sharding) treats every mutant as a unit of its own."""
        return f"{self.file}@{self.operator}#{self.occurrence}"

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class Result:
    mutant: Mutant
    outcome: str
    seconds: float
    returncode: int | None = None
    killed_by: str | None = None     # the first failing test line, e.g. FAILED tests/...::t - ...
    diff: str = ""
    equivalent: str | None = None    # the reason, when selectors/equivalent_mutants.toml has it

    def as_dict(self) -> dict:
        data = asdict(self.mutant)
        data.update(id=self.mutant.id, outcome=self.outcome, seconds=round(self.seconds, 3),
                    returncode=self.returncode, killed_by=self.killed_by, diff=self.diff,
                    equivalent=self.equivalent)
        return data


@dataclass
class Baseline:
    """The unmutated run of a component's tests in a scratch copy."""
    component: str
    seconds: float
    returncode: int | None
    output: str
    timeout_s: float = 0.0
    command: list[str] = field(default_factory=list)


class BaselineFailed(Exception):
    """A component's tests fail without any mutant: its score would mean nothing."""


def _operator(name: str):
    import cosmic_ray.plugins

    return cosmic_ray.plugins.get_operator(name)()


def enumerate_mutants(project_root: Path, component: Component,
                      settings: Settings) -> list[Mutant]:
    """Every mutant of the component's modules, in file / operator / position order."""
    from cosmic_ray.ast import ast_nodes, get_ast_from_path
    from cosmic_ray.ast.ast_query import ASTQuery

    mutants = []
    for relative in component.paths:
        module = get_ast_from_path(Path(project_root) / relative)
        for name in settings.operators:
            operator = _operator(name)
            seen = set()
            positions = ((node, start) for node in ast_nodes(module)
                         for start, _ in operator.mutation_positions(node))
            for occurrence, (node, start) in enumerate(positions):
                definition = ASTQuery(node).get_definition_name()
                if component.functions and definition not in component.functions:
                    continue
                if settings.one_per_position and start in seen:
                    continue
                seen.add(start)
                mutants.append(Mutant(component.name, relative, name, occurrence, start[0],
                                      start[1], definition))
    return mutants


# ---------------------------------------------------------------- scratch copies

def make_workspace(project_root: Path, exclude: Iterable[Path] = ()) -> Path:
    """A scratch copy of the project (sources, tests, selectors; no .git, caches or run
    folders) in a new temporary folder."""
    project_root = Path(project_root).resolve()
    excluded = {Path(p).resolve() for p in exclude}
    patterns = shutil.ignore_patterns(*_COPY_IGNORED)

    def ignore(folder: str, names: list[str]) -> set[str]:
        skipped = set(patterns(folder, names))
        skipped.update(n for n in names if (Path(folder) / n).resolve() in excluded)
        return skipped

    workspace = Path(tempfile.mkdtemp(prefix="harness-mutation-"))
    shutil.copytree(project_root, workspace / "project", ignore=ignore, symlinks=True)
    return workspace / "project"


def remove_workspace(workspace: Path) -> None:
    shutil.rmtree(Path(workspace).parent, ignore_errors=True)


# ---------------------------------------------------------------- running tests

def test_command(component: Component, targets: list[str]) -> list[str]:
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"]
    if component.forbid_imports:
        command += ["-p", "harness.runs.importguard"]
    return command + targets


def test_environment(workspace: Path, component: Component, settings: Settings) -> dict:
    env = dict(os.environ)
    env.update({name: str(settings.threads) for name in THREAD_VARIABLES})
    # the copy first; then this harness (for -p harness.runs.importguard in a project
    # that does not vendor it), then what was there
    env["PYTHONPATH"] = os.pathsep.join([str(workspace), str(HARNESS_HOME),
                                         *filter(None, [env.get("PYTHONPATH")])])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["HARNESS_ARTIFACTS"] = str(workspace / ".mutation-artifacts")
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("PYTEST_XDIST_WORKER", None)
    if component.forbid_imports:
        env[FORBID_ENV] = ",".join(component.forbid_imports)
    else:
        env.pop(FORBID_ENV, None)
    return env


class _Processes:
    """Live test processes, so that an interrupt can end them (each has its own session)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.live: set[subprocess.Popen] = set()
        self.stopping = False

    def kill_all(self) -> None:
        with self.lock:
            self.stopping = True
            for proc in list(self.live):
                _kill_group(proc)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (AttributeError, ProcessLookupError, PermissionError, OSError):
        proc.kill()


def run_tests(command: list[str], cwd: Path, env: dict, timeout: float | None,
              processes: _Processes | None = None) -> tuple[int | None, str, float, bool]:
    """(returncode, output, seconds, timed_out); the whole process group is killed on timeout."""
    start = time.monotonic()
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    if processes is not None:
        with processes.lock:
            processes.live.add(proc)
    try:
        output, _ = proc.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        output, _ = proc.communicate()
        timed_out = True
    finally:
        if processes is not None:
            with processes.lock:
                processes.live.discard(proc)
    return (None if timed_out else proc.returncode, output.decode("utf-8", "replace"),
            time.monotonic() - start, timed_out)


def _first_failure(output: str) -> str | None:
    for line in output.splitlines():
        if line.startswith(("FAILED ", "ERROR ")):
            return line[:300]
    for line in output.splitlines():
        if line.startswith("E "):
            return line[:300]
    return None


def _diff(original: str, mutated: str, relative: str) -> str:
    return "\n".join(difflib.unified_diff(original.splitlines(), mutated.splitlines(),
                                          f"a/{relative}", f"b/{relative}", lineterm="",
                                          n=_DIFF_CONTEXT))


def baseline(workspace: Path, component: Component, targets: list[str], settings: Settings,
             processes: _Processes | None = None) -> Baseline:
    command = test_command(component, targets)
    code, output, seconds, _ = run_tests(command, workspace,
                                         test_environment(workspace, component, settings),
                                         None, processes)
    result = Baseline(component.name, seconds, code, output,
                      max(settings.timeout_min_s, settings.timeout_factor * seconds), command)
    if code != 0:
        tail = " | ".join(output.strip().splitlines()[-3:])
        raise BaselineFailed(f"component {component.name!r}: its tests fail without any mutant "
                             f"(exit {code}: {' '.join(command[1:])}; {tail}); fix the tests "
                             "or the component's tests in selectors/components.toml first")
    return result


def run_mutant(workspace: Path, mutant: Mutant, component: Component, targets: list[str],
               settings: Settings, timeout: float,
               processes: _Processes | None = None) -> Result:
    from cosmic_ray.mutating import use_mutation

    path = workspace / mutant.file
    with contextlib.ExitStack() as stack:
        try:
            original, mutated = stack.enter_context(
                use_mutation(path, _operator(mutant.operator), mutant.occurrence))
        except Exception as exc:  # noqa: BLE001 - an operator that cannot handle this node
            # (cosmic-ray 8.7's ExceptionReplacer on some `except (a.B, C)` raises
            # AttributeError): the file is restored, the mutant is an error, the run goes on
            return Result(mutant, ERROR, 0.0, killed_by=f"cosmic-ray could not apply "
                          f"{mutant.operator} here: {type(exc).__name__}: {exc}")
        if mutated is None:
            return Result(mutant, ERROR, 0.0, killed_by="cosmic-ray made no mutation at this "
                                                         "occurrence (the source changed?)")
        code, output, seconds, timed_out = run_tests(
            test_command(component, targets), workspace,
            test_environment(workspace, component, settings), timeout, processes)
    diff = _diff(original, mutated, mutant.file)
    if timed_out:
        return Result(mutant, TIMED_OUT, seconds, None, f"timeout after {timeout:.0f} s", diff)
    if code == 0:
        return Result(mutant, SURVIVED, seconds, code, None, diff)
    if code in (1, 2, 3, 4):
        return Result(mutant, KILLED, seconds, code, _first_failure(output), diff)
    return Result(mutant, ERROR, seconds, code, " | ".join(output.strip().splitlines()[-2:]),
                  diff)


def run_all(project_root: Path, components: dict[str, Component], targets: dict[str, list[str]],
            mutants: list[Mutant], settings: Settings, workers: int,
            exclude: Iterable[Path] = (),
            progress: Callable[[str, object], None] = lambda kind, item: None,
            ) -> tuple[dict[str, Baseline], list[Result]]:
    """Baselines of the components that have mutants, then every mutant; `workers` scratch
    copies in parallel. KeyboardInterrupt ends the live test processes and propagates."""
    names = list(dict.fromkeys(m.component for m in mutants))
    workers = max(1, min(workers, len(mutants) or 1))
    spaces: queue.Queue[Path] = queue.Queue()
    made = []
    processes = _Processes()
    try:
        for _ in range(workers):
            made.append(make_workspace(project_root, exclude))
            spaces.put(made[-1])

        def with_space(job):
            if processes.stopping:
                return None
            space = spaces.get()
            try:
                return job(space)
            finally:
                spaces.put(space)

        with ThreadPoolExecutor(max_workers=workers) as pool:
            try:
                futures = {name: pool.submit(with_space, lambda s, n=name: baseline(
                    s, components[n], targets[n], settings, processes)) for name in names}
                baselines = {name: future.result() for name, future in futures.items()}
                for item in baselines.values():
                    progress("baseline", item)
                pending = [pool.submit(with_space, lambda s, m=m: run_mutant(
                    s, m, components[m.component], targets[m.component], settings,
                    baselines[m.component].timeout_s, processes)) for m in mutants]
                results = []
                for future in pending:
                    results.append(future.result())
                    progress("mutant", results[-1])
            except BaseException:
                processes.kill_all()
                raise
    finally:
        for space in made:
            remove_workspace(space)
    return baselines, results
