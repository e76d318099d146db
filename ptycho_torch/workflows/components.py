"""PyTorch entry points of the shared workflow (twins of ptycho.workflows.components)."""
from ptycho.workflows import common
from ptycho_torch.backend import PyTorchBackend


def run_cdi_example_torch(train_data, test_data, config, do_stitching: bool = True,
                          execution_config=None):
    """Train on train_data with the torch backend, write <config.output_dir>/wts.h5.zip and
    (when do_stitching and test_data is given) reconstruct test_data.
    Returns (amplitude, phase, results) exactly as the TensorFlow run_cdi_example does, with
    results['backend'] == 'pytorch'."""
    return common.run_workflow(PyTorchBackend(), train_data, test_data, config,
                               do_stitching=do_stitching, execution_config=execution_config)


def load_inference_bundle_torch(bundle_dir) -> tuple[dict, dict]:
    """(models, params) from a torch archive (folder or wts.h5.zip); restores params.cfg.
    models['autoencoder'] and models['diffraction_to_obj'] are nn.Modules in eval mode."""
    return common.load_bundle(PyTorchBackend(), bundle_dir)
