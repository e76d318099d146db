"""ptycho.tf.ops against the NumPy oracle ptycho.reference (float32 round-off tolerance)."""
import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from ptycho import reference  # noqa: E402
from ptycho.tf import ops  # noqa: E402

RNG = np.random.default_rng(1234)
ATOL = 1e-5


def _complex(*shape):
    return (RNG.normal(size=shape) + 1j * RNG.normal(size=shape)).astype(np.complex64)


def _close(actual, expected, atol=ATOL, rtol=1e-5):
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), atol=atol, rtol=rtol)


def test_normalize_probe_matches_reference():
    probe = _complex(32, 32)
    _close(ops.normalize_probe(probe, 1.7), reference.normalize_probe(probe, 1.7))


@pytest.mark.parametrize("shape", [(3, 16, 16, 1), (2, 16, 16, 4), (2, 16, 16)])
def test_forward_diffraction_matches_reference(shape):
    psi = _complex(*shape)
    _close(ops.forward_diffraction(psi), reference.forward_diffraction(psi), atol=1e-5, rtol=1e-4)


def test_forward_diffraction_gradient_is_finite_at_zero_intensity():
    psi = tf.Variable(np.zeros((1, 8, 8, 1), np.complex64))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(ops.forward_diffraction(psi))
    assert np.all(np.isfinite(tape.gradient(loss, psi).numpy()))


def test_intensity_scale_matches_reference():
    _close(ops.intensity_scale(1e9, 64), reference.intensity_scale(1e9, 64), rtol=1e-6)


def test_losses_match_reference():
    pred = RNG.uniform(0, 30, size=(4, 16, 16, 1)).astype(np.float32)
    pred[0, 0, 0, 0] = 0.0          # exercises the EPS floor
    obs = RNG.uniform(0, 30, size=pred.shape).astype(np.float32)
    _close(ops.poisson_nll(pred, obs), reference.poisson_nll(pred, obs), rtol=1e-5)
    _close(ops.amplitude_mae(pred, obs), reference.amplitude_mae(pred, obs), rtol=1e-5)


def test_combine_complex_matches_reference():
    amp = RNG.uniform(0, 1, size=(2, 8, 8, 1)).astype(np.float32)
    phase = RNG.uniform(-np.pi, np.pi, size=amp.shape).astype(np.float32)
    _close(ops.combine_complex(amp, phase), reference.combine_complex(amp, phase))


@pytest.mark.parametrize("dtype", [np.float32, np.complex64])
def test_translate_matches_reference(dtype):
    images = _complex(5, 12, 10) if dtype == np.complex64 else RNG.normal(size=(5, 12, 10)).astype(dtype)
    shifts = np.array([[0.0, 0.0], [1.0, -2.0], [0.3, 0.7], [-3.25, 4.5], [20.0, 0.5]])
    out = ops.translate(images, shifts)
    assert out.dtype == tf.as_dtype(dtype)
    _close(out, reference.translate(images, shifts))


def test_translate_is_differentiable_in_the_images():
    images = tf.Variable(_complex(2, 8, 8))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.abs(ops.translate(images, np.array([[0.5, 0.25], [-1.5, 2.0]]))))
    assert np.all(np.isfinite(tape.gradient(loss, images).numpy()))


def test_reassemble_matches_reference():
    patches = _complex(7, 16, 16)
    positions = RNG.uniform(-3, 39, size=(7, 2))     # some overhang the canvas edge
    positions[0] = (20.0, 18.0)
    canvas = (40, 36)
    _close(ops.reassemble(patches, positions, canvas, 8, chunk=3),
           reference.reassemble(patches, positions, canvas, 8), atol=1e-5, rtol=1e-4)


def test_merge_channels_matches_reference():
    patches = _complex(3, 16, 16, 4)
    offsets = RNG.uniform(-3, 3, size=(3, 4, 2))
    _close(ops.merge_channels(patches, offsets), reference.merge_channels(patches, offsets),
           atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("M", [1, 5, 12, 16])
def test_reassemble_matches_reference_for_crops_other_than_half_the_patch(M):
    """M = N/2 (the test above) hides a crop end written as `start - M` (a negative index that
    happens to land on start + M only when N == 2M): other crop sizes, odd and even."""
    patches = _complex(4, 16, 16)
    positions = RNG.uniform(4, 32, size=(4, 2))
    canvas = (40, 36)
    _close(ops.reassemble(patches, positions, canvas, M, chunk=3),
           reference.reassemble(patches, positions, canvas, M), atol=1e-5, rtol=1e-4)


def test_reassemble_on_odd_and_crop_sized_canvases_matches_reference():
    """An odd canvas (its centre is H // 2, W // 2, not H / 2) and a canvas exactly the crop's
    size (zero padding is allowed, only negative padding is refused)."""
    patches = _complex(3, 16, 16)
    cases = (((37, 35), 8, RNG.uniform(6, 30, size=(3, 2))),
             ((8, 8), 8, 4.0 + RNG.uniform(-0.5, 0.5, size=(3, 2))))
    for canvas, M, positions in cases:
        _close(ops.reassemble(patches, positions, canvas, M, chunk=2),
               reference.reassemble(patches, positions, canvas, M), atol=1e-5, rtol=1e-4)


def test_reassemble_refuses_a_zero_crop():
    with pytest.raises(ValueError, match="M must be"):
        ops.reassemble(_complex(1, 16, 16), np.zeros((1, 2)), (20, 20), 0)


def test_coverage_at_exactly_the_threshold_counts_as_not_covered():
    eps = reference.COVERAGE_EPS
    out = ops._divide_by_coverage(tf.constant([2 + 0j, 2 + 0j, 2 + 0j], tf.complex64),
                                  tf.constant([eps, 2 * eps, 0.0], tf.float32))
    _close(out, [0, 1 / eps, 0], rtol=1e-5)


def test_reassemble_refuses_a_canvas_too_small_in_either_direction():
    patches = _complex(1, 16, 16)
    for canvas in ((6, 20), (20, 6)):
        with pytest.raises(ValueError, match="smaller than the 8 x 8 crop"):
            ops.reassemble(patches, np.full((1, 2), 3.0), canvas, 8)


def test_reassemble_of_more_patches_than_pixels_per_side_matches_reference():
    """20 patches of 16 x 16 in chunks of 3: every chunk up to the batch size is used (a loop
    bound taken from the wrong axis would stop at 16)."""
    patches = _complex(20, 16, 16)
    positions = RNG.uniform(8, 28, size=(20, 2))
    _close(ops.reassemble(patches, positions, (36, 36), 8, chunk=3),
           reference.reassemble(patches, positions, (36, 36), 8), atol=1e-5, rtol=1e-4)
