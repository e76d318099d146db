"""ptycho_torch.ops against the NumPy oracle ptycho.reference (float32 round-off tolerance).

Torch batches are channels-first (B, C, N, N); the reference is channels-last (B, N, N, C).
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ptycho import reference  # noqa: E402
from ptycho_torch import ops  # noqa: E402

RNG = np.random.default_rng(4321)
ATOL = 1e-5


def _complex(*shape):
    return (RNG.normal(size=shape) + 1j * RNG.normal(size=shape)).astype(np.complex64)


def _first(x):
    """channels-last numpy (B, N, N, C) -> channels-first torch (B, C, N, N)."""
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, 3, 1)))


def _last(t):
    """channels-first torch -> channels-last numpy."""
    return np.moveaxis(t.detach().numpy(), 1, 3)


def _close(actual, expected, atol=ATOL, rtol=1e-5):
    if isinstance(actual, torch.Tensor):
        actual = actual.detach().numpy()
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), atol=atol, rtol=rtol)


def test_normalize_probe_matches_reference():
    probe = _complex(32, 32)
    out = ops.normalize_probe(torch.from_numpy(probe), 1.7)
    assert out.dtype == torch.complex64
    _close(out, reference.normalize_probe(probe, 1.7))


def test_normalize_probe_refuses_a_probe_that_is_zero_in_the_centre():
    with pytest.raises(ValueError, match="central disk"):
        ops.normalize_probe(torch.zeros(16, 16, dtype=torch.complex64), 1.0)


@pytest.mark.parametrize("shape", [(3, 16, 16, 1), (2, 16, 16, 4)])
def test_forward_diffraction_matches_reference(shape):
    psi = _complex(*shape)
    _close(_last(ops.forward_diffraction(_first(psi))), reference.forward_diffraction(psi),
           atol=1e-5, rtol=1e-4)


def test_forward_diffraction_of_an_image_stack_matches_reference():
    psi = _complex(2, 16, 16)
    _close(ops.forward_diffraction(torch.from_numpy(psi)), reference.forward_diffraction(psi),
           atol=1e-5, rtol=1e-4)


def test_forward_diffraction_gradient_is_finite_at_zero_intensity():
    psi = torch.zeros(1, 1, 8, 8, dtype=torch.complex64, requires_grad=True)
    ops.forward_diffraction(psi).sum().backward()
    assert torch.isfinite(torch.view_as_real(psi.grad)).all()


@pytest.mark.parametrize("channels", [1, 4])
def test_normalize_diffraction_matches_reference(channels):
    X = RNG.uniform(0, 5, size=(6, 16, 16, channels)).astype(np.float32)
    out, factor = ops.normalize_diffraction(_first(X))
    expected, expected_factor = reference.normalize_diffraction(X)
    assert factor == pytest.approx(expected_factor, rel=1e-12)
    assert out.dtype == torch.float32
    _close(_last(out), expected, rtol=1e-6)
    assert ops.mean_pattern_energy(_first(X)) == pytest.approx(reference.mean_pattern_energy(X),
                                                               rel=1e-12)


def test_normalize_diffraction_refuses_all_zero_patterns():
    with pytest.raises(ValueError, match="all zero"):
        ops.normalize_diffraction(torch.zeros(2, 1, 8, 8))


def test_intensity_scale_matches_reference():
    assert ops.intensity_scale(1e9, 64) == pytest.approx(reference.intensity_scale(1e9, 64), rel=1e-12)


def test_losses_match_reference():
    pred = RNG.uniform(0, 30, size=(4, 16, 16, 1)).astype(np.float32)
    pred[0, 0, 0, 0] = 0.0          # exercises the EPS floor
    obs = RNG.uniform(0, 30, size=pred.shape).astype(np.float32)
    _close(ops.poisson_nll(_first(pred), _first(obs)), reference.poisson_nll(pred, obs), rtol=1e-5)
    _close(ops.amplitude_mae(_first(pred), _first(obs)), reference.amplitude_mae(pred, obs), rtol=1e-5)


def test_combine_complex_matches_reference():
    amp = RNG.uniform(0, 1, size=(2, 8, 8, 1)).astype(np.float32)
    phase = RNG.uniform(-np.pi, np.pi, size=amp.shape).astype(np.float32)
    out = ops.combine_complex(_first(amp), _first(phase))
    assert out.dtype == torch.complex64
    _close(_last(out), reference.combine_complex(amp, phase))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64])
def test_translate_matches_reference_to_1e6(dtype):
    if dtype == np.complex64:
        images = _complex(5, 12, 10)
    else:
        images = RNG.normal(size=(5, 12, 10)).astype(dtype)
    shifts = np.array([[0.0, 0.0], [1.0, -2.0], [0.3, 0.7], [-3.25, 4.5], [20.0, 0.5]])
    out = ops.translate(torch.from_numpy(images), torch.from_numpy(shifts))
    assert out.dtype == torch.from_numpy(images).dtype
    _close(out, reference.translate(images, shifts), atol=1e-6, rtol=1e-6)


def test_translate_rejects_mismatched_shifts():
    with pytest.raises(ValueError, match=r"shifts must be \(B, 2\)"):
        ops.translate(torch.zeros(3, 4, 4), torch.zeros(2, 2))


def test_translate_is_differentiable_in_the_images():
    images = torch.from_numpy(_complex(2, 8, 8)).requires_grad_(True)
    ops.translate(images, np.array([[0.5, 0.25], [-1.5, 2.0]])).abs().sum().backward()
    grad = torch.view_as_real(images.grad)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_reassemble_matches_reference(dtype):
    patches = _complex(7, 16, 16).astype(dtype)
    positions = RNG.uniform(-6, 42, size=(7, 2))     # some overhang the canvas edge
    positions[0] = (20.0, 18.0)
    canvas = (40, 36)
    out = ops.reassemble(torch.from_numpy(patches), positions, canvas, 8)
    expected = reference.reassemble(patches, positions, canvas, 8)
    assert out.numpy().dtype == expected.dtype
    _close(out, expected, atol=1e-6, rtol=1e-6)


def test_reassemble_drops_patches_entirely_outside_the_canvas_like_reference():
    patches = _complex(3, 8, 8)
    positions = np.array([[100.0, 2.0], [-40.0, -7.5], [5.5, 6.25]])
    out = ops.reassemble(torch.from_numpy(patches), positions, (20, 20), 4)
    _close(out, reference.reassemble(patches, positions, (20, 20), 4), atol=1e-6, rtol=1e-6)


def test_merge_channels_matches_reference():
    patches = _complex(3, 16, 16, 4)
    offsets = RNG.uniform(-3, 3, size=(3, 4, 2))
    out = ops.merge_channels(_first(patches), torch.from_numpy(offsets))
    assert out.dtype == torch.complex64
    _close(_last(out), reference.merge_channels(patches, offsets), atol=1e-5, rtol=1e-4)


def test_merge_channels_is_differentiable():
    patches = _first(_complex(2, 8, 8, 4)).requires_grad_(True)
    ops.merge_channels(patches, RNG.uniform(-2, 2, size=(2, 4, 2))).abs().sum().backward()
    assert torch.isfinite(torch.view_as_real(patches.grad)).all()


@pytest.mark.parametrize("M", [1, 5, 12, 16])
def test_reassemble_matches_reference_for_crops_other_than_half_the_patch(M):
    """M = N/2 (the tests above) hides crop arithmetic that is right only when N == 2M."""
    patches = _complex(4, 16, 16)
    positions = RNG.uniform(4, 32, size=(4, 2))
    out = ops.reassemble(torch.from_numpy(patches), positions, (40, 36), M)
    _close(out, reference.reassemble(patches, positions, (40, 36), M), atol=1e-6, rtol=1e-6)


def test_reassemble_windows_cut_by_every_edge_of_an_odd_canvas_match_reference():
    """One patch hanging over each corner of an odd (39, 35) canvas: the window pixels on the
    first and last rows and columns are kept, those beyond them dropped."""
    patches = _complex(4, 16, 16)
    positions = np.array([[1.25, 2.5], [32.75, 1.5], [2.0, 36.25], [33.5, 37.75]])
    out = ops.reassemble(torch.from_numpy(patches), positions, (39, 35), 8)
    expected = reference.reassemble(patches, positions, (39, 35), 8)
    _close(out, expected, atol=1e-6, rtol=1e-6)
    assert np.count_nonzero(expected[0]) and np.count_nonzero(expected[-1])
    assert np.count_nonzero(expected[:, 0]) and np.count_nonzero(expected[:, -1])


def test_reassemble_refuses_a_zero_crop():
    with pytest.raises(ValueError, match="M must be"):
        ops.reassemble(torch.from_numpy(_complex(1, 16, 16)), np.zeros((1, 2)), (20, 20), 0)


def test_coverage_at_exactly_the_threshold_counts_as_not_covered():
    eps = reference.COVERAGE_EPS
    out = ops._divide_by_coverage(torch.tensor([2 + 0j, 2 + 0j, 2 + 0j], dtype=torch.complex128),
                                  torch.tensor([eps, 2 * eps, 0.0], dtype=torch.float64))
    _close(out, [0, 1 / eps, 0], rtol=1e-9)


def test_a_faint_probe_and_faint_patterns_are_normalised_and_zero_ones_refused():
    """Only exactly-zero input is refused: a probe or patterns far below 1 still normalise."""
    probe = 1e-4 * _complex(16, 16)
    _close(ops.normalize_probe(probe, 1.0), reference.normalize_probe(probe, 1.0), rtol=1e-5)
    with pytest.raises(ValueError, match="zero inside"):
        ops.normalize_probe(np.zeros((16, 16), np.complex64), 1.0)
    faint = torch.full((2, 1, 8, 8), 1e-3)
    normalised, factor = ops.normalize_diffraction(faint)
    assert ops.mean_pattern_energy(normalised) == pytest.approx(16, rel=1e-5)
    assert factor == pytest.approx(np.sqrt(16 / 64e-6), rel=1e-5)
    with pytest.raises(ValueError, match="all zero"):
        ops.normalize_diffraction(torch.zeros(2, 1, 8, 8))


def test_mean_pattern_energy_of_batches_without_a_channel_axis():
    X = RNG.uniform(0, 3, size=(5, 8, 8))
    assert ops.mean_pattern_energy(torch.from_numpy(X)) == pytest.approx(
        reference.mean_pattern_energy(X), rel=1e-12)


def test_to_channels_first_moves_the_channel_axis_and_makes_contiguous_float32():
    X = RNG.uniform(0, 1, size=(2, 8, 6, 4))
    out = ops.to_channels_first(X)
    assert out.shape == (2, 4, 8, 6) and out.dtype == torch.float32 and out.is_contiguous()
    np.testing.assert_array_equal(out.numpy(), np.moveaxis(X.astype(np.float32), 3, 1))
