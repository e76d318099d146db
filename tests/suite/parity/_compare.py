"""One comparison and one set of layout conversions for the whole parity group.

Tests never move axes themselves: NumPy reference and TensorFlow are channels-last
(B, N, N, C), torch is channels-first (B, C, N, N); `assert_close` takes the layout of each
side and brings both to channels-last with `to_channels_last`, and inputs for torch are made
with `to_channels_first`. Conv kernels: TensorFlow [kh, kw, in, out], torch [out, in, kh, kw]
(`kernel_tf_to_torch`). These conversions are written from the contract
(docs/architecture.md), independently of the package's own (ptycho_torch.backend,
ptycho_torch.interop), so they can check them.
"""
import os

import numpy as np

from .tolerances import Tol

# PARITY_MARGINS=1 pytest tests/suite/parity -s  prints, for every comparison, the largest
# error / allowed-error ratio: how much headroom each tolerance has (recalibration aid).
_PRINT_MARGINS = bool(os.environ.get("PARITY_MARGINS"))

CHANNELS_LAST = "channels_last"
CHANNELS_FIRST = "channels_first"


def to_numpy(value) -> np.ndarray:
    """NumPy copy of a NumPy array, TensorFlow tensor, torch tensor or Python scalar."""
    if hasattr(value, "detach"):                      # torch
        value = value.detach().cpu()
        if value.is_complex():
            value = value.resolve_conj()
        return value.numpy()
    if hasattr(value, "numpy"):                       # TensorFlow eager tensor / variable
        return np.asarray(value.numpy())
    return np.asarray(value)


def to_channels_last(value, layout: str) -> np.ndarray:
    """(B, C, N, N) -> (B, N, N, C) for layout 'channels_first'; unchanged for 'channels_last'."""
    array = to_numpy(value)
    if layout == CHANNELS_LAST:
        return array
    if layout != CHANNELS_FIRST:
        raise ValueError(f"layout must be {CHANNELS_LAST!r} or {CHANNELS_FIRST!r}, got {layout!r}")
    if array.ndim != 4:
        raise ValueError(f"channels_first needs a 4-D (B, C, N, N) array, got shape {array.shape}")
    return np.moveaxis(array, 1, 3)


def to_channels_first(value) -> np.ndarray:
    """(B, N, N, C) -> contiguous (B, C, N, N): the torch layout of a reference array."""
    array = to_numpy(value)
    if array.ndim != 4:
        raise ValueError(f"channels_last needs a 4-D (B, N, N, C) array, got shape {array.shape}")
    return np.ascontiguousarray(np.moveaxis(array, 3, 1))


def torch_channels_first(value):
    """A channels-last reference array as the torch input it stands for: (B, C, N, N) tensor."""
    import torch

    return torch.from_numpy(to_channels_first(value))


def torch_tensor(value):
    """A torch tensor of an array that has no channel axis to move ((B, H, W) stacks, (N, N)
    images, (B, C, 2) offsets, scalars)."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(to_numpy(value)))


def kernel_tf_to_torch(kernel) -> np.ndarray:
    """Conv kernel [kh, kw, in, out] (Keras) -> [out, in, kh, kw] (torch)."""
    return np.ascontiguousarray(np.transpose(to_numpy(kernel), (3, 2, 0, 1)))


def _where(index, shape) -> tuple:
    return tuple(int(i) for i in np.unravel_index(index, shape)) if shape else ()


def _fmt(x) -> str:
    return f"{x:.6g}" if np.isrealobj(x) else f"{complex(x):.6g}"


def assert_close(actual, expected, tol: Tol, what: str, *, actual_layout: str = CHANNELS_LAST,
                 expected_layout: str = CHANNELS_LAST, scale: float | None = None) -> None:
    """Assert |actual - expected| <= atol_abs + tol.rtol * |expected| elementwise (complex:
    modulus of the difference), after bringing both sides to channels-last.

    atol_abs = tol.atol, or tol.atol * scale for tol.peak (scale defaults to max |expected|).
    The failure message names `what`, the shapes (and the layouts they came from), how many
    elements fail, the max abs and max rel error and the index of each, and the worst
    violation with both values.
    """
    raw_shapes = (np.shape(to_numpy(actual)), np.shape(to_numpy(expected)))
    a = to_channels_last(actual, actual_layout)
    e = to_channels_last(expected, expected_layout)
    shapes = (f"actual {a.shape}" + (f" (from {actual_layout} {raw_shapes[0]})"
                                     if actual_layout != CHANNELS_LAST else "")
              + f", expected {e.shape}" + (f" (from {expected_layout} {raw_shapes[1]})"
                                           if expected_layout != CHANNELS_LAST else ""))
    assert a.shape == e.shape, f"{what}: shapes differ: {shapes}"
    assert np.iscomplexobj(a) == np.iscomplexobj(e), (
        f"{what}: one side is complex and the other real (actual {a.dtype}, expected {e.dtype})")
    a = a.astype(np.complex128 if np.iscomplexobj(a) else np.float64)
    e = e.astype(np.complex128 if np.iscomplexobj(e) else np.float64)
    magnitude = np.abs(e)
    error = np.abs(a - e)
    error = np.where(np.isnan(error), np.inf, error)   # NaN never passes
    peak = float(scale if scale is not None else (magnitude.max() if magnitude.size else 0.0))
    atol_abs = tol.atol * peak if tol.peak else tol.atol
    bound = atol_abs + tol.rtol * magnitude
    failing = error > bound
    if _PRINT_MARGINS:
        ratio = np.max(np.where(error == 0, 0.0, error / np.maximum(bound, 1e-300)), initial=0.0)
        print(f"\n[parity margin] {ratio:9.3g}  {what}")
    if not failing.any():
        return
    relative = np.where(magnitude > 0, error / np.where(magnitude > 0, magnitude, 1), np.inf)
    relative = np.where(error == 0, 0.0, relative)
    worst = int(np.argmax(np.where(failing, error - bound, -np.inf)))
    i_abs, i_rel = int(np.argmax(error)), int(np.argmax(relative))
    atol_text = f"{tol.atol:g} x peak {peak:.4g} = {atol_abs:.4g}" if tol.peak else f"{tol.atol:g}"
    raise AssertionError(
        f"{what}: {int(failing.sum())} of {failing.size} element(s) outside tolerance "
        f"(rtol {tol.rtol:g}, atol {atol_text})\n"
        f"  max abs error {error.flat[i_abs]:.4g} at {_where(i_abs, a.shape)}\n"
        f"  max rel error {relative.flat[i_rel]:.4g} at {_where(i_rel, a.shape)}\n"
        f"  worst violation at {_where(worst, a.shape)}: actual {_fmt(a.flat[worst])}, "
        f"expected {_fmt(e.flat[worst])}, allowed error {bound.flat[worst]:.4g}\n"
        f"  shapes: {shapes}\n"
        f"  tolerance: {tol.why}")
