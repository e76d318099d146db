"""POLICY-001: where torch cannot be imported, choosing the PyTorch backend fails loudly with
install guidance, and never falls back to TensorFlow. Each check runs in a fresh interpreter
in which `sys.modules['torch'] = None` makes every `import torch` raise ImportError."""
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# upstream PtychoPINN's backend-selection tests also look for "unavailable" or "not installed"
PHRASES = ("PyTorch backend selected", "pip install torch>=2.2", "unavailable", "not installed")

# Runs `body` with torch unimportable; prints one JSON line describing the RuntimeError raised.
_HARNESS = textwrap.dedent("""
    import json, sys
    sys.modules["torch"] = None
    try:
    {body}
    except RuntimeError as exc:
        print(json.dumps({{
            "message": str(exc),
            "cause": type(exc.__cause__).__name__,
            "cause_is_import_error": isinstance(exc.__cause__, ImportError),
            "tensorflow_imported": "tensorflow" in sys.modules,
        }}))
    else:
        print(json.dumps({{"message": None}}))
""")


def _run_without_torch(body: str) -> dict:
    code = _HARNESS.format(body=textwrap.indent(textwrap.dedent(body).strip(), "    "))
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _assert_policy_error(outcome: dict) -> None:
    assert outcome["message"] is not None, "no RuntimeError although torch cannot be imported"
    for phrase in PHRASES:
        assert phrase in outcome["message"]
    assert outcome["cause_is_import_error"], f"cause is {outcome['cause']}, not the ImportError"
    assert not outcome["tensorflow_imported"], "fell back to (imported) TensorFlow"


def test_importing_ptycho_torch_without_torch_raises_with_install_guidance():
    _assert_policy_error(_run_without_torch("import ptycho_torch"))


def test_importing_a_ptycho_torch_submodule_without_torch_raises_too():
    _assert_policy_error(_run_without_torch("from ptycho_torch.workflows import components"))


@pytest.mark.parametrize("call", [
    "run_cdi_example_with_backend(None, None, TrainingConfig(backend='pytorch'))",
    "load_inference_bundle_with_backend('unused', InferenceConfig(backend='pytorch'))",
    "get_backend('pytorch')",
])
def test_the_dispatcher_raises_instead_of_falling_back_to_tensorflow(call):
    outcome = _run_without_torch(f"""
        from ptycho.config.config import InferenceConfig, TrainingConfig
        from ptycho.workflows.backend_selector import (
            get_backend, load_inference_bundle_with_backend, run_cdi_example_with_backend)
        {call}
    """)
    _assert_policy_error(outcome)


@pytest.mark.parametrize("module", ["ptycho_torch", "ptycho_torch.workflows.components"])
def test_the_guard_is_silent_when_torch_is_importable_and_imports_stay_light(module):
    """Neither the package nor the inference entry points import Lightning (seconds of
    start-up that loading and predicting never need) or TensorFlow."""
    pytest.importorskip("torch")
    proc = subprocess.run([sys.executable, "-c", f"import {module}, sys; "
                           "print('lightning' in sys.modules, 'tensorflow' in sys.modules)"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "False"]
