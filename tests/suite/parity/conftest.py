"""Session fixtures of the parity group (built on ._setup): the three op modules, the
simulated scan prepared by gridsize (simulation cached by its arguments) and ported-weight
TensorFlow/torch model pairs."""
import pytest

from ptycho import reference

from ._setup import make_model_pair, prepared_data


@pytest.fixture(scope="session")
def reference_ops():
    return reference


@pytest.fixture(scope="session")
def tf_ops():
    from ptycho.tf import ops, training

    training.configure_threads()    # before TensorFlow's runtime starts, as the backend does
    return ops


@pytest.fixture(scope="session")
def torch_ops():
    from ptycho_torch import ops

    return ops


@pytest.fixture(scope="session")
def data():
    """Factory: prepared_data(gridsize), cached; built on the cached simulated_dataset()."""
    return prepared_data


@pytest.fixture(scope="session")
def model_pair_factory(tf_ops):
    """Factory for fresh (mutable) model pairs: tests that train use their own.
    (Depends on tf_ops so TensorFlow's threads are configured before its runtime starts.)"""
    return make_model_pair


@pytest.fixture(scope="session")
def model_pairs(model_pair_factory):
    """Read-only model pairs by gridsize, built on first use and shared by the session."""
    pairs = {}

    def get(gridsize: int):
        if gridsize not in pairs:
            pairs[gridsize] = model_pair_factory(gridsize)
        return pairs[gridsize]

    return get
