"""Fixtures of the backend_selection group.

The subprocess probes (_route_probe.py: POLICY-001 with torch unimportable, and the TensorFlow
route) start together, in the background, when the group's first test is set up, so the
in-process tests - the PyTorch route among them - run while they work; a test that reads their
observations waits for the probe it needs. Only the probes the selected tests use are started.
"""
from pathlib import Path

import pytest

from ptycho import params

from ._probes import FIXTURE_MODES, IN_PROCESS, Probes


@pytest.fixture(scope="session")
def probes(request, simulated_dataset, tmp_path_factory):
    """Without xdist the probes the selected tests need start at once; an xdist worker (which
    does not know which tests it will get) starts them when a test first asks."""
    launched = Probes(simulated_dataset(), tmp_path_factory.mktemp("backend-selection-probes"))
    if not hasattr(request.config, "workerinput"):
        here = Path(__file__).parent
        launched.start(mode for item in request.session.items if here in Path(item.path).parents
                       for name, modes in FIXTURE_MODES.items() if name in item.fixturenames
                       for mode in modes)
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
    """{backend: observations of its route} (PyTorch first: it runs here while the TensorFlow
    probe works)."""
    return {backend: probes.observations(backend) for backend in (IN_PROCESS, "tensorflow")}


@pytest.fixture
def legacy_params():
    """ptycho.params.cfg for a test that changes it; restored afterwards."""
    saved = dict(params.cfg)
    yield params.cfg
    params.cfg.clear()
    params.cfg.update(saved)
