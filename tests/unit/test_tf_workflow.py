"""The TensorFlow backend through the shared workflow and the dispatcher, in process:
train -> save -> load -> infer on a tiny simulated scan."""
import json
import zipfile

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from ptycho import params  # noqa: E402
from ptycho.config.config import InferenceConfig, ModelConfig, TrainingConfig  # noqa: E402
from ptycho.errors import ArchiveError  # noqa: E402
from ptycho.simulate import simulate_dataset  # noqa: E402
from ptycho.tf.backend import TensorFlowBackend  # noqa: E402
from ptycho.workflows import backend_selector, common  # noqa: E402
from ptycho.workflows.components import load_inference_bundle, run_cdi_example  # noqa: E402

N = 32


@pytest.fixture(scope="module")
def scans():
    return (simulate_dataset(n_images=48, N=N, object_size=80, seed=0),
            simulate_dataset(n_images=24, N=N, object_size=80, seed=1))


def _config(out, gridsize=1, **changes):
    settings = dict(model=ModelConfig(N=N, gridsize=gridsize, n_filters_scale=0.25), nepochs=2,
                    batch_size=16, n_groups=48, output_dir=out)
    settings.update(changes)
    return TrainingConfig(**settings)


@pytest.fixture(scope="module")
def trained(scans, tmp_path_factory):
    """One tiny run through the dispatcher, shared by the tests below."""
    out = tmp_path_factory.mktemp("tf_run")
    params.reset()
    amplitude, phase, results = backend_selector.run_cdi_example_with_backend(
        scans[0], scans[1], _config(out))
    params.reset()
    return out, amplitude, phase, results


def test_dispatcher_returns_the_shared_results_triple(trained, scans):
    out, amplitude, phase, results = trained
    assert results["backend"] == "tensorflow"
    assert {"history", "intensity_scale", "norm_factor", "obj_patches", "stitched", "models",
            "archive_path", "train_seconds"} <= set(results)
    assert amplitude.shape == phase.shape == scans[1].objectGuess.shape
    np.testing.assert_array_equal(phase, np.angle(results["stitched"]))
    assert results["obj_patches"].shape == (24, N, N, 1)
    assert results["obj_patches"].dtype == np.complex64
    assert np.isfinite(results["stitched"]).all() and np.abs(results["stitched"]).max() > 0
    history = results["history"]
    assert sorted(history) == ["amplitude_mae", "loss", "phase_offset", "poisson_nll"]
    assert all(len(v) == 2 and all(isinstance(x, float) for x in v) for v in history.values())
    json.dumps(history)       # plain floats: history.json needs no conversion
    assert results["intensity_scale"] == pytest.approx(np.sqrt(1e9) / (N / 2))


def test_archive_is_tagged_tensorflow_and_holds_keras_files(trained):
    out, _, _, results = trained
    assert results["archive_path"] == out / "wts.h5.zip"
    with zipfile.ZipFile(results["archive_path"]) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        saved = json.loads(zf.read("params.json"))
        names = sorted(zf.namelist())
    assert names == ["autoencoder.keras", "diffraction_to_obj.keras", "manifest.json", "params.json"]
    assert manifest["backend"] == "tensorflow"
    assert saved["cfg"]["N"] == N and saved["intensity_scale"] == results["intensity_scale"]


def test_loaded_bundle_reproduces_the_predictions(trained, scans):
    out, _, _, results = trained
    params.cfg["N"] = 999                      # the archive must restore params.cfg
    models, params_doc = backend_selector.load_inference_bundle_with_backend(
        out, InferenceConfig(model=ModelConfig(N=N)))
    assert params.cfg["N"] == N and params.cfg["intensity_scale"] == results["intensity_scale"]
    assert params_doc["norm_factor"] == results["norm_factor"]
    assert results["test_norm_factor"] > 0
    again = common.reconstruct(TensorFlowBackend(), models, scans[1])
    np.testing.assert_allclose(again["obj_patches"], results["obj_patches"], atol=1e-6)
    np.testing.assert_allclose(again["stitched"], results["stitched"], atol=1e-6)


def test_tensorflow_loader_refuses_a_pytorch_archive(trained, tmp_path):
    out, _, _, _ = trained
    forged = tmp_path / "wts.h5.zip"
    with zipfile.ZipFile(out / "wts.h5.zip") as src, zipfile.ZipFile(forged, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "manifest.json":
                data = json.dumps({**json.loads(data), "backend": "pytorch"})
            dst.writestr(name, data)
    with pytest.raises(ArchiveError, match="'pytorch' backend but the active backend is 'tensorflow'"):
        load_inference_bundle(tmp_path)


def test_training_is_seeded_and_stitching_is_optional(scans, tmp_path):
    config = _config(tmp_path / "a", nepochs=1, n_groups=16)
    first = run_cdi_example(scans[0], scans[1], config, do_stitching=False)
    second = run_cdi_example(scans[0], None, _config(tmp_path / "b", nepochs=1, n_groups=16))
    for amplitude, phase, results in (first, second):
        assert amplitude is None and phase is None and results["stitched"] is None
    assert first[2]["history"] == second[2]["history"]
    assert (tmp_path / "a" / "wts.h5.zip").is_file()


def test_gridsize_2_round_trip(scans, tmp_path):
    config = _config(tmp_path, gridsize=2, nepochs=1, n_groups=16)
    _, _, results = run_cdi_example(scans[0], scans[1], config)
    assert results["obj_patches"].shape == (24, N, N, 4)
    params.reset()
    models, _ = load_inference_bundle(tmp_path)
    assert params.cfg["gridsize"] == 2
    again = common.reconstruct(TensorFlowBackend(), models, scans[1])
    np.testing.assert_allclose(again["stitched"], results["stitched"], atol=1e-6)


@pytest.mark.parametrize("entry", ["run", "load"])
def test_dispatcher_syncs_params_first_then_rejects_unknown_backends(tmp_path, entry):
    config = _config(tmp_path) if entry == "run" else InferenceConfig(model=ModelConfig(N=N))
    config.backend = "jax"                 # bypasses __post_init__ validation on purpose
    with pytest.raises(ValueError, match="'tensorflow' or 'pytorch', got 'jax'"):
        if entry == "run":
            backend_selector.run_cdi_example_with_backend(None, None, config)
        else:
            backend_selector.load_inference_bundle_with_backend(tmp_path, config)
    assert params.cfg["N"] == N            # CONFIG-001: update_legacy_dict ran first
