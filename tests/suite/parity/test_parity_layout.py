"""Grouping (gridsize 2) and input layout: channel c of the diffraction stack, of the offsets
and of every backend's tensors must refer to the same scan position."""
import numpy as np

from . import tolerances as tol
from ._compare import (CHANNELS_FIRST, assert_close, to_channels_first, to_channels_last,
                       torch_channels_first)


def _disk(n_size: int) -> np.ndarray:
    rows, cols = np.indices((n_size, n_size)) - n_size // 2
    return np.hypot(rows, cols) < n_size / 4


def test_grouping_offsets_and_channel_order(data, reference_ops):
    prepared = data(2)
    grouped, raw = prepared.grouped, prepared.raw
    nn = grouped.nn_indices
    assert nn.shape == (len(grouped.X), 4), f"gridsize 2 groups hold 4 channels, got {nn.shape}"
    assert np.all(np.diff(nn, axis=1) > 0), "channels are distinct scan points ordered by index"
    # Channel c of X, of the positions and of the offsets is scan point nn[:, c].
    assert_close(grouped.X, to_channels_last(raw.diff3d[nn], CHANNELS_FIRST), tol.LAYOUT,
                 "X[..., c] vs diff3d[nn_indices[:, c]]")
    positions = np.stack([raw.xcoords, raw.ycoords], axis=1)
    assert_close(grouped.coords_global, positions[nn], tol.GROUPING,
                 "coords_global[:, c] vs (x, y)[nn_indices[:, c]]")
    assert_close(grouped.coords_center, positions[nn].mean(axis=1), tol.GROUPING,
                 "coords_center vs mean channel position")
    assert_close(grouped.coords_offsets, positions[nn] - positions[nn].mean(axis=1)[:, None],
                 tol.GROUPING, "coords_offsets vs global - centre")
    # Physics: the true views merged with these offsets stay themselves inside the probe
    # disk (they are views of one region); with the channel order of the offsets reversed
    # they would not.
    views, offsets = prepared.views, grouped.coords_offsets
    disk = _disk(views.shape[1])
    merged = reference_ops.merge_channels(views, offsets)
    assert_close(np.abs(merged - views)[:, disk].mean(), 0.0, tol.CONSISTENT_VIEWS,
                 "mean |merge_channels(true views) - views| in the probe disk")
    scrambled = reference_ops.merge_channels(views, offsets[:, ::-1])
    assert np.abs(scrambled - views)[:, disk].mean() > 2 * tol.CONSISTENT_VIEWS.atol, (
        "reversing the channel order of the offsets should break consistency; the group "
        "offsets are too small for this check to mean anything")


def test_input_normalisation_and_layout(data, reference_ops, torch_ops):
    from ptycho_torch import backend, training

    prepared = data(2)
    X = prepared.grouped.X
    expected, factor = reference_ops.normalize_diffraction(X)
    assert_close(expected, prepared.inputs.X_norm, tol.LAYOUT, "workflow X_norm vs reference")
    half = X.shape[1] / 2
    assert_close(reference_ops.mean_pattern_energy(expected), half ** 2, tol.ENERGY,
                 "mean pattern energy of X_norm vs (N/2)**2")
    normalised, torch_factor = torch_ops.normalize_diffraction(torch_channels_first(X))
    assert_close(torch_factor, factor, tol.NORM_FACTOR, "normalisation factor torch vs reference")
    assert_close(normalised, expected, tol.NORMALISED_INPUT, "X_norm torch vs reference",
                 actual_layout=CHANNELS_FIRST)
    # The package's channels-last -> channels-first conversions (backend and training data)
    # against the contract's.
    converted = backend.to_channels_first(expected)
    assert converted.is_contiguous() and str(converted.dtype) == "torch.float32"
    assert_close(converted, to_channels_first(expected), tol.LAYOUT,
                 "ptycho_torch.backend.to_channels_first", actual_layout=CHANNELS_FIRST,
                 expected_layout=CHANNELS_FIRST)
    loader = training.make_dataloader(prepared.inputs, batch_size=5, shuffle=False,
                                      num_workers=0, seed=0)
    x_batch, offset_batch = next(iter(loader))
    assert_close(x_batch, expected[:5], tol.LAYOUT, "Lightning training batch vs X_norm[:5]",
                 actual_layout=CHANNELS_FIRST)
    assert_close(offset_batch, prepared.inputs.offsets[:5], tol.LAYOUT,
                 "Lightning training offsets vs offsets[:5]")
