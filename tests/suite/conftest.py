"""Session fixtures shared by the regression groups: the simulated dataset, cached by its
arguments. (Group markers, `artifact_dir` and the artifact validators come from the harness
plugin; the plain helpers behind these fixtures are in suite_support.py.)"""
import pytest

import suite_support


def pytest_configure(config):
    """Tests that wait for work running in the background carry their own `timeout` mark;
    keep it a known marker when pytest-timeout is switched off (`-p no:timeout`, as
    `harness baseline record` runs), where it is inert."""
    if not config.pluginmanager.hasplugin("timeout"):
        config.addinivalue_line("markers", "timeout(seconds): per-test timeout (pytest-timeout)")


@pytest.fixture(scope="session")
def suite_cache_dir(request, tmp_path_factory):
    """One folder per test session for data the groups share; under pytest-xdist the
    workers share their session's folder (the parent of their own base temp)."""
    base = tmp_path_factory.getbasetemp()
    is_worker = hasattr(request.config, "workerinput")
    return (base.parent if is_worker else base) / "suite-cache"


@pytest.fixture(scope="session")
def simulated_dataset(suite_cache_dir):
    """Factory: simulated_dataset(**overrides) -> path of the NPZ written by
    ptycho.simulate for suite_support.DEFAULT_DATASET | overrides, built once per argument
    set and session (safe across xdist workers)."""
    def get(**overrides):
        return suite_support.cached_dataset(suite_cache_dir, **overrides)
    return get
