"""save -> load gives the same networks (identical outputs of both models) for each backend,
with params.cfg restored from the archive; another backend's archive is refused."""
import json

import numpy as np
import pytest

from ptycho.errors import ArchiveError
from ptycho.workflows.backend_selector import get_backend, load_inference_bundle_with_backend

from ._archives import BACKENDS, read_members, sample_batch

OTHER = {"tensorflow": "pytorch", "pytorch": "tensorflow"}


def autoencoder_outputs(backend: str, models: dict, X, offsets):
    """(predicted scaled amplitude, object) of models['autoencoder'], channels-last numpy."""
    if backend == "tensorflow":
        predicted, obj = models["autoencoder"]([X, offsets], training=False)
        return np.asarray(predicted), np.asarray(obj)
    import torch

    from ptycho_torch.backend import to_channels_first
    with torch.inference_mode():
        predicted, obj = models["autoencoder"](to_channels_first(X), torch.from_numpy(offsets))
    return (np.moveaxis(predicted.numpy(), 1, 3), np.moveaxis(obj.numpy(), 1, 3))


@pytest.mark.parametrize("backend", BACKENDS)
def test_loaded_models_give_identical_outputs(trained, backend, legacy_params):
    """Both saved networks come back: the loaded diffraction_to_obj (through the backend's
    predict) and autoencoder give bit-identical outputs to the ones that were saved."""
    model = trained(backend)
    loaded, _ = load_inference_bundle_with_backend(model.output_dir, model.inference_config())
    route = get_backend(backend)
    X, offsets = sample_batch()
    np.testing.assert_array_equal(route.predict(loaded, X, offsets),
                                  route.predict(model.models, X, offsets))
    for after, before in zip(autoencoder_outputs(backend, loaded, X, offsets),
                             autoencoder_outputs(backend, model.models, X, offsets)):
        np.testing.assert_array_equal(after, before)


@pytest.mark.parametrize("backend", BACKENDS)
def test_params_cfg_is_restored_from_the_archive(trained, backend, legacy_params):
    model = trained(backend)
    snapshot = json.loads(read_members(model.archive)["params.json"])
    legacy_params.update({"N": 64, "gridsize": 2, "n_filters_scale": 1.0, "probe_scale": 9.0,
                          "intensity_scale": None, "nphotons": 1.0})
    load_inference_bundle_with_backend(model.archive, model.inference_config())
    assert {k: legacy_params[k] for k in snapshot["cfg"]} == snapshot["cfg"]
    assert legacy_params["intensity_scale"] == snapshot["intensity_scale"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_other_backends_loader_refuses_naming_both(trained, backend, legacy_params):
    """The archive of `backend` offered to the other backend's loader: ArchiveError naming the
    file and both backends; nothing of the refused archive reaches params.cfg."""
    model = trained(backend)
    legacy_params["intensity_scale"] = -1.0      # a load would restore the archive's
    with pytest.raises(ArchiveError) as raised:
        load_inference_bundle_with_backend(model.output_dir,
                                           model.inference_config(backend=OTHER[backend]))
    message = str(raised.value)
    assert str(model.archive) in message
    assert f"'{backend}'" in message and f"'{OTHER[backend]}'" in message
    assert legacy_params["intensity_scale"] == -1.0
