"""Shared by the package's unit tests."""
import pytest

from ptycho import params


@pytest.fixture(autouse=True)
def fresh_params():
    """Each test starts and ends with the default legacy params.cfg (tests that need other
    defaults override this fixture by name)."""
    params.reset()
    yield
    params.reset()
