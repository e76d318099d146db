"""harness.runs.pytest_process: `harness run` forks its pytest process, or starts it as
`python -m pytest` (where fork is missing, or --harness-start subprocess); both behave alike.
The starting side runs in a subprocess here, as in the CLI (a single-threaded process; forking
a test worker is not)."""
import json
import os
import subprocess
import sys

import pytest

from harness.runs.pytest_process import START_METHODS

# Starts `pytest ARGS` (argv[1] names the start method) in the current folder and prints what
# the parent saw.
FORK_DRIVER = """
import json, sys, time
from pathlib import Path
from harness.runs.pytest_process import start_pytest

with open("pytest.log", "wb") as log:
    child = start_pytest(sys.argv[2:], Path.cwd(), log, sys.argv[1])
    seen = {"pid": child.pid, "early": child.wait(timeout=0.01)}
    if Path("kill-me").exists():
        while not Path("started").exists():
            time.sleep(0.02)
        seen["running"] = child.poll()
        child.kill()
    seen["code"] = child.wait()
print(json.dumps(seen))
"""

LIKE_PYTHON_M_PYTEST = """
import atexit, os, sys
from pathlib import Path

HERE = str(Path(__file__).parent)
atexit.register(lambda: Path(HERE, "exit-handler-ran").write_text("yes"))

def test_runs_where_python_m_pytest_would():
    assert os.getcwd() == HERE and sys.path[0] == HERE
    assert os.getsid(0) == os.getpid()  # its own session: a terminal's Ctrl-C is the CLI's
    print("printed by the test")

def test_fails():
    assert 1 == 2
"""


def fork(pytester, method: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", FORK_DRIVER, method, *args], cwd=pytester.path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize("method", START_METHODS)
def test_the_child_runs_pytest_like_python_m_pytest(pytester, method):
    pytester.makepyfile(test_forked=LIKE_PYTHON_M_PYTEST)
    seen = fork(pytester, method, "-p", "no:cacheprovider", "-s", "test_forked.py")
    assert seen["early"] is None  # wait(timeout) returns None while pytest runs
    assert seen["code"] == 1  # pytest's exit code: a test failed
    log = (pytester.path / "pytest.log").read_text()
    assert "printed by the test" in log and "1 failed, 1 passed" in log
    assert (pytester.path / "exit-handler-ran").read_text() == "yes"  # before os._exit


@pytest.mark.parametrize("method", START_METHODS)
def test_a_killed_child_reports_the_signal(pytester, method):
    pytester.makepyfile(test_hangs="""
        import time
        from pathlib import Path

        def test_hangs():
            Path("started").write_text("yes")
            time.sleep(120)
    """)
    (pytester.path / "kill-me").write_text("yes")
    seen = fork(pytester, method, "-p", "no:cacheprovider", "test_hangs.py")
    assert seen["running"] is None and seen["code"] == -9


def test_the_cli_forks_before_it_imports_numpy_or_starts_a_thread(suite):
    """OpenBLAS sizes its thread pool at numpy's import, before the plugin caps the threads;
    and a fork copies only the forking thread."""
    spy = """
import json, sys, threading
from harness import cli
from harness.runs import pytest_process

class Spy:
    def __init__(self, *args, **kwargs):
        print(json.dumps({"numpy": "numpy" in sys.modules, "threads": threading.active_count()}))
        raise SystemExit(0)

pytest_process.ForkedPytest = Spy
cli.main(["run", "per_pr"])
"""
    done = subprocess.run([sys.executable, "-c", spy], cwd=suite.path, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "HARNESS_START": "fork"})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {"numpy": False, "threads": 1}
