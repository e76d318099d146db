"""Reconstruction metrics: alignment, MAE/PSNR/SSIM, FRC, and evaluate_reconstruction."""
import json

import numpy as np
import pytest

from ptycho import metrics
from ptycho.simulate import lines_object

RNG = np.random.default_rng(11)


def blobs(shape=(96, 96), dx=0.0, dy=0.0, seed=3):
    """Complex test object from Gaussian blobs, evaluated analytically with its content moved
    by +(dx, dy): an exact sub-pixel shift with no interpolation."""
    rng = np.random.default_rng(seed)
    rows, cols = np.indices(shape)
    amp = np.full(shape, 0.5)
    phase = np.zeros(shape)
    for _ in range(40):
        y, x = rng.uniform(8, shape[0] - 8), rng.uniform(8, shape[1] - 8)
        width, a, p = rng.uniform(1.5, 4), rng.uniform(-0.3, 0.4), rng.uniform(-1, 1)
        g = np.exp(-((rows - dy - y) ** 2 + (cols - dx - x) ** 2) / (2 * width ** 2))
        amp += a * g
        phase += p * g
    return np.clip(amp, 0.05, None) * np.exp(1j * phase)


@pytest.fixture(scope="module")
def obj():
    return lines_object(96, np.random.default_rng(0)).astype(np.complex128)


def test_gaussian_filter_matches_direct_2d_convolution():
    image = RNG.normal(size=(20, 23))
    out = metrics.gaussian_filter(image, 1.5, radius=5, mode="valid")
    taps = np.exp(-0.5 * (np.arange(-5, 6) / 1.5) ** 2)
    kernel = np.outer(taps, taps) / np.outer(taps, taps).sum()
    assert out.shape == (10, 13)
    assert out[3, 4] == pytest.approx(np.sum(kernel * image[3:14, 4:15]))
    flat = metrics.gaussian_filter(np.full((12, 12), 2.5), 2.0)
    assert flat.shape == (12, 12) and np.allclose(flat, 2.5)


def test_identical_images_score_perfectly():
    image = RNG.uniform(size=(32, 32))
    assert metrics.ssim(image, image, 1.0) == pytest.approx(1.0)
    assert metrics.psnr(image, image, 1.0) == metrics.PSNR_CAP_DB
    assert metrics.mae(image, image) == 0.0


def test_noise_lowers_ssim_and_psnr_monotonically():
    image = metrics.gaussian_filter(RNG.uniform(size=(48, 48)), 2.0)
    image = (image - image.min()) / (image.max() - image.min())
    noise = RNG.normal(size=image.shape)
    scores = [metrics.ssim(image, image + level * noise, 1.0) for level in (0.01, 0.05, 0.2)]
    psnrs = [metrics.psnr(image, image + level * noise, 1.0) for level in (0.01, 0.05, 0.2)]
    assert 1.0 > scores[0] > scores[1] > scores[2]
    assert psnrs[0] > psnrs[1] > psnrs[2]
    assert psnrs[1] == pytest.approx(-20 * np.log10(0.05), abs=0.3)


def test_shift_image_is_exact_for_integer_shifts_and_smooth_content():
    image = RNG.normal(size=(10, 12)) + 1j * RNG.normal(size=(10, 12))
    np.testing.assert_allclose(metrics.shift_image(image, 3, -2)[2:, 3:-2][:6],
                               np.roll(image, (-2, 3), axis=(0, 1))[2:, 3:-2][:6])
    np.testing.assert_allclose(metrics.shift_image(image, 0, 0), image)
    rows, cols = np.indices((16, 16))
    quadratic = 0.5 * cols ** 2 - 2 * rows * cols + rows
    moved = metrics.shift_image(quadratic, 0.3, -0.6)
    expected = 0.5 * (cols - 0.3) ** 2 - 2 * (rows + 0.6) * (cols - 0.3) + (rows + 0.6)
    np.testing.assert_allclose(moved[2:-2, 2:-2], expected[2:-2, 2:-2], atol=1e-9)


def test_register_shift_recovers_subpixel_shift(obj):
    dx, dy = metrics.register_shift(np.abs(blobs(dx=2.4, dy=-1.3)), np.abs(blobs()))
    assert dx == pytest.approx(-2.4, abs=0.03) and dy == pytest.approx(1.3, abs=0.03)
    dx, dy = metrics.register_shift(np.abs(obj), np.abs(obj))
    assert (dx, dy) == (0.0, 0.0)


def test_remove_phase_plane_undoes_offset_and_ramp(obj):
    rows, cols = np.indices(obj.shape)
    tilted = obj * np.exp(1j * (0.8 + 0.02 * cols - 0.015 * rows))
    fixed = metrics.remove_phase_plane(tilted, obj)
    np.testing.assert_allclose(fixed, obj, atol=1e-6)
    only_offset = metrics.remove_phase_plane(obj * np.exp(0.8j), obj, plane=False)
    np.testing.assert_allclose(only_offset, obj, atol=1e-6)


def test_frc_of_identical_images_never_drops_and_noise_lowers_it(obj):
    freqs, curve = metrics.frc_curve(obj, obj)
    assert freqs[-1] == pytest.approx(0.5) and np.allclose(curve, 1.0)
    assert metrics.frc_crossing(freqs, curve, 0.5) == pytest.approx(0.5)
    noisy = obj + 0.3 * (RNG.normal(size=obj.shape) + 1j * RNG.normal(size=obj.shape))
    freqs, curve = metrics.frc_curve(noisy, obj)
    assert metrics.frc_crossing(freqs, curve, 0.5) < 0.5
    assert metrics.frc_crossing(freqs, curve, 0.5) <= metrics.frc_crossing(freqs, curve, 1 / 7)


KEYS = {"amp_mae", "amp_psnr", "amp_ssim", "phase_mae", "phase_psnr", "phase_ssim", "frc50", "frc17",
        "amp_r", "phase_r", "phase_ssim_range"}


def test_evaluate_identical_is_perfect_and_json_serialisable(obj):
    result = metrics.evaluate_reconstruction(obj, obj)
    assert set(result) == KEYS and all(type(v) is float for v in result.values())
    json.loads(json.dumps(result, allow_nan=False))
    assert result["amp_ssim"] == pytest.approx(1.0) and result["phase_ssim"] == pytest.approx(1.0)
    assert result["amp_psnr"] >= 90 and result["amp_mae"] < 1e-9 and result["frc50"] == 0.5
    assert result["amp_r"] == pytest.approx(1.0) and result["phase_r"] == pytest.approx(1.0)
    assert result["phase_ssim_range"] == pytest.approx(1.0)


def test_evaluate_undoes_trivial_ambiguities():
    target = blobs()
    rows, cols = np.indices(target.shape)
    recon = 3.0 * blobs(dx=1.7, dy=-2.2) * np.exp(1j * (1.1 + 0.01 * cols))
    positions = np.array([[30.0, 30.0], [66.0, 66.0]])
    result = metrics.evaluate_reconstruction(recon, target, positions=positions)
    assert result["amp_ssim"] > 0.98 and result["phase_ssim"] > 0.98
    assert result["amp_psnr"] > 30 and result["phase_mae"] < 0.01


def test_evaluate_noise_lowers_scores(obj):
    noisy = obj * (1 + 0.2 * RNG.normal(size=obj.shape)) * np.exp(0.2j * RNG.normal(size=obj.shape))
    clean = metrics.evaluate_reconstruction(obj, obj)
    worse = metrics.evaluate_reconstruction(noisy, obj)
    for key in ("amp_ssim", "phase_ssim", "amp_psnr", "phase_psnr", "amp_r", "phase_r",
                "phase_ssim_range"):
        assert worse[key] < clean[key] - 0.05, key
    assert worse["amp_mae"] > clean["amp_mae"] and worse["frc50"] < clean["frc50"]


def test_pearson_is_scale_free_and_sign_sensitive():
    rng = np.random.default_rng(3)
    image = rng.normal(size=(20, 20))
    assert metrics.pearson(image, 5 * image + 2) == pytest.approx(1.0)
    assert metrics.pearson(image, -image) == pytest.approx(-1.0)
    assert metrics.pearson(image, np.ones_like(image)) == 0.0
    assert abs(metrics.pearson(image, rng.normal(size=image.shape))) < 0.2


def test_phase_ssim_range_uses_the_truths_own_range():
    """A weak phase (+-0.3 rad) reconstructed flat: the [-pi, pi]-mapped SSIM still looks
    good, the truth-range SSIM does not."""
    rows, cols = np.indices((48, 48))
    phase = 0.3 * np.sin(cols / 3.0) * np.cos(rows / 5.0)
    target = np.exp(1j * phase)
    flat = np.ones_like(target)
    result = metrics.evaluate_reconstruction(flat, target, plane=False)
    assert result["phase_ssim"] > 0.5 and result["phase_ssim_range"] < 0.1
    assert result["phase_r"] == 0.0


def test_evaluate_compares_only_the_scanned_region(obj):
    recon = obj.copy()
    recon[:, :20] = 0                                   # garbage outside the scanned area
    positions = np.array([[30.0, 25.0], [70.0, 75.0]])
    assert metrics.scan_bbox(positions, obj.shape) == (25, 76, 30, 71)
    inside = metrics.evaluate_reconstruction(recon, obj, positions=positions)
    whole = metrics.evaluate_reconstruction(recon, obj)
    assert inside["amp_ssim"] > 0.999 and whole["amp_ssim"] < 0.95
    explicit = metrics.evaluate_reconstruction(recon, obj, bbox=(25, 76, 30, 71))
    assert explicit == inside


def test_evaluate_rejects_mismatched_shapes(obj):
    with pytest.raises(ValueError, match="same 2-D canvas"):
        metrics.evaluate_reconstruction(obj[:-1], obj)
