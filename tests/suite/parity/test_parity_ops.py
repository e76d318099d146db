"""NumPy reference vs TensorFlow vs torch, op by op, on the simulated scan: every function of
ptycho.reference that both backends re-implement, in each backend's own layout."""
import numpy as np

from . import tolerances as tol
from ._compare import (CHANNELS_FIRST, assert_close, to_numpy, torch_channels_first,
                       torch_tensor)


def _exit_waves(prepared):
    """psi = normalised probe * true object views, (B, N, N, C) complex64."""
    return (prepared.inputs.probe[None, :, :, None] * prepared.views).astype(np.complex64)


def _flat_views(prepared):
    """The views as an image stack (B*C, N, N), channel fastest, with their (x, y) positions."""
    views = prepared.views
    stack = np.moveaxis(views, 3, 1).reshape(-1, *views.shape[1:3])
    return stack, prepared.grouped.coords_global.reshape(-1, 2)


def test_forward_diffraction(data, reference_ops, tf_ops, torch_ops):
    psi = _exit_waves(data(2))
    expected = reference_ops.forward_diffraction(psi)
    assert_close(tf_ops.forward_diffraction(psi), expected, tol.FORWARD_DIFFRACTION,
                 "forward_diffraction TensorFlow vs reference")
    assert_close(torch_ops.forward_diffraction(torch_channels_first(psi)), expected,
                 tol.FORWARD_DIFFRACTION, "forward_diffraction torch vs reference",
                 actual_layout=CHANNELS_FIRST)
    # The oracle itself: orthonormal (Parseval) with the zero frequency on (N/2, N/2).
    assert_close(np.sum(expected.astype(np.float64) ** 2, axis=(1, 2)),
                 np.sum(np.abs(psi.astype(np.complex128)) ** 2, axis=(1, 2)),
                 tol.ENERGY, "Parseval: diffraction energy vs exit-wave energy")
    half = psi.shape[1] // 2
    assert_close(expected[:, half, half, :], np.abs(psi.sum(axis=(1, 2))) / psi.shape[1],
                 tol.FORWARD_DIFFRACTION, "DC term at (N/2, N/2)")


def test_probe_normalisation(data, reference_ops, tf_ops, torch_ops):
    prepared = data(1)
    probe, probe_scale = prepared.raw.probeGuess, prepared.config.model.probe_scale
    expected = reference_ops.normalize_probe(probe, probe_scale)
    assert_close(tf_ops.normalize_probe(probe, probe_scale), expected, tol.PROBE_NORMALISATION,
                 "normalize_probe TensorFlow vs reference")
    assert_close(torch_ops.normalize_probe(torch_tensor(probe), probe_scale), expected,
                 tol.PROBE_NORMALISATION, "normalize_probe torch vs reference")
    # The contract: mean |P| over r < N/4 is 1/probe_scale after normalisation.
    rows, cols = np.indices(probe.shape) - probe.shape[0] // 2
    disk = np.hypot(rows, cols) < probe.shape[0] / 4
    assert_close(np.abs(expected[disk]).mean(), 1 / probe_scale, tol.PROBE_NORMALISATION,
                 "mean |normalised probe| inside r < N/4")


def test_intensity_scale(reference_ops, tf_ops, torch_ops):
    for nphotons, n_size in ((1e9, 32), (1e6, 64), (3.5e4, 128)):
        expected = np.sqrt(nphotons) / (n_size / 2)
        what = f"intensity_scale(nphotons={nphotons:g}, N={n_size})"
        assert_close(reference_ops.intensity_scale(nphotons, n_size), expected,
                     tol.INTENSITY_SCALE, f"{what} reference vs sqrt(nphotons)/(N/2)")
        assert_close(tf_ops.intensity_scale(nphotons, n_size), expected, tol.INTENSITY_SCALE,
                     f"{what} TensorFlow")
        assert_close(torch_ops.intensity_scale(nphotons, n_size), expected, tol.INTENSITY_SCALE,
                     f"{what} torch")


def _loss_inputs(prepared, reference_ops):
    """Observed s * X_norm and a physical prediction (the noise-free amplitudes of the true
    object) with a few exact zeros to exercise the EPS floor, both (B, N, N, 1)."""
    scale = prepared.inputs.intensity_scale
    observed = (scale * prepared.inputs.X_norm).astype(np.float32)
    predicted = reference_ops.forward_diffraction(_exit_waves(prepared))
    half = predicted.shape[1] / 2     # normalised patterns carry (N/2)**2 energy on average
    predicted *= np.float32(scale * half / np.sqrt(reference_ops.mean_pattern_energy(predicted)))
    predicted[:, :2, :2, :] = 0.0
    return predicted.astype(np.float32), observed


def _loss_parity(name, predicted, observed, reference_ops, tf_ops, torch_ops):
    """The loss `name` from both backends against the reference; returns the reference value."""
    expected = getattr(reference_ops, name)(predicted, observed)
    assert_close(getattr(tf_ops, name)(predicted, observed), expected, tol.LOSS_SCALAR,
                 f"{name} TensorFlow vs reference")
    assert_close(getattr(torch_ops, name)(torch_channels_first(predicted),
                                          torch_channels_first(observed)),
                 expected, tol.LOSS_SCALAR, f"{name} torch vs reference")
    return expected


def test_poisson_nll(data, reference_ops, tf_ops, torch_ops):
    predicted, observed = _loss_inputs(data(1), reference_ops)
    expected = _loss_parity("poisson_nll", predicted, observed, reference_ops, tf_ops, torch_ops)
    # The definition, in float64: mean(lam - k log lam), lam floored at EPS.
    lam = np.maximum(predicted.astype(np.float64) ** 2, reference_ops.EPS)
    counts = observed.astype(np.float64) ** 2
    assert_close(expected, np.mean(lam - counts * np.log(lam)), tol.LOSS_SCALAR,
                 "poisson_nll reference vs its definition")


def test_amplitude_mae(data, reference_ops, tf_ops, torch_ops):
    predicted, observed = _loss_inputs(data(1), reference_ops)
    expected = _loss_parity("amplitude_mae", predicted, observed, reference_ops, tf_ops, torch_ops)
    assert_close(expected, np.mean(np.abs(observed.astype(np.float64) - predicted)),
                 tol.LOSS_SCALAR, "amplitude_mae reference vs its definition")


def test_phase_offset(data, reference_ops, tf_ops, torch_ops):
    """The gauge term's global phase: the same angle in every backend, and it follows a
    constant phase put on the object."""
    views = data(2).views.astype(np.complex64)
    for shift in (0.0, 1.0, -2.5):
        shifted = (views * np.exp(1j * shift)).astype(np.complex64)
        expected = reference_ops.phase_offset(shifted)
        assert_close(expected, np.angle(np.exp(1j * (reference_ops.phase_offset(views) + shift))),
                     tol.PHASE_OFFSET, f"phase_offset follows a constant phase of {shift} rad")
        assert_close(tf_ops.phase_offset(shifted), expected, tol.PHASE_OFFSET,
                     "phase_offset TensorFlow vs reference")
        assert_close(torch_ops.phase_offset(torch_channels_first(shifted)), expected,
                     tol.PHASE_OFFSET, "phase_offset torch vs reference")


def test_combine_complex(data, reference_ops, tf_ops, torch_ops):
    views = data(2).views
    amplitude, phase = np.abs(views).astype(np.float32), np.angle(views).astype(np.float32)
    expected = reference_ops.combine_complex(amplitude, phase)
    assert expected.dtype == np.complex64
    assert_close(expected, views, tol.COMBINE_COMPLEX, "combine_complex(|o|, angle(o)) vs o")
    out_tf = tf_ops.combine_complex(amplitude, phase)
    assert to_numpy(out_tf).dtype == np.complex64
    assert_close(out_tf, expected, tol.COMBINE_COMPLEX, "combine_complex TensorFlow vs reference")
    out_torch = torch_ops.combine_complex(torch_channels_first(amplitude),
                                          torch_channels_first(phase))
    assert to_numpy(out_torch).dtype == np.complex64
    assert_close(out_torch, expected, tol.COMBINE_COMPLEX, "combine_complex torch vs reference",
                 actual_layout=CHANNELS_FIRST)


def test_subpixel_translation(data, reference_ops, tf_ops, torch_ops):
    stack, _ = _flat_views(data(2))
    images = stack[:8]
    # Group offsets are sub-pixel; add integer, negative, mixed and out-of-frame shifts.
    shifts = np.concatenate([data(2).grouped.coords_offsets.reshape(-1, 2)[:4],
                             [[1.0, -2.0], [-3.25, 0.5], [0.0, 0.0], [40.0, 0.5]]])
    expected = reference_ops.translate(images, shifts)
    assert_close(tf_ops.translate(images, shifts), expected, tol.TRANSLATE,
                 "translate TensorFlow vs reference")
    assert_close(torch_ops.translate(torch_tensor(images), shifts), expected, tol.TRANSLATE,
                 "translate torch vs reference")
    # Direction: content moves by +shift, (dx, dy) = (columns, rows).
    assert_close(expected[4, :-2, 1:], images[4, 2:, :-1], tol.TRANSLATE,
                 "translate by (dx, dy) = (1, -2) moves content right 1, up 2")
    assert not np.any(expected[7]), "a shift beyond the frame leaves zeros"


def test_stitching(data, reference_ops, tf_ops, torch_ops):
    prepared = data(1)
    stack, positions = _flat_views(prepared)
    canvas, crop = prepared.raw.objectGuess.shape, prepared.views.shape[1] // 2
    expected = reference_ops.reassemble(stack, positions, canvas, crop)
    assert_close(tf_ops.reassemble(stack, positions, canvas, crop), expected, tol.REASSEMBLE,
                 "reassemble TensorFlow vs reference")
    assert_close(torch_ops.reassemble(torch_tensor(stack), positions, canvas, crop), expected,
                 tol.REASSEMBLE, "reassemble torch vs reference")
    # True patches stitched at their scan positions rebuild the object where covered.
    covered = expected != 0
    assert covered.mean() > 0.3, "the scan covers too little of the canvas to check stitching"
    error = np.abs(expected - prepared.raw.objectGuess)[covered]
    assert_close(error.mean(), 0.0, tol.CONSISTENT_VIEWS,
                 "mean |stitched true patches - objectGuess| over the covered canvas")


def test_merge_channels(data, reference_ops, tf_ops, torch_ops):
    prepared = data(2)
    views, offsets = prepared.views, prepared.grouped.coords_offsets
    expected = reference_ops.merge_channels(views, offsets)
    assert_close(tf_ops.merge_channels(views, offsets), expected, tol.MERGE_CHANNELS,
                 "merge_channels TensorFlow vs reference")
    assert_close(torch_ops.merge_channels(torch_channels_first(views), torch_tensor(offsets)),
                 expected, tol.MERGE_CHANNELS, "merge_channels torch vs reference",
                 actual_layout=CHANNELS_FIRST)
