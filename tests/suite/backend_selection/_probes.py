"""The backend_selection group's observations (_route_probe.py): the subprocess probes,
started together and read back as JSON, and the PyTorch route, observed in this process."""
import json
import subprocess
from pathlib import Path

import pytest

from suite_support import REPO_ROOT, python_command, subprocess_env

from ._route_probe import observe_route

PROBE = Path(__file__).with_name("_route_probe.py")
PROBE_TIMEOUT_S = 300
# For the tests that wait for a probe (the first one waits while all of them run): the
# per-test timeout the harness derives from the group budget assumes each test does only its
# own share; a hung probe is killed after PROBE_TIMEOUT_S instead.
WAITS_FOR_PROBES = pytest.mark.timeout(PROBE_TIMEOUT_S + 60)
IN_PROCESS = "pytorch"
# fixture name -> the subprocess probe modes its observations come from
FIXTURE_MODES = {"policy_observations": ("policy",), "route_observations": ("tensorflow",)}


class Probes:
    """The probe processes. start(modes) launches those not yet running; observations(mode)
    waits for `mode` (starting it if need be) and parses its JSON - or, for the PyTorch route,
    observes it here while the TensorFlow probe runs (each route loads the other's archive)."""

    def __init__(self, data: Path, work: Path):
        self.data, self.work = data, work
        self.processes: dict[str, subprocess.Popen] = {}
        self.results: dict[str, dict] = {}

    def start(self, modes) -> None:
        for mode in sorted(set(modes) - set(self.processes)):
            self.processes[mode] = subprocess.Popen(
                python_command(str(PROBE), mode, str(self.data), str(self.work)),
                cwd=REPO_ROOT, env=subprocess_env(threads=1), text=True,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def observations(self, mode: str) -> dict:
        if mode not in self.results and mode == IN_PROCESS:
            self.start(("tensorflow",))
            self.results[mode] = observe_route(mode, self.data, self.work)
        if mode not in self.results:
            self.start((mode,))
            process = self.processes[mode]
            try:
                stdout, stderr = process.communicate(timeout=PROBE_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                stdout, stderr = process.communicate()
            lines = stdout.strip().splitlines()
            if process.returncode != 0 or not lines:
                pytest.fail(f"probe {mode!r} failed (exit {process.returncode}):\n{stderr[-3000:]}")
            self.results[mode] = json.loads(lines[-1])
        return self.results[mode]

    def close(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.communicate()
