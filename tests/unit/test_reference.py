"""Properties of the NumPy reference numerics (the oracle for both backends)."""
import numpy as np
import pytest

from ptycho import reference

RNG = np.random.default_rng(7)


def complex_images(*shape):
    return (RNG.normal(size=shape) + 1j * RNG.normal(size=shape)).astype(np.complex64)


def disk(N, radius):
    rows, cols = np.indices((N, N)) - N // 2
    return np.hypot(rows, cols) < radius


def test_normalize_probe_mean_in_central_disk_is_one_over_scale():
    probe = complex_images(32, 32)
    for scale in (0.5, 1.0, 4.0):
        out = reference.normalize_probe(probe, scale)
        assert out.dtype == np.complex64
        assert np.abs(out[disk(32, 8)]).mean() == pytest.approx(1 / scale, rel=1e-5)
        np.testing.assert_allclose(out / probe, (out / probe)[0, 0], rtol=1e-5)  # pure rescale


def test_normalize_probe_refuses_empty_disk():
    with pytest.raises(ValueError, match="zero inside"):
        reference.normalize_probe(np.zeros((16, 16), np.complex64), 1.0)


@pytest.mark.parametrize("shape", [(16, 16), (3, 16, 16), (2, 16, 16, 4)])
def test_forward_diffraction_is_orthonormal(shape):
    psi = complex_images(*shape)
    amp = reference.forward_diffraction(psi)
    assert amp.shape == psi.shape and amp.dtype == np.float32
    axes = (0, 1) if len(shape) == 2 else (1, 2)
    np.testing.assert_allclose(np.sum(amp.astype(np.float64) ** 2, axis=axes),
                               np.sum(np.abs(psi.astype(np.complex128)) ** 2, axis=axes), rtol=1e-4)


def test_forward_diffraction_puts_dc_at_centre():
    N = 16
    amp = reference.forward_diffraction(np.full((N, N), 2.0 + 0j))
    assert np.unravel_index(np.argmax(amp), amp.shape) == (N // 2, N // 2)
    assert amp[N // 2, N // 2] == pytest.approx(2.0 * N)      # |sum psi| / N
    assert np.sum(amp ** 2) == pytest.approx(amp[N // 2, N // 2] ** 2)


def test_forward_diffraction_of_plane_wave_peaks_at_its_frequency():
    N = 16
    cols = np.arange(N)
    psi = np.exp(2j * np.pi * 3 * cols / N)[None, :].repeat(N, 0)
    amp = reference.forward_diffraction(psi)
    assert np.unravel_index(np.argmax(amp), amp.shape) == (N // 2, N // 2 + 3)


def test_normalize_diffraction_sets_mean_energy():
    X = RNG.uniform(0, 9, (5, 16, 16, 4)).astype(np.float32)
    Xn, factor = reference.normalize_diffraction(X)
    assert Xn.dtype == np.float32 and isinstance(factor, float)
    assert reference.mean_pattern_energy(Xn) == pytest.approx(8 ** 2, rel=1e-5)
    np.testing.assert_allclose(Xn, X * factor, rtol=1e-6)
    assert reference.mean_pattern_energy(X) == pytest.approx(
        np.mean(np.sum(X.astype(np.float64) ** 2, axis=(1, 2))))


def test_intensity_scale():
    assert reference.intensity_scale(1e9, 64) == pytest.approx(np.sqrt(1e9) / 32)


def test_poisson_nll_and_mae_formulas():
    pred = np.array([0.0, 1.0, 2.0])
    obs = np.array([1.0, 1.0, 3.0])
    lam = np.array([1e-6, 1.0, 4.0])
    expected = np.mean(lam - obs ** 2 * np.log(lam))
    assert reference.poisson_nll(pred, obs) == pytest.approx(expected)
    assert reference.amplitude_mae(pred, obs) == pytest.approx(np.mean([1.0, 0.0, 1.0]))
    # the NLL is minimised (over pred) where pred**2 == obs**2
    grid = np.linspace(0.5, 2.0, 301)
    assert grid[np.argmin([reference.poisson_nll([p], [1.2]) for p in grid])] == pytest.approx(1.2, abs=0.01)


def test_combine_complex():
    out = reference.combine_complex(np.array([2.0]), np.array([np.pi / 2]))
    assert out.dtype == np.complex64
    np.testing.assert_allclose(out, [2j], atol=1e-6)


@pytest.mark.parametrize("dx, dy", [(3, 0), (0, -2), (2, 5), (-4, -1)])
def test_integer_translate_equals_roll_inside_and_zero_outside(dx, dy):
    images = complex_images(2, 12, 14)
    out = reference.translate(images, [[dx, dy], [dx, dy]])
    assert out.dtype == images.dtype
    rolled = np.roll(images, (dy, dx), axis=(1, 2))
    rows, cols = np.indices((12, 14))
    inside = (rows - dy >= 0) & (rows - dy < 12) & (cols - dx >= 0) & (cols - dx < 14)
    np.testing.assert_array_equal(out[:, inside], rolled[:, inside])
    np.testing.assert_array_equal(out[:, ~inside], 0)


def test_half_pixel_translate_averages_neighbours():
    images = RNG.normal(size=(2, 8, 9))
    out = reference.translate(images, [[0.5, 0.0], [0.0, -0.5]])
    np.testing.assert_allclose(out[0, :, 1:], (images[0, :, 1:] + images[0, :, :-1]) / 2)
    np.testing.assert_allclose(out[1, :-1, :], (images[1, :-1, :] + images[1, 1:, :]) / 2)


def test_translate_is_per_image_and_matches_formula():
    images = RNG.normal(size=(3, 6, 7)).astype(np.float32)
    shifts = np.array([[0.3, -1.7], [2.25, 0.6], [-0.5, 0.0]])
    out = reference.translate(images, shifts)
    assert out.dtype == np.float32
    for b, (dx, dy) in enumerate(shifts):
        for y in range(6):
            for x in range(7):
                sy, sx = y - dy, x - dx
                y0, x0 = int(np.floor(sy)), int(np.floor(sx))
                wy, wx = sy - y0, sx - x0

                def g(r, c):
                    return images[b, r, c] if 0 <= r < 6 and 0 <= c < 7 else 0.0

                expected = ((1 - wy) * (1 - wx) * g(y0, x0) + (1 - wy) * wx * g(y0, x0 + 1)
                            + wy * (1 - wx) * g(y0 + 1, x0) + wy * wx * g(y0 + 1, x0 + 1))
                assert out[b, y, x] == pytest.approx(expected, abs=1e-6)


def test_translate_rejects_bad_shift_shape():
    with pytest.raises(ValueError, match=r"\(B, 2\)"):
        reference.translate(np.zeros((2, 4, 4)), np.zeros((3, 2)))


def naive_reassemble(patches, positions, canvas_shape, M):
    """The docstring definition, literally, on full-size canvases."""
    B, N, _ = patches.shape
    H, W = canvas_shape
    start = N // 2 - M // 2
    padded = np.zeros((B, H, W), np.complex128)
    padded[:, H // 2 - M // 2:H // 2 - M // 2 + M, W // 2 - M // 2:W // 2 - M // 2 + M] = \
        patches[:, start:start + M, start:start + M]
    support = np.zeros((B, H, W))
    support[:, H // 2 - M // 2:H // 2 - M // 2 + M, W // 2 - M // 2:W // 2 - M // 2 + M] = 1
    shifts = np.asarray(positions) - [W // 2, H // 2]
    total = reference.translate(padded, shifts).sum(0)
    cover = reference.translate(support, shifts).sum(0)
    return np.where(cover > reference.COVERAGE_EPS, total / np.maximum(cover, 1e-300), 0)


def test_reassemble_matches_its_definition_including_edges():
    patches = complex_images(6, 16, 16)
    positions = RNG.uniform(-14, 54, (6, 2))                  # over the edge, some fully outside
    out = reference.reassemble(patches, positions, (40, 36), 8)
    assert out.shape == (40, 36) and out.dtype == np.complex64
    np.testing.assert_allclose(out, naive_reassemble(patches, positions, (40, 36), 8), atol=1e-5)


def test_reassemble_of_constant_is_constant_where_covered():
    patches = np.full((20, 16, 16), 0.7 - 0.2j, np.complex64)
    positions = RNG.uniform(12, 36, (20, 2))
    out = reference.reassemble(patches, positions, (48, 48), 10)
    naive = naive_reassemble(patches, positions, (48, 48), 10)
    covered = naive != 0
    assert covered.sum() > 200
    np.testing.assert_allclose(out[covered], 0.7 - 0.2j, rtol=1e-5)
    np.testing.assert_array_equal(out[~covered], 0)


def test_reassemble_places_patch_centre_at_position():
    patch = np.zeros((1, 16, 16), np.complex64)
    patch[0, 8, 8] = 1.0                                     # the centre pixel (N/2, N/2)
    patch[0, 8, 9] = 2.0                                     # one column to its right
    out = reference.reassemble(patch, np.array([[20.0, 11.0]]), (32, 32), 8)
    assert out[11, 20] == pytest.approx(1.0) and out[11, 21] == pytest.approx(2.0)


def test_reassemble_validates_arguments():
    with pytest.raises(ValueError, match="M must be"):
        reference.reassemble(complex_images(1, 8, 8), [[4.0, 4.0]], (16, 16), 9)
    with pytest.raises(ValueError, match="positions"):
        reference.reassemble(complex_images(2, 8, 8), [[4.0, 4.0]], (16, 16), 4)


def views_of(obj, centre, offsets, N):
    """Consistent (1, N, N, C) views of `obj` at centre + integer offsets."""
    views = [obj[centre[1] + dy - N // 2:centre[1] + dy - N // 2 + N,
                 centre[0] + dx - N // 2:centre[0] + dx - N // 2 + N] for dx, dy in offsets]
    return np.stack(views, axis=-1)[None]


def test_merge_channels_of_consistent_views_is_identity():
    N = 16
    obj = complex_images(48, 48)
    offsets = np.array([[-2, -3], [3, -1], [-1, 2], [0, 2]])
    views = views_of(obj, (24, 24), offsets, N)
    merged = reference.merge_channels(views, offsets[None].astype(float))
    assert merged.shape == views.shape and merged.dtype == views.dtype
    rows, cols = np.indices((N, N))
    for c, (dx, dy) in enumerate(offsets):
        # pixels that stay inside the N x N group frame are reproduced; the rest come back 0
        kept = (rows + dy >= 0) & (rows + dy < N) & (cols + dx >= 0) & (cols + dx < N)
        np.testing.assert_allclose(merged[0, ..., c][kept], views[0, ..., c][kept], atol=1e-5)
        np.testing.assert_array_equal(merged[0, ..., c][~kept], 0)


def test_merge_channels_of_smooth_consistent_views_with_subpixel_offsets_is_identity_ish():
    N = 16
    rows, cols = np.indices((48, 48))
    obj = np.exp(1j * 0.1 * cols + 0.05j * rows) * (1 + 0.1 * np.sin(rows / 5))
    whole = np.array([[-2, -3], [3, -1], [-1, 2], [0, 2]])
    fraction = np.array([[0.3, 0.1], [-0.2, 0.4], [0.25, -0.3], [0.0, 0.15]])
    centred = reference.translate(np.repeat(obj[None], 4, 0), -fraction)   # obj at +fraction
    views = np.stack([views_of(centred[c], (24, 24), whole[c:c + 1], N)[0, ..., 0] for c in range(4)], -1)
    merged = reference.merge_channels(views[None].astype(np.complex64), (whole + fraction)[None])
    inner = (slice(4, -4), slice(4, -4))
    np.testing.assert_allclose(merged[0][inner], views[inner], atol=0.02)


def test_merge_channels_averages_inconsistent_views():
    views = np.stack([np.full((8, 8), 1.0), np.full((8, 8), 3.0)], -1)[None].astype(np.complex64)
    merged = reference.merge_channels(views, np.zeros((1, 2, 2)))
    np.testing.assert_allclose(merged, 2.0)


# ---- added for the mutation score (harness mutate reference): each kills surviving mutants

def test_central_disk_is_centred_on_the_middle_pixel_for_odd_sizes():
    """r is measured from (n_rows // 2, n_cols // 2): for odd sizes the disk is symmetric about
    the middle pixel (n / 2 would put its centre between pixels)."""
    mask = reference.central_disk(9, 7)
    assert mask[4, 3]
    np.testing.assert_array_equal(mask, mask[::-1, :])
    np.testing.assert_array_equal(mask, mask[:, ::-1])
    rows, cols = np.meshgrid(np.arange(9) - 4, np.arange(7) - 3, indexing="ij")
    np.testing.assert_array_equal(mask, np.hypot(rows, cols) < 9 / 4)


def test_normalize_diffraction_refuses_all_zero_patterns_and_accepts_faint_ones():
    with pytest.raises(ValueError, match="all zero"):
        reference.normalize_diffraction(np.zeros((2, 8, 8), np.float32))
    faint = np.full((2, 8, 8), 1e-3, np.float32)          # energy 64e-6 per pattern, far below 1
    Xn, factor = reference.normalize_diffraction(faint)
    assert reference.mean_pattern_energy(Xn) == pytest.approx(4 ** 2, rel=1e-5)
    assert factor == pytest.approx(np.sqrt(16 / 64e-6), rel=1e-5)


def test_coverage_at_exactly_the_threshold_counts_as_not_covered():
    eps = reference.COVERAGE_EPS
    out = reference._divide_by_coverage(np.array([2 + 0j, 2 + 0j, 2 + 0j]),
                                        np.array([eps, 2 * eps, 0.0]))
    assert out[0] == 0 and out[2] == 0
    assert out[1] == pytest.approx(1 / eps)


def test_reassemble_accepts_every_crop_size_from_1_to_N_and_refuses_0():
    patches = complex_images(2, 8, 8)
    positions = np.array([[8.25, 7.5], [9.0, 10.75]])
    for M in (1, 5, 8):
        np.testing.assert_allclose(reference.reassemble(patches, positions, (16, 16), M),
                                   naive_reassemble(patches, positions, (16, 16), M), atol=1e-5)
    with pytest.raises(ValueError, match="M must be"):
        reference.reassemble(patches, positions, (16, 16), 0)


def test_reassemble_windows_cut_by_every_canvas_edge_match_the_definition():
    """One patch hanging over each corner of a (40, 36) canvas: the window is clipped at the top,
    left, bottom and right edges, and what stays inside matches the definition."""
    patches = complex_images(4, 16, 16)
    positions = np.array([[1.25, 2.5], [33.75, 1.5], [2.0, 37.25], [33.5, 38.75]])
    out = reference.reassemble(patches, positions, (40, 36), 8)
    expected = naive_reassemble(patches, positions, (40, 36), 8)
    np.testing.assert_allclose(out, expected, atol=1e-5)
    assert np.count_nonzero(expected[0]) and np.count_nonzero(expected[:, 0])
    assert np.count_nonzero(expected[-1]) and np.count_nonzero(expected[:, -1])
