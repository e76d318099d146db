"""GPU variants of the parity group (CUDA opt-in: `harness run <cadence> --accelerator cuda`,
else deselected; on a machine without a CUDA device they skip with the reason).

The torch ops and the ported-weight networks run on the CUDA device and are held to the same
references and tolerances as on the CPU: the NumPy oracle for the ops, TensorFlow (CPU) for the
networks, and the CPU torch network for one training step's loss and gradients."""
import copy

import numpy as np
import pytest

from . import tolerances as tol
from ._compare import (CHANNELS_FIRST, assert_close, to_numpy, torch_channels_first,
                       torch_tensor)

pytestmark = pytest.mark.cuda
DEVICE = "cuda"


@pytest.fixture(autouse=True)
def full_float32():
    """cuDNN convolutions default to TF32 on Ampere and later (10-bit mantissa, ~1e-3 relative
    error): the parity contract is float32 numerics, so these checks run without TF32."""
    import torch

    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def _exit_waves(prepared):
    """psi = normalised probe * true object views, (B, N, N, C) complex64."""
    return (prepared.inputs.probe[None, :, :, None] * prepared.views).astype(np.complex64)


def _on_device(tensor):
    moved = tensor.to(DEVICE)
    assert moved.device.type == DEVICE, f"tensor is on {moved.device}, not {DEVICE}"
    return moved


def _flat_views(prepared):
    views = prepared.views
    stack = np.moveaxis(views, 3, 1).reshape(-1, *views.shape[1:3])
    return stack, prepared.grouped.coords_global.reshape(-1, 2)


def test_ops_on_gpu_match_the_reference(data, reference_ops, torch_ops):
    prepared = data(2)
    psi = _exit_waves(prepared)
    diffraction = torch_ops.forward_diffraction(_on_device(torch_channels_first(psi)))
    assert diffraction.device.type == DEVICE
    assert_close(diffraction, reference_ops.forward_diffraction(psi), tol.FORWARD_DIFFRACTION,
                 "forward_diffraction torch (cuda) vs reference", actual_layout=CHANNELS_FIRST)

    stack, positions = _flat_views(prepared)
    shifts = np.concatenate([prepared.grouped.coords_offsets.reshape(-1, 2)[:4],
                             [[1.0, -2.0], [-3.25, 0.5], [0.0, 0.0], [40.0, 0.5]]])
    assert_close(torch_ops.translate(_on_device(torch_tensor(stack[:8])), shifts),
                 reference_ops.translate(stack[:8], shifts), tol.TRANSLATE,
                 "translate torch (cuda) vs reference")

    views, offsets = prepared.views, prepared.grouped.coords_offsets
    assert_close(torch_ops.merge_channels(_on_device(torch_channels_first(views)),
                                          _on_device(torch_tensor(offsets))),
                 reference_ops.merge_channels(views, offsets), tol.MERGE_CHANNELS,
                 "merge_channels torch (cuda) vs reference", actual_layout=CHANNELS_FIRST)

    single = data(1)
    stack, positions = _flat_views(single)
    canvas, crop = single.raw.objectGuess.shape, single.views.shape[1] // 2
    assert_close(torch_ops.reassemble(_on_device(torch_tensor(stack)), positions, canvas, crop),
                 reference_ops.reassemble(stack, positions, canvas, crop), tol.REASSEMBLE,
                 "reassemble torch (cuda) vs reference")


@pytest.mark.parametrize("gridsize", [1, 2])
def test_ported_network_on_gpu_matches_tensorflow(model_pairs, gridsize):
    import torch

    pair = model_pairs(gridsize)
    X, offsets = pair.data.inputs.X_norm, pair.data.inputs.offsets
    expected = to_numpy(pair.keras["diffraction_to_obj"]([X, offsets], training=False))
    network = copy.deepcopy(pair.module.diffraction_to_obj).eval().to(DEVICE)
    assert next(network.parameters()).device.type == DEVICE
    with torch.no_grad():
        actual = network(_on_device(torch_channels_first(X)), _on_device(torch_tensor(offsets)))
    assert actual.device.type == DEVICE
    assert_close(actual, expected, tol.MODEL_FORWARD,
                 f"diffraction_to_obj torch (cuda) vs TensorFlow (gridsize {gridsize})",
                 actual_layout=CHANNELS_FIRST)


def test_training_step_on_gpu_matches_cpu(model_pair_factory):
    """One batch through the Lightning module's own training loss, on the CPU and on the
    device from the same weights: the same loss and the same gradients of every layer."""
    import warnings

    from ptycho_torch.model import LAYER_NAMES

    pair = model_pair_factory(1)
    inputs = pair.data.inputs
    batch = (torch_channels_first(inputs.X_norm[:16]), torch_tensor(inputs.offsets[:16]))

    def loss_and_gradients(device):
        module = copy.deepcopy(pair.module).to(device)
        module.zero_grad(set_to_none=True)
        with warnings.catch_warnings():  # no Trainer attached: its self.log calls only warn
            warnings.filterwarnings("ignore",
                                    message=".*self.trainer.* reference is not registered.*")
            loss = module.training_step(tuple(t.to(device) for t in batch), 0)
        assert loss.device.type == device
        loss.backward()
        network = module.diffraction_to_obj
        return float(loss.detach().cpu()), {
            name: (to_numpy(getattr(network, name).weight.grad),
                   to_numpy(getattr(network, name).bias.grad)) for name in LAYER_NAMES}

    loss_cpu, grads_cpu = loss_and_gradients("cpu")
    loss_gpu, grads_gpu = loss_and_gradients(DEVICE)
    assert_close(loss_gpu, loss_cpu, tol.TRAINING_LOSS, "training loss cuda vs cpu")
    for name in LAYER_NAMES:
        (kernel, bias), (kernel_cpu, bias_cpu) = grads_gpu[name], grads_cpu[name]
        layer_peak = max(np.abs(kernel_cpu).max(), np.abs(bias_cpu).max())
        assert layer_peak > 0, f"{name}: zero gradient, the comparison is vacuous"
        assert_close(kernel, kernel_cpu, tol.GRADIENT, f"d loss / d {name}.kernel cuda vs cpu",
                     scale=layer_peak)
        assert_close(bias, bias_cpu, tol.GRADIENT, f"d loss / d {name}.bias cuda vs cpu",
                     scale=layer_peak)
