"""Session fixtures shared by the regression groups: the simulated dataset, cached by its
arguments. (Group markers, `artifact_dir` and the artifact validators come from the harness
plugin; the plain helpers behind these fixtures are in suite_support.py.)"""
import gc
import importlib

import pytest

import suite_support


def pytest_configure(config):
    """Tests that wait for work running in the background carry their own `timeout` mark;
    keep it a known marker when pytest-timeout is switched off (`-p no:timeout`, as
    `harness baseline record` runs), where it is inert."""
    if not config.pluginmanager.hasplugin("timeout"):
        config.addinivalue_line("markers", "timeout(seconds): per-test timeout (pytest-timeout)")


# What each group imports into the pytest process itself (subprocess work not counted). The
# union for the selected groups is imported once after collection, so no group is charged for
# an import that another group would otherwise have paid first: parity measured ~6 CPU-s more
# in nightly (where it imported TensorFlow) than in weekly (where model_manager had), and a
# group's recorded baseline must hold in every cadence that runs it.
IN_PROCESS_IMPORTS = {
    "integration": ("ptycho_torch.lightning_module",),     # checkpoint validation
    "backend_selection": ("ptycho_torch.training", "ptycho_torch.workflows.components"),
                                                            # the PyTorch route
    "parity": ("ptycho.tf.backend", "ptycho_torch.lightning_module"),
    "model_manager": ("ptycho.tf.backend", "ptycho_torch.lightning_module"),
}


def pytest_collection_finish(session):
    if session.config.option.collectonly:
        return
    selected = {mark.name for item in session.items for mark in item.iter_markers()}
    for module in sorted({module for group in selected & set(IN_PROCESS_IMPORTS)
                          for module in IN_PROCESS_IMPORTS[group]}):
        importlib.import_module(module)
    # What the frameworks and the collection made lives for the whole session: out of the
    # cyclic collector's reach (as in the CLIs), or each full collection walks it again -
    # ~1M objects with TensorFlow, torch and Lightning loaded, tenths of a second each time.
    gc.freeze()


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
