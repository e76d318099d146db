"""RawData NPZ contract (DATA-001, FORMAT-001) and generate_grouped_data (CONFIG-001)."""
import logging
import os

import numpy as np
import pytest

from ptycho import params
from ptycho.config import ModelConfig, TrainingConfig, update_legacy_dict
from ptycho.errors import ConfigError, DataError
from ptycho.raw_data import GroupedData, RawData, generate_grouped_data, write_npz

N = 16
N_POS = 30


@pytest.fixture(autouse=True)
def fresh_params():
    params.reset()
    params.cfg["N"] = N
    yield
    params.reset()


def make_arrays(n=N_POS, size=N, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "xcoords": rng.uniform(10, 50, n),
        "ycoords": rng.uniform(10, 50, n),
        "diff3d": rng.uniform(0, 5, (n, size, size)).astype(np.float32),
        "probeGuess": (rng.normal(size=(size, size)) + 1j).astype(np.complex64),
        "objectGuess": np.ones((64, 64), np.complex64),
    }


def save(tmp_path, arrays, name="data.npz"):
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def load_error(tmp_path, arrays) -> str:
    path = save(tmp_path, arrays)
    with pytest.raises(DataError) as info:
        RawData.from_file(path)
    assert str(path) in str(info.value)
    return str(info.value)


def test_valid_file_loads_with_contract_dtypes(tmp_path):
    arrays = make_arrays()
    raw = RawData.from_file(save(tmp_path, arrays))
    assert raw.diff3d.shape == (N_POS, N, N) and raw.diff3d.dtype == np.float32
    assert raw.xcoords.dtype == np.float64 and raw.probeGuess.dtype == np.complex64
    assert raw.objectGuess.dtype == np.complex64 and raw.scan_index.shape == (N_POS,)
    np.testing.assert_array_equal(raw.xcoords_start, raw.xcoords)
    np.testing.assert_array_equal(raw.diff3d, arrays["diff3d"])
    assert raw.path == tmp_path / "data.npz" and raw.N == N and raw.n_positions == N_POS


def test_object_guess_is_optional(tmp_path):
    arrays = make_arrays()
    del arrays["objectGuess"]
    assert RawData.from_file(save(tmp_path, arrays)).objectGuess is None


@pytest.mark.parametrize("key", ["xcoords", "ycoords", "diff3d", "probeGuess"])
def test_missing_key_is_named(tmp_path, key):
    arrays = make_arrays()
    del arrays[key]
    assert f"'{key}'" in load_error(tmp_path, arrays)


def test_legacy_diffraction_key_is_accepted(tmp_path):
    arrays = make_arrays()
    arrays["diffraction"] = arrays.pop("diff3d")
    raw = RawData.from_file(save(tmp_path, arrays))
    np.testing.assert_array_equal(raw.diff3d, arrays["diffraction"])


@pytest.mark.parametrize("shape", [(N_POS, N * N), (N_POS, N, N, 1)])
def test_non_3d_diffraction(tmp_path, shape):
    arrays = make_arrays()
    arrays["diff3d"] = np.ones(shape, np.float32)
    assert "'diff3d' must be 3-D" in load_error(tmp_path, arrays)


def test_pattern_count_mismatch(tmp_path):
    arrays = make_arrays()
    arrays["diff3d"] = arrays["diff3d"][:-1]
    message = load_error(tmp_path, arrays)
    assert "'diff3d'" in message and f"{N_POS} scan" in message


def test_coordinate_count_mismatch(tmp_path):
    arrays = make_arrays()
    arrays["ycoords"] = arrays["ycoords"][:-2]
    message = load_error(tmp_path, arrays)
    assert "'xcoords'" in message and "'ycoords'" in message


@pytest.mark.parametrize("key", ["xcoords", "ycoords", "diff3d", "probeGuess", "objectGuess"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_values_in_any_array(tmp_path, key, bad):
    arrays = make_arrays()
    arrays[key].flat[3] = bad
    message = load_error(tmp_path, arrays)
    assert f"'{key}'" in message and "NaN or Inf" in message


def test_negative_amplitudes(tmp_path):
    arrays = make_arrays()
    arrays["diff3d"][2, 1, 1] = -0.5
    assert "negative" in load_error(tmp_path, arrays)


def test_non_square_patterns(tmp_path):
    arrays = make_arrays()
    arrays["diff3d"] = np.ones((N_POS, N, N + 2), np.float32)
    assert "not square" in load_error(tmp_path, arrays)


def test_probe_shape_must_match_patterns(tmp_path):
    arrays = make_arrays()
    arrays["probeGuess"] = np.ones((N + 8, N + 8), np.complex64)
    assert "'probeGuess'" in load_error(tmp_path, arrays)


def test_format_001_legacy_layout_is_transposed_with_warning(tmp_path, caplog):
    arrays = make_arrays()
    expected = arrays["diff3d"].copy()
    arrays["diff3d"] = np.transpose(expected, (1, 2, 0))          # (N, N, n)
    with caplog.at_level(logging.WARNING, logger="ptycho"):
        raw = RawData.from_file(save(tmp_path, arrays))
    np.testing.assert_array_equal(raw.diff3d, expected)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "FORMAT-001" in warnings[0].getMessage()


def test_standard_layout_logs_no_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="ptycho"):
        RawData.from_file(save(tmp_path, make_arrays()))
    assert not caplog.records


def test_format_001_ambiguous_cube_is_an_error(tmp_path):
    arrays = make_arrays(n=N)                                     # (N, N, N): both layouts fit
    assert "ambiguous" in load_error(tmp_path, arrays)


def test_format_001_inconsistent_legacy_shape_is_an_error(tmp_path):
    arrays = make_arrays()
    arrays["diff3d"] = np.ones((N, N + 4, N_POS), np.float32)
    assert "does not match" in load_error(tmp_path, arrays)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        RawData.from_file(tmp_path / "absent.npz")


def test_truncated_file(tmp_path):
    path = save(tmp_path, make_arrays())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="truncated or corrupt"):
        RawData.from_file(path)


def test_garbage_file(tmp_path):
    path = tmp_path / "garbage.npz"
    path.write_bytes(b"PK\x03\x04 this is not really a zip archive" * 10)
    with pytest.raises(DataError, match=str(path)):
        RawData.from_file(path)


def test_single_npy_array_is_refused(tmp_path):
    path = tmp_path / "one.npy"
    np.save(path, np.ones(3))
    with pytest.raises(DataError, match="not an NPZ archive"):
        RawData.from_file(path)


def test_pickled_object_array_is_refused(tmp_path):
    arrays = make_arrays()
    arrays["scan_index"] = np.array([{"x": 1}] * N_POS, dtype=object)
    path = save(tmp_path, arrays)
    with pytest.raises(DataError, match="'scan_index'"):
        RawData.from_file(path)


def test_to_file_round_trip_is_atomic_and_deterministic(tmp_path):
    raw = RawData.from_file(save(tmp_path, make_arrays(), "in.npz"))
    raw.to_file(tmp_path / "a.npz")
    raw.to_file(tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    back = RawData.from_file(tmp_path / "a.npz")
    for key in ("xcoords", "ycoords", "diff3d", "probeGuess", "objectGuess", "scan_index"):
        np.testing.assert_array_equal(getattr(back, key), getattr(raw, key))
    assert sorted(os.listdir(tmp_path)) == ["a.npz", "b.npz", "in.npz"]


def test_write_npz_leaves_no_partial_file_on_failure(tmp_path):
    with pytest.raises(ValueError):
        write_npz(tmp_path / "x.npz", {"ok": np.ones(3), "bad": np.array([object()])})
    assert os.listdir(tmp_path) == []


# ----- generate_grouped_data -------------------------------------------------------------

def make_raw(n=N_POS, seed=0):
    return RawData(**make_arrays(n=n, seed=seed))


def test_gridsize_1_subsamples_with_seed():
    raw = make_raw()
    grouped = generate_grouped_data(raw, 10, seed=3)
    assert isinstance(grouped, GroupedData)
    assert grouped.X.shape == (10, N, N, 1) and grouped.X.dtype == np.float32
    assert grouped.coords_global.shape == (10, 1, 2) and grouped.coords_center.shape == (10, 2)
    np.testing.assert_array_equal(grouped.coords_offsets, 0)
    idx = grouped.nn_indices[:, 0]
    assert len(set(idx)) == 10 and np.all(np.diff(idx) > 0)
    np.testing.assert_array_equal(grouped.X[..., 0], raw.diff3d[idx])
    np.testing.assert_array_equal(grouped.coords_center[:, 0], raw.xcoords[idx])
    np.testing.assert_array_equal(generate_grouped_data(raw, 10, seed=3).nn_indices, grouped.nn_indices)
    assert not np.array_equal(generate_grouped_data(raw, 10, seed=4).nn_indices, grouped.nn_indices)
    assert generate_grouped_data(raw, 1000, seed=0).X.shape[0] == N_POS
    assert grouped.probe.dtype == np.complex64


def test_gridsize_2_groups_nearest_neighbours():
    params.cfg["gridsize"] = 2
    raw = make_raw(n=60)
    grouped = generate_grouped_data(raw, 20, seed=1, K=6)
    assert grouped.X.shape == (20, N, N, 4) and grouped.nn_indices.shape == (20, 4)
    points = np.stack([raw.xcoords, raw.ycoords], axis=1)
    dists = np.sum((points[:, None] - points[None]) ** 2, axis=2)
    six_nearest = [set(r) for r in np.argsort(dists, axis=1, kind="stable")[:, :6]]
    for row, centre, offsets in zip(grouped.nn_indices, grouped.coords_center, grouped.coords_offsets):
        assert np.all(np.diff(row) > 0)                        # channel order = sorted indices
        assert any(set(row) <= near for near in six_nearest)   # 4 of some point's 6 nearest
        np.testing.assert_allclose(centre, points[row].mean(axis=0))
        np.testing.assert_allclose(offsets, points[row] - centre)
    np.testing.assert_array_equal(grouped.X, np.moveaxis(raw.diff3d[grouped.nn_indices], 1, 3))
    np.testing.assert_allclose(grouped.coords_offsets.sum(axis=1), 0, atol=1e-9)


def test_gridsize_2_with_k_4_takes_exactly_the_4_nearest():
    params.cfg["gridsize"] = 2
    raw = make_raw(n=40)
    grouped = generate_grouped_data(raw, 40, seed=0, K=4)
    points = np.stack([raw.xcoords, raw.ycoords], axis=1)
    expected = np.sort(np.argsort(np.sum((points[:, None] - points[None]) ** 2, axis=2),
                                  axis=1, kind="stable")[:, :4], axis=1)
    np.testing.assert_array_equal(grouped.nn_indices, expected)


def test_neighbor_count_defaults_to_params_cfg():
    params.cfg["gridsize"] = 2
    params.cfg["neighbor_count"] = 3
    with pytest.raises(ConfigError, match="neighbor_count"):
        generate_grouped_data(make_raw(), 5, seed=0)


def test_config_001_hazard_grouping_reads_params_cfg_not_the_dataclass():
    raw = make_raw()
    config = TrainingConfig(model=ModelConfig(N=N, gridsize=2))
    assert generate_grouped_data(raw, 8, seed=0).X.shape[-1] == 1   # cfg still says gridsize 1
    update_legacy_dict(params.cfg, config)
    assert generate_grouped_data(raw, 8, seed=0).X.shape[-1] == 4


def test_config_001_n_mismatch_points_at_update_legacy_dict():
    params.cfg["N"] = 64
    with pytest.raises(DataError, match="update_legacy_dict"):
        generate_grouped_data(make_raw(), 8, seed=0)


@pytest.mark.parametrize("n_groups", [0, -3, 2.5, True])
def test_bad_n_groups(n_groups):
    with pytest.raises(ConfigError, match="n_groups"):
        generate_grouped_data(make_raw(), n_groups)


def test_size_policy_refuses_an_array_before_reading_it(tmp_path, monkeypatch):
    """PTYCHO_MAX_ARRAY_GB caps the bytes an NPZ member may declare (default 8 GiB)."""
    path = save(tmp_path, make_arrays())
    diff_bytes = N_POS * N * N * 4
    monkeypatch.setenv("PTYCHO_MAX_ARRAY_GB", str(0.5 * diff_bytes / 2 ** 30))
    with pytest.raises(ConfigError, match=r"key 'diff3d' \(shape .* needs .* GiB, over the .* GiB "
                                          r"size policy \(refused before allocating\).*"
                                          r"PTYCHO_MAX_ARRAY_GB"):
        RawData.from_file(path)
    monkeypatch.setenv("PTYCHO_MAX_ARRAY_GB", str(2 * diff_bytes / 2 ** 30))
    assert RawData.from_file(path).n_positions == N_POS
    monkeypatch.setenv("PTYCHO_MAX_ARRAY_GB", "lots")
    with pytest.raises(ConfigError, match="PTYCHO_MAX_ARRAY_GB: must be a number"):
        RawData.from_file(path)


def test_complex_coordinates_are_refused_not_truncated(tmp_path):
    arrays = make_arrays()
    arrays["ycoords"] = arrays["ycoords"] + 0.5j
    assert "'ycoords' is complex" in load_error(tmp_path, arrays)
