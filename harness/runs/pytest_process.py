"""The pytest process of a `harness run`: forked from the CLI, or (where the platform has no
fork, or when asked: `--harness-start subprocess` / HARNESS_START=subprocess) started as
`python -m pytest` (SubprocessPytest). Both offer what the CLI uses: pid, poll, wait, kill,
terminate, kill_group. The rest of this docstring is about the fork.

A fork, not `python -m pytest`: the run skips a second interpreter start (~0.17 s on the CI
image) and the imports the CLI has already done, and the child ends with `os._exit` once pytest
has returned and its exit handlers have run, without tearing down the TensorFlow/torch module
graph object by object (~0.07 s). The CLI forks before it starts any thread or imports numpy
(OpenBLAS would size its thread pool before the harness plugin caps the threads; a fork copies
only the forking thread).

The child behaves like `python -m pytest ARGS` started in `cwd` in its own session (a terminal's
Ctrl-C reaches only the CLI, which hands pytest one SIGTERM) with stdout and stderr in `log`.
`ForkedPytest` offers the part of `subprocess.Popen` the CLI uses: pid, poll, wait, kill.
"""
from __future__ import annotations

import atexit
import os
import select
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import BinaryIO

_INTERNAL_ERROR = 3  # pytest.ExitCode.INTERNAL_ERROR, without importing pytest here
PLUGIN = "harness.plugin"
QUIET = ("-q", "-p", "no:cacheprovider")  # a session run by the harness, not by a person


def harness_args(*options: str, targets=(), run_dir: Path | None = None,
                 artifacts: Path | None = None, rootdir: Path | None = None,
                 extra=()) -> list[str]:
    """The one builder of a harness pytest session's arguments: `-p harness.plugin OPTIONS
    [--rootdir] [--harness-run TARGETS] [--harness-run-dir] [--harness-artifacts] EXTRA`.
    Paths are `--opt=path`: pytest must not take a path outside the project for a test path
    when it looks for its rootdir."""
    args = ["-p", PLUGIN, *options]
    if rootdir is not None:
        args.append(f"--rootdir={rootdir}")
    if targets:
        args += ["--harness-run", ",".join(dict.fromkeys(targets))]
    if run_dir is not None:
        args.append(f"--harness-run-dir={run_dir}")
    if artifacts is not None:
        args.append(f"--harness-artifacts={artifacts}")
    return [*args, *extra]


def pytest_command(*options: str, **kwargs) -> list[str]:
    """`python -m pytest` + harness_args(...): a harness session in a subprocess."""
    return [sys.executable, "-m", "pytest", *harness_args(*options, **kwargs)]
START_METHODS = ("fork", "subprocess")
START_ENV = "HARNESS_START"


def start_method(asked: str | None = None) -> str:
    """`asked`, else $HARNESS_START, else fork where the platform has it."""
    method = asked or os.environ.get(START_ENV) or ("fork" if hasattr(os, "fork") else "subprocess")
    if method not in START_METHODS:
        raise ValueError(f"{START_ENV}={method!r}: use one of {', '.join(START_METHODS)}")
    return "subprocess" if not hasattr(os, "fork") else method


def start_pytest(args: list[str], cwd: Path, log: BinaryIO, method: str | None = None):
    """The pytest child of a run: ForkedPytest or SubprocessPytest (see start_method)."""
    kind = ForkedPytest if start_method(method) == "fork" else SubprocessPytest
    return kind(args, cwd, log)


class SubprocessPytest:
    """`python -m pytest ARGS` in `cwd`, in a session / process group of its own, output in
    `log`: the start where fork is missing (Windows) or not wanted."""

    def __init__(self, args: list[str], cwd: Path, log: BinaryIO):
        group = ({"start_new_session": True} if os.name == "posix" else
                 {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)})
        self._process = subprocess.Popen([sys.executable, "-m", "pytest", *args], cwd=cwd,
                                         stdout=log, stderr=subprocess.STDOUT, **group)
        self.pid = self._process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.returncode

    def poll(self) -> int | None:
        return self._process.poll()

    def wait(self, timeout: float | None = None) -> int | None:
        try:
            return self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        if self.poll() is None:
            self._process.kill()

    def terminate(self) -> None:
        """Ask pytest to stop (SIGTERM; on Windows TerminateProcess)."""
        if self.poll() is None:
            self._process.terminate()

    def kill_group(self) -> None:
        """Kill pytest and whatever it started."""
        if self.poll() is None:
            if hasattr(os, "killpg"):
                os.killpg(self.pid, signal.SIGKILL)
            else:
                self._process.kill()


class ForkedPytest:
    def __init__(self, args: list[str], cwd: Path, log: BinaryIO):
        for stream in (sys.stdout, sys.stderr):  # or the child would print them a second time
            stream.flush()
        pid = os.fork()
        if pid == 0:  # the child never returns from here
            _run_pytest(args, cwd, log.fileno())
        self.pid = pid
        self.returncode: int | None = None
        self._pidfd = _pidfd_of(pid)

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self._exited(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit code, or None when the child is still running after `timeout` seconds."""
        if self.returncode is not None:
            return self.returncode
        if timeout is None:
            self._exited(os.waitpid(self.pid, 0)[1])
            return self.returncode
        if self._pidfd is not None:
            select.select([self._pidfd], [], [], timeout)
        else:
            time.sleep(min(timeout, 0.05))
        return self.poll()

    def kill(self) -> None:
        if self.returncode is None:
            os.kill(self.pid, signal.SIGKILL)

    def terminate(self) -> None:
        if self.returncode is None:
            os.kill(self.pid, signal.SIGTERM)

    def kill_group(self) -> None:
        if self.returncode is None:
            os.killpg(self.pid, signal.SIGKILL)

    def _exited(self, status: int) -> None:
        self.returncode = os.waitstatus_to_exitcode(status)
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None


def _pidfd_of(pid: int) -> int | None:
    """A descriptor that becomes readable when the child exits (Linux 5.3+), so that wait()
    wakes at once instead of polling; None where there is none."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _run_pytest(args: list[str], cwd: Path, log_fd: int) -> None:
    code = _INTERNAL_ERROR
    try:
        os.setsid()
        os.chdir(cwd)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.close(log_fd)
        sys.path.insert(0, str(cwd))  # as `python -m pytest` in cwd has it
        sys.argv = [sys.executable, "-m", "pytest", *args]
        import pytest

        code = int(pytest.main(args))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else _INTERNAL_ERROR
    except BaseException:  # noqa: BLE001 - whatever happens, the child must not return
        traceback.print_exc()
    finally:
        try:
            atexit._run_exitfuncs()  # logging.shutdown and the libraries' own exit handlers
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)
