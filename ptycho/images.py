"""PNG output of 2-D images (Pillow): amplitude in grayscale, phase with a viridis-like map."""
from pathlib import Path

import numpy as np
from PIL import Image

from ptycho.fileio import atomic_output

# Viridis sampled at 5 points; np.interp fills the rest (matplotlib is not a dependency).
_VIRIDIS = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]],
                    dtype=np.float64)


def to_uint8(array2d):
    """Stretch min..max of the finite values to 0..255 (non-finite -> 0, flat image -> 0)."""
    values = np.asarray(array2d, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"expected a 2-D image, got shape {values.shape}")
    finite = np.isfinite(values)
    if not finite.any():
        return np.zeros(values.shape, np.uint8)
    low, high = values[finite].min(), values[finite].max()
    span = high - low if high > low else 1.0
    scaled = np.where(finite, (values - low) / span, 0.0)
    return np.rint(scaled * 255).astype(np.uint8)


def save_png(array2d, path, colormap: str | None = None) -> Path:
    """Write a real 2-D array as an 8-bit PNG (grayscale, or colormap='viridis'), atomically."""
    gray = to_uint8(array2d)
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
    """reconstructed_amplitude.png (grayscale) and reconstructed_phase.png (viridis) in out_dir."""
    complex_image = np.asarray(complex_image)
    out_dir = Path(out_dir)
    amplitude = save_png(np.abs(complex_image), out_dir / "reconstructed_amplitude.png")
    phase = save_png(np.angle(complex_image), out_dir / "reconstructed_phase.png", colormap="viridis")
    return amplitude, phase
