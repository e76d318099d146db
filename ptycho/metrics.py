"""Reconstruction quality against a ground-truth object (NumPy only).

Alignment before comparing (the trivial ambiguities of ptychography): register the
reconstruction to the target (cross-correlation of amplitudes, integer + parabolic sub-pixel
peak, Fourier shift), remove the phase offset and plane relative to the target, scale the
amplitude to the target's mean. Then MAE, PSNR and SSIM for amplitude and phase (phase mapped
from [-pi, pi] to [0, 1]), the FRC 0.5 and 1/7 crossings of the complex images, and two
measures that take the truth's own dynamic range into account (a phase of about +-1 rad fills
only a third of [-pi, pi], so the mapped SSIM barely separates a trained from an untrained
network): Pearson correlations of amplitude and phase with the truth, and phase SSIM with the
truth's phase range in the scanned region as data range.
"""
import numpy as np

from ptycho.log import get_logger

logger = get_logger(__name__)

PSNR_CAP_DB = 100.0        # identical images report this instead of inf (JSON has no inf)
SSIM_SIGMA = 1.5           # Wang et al. 2004: 11 x 11 Gaussian window, sigma 1.5
SSIM_RADIUS = 5
SSIM_K1, SSIM_K2 = 0.01, 0.03


def gaussian_filter(image, sigma: float, radius: int | None = None, mode: str = "reflect"):
    """Separable Gaussian filter of a 2-D array (normalised 1-D kernel of half-width
    `radius`, default ceil(4 sigma)). mode 'reflect' keeps the shape (edges mirrored);
    mode 'valid' returns only pixels whose window lies inside, shape (H - 2r, W - 2r)."""
    image = np.asarray(image, dtype=np.float64)
    radius = int(np.ceil(4 * sigma)) if radius is None else int(radius)
    taps = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (taps / sigma) ** 2)
    kernel /= kernel.sum()
    if mode == "reflect":
        image = np.pad(image, radius, mode="symmetric")
    elif mode != "valid":
        raise ValueError(f"mode must be 'reflect' or 'valid', got {mode!r}")
    for axis in (0, 1):
        length = image.shape[axis] - 2 * radius
        if length < 1:
            raise ValueError(f"image of shape {image.shape} is too small for a radius-{radius} window")
        out = np.zeros_like(image.take(np.arange(length), axis=axis))
        for offset, weight in enumerate(kernel):
            out += weight * image.take(np.arange(offset, offset + length), axis=axis)
        image = out
    return image


def mae(a, b) -> float:
    return float(np.mean(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def pearson(a, b) -> float:
    """Pearson correlation coefficient of two images (0 when either is constant)."""
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    a, b = a - a.mean(), b - b.mean()
    norm = np.sqrt(np.dot(a, a) * np.dot(b, b))
    return float(np.dot(a, b) / norm) if norm > 0 else 0.0


def psnr(a, b, data_range: float) -> float:
    """10 log10(data_range**2 / MSE), capped at PSNR_CAP_DB for (near-)identical images."""
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    if mse <= data_range ** 2 * 10 ** (-PSNR_CAP_DB / 10):
        return PSNR_CAP_DB
    return float(10 * np.log10(data_range ** 2 / mse))


def ssim(a, b, data_range: float) -> float:
    """Mean SSIM (Wang et al. 2004) with an 11 x 11 Gaussian window (sigma 1.5), over the
    pixels whose window lies inside the image."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)

    def smooth(x):
        return gaussian_filter(x, SSIM_SIGMA, radius=SSIM_RADIUS, mode="valid")

    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    mu_a, mu_b = smooth(a), smooth(b)
    var_a = smooth(a * a) - mu_a ** 2
    var_b = smooth(b * b) - mu_b ** 2
    cov = smooth(a * b) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)
                / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2)))
    return float(np.mean(ssim_map))


REGISTRATION_UPSAMPLE = 50  # sub-pixel precision of register_shift: 1/50 px


def register_shift(moving, target, max_shift: float | None = None):
    """(dx, dy) such that `moving` shifted by +(dx, dy) best matches `target`: peak of the
    circular cross-correlation of the mean-free images, first on the integer grid, then
    refined to 1/REGISTRATION_UPSAMPLE px by evaluating the correlation's Fourier series on a
    fine grid within +-1 px of that peak (upsampled DFT, Guizar-Sicairos et al. 2008).
    max_shift limits the integer search (pixels)."""
    moving = np.asarray(moving, np.float64)
    target = np.asarray(target, np.float64)
    spectrum = np.fft.fft2(target - target.mean()) * np.conj(np.fft.fft2(moving - moving.mean()))
    corr = np.fft.fftshift(np.real(np.fft.ifft2(spectrum)))
    height, width = corr.shape
    lag_y = np.arange(height) - height // 2
    lag_x = np.arange(width) - width // 2
    if max_shift is not None:
        allowed = (np.abs(lag_y)[:, None] <= max_shift) & (np.abs(lag_x)[None, :] <= max_shift)
        corr = np.where(allowed, corr, -np.inf)
    row, col = np.unravel_index(np.argmax(corr), corr.shape)
    fine = np.linspace(-1, 1, 2 * REGISTRATION_UPSAMPLE + 1)
    dy_grid = lag_y[row] + fine
    dx_grid = lag_x[col] + fine
    rows_kernel = np.exp(2j * np.pi * dy_grid[:, None] * np.fft.fftfreq(height)[None, :])
    cols_kernel = np.exp(2j * np.pi * np.fft.fftfreq(width)[:, None] * dx_grid[None, :])
    fine_corr = np.real(rows_kernel @ spectrum @ cols_kernel)
    i, j = np.unravel_index(np.argmax(fine_corr), fine_corr.shape)
    return float(dx_grid[j]), float(dy_grid[i])


def shift_image(image, dx: float, dy: float):
    """Move the content of a 2-D (complex) image by +(dx, dy) pixels:
    out[y, x] = image(y - dy, x - dx), sampled with separable cubic (Catmull-Rom)
    interpolation, edge pixels repeated. Local, so no Fourier ringing from the image edges."""
    out = np.asarray(image)
    for axis, shift in ((0, dy), (1, dx)):
        length = out.shape[axis]
        start = np.floor(-shift)
        f = -shift - start                       # sample = index - shift = index + start + f
        weights = ((-f ** 3 + 2 * f ** 2 - f) / 2, (3 * f ** 3 - 5 * f ** 2 + 2) / 2,
                   (-3 * f ** 3 + 4 * f ** 2 + f) / 2, (f ** 3 - f ** 2) / 2)
        base = np.arange(length) + int(start)
        out = sum(w * out.take(np.clip(base + k, 0, length - 1), axis=axis)
                  for k, w in zip((-1, 0, 1, 2), weights))
    return out


def remove_phase_plane(recon, target, plane: bool = True):
    """Multiply `recon` by exp(-i * fit) where fit is the least-squares plane a + b*x + c*y
    (or just the offset when plane=False) of the phase of recon * conj(target)."""
    recon = np.asarray(recon, np.complex128)
    product = recon * np.conj(np.asarray(target, np.complex128))
    # Remove the global offset first so the residual phase difference is unwrapped near 0.
    recon = recon * np.exp(-1j * np.angle(product.sum()))
    if not plane:
        return recon
    residual = np.angle(recon * np.conj(target)).ravel()
    rows, cols = np.indices(recon.shape)
    design = np.stack([np.ones(residual.size), cols.ravel(), rows.ravel()], axis=1)
    coef, *_ = np.linalg.lstsq(design, residual, rcond=None)
    return recon * np.exp(-1j * (design @ coef).reshape(recon.shape))


def frc_curve(a, b):
    """Fourier ring correlation of two 2-D images cropped to their central square of side
    S = min(H, W): (frequencies in cycles/pixel for rings 0..S//2, correlation per ring)."""
    size = min(a.shape[0], a.shape[1])

    def central(x):
        x = np.asarray(x)
        top, left = (x.shape[0] - size) // 2, (x.shape[1] - size) // 2
        return x[top:top + size, left:left + size]

    fa = np.fft.fftshift(np.fft.fft2(central(a)))
    fb = np.fft.fftshift(np.fft.fft2(central(b)))
    rows, cols = np.indices((size, size)) - size // 2
    ring = np.rint(np.hypot(rows, cols)).astype(np.int64).ravel()
    n_rings = size // 2 + 1
    keep = ring < n_rings

    def ring_sum(values):
        return np.bincount(ring[keep], weights=values.ravel()[keep], minlength=n_rings)

    cross = ring_sum(np.real(fa * np.conj(fb))) + 1j * ring_sum(np.imag(fa * np.conj(fb)))
    power = ring_sum(np.abs(fa) ** 2) * ring_sum(np.abs(fb) ** 2)
    curve = np.abs(cross) / np.sqrt(np.maximum(power, 1e-300))
    return np.arange(n_rings) / size, curve


def frc_crossing(freqs, curve, threshold: float) -> float:
    """First frequency (linear interpolation between rings, ring 0 skipped) where the FRC
    drops below `threshold`; the highest frequency if it never does."""
    for i in range(1, len(curve)):
        if curve[i] < threshold:
            prev = curve[i - 1]
            frac = (prev - threshold) / (prev - curve[i]) if prev > curve[i] else 0.0
            return float(freqs[i - 1] + np.clip(frac, 0, 1) * (freqs[i] - freqs[i - 1]))
    return float(freqs[-1])


def scan_bbox(positions, shape, margin: float = 0.0):
    """(row0, row1, col0, col1), end-exclusive, of the scan centres (x, y) grown by margin
    and clipped to shape."""
    positions = np.asarray(positions, np.float64)
    x, y = positions[:, 0], positions[:, 1]
    row0 = max(int(np.floor(y.min() - margin)), 0)
    row1 = min(int(np.ceil(y.max() + margin)) + 1, shape[0])
    col0 = max(int(np.floor(x.min() - margin)), 0)
    col1 = min(int(np.ceil(x.max() + margin)) + 1, shape[1])
    return row0, row1, col0, col1


def align(recon, target, region=None, max_shift: float = 8.0, plane: bool = True):
    """Registered, phase-corrected, amplitude-scaled copy of recon[region] matching
    target[region]. The shift is measured on the region but applied to the whole canvas, so
    the region is filled from its real surroundings rather than wrapped-around edges."""
    region = region if region is not None else (slice(None), slice(None))
    target = np.asarray(target, np.complex128)[region]
    dx, dy = register_shift(np.abs(recon[region]), np.abs(target), max_shift=max_shift)
    logger.debug("registration shift dx=%.3f dy=%.3f px", dx, dy)
    recon = shift_image(np.asarray(recon, np.complex128), dx, dy)[region]
    recon = remove_phase_plane(recon, target, plane=plane)
    scale = np.abs(target).mean() / max(np.abs(recon).mean(), 1e-12)
    return recon * scale


def evaluate_reconstruction(recon_complex, object_guess, positions=None, bbox=None,
                            margin: float = 0.0, max_shift: float = 8.0, plane: bool = True) -> dict:
    """Quality of `recon_complex` against `object_guess` (same (H, W) canvas) over the scanned
    region: `bbox` (row0, row1, col0, col1) if given, else the bounding box of `positions`
    ((n, 2) scan centres (x, y)) grown by `margin`, else the whole image.

    Returns plain floats: amp_mae, amp_psnr, amp_ssim, phase_mae, phase_psnr, phase_ssim
    (amplitude data range = target amplitude max - min; phase mapped to [0, 1], range 1),
    frc50, frc17 (crossing frequencies in cycles/pixel, higher is better, at most 0.5),
    amp_r, phase_r (Pearson correlation with the target) and phase_ssim_range (SSIM of the
    phase in radians with data range = the target's phase max - min in the region)."""
    recon = np.asarray(recon_complex)
    target = np.asarray(object_guess)
    if recon.shape != target.shape or recon.ndim != 2:
        raise ValueError(f"reconstruction shape {recon.shape} and object shape {target.shape} "
                         "must be the same 2-D canvas")
    if bbox is None:
        bbox = scan_bbox(positions, target.shape, margin) if positions is not None \
            else (0, target.shape[0], 0, target.shape[1])
    row0, row1, col0, col1 = bbox
    region = (slice(row0, row1), slice(col0, col1))
    aligned = align(recon, target, region, max_shift=max_shift, plane=plane)
    target = target[region].astype(np.complex128)
    if min(target.shape) < 2 * SSIM_RADIUS + 1:
        raise ValueError(f"scanned region {target.shape} is smaller than the SSIM window")

    amp_r, amp_t = np.abs(aligned), np.abs(target)
    amp_range = max(float(amp_t.max() - amp_t.min()), 1e-12)
    phase_r = (np.angle(aligned) + np.pi) / (2 * np.pi)
    phase_t = (np.angle(target) + np.pi) / (2 * np.pi)
    freqs, curve = frc_curve(aligned, target)
    phase_range = max(float(np.ptp(np.angle(target))), 1e-12)
    return {
        "amp_mae": mae(amp_r, amp_t),
        "amp_psnr": psnr(amp_r, amp_t, amp_range),
        "amp_ssim": ssim(amp_r, amp_t, amp_range),
        "phase_mae": mae(phase_r, phase_t),
        "phase_psnr": psnr(phase_r, phase_t, 1.0),
        "phase_ssim": ssim(phase_r, phase_t, 1.0),
        "frc50": frc_crossing(freqs, curve, 0.5),
        "frc17": frc_crossing(freqs, curve, 1 / 7),
        "amp_r": pearson(amp_r, amp_t),
        "phase_r": pearson(np.angle(aligned), np.angle(target)),
        "phase_ssim_range": ssim(np.angle(aligned), np.angle(target), phase_range),
    }
