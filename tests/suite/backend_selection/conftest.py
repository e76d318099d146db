"""Fixtures of the backend_selection group.

The subprocess probes (_route_probe.py: POLICY-001 with torch unimportable, and tiny real runs
through each route) start together, in the background, when the group's first test is set up,
so the in-process tests run while they work; a test that reads their observations waits for
the probe it needs. Only the probes the selected tests use are started.
"""
import json
import subprocess
from pathlib import Path

import pytest

from ptycho import params
from suite_support import REPO_ROOT, python_command, subprocess_env

PROBE = Path(__file__).with_name("_route_probe.py")
PROBE_TIMEOUT_S = 300
ROUTES = ("tensorflow", "pytorch")
# fixture name -> the probe modes its observations come from
FIXTURE_MODES = {"policy_observations": ("policy",), "route_observations": ROUTES}


class Probes:
    """The running probe processes; observations(mode) waits for one and parses its JSON."""

    def __init__(self, modes, data: Path, work: Path):
        self.processes = {
            mode: subprocess.Popen(python_command(str(PROBE), mode, str(data), str(work)),
                                   cwd=REPO_ROOT, env=subprocess_env(threads=1), text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for mode in modes}
        self.results = {}

    def observations(self, mode: str) -> dict:
        if mode not in self.results:
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


@pytest.fixture(scope="session")
def probes(request, simulated_dataset, tmp_path_factory):
    here = Path(__file__).parent
    needed = {mode for item in request.session.items if here in Path(item.path).parents
              for name, modes in FIXTURE_MODES.items() if name in item.fixturenames
              for mode in modes}
    launched = Probes(sorted(needed), simulated_dataset(),
                      tmp_path_factory.mktemp("backend-selection-probes"))
    yield launched
    launched.close()


@pytest.fixture(autouse=True)
def _probes_started_early(probes):
    """Start the probes with the group's first test (cheap after that)."""


@pytest.fixture(scope="session")
def policy_observations(probes):
    return probes.observations("policy")


@pytest.fixture(scope="session")
def route_observations(probes):
    """{backend: observations of its route probe}."""
    return {backend: probes.observations(backend) for backend in ROUTES}


@pytest.fixture
def legacy_params():
    """ptycho.params.cfg for a test that changes it; restored afterwards."""
    saved = dict(params.cfg)
    yield params.cfg
    params.cfg.clear()
    params.cfg.update(saved)
