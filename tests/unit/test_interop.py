"""TF <-> torch weight porting: after it, both backends' networks compute the same thing.
This test imports both frameworks."""
import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from ptycho import params  # noqa: E402
from ptycho.config.config import ModelConfig  # noqa: E402
from ptycho.tf.model import build_models  # noqa: E402
from ptycho_torch.interop import tf_to_torch, torch_to_tf  # noqa: E402
from ptycho_torch.model import Autoencoder  # noqa: E402

N = 16
SCALE = 0.25
INTENSITY_SCALE = 20.0
RNG = np.random.default_rng(7)


def _probe():
    rows, cols = np.indices((N, N)) - N // 2
    return np.where(np.hypot(rows, cols) < N / 4, 1.0 + 0.5j, 0.1).astype(np.complex64)


def _keras_models(gridsize: int, seed: int):
    params.cfg.update({"N": N, "gridsize": gridsize, "n_filters_scale": SCALE,
                       "amp_activation": "sigmoid", "object.big": True,
                       "intensity_scale": INTENSITY_SCALE})
    keras.utils.set_random_seed(seed)
    return build_models(_probe())


def _torch_autoencoder(gridsize: int, seed: int) -> Autoencoder:
    torch.manual_seed(seed)
    probe = _probe()
    model_config = dataclasses.asdict(ModelConfig(N=N, gridsize=gridsize, n_filters_scale=SCALE))
    data_config = {"N": N, "C": gridsize ** 2, "intensity_scale": INTENSITY_SCALE, "norm_factor": 1.0,
                   "probe_real": probe.real.tolist(), "probe_imag": probe.imag.tolist()}
    return Autoencoder(model_config, data_config).eval()


def _inputs(gridsize: int):
    channels = gridsize ** 2
    X = RNG.uniform(0, 2, (4, N, N, channels)).astype(np.float32)   # channels-last, as TF
    offsets = RNG.uniform(-2, 2, (4, channels, 2)).astype(np.float32)
    return X, offsets


def _torch_outputs(autoencoder, X, offsets):
    """(obj, pred) channels-last numpy from the torch autoencoder."""
    x = torch.from_numpy(np.ascontiguousarray(np.moveaxis(X, 3, 1)))
    with torch.no_grad():
        obj = autoencoder.diffraction_to_obj(x, torch.from_numpy(offsets))
        pred, _ = autoencoder(x, torch.from_numpy(offsets))
    return np.moveaxis(obj.numpy(), 1, 3), np.moveaxis(pred.numpy(), 1, 3)


def _tf_outputs(models, X, offsets):
    obj = np.asarray(models["diffraction_to_obj"]([X, offsets]))
    pred, _ = models["autoencoder"]([X, offsets])
    return obj, np.asarray(pred)


def _assert_agree(tf_out, torch_out):
    (tf_obj, tf_pred), (torch_obj, torch_pred) = tf_out, torch_out
    assert tf_obj.shape == torch_obj.shape and tf_obj.dtype == torch_obj.dtype == np.complex64
    np.testing.assert_allclose(torch_obj, tf_obj, atol=1e-5, rtol=0)
    # Predicted photon amplitudes are ~INTENSITY_SCALE * N larger: relative tolerance.
    np.testing.assert_allclose(torch_pred, tf_pred, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("gridsize", [1, 2])
def test_tf_to_torch_then_back_agree_to_1e5(gridsize):
    X, offsets = _inputs(gridsize)
    tf_models = _keras_models(gridsize, seed=0)
    autoencoder = _torch_autoencoder(gridsize, seed=1)
    before = _torch_outputs(autoencoder, X, offsets)
    assert np.abs(before[0] - _tf_outputs(tf_models, X, offsets)[0]).max() > 1e-3   # really differ

    tf_to_torch(tf_models["diffraction_to_obj"], autoencoder)
    _assert_agree(_tf_outputs(tf_models, X, offsets), _torch_outputs(autoencoder, X, offsets))

    fresh_torch = _torch_autoencoder(gridsize, seed=2)
    fresh_tf = _keras_models(gridsize, seed=3)
    torch_to_tf(fresh_torch, fresh_tf["autoencoder"])
    _assert_agree(_tf_outputs(fresh_tf, X, offsets), _torch_outputs(fresh_torch, X, offsets))


def test_mismatched_architectures_are_refused_by_layer_name():
    tf_models = _keras_models(1, seed=0)
    with pytest.raises(ValueError, match="'enc_conv1a'.*kernel shapes differ"):
        tf_to_torch(tf_models["diffraction_to_obj"], _torch_autoencoder(2, seed=0))
    with pytest.raises(TypeError, match="DiffractionToObj or Autoencoder"):
        torch_to_tf(torch.nn.Linear(2, 2), tf_models["autoencoder"])
