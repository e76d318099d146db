"""The torch backend through the shared workflow, in process: train -> save -> load -> infer
on a tiny simulated scan."""
import json
import zipfile

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("lightning")

from ptycho import archive, params  # noqa: E402
from ptycho.config.config import ModelConfig, PyTorchExecutionConfig, TrainingConfig  # noqa: E402
from ptycho.errors import ArchiveError  # noqa: E402
from ptycho.simulate import simulate_dataset  # noqa: E402
from ptycho.workflows import common  # noqa: E402
from ptycho_torch.backend import PyTorchBackend  # noqa: E402
from ptycho_torch.workflows.components import (  # noqa: E402
    load_inference_bundle_torch, run_cdi_example_torch)

N = 32


@pytest.fixture(scope="module")
def scans():
    return (simulate_dataset(n_images=48, N=N, object_size=80, seed=0),
            simulate_dataset(n_images=24, N=N, object_size=80, seed=1))


@pytest.fixture(scope="module")
def trained(scans, tmp_path_factory):
    """One tiny training run, shared by the tests below."""
    out = tmp_path_factory.mktemp("torch_run")
    params.reset()
    config = TrainingConfig(model=ModelConfig(N=N, n_filters_scale=0.25), nepochs=2, batch_size=16,
                            n_groups=48, subsample_seed=3, output_dir=out, backend="pytorch")
    amplitude, phase, results = run_cdi_example_torch(
        scans[0], scans[1], config, execution_config=PyTorchExecutionConfig(logger_backend="none"))
    params.reset()
    return out, amplitude, phase, results


def test_training_returns_the_shared_results_triple(trained, scans):
    out, amplitude, phase, results = trained
    assert results["backend"] == "pytorch"
    assert {"history", "intensity_scale", "norm_factor", "obj_patches", "stitched", "models",
            "archive_path", "train_seconds"} <= set(results)
    assert amplitude.shape == phase.shape == scans[1].objectGuess.shape
    np.testing.assert_array_equal(amplitude, np.abs(results["stitched"]))
    assert results["obj_patches"].shape == (24, N, N, 1) and results["obj_patches"].dtype == np.complex64
    assert np.isfinite(results["stitched"]).all() and np.abs(results["stitched"]).max() > 0
    assert [len(v) for v in results["history"].values()] == [2, 2, 2, 2]
    assert isinstance(results["models"]["diffraction_to_obj"], torch.nn.Module)
    assert (out / "checkpoints" / "last.ckpt").is_file()


def test_archive_is_tagged_pytorch_and_holds_the_checkpoint(trained):
    out, _, _, results = trained
    assert results["archive_path"] == out / "wts.h5.zip"
    with zipfile.ZipFile(results["archive_path"]) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        assert sorted(zf.namelist()) == ["manifest.json", "model.ckpt", "params.json"]
    assert manifest["backend"] == "pytorch" and manifest["members"] == ["model.ckpt"]


def test_loaded_bundle_reproduces_the_reconstruction(trained, scans):
    out, _, _, results = trained
    params.cfg["N"] = 999                      # the archive must restore params.cfg
    models, params_doc = load_inference_bundle_torch(out)
    assert params.cfg["N"] == N and params_doc["intensity_scale"] == results["intensity_scale"]
    for name in ("autoencoder", "diffraction_to_obj"):
        assert isinstance(models[name], torch.nn.Module)
        assert models[name].eval() is models[name] and not models[name].training
    again = common.reconstruct(PyTorchBackend(), models, scans[1], seed=3)
    np.testing.assert_array_equal(again["obj_patches"], results["obj_patches"])
    np.testing.assert_array_equal(again["stitched"], results["stitched"])


def test_the_tensorflow_loader_refuses_a_torch_archive(trained, tmp_path):
    out, _, _, _ = trained
    with pytest.raises(ArchiveError, match="'pytorch'.*'tensorflow'"):
        archive.extract_archive(out, "tensorflow", tmp_path)


def test_gridsize_2_trains_and_reconstructs(scans, tmp_path):
    config = TrainingConfig(model=ModelConfig(N=N, gridsize=2, n_filters_scale=0.25), nepochs=1,
                            batch_size=8, n_groups=16, subsample_seed=0, output_dir=tmp_path,
                            backend="pytorch")
    _, _, results = run_cdi_example_torch(
        scans[0], scans[1], config,
        execution_config=PyTorchExecutionConfig(logger_backend="none", enable_checkpointing=False))
    assert results["obj_patches"].shape[1:] == (N, N, 4)
    models, _ = load_inference_bundle_torch(tmp_path)
    assert models["diffraction_to_obj"].merges_channels
