"""Seeded synthetic dataset: determinism, contract shapes, legacy layout, physics of the noise."""
import hashlib
import logging

import numpy as np
import pytest

from ptycho import reference
from ptycho.cli import simulate as cli
from ptycho.config.config import DEFAULT_PROBE_SCALE
from ptycho.errors import ConfigError
from ptycho.raw_data import RawData
from ptycho.simulate import disk_probe, extract_patches, lines_object, simulate_dataset, write_dataset

SMALL = dict(n_images=48, N=32, object_size=96, nphotons=1e6)


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_arguments_and_seed_give_byte_identical_files(tmp_path):
    write_dataset(tmp_path / "a.npz", seed=5, **SMALL)
    write_dataset(tmp_path / "b.npz", seed=5, **SMALL)
    write_dataset(tmp_path / "c.npz", seed=6, **SMALL)
    assert digest(tmp_path / "a.npz") == digest(tmp_path / "b.npz")
    assert digest(tmp_path / "a.npz") != digest(tmp_path / "c.npz")


def test_dataset_follows_the_npz_contract(tmp_path):
    write_dataset(tmp_path / "d.npz", seed=0, **SMALL)
    raw = RawData.from_file(tmp_path / "d.npz")
    assert raw.diff3d.shape == (48, 32, 32) and raw.diff3d.dtype == np.float32
    assert raw.probeGuess.shape == (32, 32) and raw.probeGuess.dtype == np.complex64
    assert raw.objectGuess.shape == (96, 96) and raw.objectGuess.dtype == np.complex64
    assert raw.xcoords.shape == raw.ycoords.shape == (48,)
    # every patch (plus the interpolation pixel) lies inside the object
    assert raw.xcoords.min() >= 16 and raw.xcoords.max() < 96 - 16 - 1
    assert raw.ycoords.min() >= 16 and raw.ycoords.max() < 96 - 16 - 1
    assert np.all(raw.diff3d >= 0)
    np.testing.assert_allclose(raw.diff3d ** 2, np.rint(raw.diff3d.astype(np.float64) ** 2),
                               atol=1e-2 * raw.diff3d.max())       # sqrt of integer counts


def test_legacy_layout_round_trips_through_format_001(tmp_path, caplog):
    standard = write_dataset(tmp_path / "s.npz", seed=1, **SMALL)
    write_dataset(tmp_path / "l.npz", seed=1, legacy_layout=True, **SMALL)
    with np.load(tmp_path / "l.npz") as stored:
        assert "diff3d" not in stored.files and stored["diffraction"].shape == (32, 32, 48)
    with caplog.at_level(logging.WARNING, logger="ptycho"):
        legacy = RawData.from_file(tmp_path / "l.npz")
    assert any("FORMAT-001" in r.getMessage() for r in caplog.records)
    np.testing.assert_array_equal(legacy.diff3d, standard.diff3d)


def test_lines_object_has_structure_in_amplitude_and_phase():
    obj = lines_object(128, np.random.default_rng(0))
    amp, phase = np.abs(obj), np.angle(obj)
    assert 0.38 < amp.min() < 0.6 and 0.99 < amp.max() <= 1.0 + 1e-6
    assert -1.0 - 1e-6 <= phase.min() < -0.5 and 0.5 < phase.max() <= 1.0 + 1e-6
    assert amp.std() > 0.05 and phase.std() > 0.1
    assert abs(np.corrcoef(amp.ravel(), np.abs(phase).ravel())[0, 1]) > 0.2   # same lines


def test_disk_probe_is_centred_soft_disk_with_curvature():
    probe = disk_probe(64)
    amp, phase = np.abs(probe), np.angle(probe)
    rows, cols = np.indices((64, 64)) - 32
    r = np.hypot(rows, cols)
    assert amp[32, 32] == pytest.approx(1.0, abs=1e-3)
    assert amp[r > 20].max() < 0.01                                 # well inside the patch
    assert 0.2 < amp[(r > 15.5) & (r < 16.5)].mean() < 0.8          # soft edge at N/4
    assert phase[32, 32] == pytest.approx(0.0, abs=1e-6) and phase[32, 42] > 0.5


def test_extract_patches_follows_the_centre_convention():
    obj = (np.arange(40)[:, None] * 100 + np.arange(40)[None, :]).astype(np.complex64)
    patch = extract_patches(obj, np.array([20.0, 20.5]), np.array([18.0, 18.0]), 8)
    assert patch[0, 4, 4] == obj[18, 20]                                       # (N/2, N/2) -> (y, x)
    assert patch[1, 4, 4] == pytest.approx((obj[18, 20] + obj[18, 21]) / 2)   # sub-pixel


def test_diffraction_is_poisson_noisy_model_amplitude():
    nphotons = 1e4
    raw = simulate_dataset(seed=3, **{**SMALL, "nphotons": nphotons})
    counts = raw.diff3d.astype(np.float64) ** 2
    assert counts.sum(axis=(1, 2)).mean() == pytest.approx(nphotons, rel=0.02)
    psi = raw.probeGuess[None] * extract_patches(raw.objectGuess, raw.xcoords, raw.ycoords, 32)
    model = reference.forward_diffraction(psi.astype(np.complex128)) ** 2
    expected = nphotons * model / reference.mean_pattern_energy(np.sqrt(model))
    residual = (counts - expected) / np.sqrt(np.maximum(expected, 1))
    bright = expected > 50
    assert abs(residual[bright].mean()) < 0.1 and 0.8 < residual[bright].std() < 1.2


def test_default_probe_scale_matches_simulated_energy():
    """With DEFAULT_PROBE_SCALE the true object explains the normalised data at an amplitude
    scale of ~0.6 (mid-range for a sigmoid), see ptycho.config.config."""
    raw = simulate_dataset(n_images=128, seed=0)
    probe = reference.normalize_probe(raw.probeGuess, DEFAULT_PROBE_SCALE)
    psi = probe[None] * extract_patches(raw.objectGuess, raw.xcoords, raw.ycoords, raw.N)
    energy = np.mean(np.sum(np.abs(psi) ** 2, axis=(1, 2)))
    needed_amplitude_scale = np.sqrt((raw.N / 2) ** 2 / energy)
    assert 0.5 < needed_amplitude_scale < 0.75


@pytest.mark.parametrize("kwargs, field", [({"N": 60}, "N"), ({"object_size": 30}, "object size"),
                                           ({"n_images": 0}, "n_images"), ({"nphotons": 0}, "nphotons")])
def test_bad_arguments(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        simulate_dataset(**{**SMALL, **kwargs})


def test_cli_writes_dataset_and_fails_in_one_line(tmp_path, capsys):
    out = tmp_path / "cli.npz"
    assert cli.main(["--output", str(out), "--n-images", "16", "--N", "32", "--object-size", "80",
                     "--seed", "2", "--quiet"]) == 0
    assert RawData.from_file(out).diff3d.shape == (16, 32, 32)
    capsys.readouterr()
    assert cli.main(["--output", str(tmp_path / "bad.npz"), "--N", "60"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "N must be" in err
    assert not (tmp_path / "bad.npz").exists()
    with pytest.raises(SystemExit) as info:
        cli.main(["--output", str(out), "--n-images", "many"])
    assert info.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_stitching_the_true_patches_reproduces_the_object():
    """simulate.extract_patches and reference.reassemble share one centre convention."""
    raw = simulate_dataset(n_images=200, N=32, object_size=128, seed=0)
    patches = extract_patches(raw.objectGuess, raw.xcoords, raw.ycoords, 32)
    positions = np.stack([raw.xcoords, raw.ycoords], axis=1)
    covered = reference.reassemble(np.ones_like(patches), positions, raw.objectGuess.shape, 16) != 0

    def error(shift):
        stitched = reference.reassemble(patches, positions + shift, raw.objectGuess.shape, 16)
        return np.abs(stitched - raw.objectGuess)[covered].mean()

    assert covered.sum() > 8000
    assert error([0.0, 0.0]) < 0.015                     # only bilinear smoothing remains
    assert error([1.0, 0.0]) > 3 * error([0.0, 0.0])      # a one-pixel convention slip shows
    assert error([0.0, -1.0]) > 3 * error([0.0, 0.0])
