"""Seeded synthetic ptychography dataset in the NPZ contract: a 'lines' object, a soft-edged
disk probe with quadratic phase, random interior scan positions and Poisson-noisy diffraction
amplitudes. Same arguments and seed -> byte-identical NPZ."""
import numpy as np

from ptycho import limits, reference
from ptycho.errors import ConfigError
from ptycho.metrics import gaussian_filter
from ptycho.raw_data import RawData

PROBE_EDGE_PX = 1.0          # width of the probe's soft (tanh) edge
PROBE_CURVATURE_RAD = 2.0    # probe phase at the disk edge: curvature * (r/R)**2
AMP_BLUR_SIGMA = 1.0         # amplitude: thin absorbing lines
PHASE_BLUR_SIGMA = 2.0       # phase: broader, signed structure from the same lines
MIN_AMPLITUDE = 0.4


def disk_probe(N: int):
    """(N, N) complex64 probe: disk of radius N/4 (soft tanh edge), centred on (N/2, N/2),
    with quadratic phase curvature. Its support (diameter ~N/2) keeps 2x oversampling."""
    rows, cols = np.indices((N, N)) - N // 2
    r = np.hypot(rows, cols)
    radius = N / 4
    amplitude = 0.5 * (1 - np.tanh((r - radius) / PROBE_EDGE_PX))
    phase = PROBE_CURVATURE_RAD * (r / radius) ** 2
    return (amplitude * np.exp(1j * phase)).astype(np.complex64)


def _normalised(image):
    """image / its 99.5th percentile of |image|, clipped to [-1, 1]."""
    scale = np.percentile(np.abs(image), 99.5)
    return np.clip(image / scale, -1, 1) if scale > 0 else image


def lines_object(size: int, rng, n_lines: int | None = None):
    """(size, size) complex64 object from random line segments: amplitude 1 - 0.6*lines
    (range [0.4, 1]), phase from the same lines with random signed weights (range ~[-1, 1])."""
    n_lines = n_lines if n_lines is not None else max(size * size // 400, 1)
    centres = rng.uniform(0, size, (n_lines, 2))
    angles = rng.uniform(0, np.pi, n_lines)
    lengths = rng.uniform(size / 16, size / 4, n_lines)
    weights = rng.uniform(-1, 1, n_lines)
    # Sample each segment every half pixel, then keep each (line, pixel) pair once.
    t = np.linspace(-0.5, 0.5, int(np.ceil(2 * lengths.max())) + 1)
    rows = centres[:, 1, None] + np.sin(angles)[:, None] * lengths[:, None] * t
    cols = centres[:, 0, None] + np.cos(angles)[:, None] * lengths[:, None] * t
    rows = np.rint(rows).astype(np.int64)
    cols = np.rint(cols).astype(np.int64)
    inside = (rows >= 0) & (rows < size) & (cols >= 0) & (cols < size)
    line_id = np.broadcast_to(np.arange(n_lines)[:, None], rows.shape)
    keys = np.unique((line_id * size * size + rows * size + cols)[inside])
    pixels, owner = keys % (size * size), keys // (size * size)
    absorption = np.zeros(size * size)
    absorption[pixels] = 1.0
    phase_lines = np.zeros(size * size)
    np.add.at(phase_lines, pixels, weights[owner])
    absorption = _normalised(gaussian_filter(absorption.reshape(size, size), AMP_BLUR_SIGMA))
    phase = _normalised(gaussian_filter(phase_lines.reshape(size, size), PHASE_BLUR_SIGMA))
    amplitude = 1 - (1 - MIN_AMPLITUDE) * absorption
    return reference.combine_complex(amplitude, phase)


def extract_patches(obj, xcoords, ycoords, N: int):
    """(n, N, N) patches of `obj` centred on the (sub-pixel) positions: patch pixel (i, j) is
    obj at (y - N/2 + i, x - N/2 + j), the integer part by indexing, the fraction by
    reference.translate on an (N+1) x (N+1) window."""
    x0 = np.floor(xcoords).astype(np.int64)
    y0 = np.floor(ycoords).astype(np.int64)
    height, width = obj.shape
    if x0.min() < N // 2 or y0.min() < N // 2 or x0.max() + N - N // 2 >= width \
            or y0.max() + N - N // 2 >= height:
        raise ValueError("scan positions must keep every patch (plus one pixel) inside the object")
    span = np.arange(N + 1)
    rows = (y0 - N // 2)[:, None, None] + span[None, :, None]
    cols = (x0 - N // 2)[:, None, None] + span[None, None, :]
    windows = obj[rows, cols]
    fractions = np.stack([xcoords - x0, ycoords - y0], axis=1)
    return reference.translate(windows, -fractions)[:, :N, :N]


def simulate_dataset(n_images: int = 512, N: int = 64, object_size: int = 256,
                     nphotons: float = 1e9, seed: int = 0) -> RawData:
    """Synthetic scan: diff3d = sqrt(Poisson(nphotons * I / mean_pattern_energy)), I the
    far-field intensity of probe * object patch (reference.forward_diffraction)."""
    checks = [
        (isinstance(N, int) and N >= 8 and N % 8 == 0, f"N must be a positive multiple of 8, got {N}",
         "use e.g. N=64"),
        (isinstance(object_size, int) and object_size >= N + 2,
         f"object size {object_size} must be at least N + 2 = {N + 2}", "use a larger object size"),
        (isinstance(n_images, int) and n_images >= 1, f"n_images must be >= 1, got {n_images}",
         "ask for at least one scan position"),
        (nphotons > 0, f"nphotons must be > 0, got {nphotons}", "use e.g. nphotons=1e9"),
    ]
    for ok, what, fix in checks:
        if not ok:
            raise ConfigError("simulate", what, fix)
    # the exit waves (complex128) are the largest arrays; the object is object_size**2 of them
    limits.check_bytes(limits.ARRAY, 16 * max(n_images * N * N, object_size ** 2), "simulate",
                       f"{n_images} scan positions of {N}x{N} on a {object_size}-pixel object")
    rng = np.random.default_rng(seed)
    obj = lines_object(object_size, rng)
    probe = disk_probe(N)
    low, high = N // 2, object_size - (N - N // 2) - 1     # keeps the N+1 window inside
    xcoords = rng.uniform(low, high, n_images)
    ycoords = rng.uniform(low, high, n_images)
    psi = probe[None] * extract_patches(obj, xcoords, ycoords, N)
    amplitude = reference.forward_diffraction(psi.astype(np.complex128))
    intensity = amplitude ** 2
    counts = rng.poisson(nphotons * intensity / reference.mean_pattern_energy(amplitude))
    return RawData(xcoords=xcoords, ycoords=ycoords, diff3d=np.sqrt(counts).astype(np.float32),
                   probeGuess=probe, objectGuess=obj, scan_index=np.zeros(n_images, np.int64))


def write_dataset(path, legacy_layout: bool = False, **kwargs) -> RawData:
    """simulate_dataset(**kwargs) written to `path` (atomic, deterministic bytes)."""
    raw = simulate_dataset(**kwargs)
    raw.to_file(path, legacy_layout=legacy_layout)
    return raw
