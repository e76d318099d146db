"""The reference CNN with ported weights: TensorFlow and torch compute the same object
patches, predicted amplitudes and stitched reconstruction, with the same output contract."""
import numpy as np
import pytest

from ptycho_torch.model import LAYER_NAMES

from . import tolerances as tol
from ._compare import (CHANNELS_FIRST, assert_close, kernel_tf_to_torch, to_numpy,
                       torch_channels_first, torch_tensor)
from ._setup import legacy_cfg


def _torch_forward(network, X, offsets):
    import torch

    with torch.no_grad():
        return network(torch_channels_first(X), torch_tensor(offsets))


@pytest.mark.parametrize("gridsize", [1, 2])
def test_diffraction_to_obj_ported_weights(model_pairs, gridsize):
    pair = model_pairs(gridsize)
    X, offsets = pair.data.inputs.X_norm, pair.data.inputs.offsets
    expected = to_numpy(pair.keras["diffraction_to_obj"]([X, offsets], training=False))
    actual = _torch_forward(pair.module.diffraction_to_obj, X, offsets)
    assert_close(actual, expected, tol.MODEL_FORWARD,
                 f"diffraction_to_obj torch vs TensorFlow (gridsize {gridsize})",
                 actual_layout=CHANNELS_FIRST)
    assert np.abs(expected).std() > 1e-3, "untrained outputs are constant: the check is vacuous"


def test_autoencoder_forward_ported_weights(model_pairs, reference_ops):
    pair = model_pairs(2)
    inputs = pair.data.inputs
    X, offsets = inputs.X_norm[:16], inputs.offsets[:16]
    predicted_tf, obj_tf = (to_numpy(t) for t in pair.keras["autoencoder"]([X, offsets], training=False))
    predicted_torch, obj_torch = _torch_forward(pair.module.autoencoder, X, offsets)
    assert_close(pair.module.autoencoder.probe, inputs.probe, tol.LAYOUT, "torch probe vs prepared probe")
    assert_close(obj_torch, obj_tf, tol.MODEL_FORWARD, "autoencoder object torch vs TensorFlow",
                 actual_layout=CHANNELS_FIRST)
    assert_close(predicted_torch, predicted_tf, tol.PREDICTED_AMPLITUDE,
                 "autoencoder predicted amplitude torch vs TensorFlow", actual_layout=CHANNELS_FIRST)
    # The oracle: s * forward_diffraction(P_norm * obj) on TensorFlow's object.
    psi = inputs.probe[None, :, :, None] * obj_tf
    expected = inputs.intensity_scale * reference_ops.forward_diffraction(psi)
    assert_close(predicted_tf, expected, tol.PREDICTED_AMPLITUDE,
                 "autoencoder predicted amplitude TensorFlow vs reference physics")


def test_interop_round_trip(model_pairs, model_pair_factory):
    pair = model_pairs(2)
    network = pair.module.diffraction_to_obj
    for name in LAYER_NAMES:            # tf_to_torch against the contract's kernel layout
        kernel, bias = pair.keras["diffraction_to_obj"].get_layer(name).get_weights()
        assert_close(getattr(network, name).weight, kernel_tf_to_torch(kernel),
                     tol.INTEROP_ROUND_TRIP, f"{name} kernel after tf_to_torch")
        assert_close(getattr(network, name).bias, bias, tol.INTEROP_ROUND_TRIP,
                     f"{name} bias after tf_to_torch")
    from ptycho_torch import interop

    other = model_pair_factory(2, seed=pair.config.seed + 1)   # different initial weights
    interop.torch_to_tf(pair.module.autoencoder, other.keras["autoencoder"])
    for name in LAYER_NAMES:
        kernel, bias = other.keras["autoencoder"].get_layer(name).get_weights()
        assert_close(kernel_tf_to_torch(kernel), getattr(network, name).weight,
                     tol.INTEROP_ROUND_TRIP, f"{name} kernel after torch_to_tf")
        assert_close(bias, getattr(network, name).bias, tol.INTEROP_ROUND_TRIP,
                     f"{name} bias after torch_to_tf")


@pytest.mark.parametrize("gridsize", [1, 2])
def test_inference_output_contract(model_pairs, gridsize):
    from ptycho.tf.backend import TensorFlowBackend
    from ptycho_torch.backend import PyTorchBackend

    pair = model_pairs(gridsize)
    X, offsets = pair.data.inputs.X_norm[:5], pair.data.inputs.offsets[:5]   # odd batch
    n_size, channels = X.shape[1], gridsize ** 2
    native_tf = to_numpy(pair.keras["diffraction_to_obj"]([X, offsets], training=False))
    native_torch = to_numpy(_torch_forward(pair.module.diffraction_to_obj, X, offsets))
    assert (native_tf.dtype, native_tf.shape) == (np.complex64, (5, n_size, n_size, channels))
    assert (native_torch.dtype, native_torch.shape) == (np.complex64, (5, channels, n_size, n_size))
    out_tf = TensorFlowBackend().predict(pair.keras, X, offsets)
    out_torch = PyTorchBackend().predict({"diffraction_to_obj": pair.module.diffraction_to_obj},
                                         X, offsets)
    for name, out in (("TensorFlow", out_tf), ("torch", out_torch)):
        assert isinstance(out, np.ndarray), f"{name} predict returned {type(out).__name__}"
        assert (out.dtype, out.shape) == (np.complex64, (5, n_size, n_size, channels)), (
            f"{name} predict: {out.dtype} {out.shape}, contract complex64 (B, N, N, C) channels-last")
        amplitude = np.abs(out)
        assert amplitude.min() >= 0 and amplitude.max() <= 1, f"{name}: sigmoid amplitude outside [0, 1]"
    assert_close(out_torch, native_torch, tol.LAYOUT, "torch predict vs its network",
                 expected_layout=CHANNELS_FIRST)
    assert_close(out_torch, out_tf, tol.MODEL_FORWARD, "predict torch vs TensorFlow")


def test_stitched_reconstruction(model_pairs):
    from ptycho.tf.backend import TensorFlowBackend
    from ptycho.workflows.common import reconstruct
    from ptycho_torch.backend import PyTorchBackend

    pair = model_pairs(1)
    raw = pair.data.raw
    torch_models = {"diffraction_to_obj": pair.module.diffraction_to_obj}
    with legacy_cfg(pair.config, pair.data.inputs.intensity_scale):
        result_tf = reconstruct(TensorFlowBackend(), pair.keras, raw)
        result_torch = reconstruct(PyTorchBackend(), torch_models, raw)
    for name, result in (("TensorFlow", result_tf), ("torch", result_torch)):
        stitched = result["stitched"]
        assert (stitched.dtype, stitched.shape) == (np.complex64, raw.objectGuess.shape), (
            f"{name} stitched {stitched.dtype} {stitched.shape}, expected complex64 "
            f"{raw.objectGuess.shape}")
    assert_close(result_torch["positions"], result_tf["positions"], tol.LAYOUT, "stitching positions")
    assert_close(result_torch["obj_patches"], result_tf["obj_patches"], tol.MODEL_FORWARD,
                 "object patches torch vs TensorFlow (whole scan)")
    assert_close(result_torch["stitched"], result_tf["stitched"], tol.STITCHED,
                 "stitched object torch vs TensorFlow")
