"""ptycho.tf.model: architecture (names, shapes, init), physics of the autoencoder, and the
.keras round trip with safe_mode on."""
import zipfile

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from ptycho import params, reference, simulate  # noqa: E402
from ptycho.errors import ConfigError  # noqa: E402
from ptycho.tf.model import build_models, filter_counts  # noqa: E402

N = 32
CONV_NAMES = ["enc_conv1a", "enc_conv1b", "enc_conv2a", "enc_conv2b", "enc_conv3a", "enc_conv3b"] + [
    f"{head}_{suffix}" for head in ("amp", "phase")
    for suffix in ("conv1a", "conv1b", "conv2a", "conv2b", "conv3", "out")]


@pytest.fixture(autouse=True)
def fresh_params():
    params.reset()
    params.cfg.update({"N": N, "n_filters_scale": 0.25,
                       "intensity_scale": reference.intensity_scale(1e9, N)})
    yield
    params.reset()


def _probe():
    return reference.normalize_probe(simulate.disk_probe(N), 0.5)


def _inputs(gridsize, batch=3, seed=0):
    rng = np.random.default_rng(seed)
    channels = gridsize ** 2
    X = rng.uniform(0, 2, (batch, N, N, channels)).astype(np.float32)
    offsets = rng.uniform(-4, 4, (batch, channels, 2)).astype(np.float32) if gridsize > 1 \
        else np.zeros((batch, 1, 2), np.float32)
    return X, offsets


def _build(gridsize=1, seed=0):
    params.cfg["gridsize"] = gridsize
    keras.utils.set_random_seed(seed)
    return build_models(_probe())


def test_filter_counts():
    assert filter_counts(0.5) == (16, 32, 64)
    assert filter_counts(0.25) == (8, 16, 32)


@pytest.mark.parametrize("gridsize", [1, 2])
def test_output_shapes_and_ranges(gridsize):
    models = _build(gridsize)
    X, offsets = _inputs(gridsize)
    obj = np.asarray(models["diffraction_to_obj"]([X, offsets]))
    predicted, obj_ae = (np.asarray(t) for t in models["autoencoder"]([X, offsets]))
    channels = gridsize ** 2
    assert obj.shape == predicted.shape == (3, N, N, channels)
    assert obj.dtype == np.complex64 and predicted.dtype == np.float32
    np.testing.assert_array_equal(obj, obj_ae)
    if gridsize == 1:      # merged views may have zero coverage at the edges; raw heads may not
        assert 0 < np.abs(obj).min() and np.abs(obj).max() < 1
    assert np.all(np.abs(np.angle(obj)) <= np.pi)


def test_conv_layers_names_order_and_initialisation():
    model = _build()["autoencoder"]
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert sorted(c.name for c in convs) == sorted(CONV_NAMES)
    f1, f2, f3 = filter_counts(0.25)
    expected_filters = {"enc_conv1a": f1, "enc_conv1b": f1, "enc_conv2a": f2, "enc_conv2b": f2,
                        "enc_conv3a": f3, "enc_conv3b": f3}
    for head in ("amp", "phase"):
        expected_filters.update({f"{head}_conv1a": f2, f"{head}_conv1b": f2, f"{head}_conv2a": f1,
                                 f"{head}_conv2b": f1, f"{head}_conv3": f1, f"{head}_out": 1})
    for conv in convs:
        assert conv.filters == expected_filters[conv.name], conv.name
        assert conv.kernel_size == (3, 3) and conv.strides == (1, 1) and conv.padding == "same"
        assert isinstance(conv.kernel_initializer, keras.initializers.GlorotUniform)
        assert not np.any(conv.bias.numpy())
        kernel = conv.kernel.numpy()
        fan_in, fan_out = 9 * kernel.shape[2], 9 * kernel.shape[3]
        assert np.abs(kernel).max() <= np.sqrt(6 / (fan_in + fan_out)) + 1e-7
    assert all(layer.interpolation == "nearest" for layer in model.layers
               if isinstance(layer, keras.layers.UpSampling2D))
    # Only the convolutions train: the probe is a constant.
    assert len(model.trainable_weights) == 2 * len(CONV_NAMES)


def test_same_seed_same_weights_different_seed_different_weights():
    a = _build(seed=1)["autoencoder"].get_layer("enc_conv1a").kernel.numpy()
    b = _build(seed=1)["autoencoder"].get_layer("enc_conv1a").kernel.numpy()
    c = _build(seed=2)["autoencoder"].get_layer("enc_conv1a").kernel.numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("gridsize", [1, 2])
def test_autoencoder_is_the_reference_forward_model(gridsize):
    models = _build(gridsize)
    X, offsets = _inputs(gridsize)
    predicted, obj = (np.asarray(t) for t in models["autoencoder"]([X, offsets]))
    psi = _probe()[None, :, :, None] * obj
    expected = params.cfg["intensity_scale"] * reference.forward_diffraction(psi)
    np.testing.assert_allclose(predicted, expected, rtol=1e-4, atol=1e-3)
    if gridsize == 2:
        heads = keras.Model(models["autoencoder"].inputs,
                            models["autoencoder"].get_layer("combine_complex").output)
        unmerged = np.asarray(heads([X, offsets]))
        np.testing.assert_allclose(obj, reference.merge_channels(unmerged, offsets), atol=1e-5)


def test_no_merge_without_object_big():
    params.cfg["object.big"] = False
    models = _build(gridsize=2)
    assert "merge_channels" not in [layer.name for layer in models["autoencoder"].layers]


def test_keras_round_trip_with_safe_mode(tmp_path):
    models = _build(gridsize=2)
    X, offsets = _inputs(2)
    for name, model in models.items():
        path = tmp_path / f"{name}.keras"
        model.save(path)
        with zipfile.ZipFile(path) as zf:
            assert sorted(zf.namelist()) == ["config.json", "metadata.json", "model.weights.h5"]
        params.reset()          # loading needs nothing from params.cfg
        loaded = keras.saving.load_model(path, compile=False, safe_mode=True)
        before, after = model([X, offsets]), loaded([X, offsets])
        for b, a in zip(keras.tree.flatten(before), keras.tree.flatten(after)):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        if name == "autoencoder":
            loaded_probe = loaded.get_layer("probe_illumination")
            np.testing.assert_array_equal(
                loaded_probe.probe_real.numpy() + 1j * loaded_probe.probe_imag.numpy(), _probe())


def test_bad_construction_inputs_are_config_errors():
    with pytest.raises(ConfigError, match="probe shape"):
        build_models(np.ones((16, 16), np.complex64))
    params.cfg["model_type"] = "supervised"
    with pytest.raises(ConfigError, match="model_type"):
        build_models(_probe())
    params.cfg["model_type"] = "pinn"
    params.cfg["intensity_scale"] = None
    with pytest.raises(ConfigError, match="intensity_scale"):
        build_models(_probe())
