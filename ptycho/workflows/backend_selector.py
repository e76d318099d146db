"""The backend dispatcher (domain.md "Backend dispatch").

Every entry point runs update_legacy_dict(params.cfg, config) first (CONFIG-001), then checks
config.backend is exactly 'tensorflow' or 'pytorch'. The TensorFlow route never imports torch;
the PyTorch route imports ptycho_torch and fails loudly when torch is missing (POLICY-001,
never a fallback). results['backend'] always names the backend that ran.
"""
from ptycho import params
from ptycho.config.config import BACKENDS, update_legacy_dict
from ptycho.errors import torch_unavailable


def _selected_backend(config) -> str:
    update_legacy_dict(params.cfg, config)
    backend = getattr(config, "backend", None)
    if backend not in BACKENDS:
        raise ValueError(f"backend must be 'tensorflow' or 'pytorch', got {backend!r}")
    return backend


def _torch_components():
    """ptycho_torch.workflows.components, or RuntimeError with install guidance."""
    try:
        from ptycho_torch.workflows import components
    except ImportError as exc:
        raise torch_unavailable(exc) from exc
    return components


def get_backend(name: str):
    """The Backend object for `name` (for callers that predict with loaded models)."""
    if name == "tensorflow":
        from ptycho.tf.backend import TensorFlowBackend
        return TensorFlowBackend()
    if name == "pytorch":
        _torch_components()          # the POLICY-001 check, with its message
        from ptycho_torch.backend import PyTorchBackend
        return PyTorchBackend()
    raise ValueError(f"backend must be 'tensorflow' or 'pytorch', got {name!r}")


def run_cdi_example_with_backend(train_data, test_data, config, do_stitching: bool = True,
                                 execution_config=None):
    """Train (and optionally reconstruct) with config.backend. Returns (amplitude, phase,
    results) with results['backend'] set."""
    backend = _selected_backend(config)
    if backend == "tensorflow":
        from ptycho.workflows.components import run_cdi_example
        amplitude, phase, results = run_cdi_example(train_data, test_data, config,
                                                    do_stitching=do_stitching)
    else:
        amplitude, phase, results = _torch_components().run_cdi_example_torch(
            train_data, test_data, config, do_stitching=do_stitching,
            execution_config=execution_config)
    results["backend"] = backend
    return amplitude, phase, results


def load_inference_bundle_with_backend(bundle_dir, config) -> tuple[dict, dict]:
    """(models, params) from the archive in bundle_dir, loaded by config.backend's loader
    (an archive of the other backend is an ArchiveError naming both)."""
    backend = _selected_backend(config)
    if backend == "tensorflow":
        from ptycho.workflows.components import load_inference_bundle
        return load_inference_bundle(bundle_dir)
    return _torch_components().load_inference_bundle_torch(bundle_dir)
