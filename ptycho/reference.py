"""NumPy reference of every numeric in the package: the oracle `ptycho.tf.ops` and
`ptycho_torch.ops` are held to. Batched arrays are channels-last: (B, N, N) or (B, N, N, C).

Conventions shared by all three implementations:
- An N x N patch is centred on pixel (N/2, N/2) (integer division for odd sizes); a patch
  whose centre sits at canvas position (x, y) covers canvas pixel (y - N/2 + i, x - N/2 + j)
  with its pixel (i, j).
- Shifts and positions are (x, y) = (column, row) pairs, in pixels.
"""
import numpy as np

EPS = 1e-6            # floor of the predicted intensity in poisson_nll
COVERAGE_EPS = 1e-3   # summed coverage below this counts as "not covered" (0 in the output);
                      # far above float32 round-off of the bilinear weights, so backends agree


def _spatial_axes(x) -> tuple:
    """(0, 1) for one (N, N) image, (1, 2) for batched (B, N, N) or (B, N, N, C) arrays."""
    return (0, 1) if x.ndim == 2 else (1, 2)


def _real_dtype(x):
    return np.float32 if x.dtype in (np.complex64, np.float32) else np.float64


def central_disk(n_rows: int, n_cols: int):
    """Boolean (n_rows, n_cols) mask of the pixels with r < n_rows/4, r measured from
    (n_rows//2, n_cols//2): where the probe is normalised (and masked, probe.mask)."""
    yy, xx = np.meshgrid(np.arange(n_rows) - n_rows // 2, np.arange(n_cols) - n_cols // 2,
                         indexing="ij")
    return np.hypot(yy, xx) < n_rows / 4


def normalize_probe(probe, probe_scale: float):
    """P / (probe_scale * mean(|P| over pixels with r < N/4)), r = distance from (N/2, N/2).
    After it, the mean |P| inside that disk is 1/probe_scale."""
    probe = np.asarray(probe)
    disk = central_disk(*probe.shape)
    norm = probe_scale * np.abs(probe[disk]).astype(np.float64).mean()
    if not norm > 0:
        raise ValueError("probe is zero inside the central disk r < N/4; it cannot be normalised")
    return (probe / norm).astype(np.complex64)


def forward_diffraction(psi):
    """Diffraction amplitude sqrt(fftshift(|fft2(psi)|**2 / N**2)) over the spatial axes
    (orthonormal: sum |out|**2 == sum |psi|**2; zero frequency lands on (N/2, N/2))."""
    psi = np.asarray(psi)
    axes = _spatial_axes(psi)
    n_pixels = psi.shape[axes[0]] * psi.shape[axes[1]]
    intensity = np.abs(np.fft.fft2(psi, axes=axes)) ** 2 / n_pixels
    return np.sqrt(np.fft.fftshift(intensity, axes=axes)).astype(_real_dtype(psi))


def mean_pattern_energy(amplitudes) -> float:
    """Mean over all patterns (every (N, N) image, across batch and channels) of the summed
    squared amplitude, i.e. the mean total intensity per pattern."""
    x = np.asarray(amplitudes, dtype=np.float64)
    return float(np.mean(np.sum(x ** 2, axis=_spatial_axes(x))))


def normalize_diffraction(X):
    """(X * f, f) with f = sqrt((N/2)**2 / mean_pattern_energy(X)): one scalar for the whole
    set, so the normalised patterns carry (N/2)**2 energy on average. X is (B, N, N[, C])."""
    X = np.asarray(X)
    half = X.shape[1] / 2
    energy = mean_pattern_energy(X)
    if not energy > 0:
        raise ValueError("diffraction patterns are all zero; they cannot be normalised")
    factor = float(np.sqrt(half ** 2 / energy))
    return (X * factor).astype(np.float32), factor


def intensity_scale(nphotons: float, N: int) -> float:
    """sqrt(nphotons) / (N/2): maps normalised amplitudes (energy (N/2)**2) to photon counts."""
    return float(np.sqrt(nphotons) / (N / 2))


def poisson_nll(pred_amp_scaled, obs_amp_scaled) -> float:
    """mean(lam - k * log(lam)), lam = max(pred**2, EPS), k = obs**2 (per pixel, averaged)."""
    lam = np.maximum(np.asarray(pred_amp_scaled, dtype=np.float64) ** 2, EPS)
    k = np.asarray(obs_amp_scaled, dtype=np.float64) ** 2
    return float(np.mean(lam - k * np.log(lam)))


def amplitude_mae(pred_amp_scaled, obs_amp_scaled) -> float:
    """mean(|obs - pred|)."""
    pred = np.asarray(pred_amp_scaled, dtype=np.float64)
    return float(np.mean(np.abs(np.asarray(obs_amp_scaled, dtype=np.float64) - pred)))


def phase_offset(obj) -> float:
    """The global phase of a batch of object patches: angle(sum(obj)). Diffraction amplitudes
    cannot see it (|F(e^{ia} psi)| = |F(psi)|), so the loss pins it with a gauge term
    phase_offset_weight * phase_offset(obj)**2: left free, Adam lets it wander into the
    saturation of the phase head's pi*tanh (seen: -2.8 rad), where the phase stops learning."""
    return float(np.angle(np.sum(np.asarray(obj, dtype=np.complex128))))


def combine_complex(amp, phase):
    """amp * exp(1j * phase) as complex64."""
    return (np.asarray(amp) * np.exp(1j * np.asarray(phase))).astype(np.complex64)


def translate(images, shifts):
    """Shift each image by its own (dx, dy) with bilinear interpolation, zero outside.

    images (B, H, W) real or complex; shifts (B, 2) as (dx, dy). Content moves by +shift:
        out[b, y, x] = bilinear(images[b], y - dy[b], x - dx[b])
    with, for sample point (sy, sx):
        y0 = floor(sy), x0 = floor(sx), wy = sy - y0, wx = sx - x0
        bilinear = (1-wy)(1-wx) g(y0, x0) + (1-wy) wx g(y0, x0+1)
                 + wy (1-wx) g(y0+1, x0) + wy wx g(y0+1, x0+1)
        g(r, c) = images[b, r, c] if 0 <= r < H and 0 <= c < W else 0
    Integer shifts are exact (weights 0/1). The output keeps the input dtype.
    """
    images = np.asarray(images)
    shifts = np.asarray(shifts, dtype=np.float64)
    n_batch, height, width = images.shape
    if shifts.shape != (n_batch, 2):
        raise ValueError(f"shifts must be (B, 2) = ({n_batch}, 2), got {shifts.shape}")
    sy = np.arange(height)[None, :, None] - shifts[:, 1, None, None]   # (B, H, 1)
    sx = np.arange(width)[None, None, :] - shifts[:, 0, None, None]    # (B, 1, W)
    y0 = np.floor(sy)
    x0 = np.floor(sx)
    wy = sy - y0
    wx = sx - x0
    y0 = y0.astype(np.int64)
    x0 = x0.astype(np.int64)
    batch = np.arange(n_batch)[:, None, None]

    def gather(rows, cols):
        inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
        values = images[batch, np.clip(rows, 0, height - 1), np.clip(cols, 0, width - 1)]
        return np.where(inside, values, 0)

    out = ((1 - wy) * (1 - wx) * gather(y0, x0) + (1 - wy) * wx * gather(y0, x0 + 1)
           + wy * (1 - wx) * gather(y0 + 1, x0) + wy * wx * gather(y0 + 1, x0 + 1))
    return out.astype(images.dtype)


def _divide_by_coverage(total, coverage):
    covered = coverage > COVERAGE_EPS
    return np.where(covered, total / np.where(covered, coverage, 1), 0)


def reassemble(patches, positions, canvas_shape, M: int):
    """Stitch patches onto a canvas, averaging overlaps.

    patches (B, N, N) complex; positions (B, 2) = (x, y) canvas pixel of each patch centre.
    Definition (what every backend computes):
        crop   = patches[:, N//2 - M//2 : N//2 - M//2 + M, (same for columns)]   # central M x M
        padded = canvas of zeros with crop[b] placed so crop pixel (M//2, M//2) sits on
                 canvas pixel (H//2, W//2)
        moved  = translate(padded, positions - (W//2, H//2))
        cover  = translate(padded support (ones where the crop is), same shifts)
        out    = sum_b moved / sum_b cover   where sum_b cover > COVERAGE_EPS, else 0
    So crop pixel (M//2, M//2) (patch pixel (N//2, N//2)) lands on (x, y). Returns
    (H, W) complex128 for complex128 input, complex64 otherwise.

    Implementation: identical arithmetic on a local (M+1) x (M+1) window per patch (the
    integer part of the shift places the window, translate applies the fractional part), so
    memory stays O(H*W) instead of O(B*H*W).
    """
    patches = np.asarray(patches)
    positions = np.asarray(positions, dtype=np.float64)
    n_batch, n_size, _ = patches.shape
    height, width = canvas_shape
    if not 0 < M <= n_size:
        raise ValueError(f"M must be in 1..N = 1..{n_size}, got {M}")
    if positions.shape != (n_batch, 2):
        raise ValueError(f"positions must be (B, 2) = ({n_batch}, 2), got {positions.shape}")
    start = n_size // 2 - M // 2
    crop = patches[:, start:start + M, start:start + M]
    window = np.zeros((n_batch, M + 1, M + 1), dtype=np.complex128)
    window[:, :M, :M] = crop
    support = np.zeros((n_batch, M + 1, M + 1))
    support[:, :M, :M] = 1.0
    whole = np.floor(positions)
    fraction = positions - whole
    moved = translate(window, fraction)
    cover = translate(support, fraction)
    total = np.zeros((height, width), dtype=np.complex128)
    coverage = np.zeros((height, width))
    tops = whole[:, 1].astype(np.int64) - M // 2
    lefts = whole[:, 0].astype(np.int64) - M // 2
    for b in range(n_batch):
        # Intersect the window with the canvas: what falls outside is dropped (translate's
        # "zero outside"); a window entirely outside contributes nothing.
        r0, r1 = max(tops[b], 0), min(tops[b] + M + 1, height)
        c0, c1 = max(lefts[b], 0), min(lefts[b] + M + 1, width)
        if r0 >= r1 or c0 >= c1:
            continue
        local = (slice(r0 - tops[b], r1 - tops[b]), slice(c0 - lefts[b], c1 - lefts[b]))
        total[r0:r1, c0:c1] += moved[b][local]
        coverage[r0:r1, c0:c1] += cover[b][local]
    out = _divide_by_coverage(total, coverage)
    return out.astype(np.complex128 if patches.dtype == np.complex128 else np.complex64)


def _channels_to_batch(x):
    """(B, N, N, C) -> (B*C, N, N), channel fastest."""
    n_batch, rows, cols, n_chan = x.shape
    return np.moveaxis(x, 3, 1).reshape(n_batch * n_chan, rows, cols)


def _batch_to_channels(x, n_chan):
    n_total, rows, cols = x.shape
    return np.moveaxis(x.reshape(n_total // n_chan, n_chan, rows, cols), 1, 3)


def merge_channels(patches, offsets):
    """Make the C views of one group consistent (gridsize > 1, object_big).

    patches (B, N, N, C) complex, offsets (B, C, 2) = channel position - group centre, (x, y).
        moved[b, c]  = translate(patches[b, :, :, c], +offsets[b, c])   # into the group frame
        cover[b, c]  = translate(ones(N, N),         +offsets[b, c])
        merged[b]    = sum_c moved[b, c] / sum_c cover[b, c]   (0 where coverage <= COVERAGE_EPS)
        out[b, :, :, c] = translate(merged[b], -offsets[b, c])  # back to each channel's view
    The group frame is N x N too, so view pixels that +offset moves outside it come back as 0
    (only the patch border, far outside the probe for the usual offsets of a few pixels).
    Returns (B, N, N, C) with the input dtype.
    """
    patches = np.asarray(patches)
    offsets = np.asarray(offsets, dtype=np.float64)
    n_batch, rows, cols, n_chan = patches.shape
    if offsets.shape != (n_batch, n_chan, 2):
        raise ValueError(f"offsets must be (B, C, 2) = ({n_batch}, {n_chan}, 2), got {offsets.shape}")
    flat_shifts = offsets.reshape(n_batch * n_chan, 2)
    moved = _batch_to_channels(translate(_channels_to_batch(patches), flat_shifts), n_chan)
    ones = np.ones((n_batch * n_chan, rows, cols), dtype=np.float64)
    cover = _batch_to_channels(translate(ones, flat_shifts), n_chan)
    merged = _divide_by_coverage(moved.sum(axis=3), cover.sum(axis=3))        # (B, N, N)
    repeated = np.repeat(merged.astype(patches.dtype), n_chan, axis=0)        # (B*C, N, N)
    return _batch_to_channels(translate(repeated, -flat_shifts), n_chan)
