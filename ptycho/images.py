"""PNG output of 2-D images (Pillow): amplitude in grayscale, phase with a viridis-like map."""
from pathlib import Path

import numpy as np
from PIL import Image

from ptycho.fileio import atomic_output

# Viridis sampled at 5 points; np.interp fills the rest (matplotlib is not a dependency).
_VIRIDIS = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]],
                    dtype=np.float64)


# The display range: the 1st..99th percentile of the pixels that count, so that a few extreme
# pixels or the unscanned zero border of a stitched image do not squeeze the object into a
# handful of grey levels.
DISPLAY_PERCENTILES = (1.0, 99.0)


def to_uint8(array2d, valid=None):
    """Stretch the display range of the finite values (those where `valid` is true, if given)
    to 0..255, clipping beyond it; other pixels -> 0; a flat image -> 0."""
    values = np.asarray(array2d, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"expected a 2-D image, got shape {values.shape}")
    counted = np.isfinite(values)
    if valid is not None:
        counted &= np.asarray(valid, dtype=bool)
    if not counted.any():
        return np.zeros(values.shape, np.uint8)
    low, high = np.percentile(values[counted], DISPLAY_PERCENTILES)
    span = high - low if high > low else 1.0
    scaled = np.where(counted, np.clip((values - low) / span, 0.0, 1.0), 0.0)
    return np.rint(scaled * 255).astype(np.uint8)


def save_png(array2d, path, colormap: str | None = None, valid=None) -> Path:
    """Write a real 2-D array as an 8-bit PNG (grayscale, or colormap='viridis'), atomically;
    pixels outside `valid` show as the darkest colour (see to_uint8)."""
    gray = to_uint8(array2d, valid)
    if colormap is None:
        image = Image.fromarray(gray, mode="L")
    elif colormap == "viridis":
        anchors = np.linspace(0, 255, len(_VIRIDIS))
        rgb = np.stack([np.interp(gray, anchors, _VIRIDIS[:, c]) for c in range(3)], axis=-1)
        image = Image.fromarray(np.rint(rgb).astype(np.uint8), mode="RGB")
    else:
        raise ValueError(f"colormap must be None or 'viridis', got {colormap!r}")
    path = Path(path)
    with atomic_output(path) as handle:
        image.save(handle, format="PNG")
    return path


def save_reconstruction_pngs(complex_image, out_dir) -> tuple[Path, Path]:
    """reconstructed_amplitude.png (grayscale) and reconstructed_phase.png (viridis) in out_dir.
    Pixels no scan position covered (exactly 0 after stitching, ptycho.reference.reassemble)
    are left out of the display range and shown dark."""
    complex_image = np.asarray(complex_image)
    out_dir = Path(out_dir)
    covered = complex_image != 0
    amplitude = save_png(np.abs(complex_image), out_dir / "reconstructed_amplitude.png",
                         valid=covered)
    phase = save_png(np.angle(complex_image), out_dir / "reconstructed_phase.png",
                     colormap="viridis", valid=covered)
    return amplitude, phase
