"""PNG writing of reconstructions."""
import os

import numpy as np
import pytest
from PIL import Image

from ptycho import images
from ptycho.simulate import lines_object


def test_reconstruction_pngs_show_the_object(tmp_path):
    obj = lines_object(128, np.random.default_rng(0))
    amp_path, phase_path = images.save_reconstruction_pngs(obj, tmp_path / "out")
    assert amp_path.name == "reconstructed_amplitude.png"
    assert phase_path.name == "reconstructed_phase.png"
    for path in (amp_path, phase_path):
        assert path.stat().st_size > 1024
    with Image.open(amp_path) as amp_png:
        assert amp_png.mode == "L" and amp_png.size == (128, 128)
        pixels = np.asarray(amp_png, dtype=np.float64)
    assert pixels.min() == 0 and pixels.max() == 255
    assert np.corrcoef(pixels.ravel(), np.abs(obj).ravel())[0, 1] > 0.99
    with Image.open(phase_path) as phase_png:
        assert phase_png.mode == "RGB"
    assert sorted(os.listdir(tmp_path / "out")) == ["reconstructed_amplitude.png",
                                                    "reconstructed_phase.png"]
    shown = images.read_display(phase_path)      # the object's phase is ~+-1 rad
    assert shown["colormap"] == "twilight" and shown["unit"] == "rad"
    assert shown["range"][0] == pytest.approx(-shown["range"][1]) and 0.5 < shown["range"][1] < 1.6
    shown = images.read_display(amp_path)
    assert shown["colormap"] == "gray" and shown["range"][0] < shown["range"][1]


def test_truth_is_drawn_beside_the_reconstruction_over_the_same_pixels(tmp_path):
    truth = lines_object(64, np.random.default_rng(2))
    recon = truth * np.exp(1.3j)            # another global phase: drawn the same
    recon[:, :8] = 0                        # not scanned
    paths = images.save_reconstruction_pngs(recon, tmp_path, truth=truth)
    assert [p.name for p in paths] == ["reconstructed_amplitude.png", "reconstructed_phase.png",
                                       "truth_amplitude.png", "truth_phase.png"]
    pixels = {p.name: np.asarray(Image.open(p), dtype=np.float64) for p in paths}
    assert np.abs(pixels["truth_phase.png"] - pixels["reconstructed_phase.png"]).max() <= 1
    assert np.array_equal(pixels["truth_amplitude.png"], pixels["reconstructed_amplitude.png"])
    assert (pixels["truth_phase.png"][:, :8] == 0).all()


def test_phase_colormap_is_cyclic_so_wrapping_draws_no_edge(tmp_path):
    """-pi + e and pi - e are the same phase: a cyclic map draws them in nearly the same
    colour (viridis drew them at its two ends)."""
    phase = np.array([[-np.pi + 0.01, np.pi - 0.01]])
    path = images.save_png(phase, tmp_path / "p.png", colormap="twilight",
                           value_range=images.PHASE_RANGE)
    left, right = np.asarray(Image.open(path), dtype=np.float64)[0]
    assert np.abs(left - right).max() <= 3


def test_unscanned_border_does_not_squeeze_the_object(tmp_path):
    """A stitched image is exactly 0 where no scan position reached, its amplitude near 1
    inside: stretched from 0, the object would be a near-white square."""
    obj = np.zeros((96, 96), np.complex128)
    obj[16:80, 16:80] = lines_object(64, np.random.default_rng(1))
    inside = (slice(16, 80), slice(16, 80))
    amp_path, phase_path = images.save_reconstruction_pngs(obj, tmp_path)
    with Image.open(amp_path) as png:
        amplitude = np.asarray(png, dtype=np.float64)
    assert amplitude[inside].std() > 40, "amplitude shown in too few grey levels"
    assert np.corrcoef(amplitude[inside].ravel(), np.abs(obj[inside]).ravel())[0, 1] > 0.95
    with Image.open(phase_path) as png:
        phase = np.asarray(png, dtype=np.float64)
    assert phase[inside].std() > 10, "phase shown in too few colours"
    assert amplitude[:16].max() == 0 and (phase[:16] == 0).all()  # black border


def test_to_uint8_handles_flat_and_non_finite_images():
    assert np.all(images.to_uint8(np.full((4, 4), 3.0)) == 0)
    scaled = images.to_uint8(np.array([[0.0, np.nan], [1.0, np.inf]]))
    assert scaled.tolist() == [[0, 0], [255, 0]]


def test_save_png_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="2-D"):
        images.save_png(np.zeros((2, 2, 2)), tmp_path / "x.png")
    with pytest.raises(ValueError, match="colormap"):
        images.save_png(np.zeros((2, 2)), tmp_path / "x.png", colormap="jet")
    assert os.listdir(tmp_path) == []


def test_phase_display_range_is_full_circle_once_the_phase_wraps():
    rows, cols = np.indices((32, 32))
    weak = np.exp(0.5j * np.sin(cols / 4.0))
    strong = np.exp(3.0j * np.sin(cols / 4.0))
    valid = np.ones((32, 32), bool)
    low, high = images.phase_range(weak, valid)
    assert low == pytest.approx(-high) and 0.5 <= high < 0.8
    assert images.phase_range(strong, valid) == images.PHASE_RANGE


def test_read_display_ignores_foreign_pngs(tmp_path):
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "plain.png")
    assert images.read_display(tmp_path / "plain.png") is None
    assert images.read_display(tmp_path / "missing.png") is None
