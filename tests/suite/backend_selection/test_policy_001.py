"""POLICY-001, observed in a fresh interpreter where `import torch` fails as it does without
an install: every way of selecting the PyTorch backend raises RuntimeError with
"PyTorch backend selected" and install guidance, and nothing falls back to TensorFlow."""
import pytest

from ._probes import WAITS_FOR_PROBES

pytestmark = WAITS_FOR_PROBES

# upstream PtychoPINN's backend-selection tests also look for "unavailable" or "not installed"
PHRASES = ("PyTorch backend selected", "pip install torch>=2.2", "unavailable", "not installed")


def assert_policy_error(observation: dict) -> None:
    assert not observation["ok"], f"expected a RuntimeError, got {observation}"
    assert observation["type"] == "RuntimeError", observation
    for phrase in PHRASES:
        assert phrase in observation["message"], observation["message"]


def test_import_ptycho_torch_fails_loudly(policy_observations):
    assert_policy_error(policy_observations["import_ptycho_torch"])


def test_dispatcher_run_raises_and_never_falls_back(policy_observations):
    assert_policy_error(policy_observations["run"])
    assert not policy_observations["run_archive_written"]
    assert policy_observations["tensorflow_import_attempts"] == [], "fell back to TensorFlow"


@pytest.mark.parametrize("entry_point", ("load", "get_backend"))
def test_loading_and_backend_lookup_raise(policy_observations, entry_point):
    assert_policy_error(policy_observations[entry_point])


def test_cli_exits_2_with_one_line_of_guidance(policy_observations):
    cli = policy_observations["cli_train"]
    assert not cli["ok"] and cli["type"] == "SystemExit" and cli["message"] == "2", cli
    lines = cli["stderr"].strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), cli["stderr"]
    assert all(phrase in lines[0] for phrase in PHRASES), lines[0]
    assert not policy_observations["cli_archive_written"]
