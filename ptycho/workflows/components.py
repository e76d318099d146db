"""TensorFlow entry points of the shared workflow (`ptycho.workflows.common`) with the
TensorFlow backend object `ptycho.tf.backend.TensorFlowBackend`. The PyTorch twins are
`ptycho_torch.workflows.components.run_cdi_example_torch` / `load_inference_bundle_torch`."""
from ptycho.tf.backend import TensorFlowBackend
from ptycho.workflows import common


def run_cdi_example(train_data, test_data, config, do_stitching: bool = True):
    """Train on train_data (RawData) with TensorFlow, write <config.output_dir>/wts.h5.zip and,
    when do_stitching and test_data is given, reconstruct test_data.
    Returns (amplitude, phase, results); (None, None, results) when nothing was stitched."""
    return common.run_workflow(TensorFlowBackend(), train_data, test_data, config,
                               do_stitching=do_stitching)


def load_inference_bundle(model_dir) -> tuple[dict, dict]:
    """(models, params) from a TensorFlow archive (folder or wts.h5.zip); restores params.cfg.
    params is the archive's params.json: {"cfg": ..., "intensity_scale": ..., "norm_factor": ...}."""
    return common.load_bundle(TensorFlowBackend(), model_dir)
