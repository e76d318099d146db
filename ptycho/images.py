"""PNG output of 2-D images (Pillow): amplitude in grayscale, phase with a cyclic colormap.

Each PNG carries its display range and colormap as text chunks (DISPLAY_KEYS), so a viewer -
report.html draws colour bars from them - can label the colours with values.
"""
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

from ptycho.fileio import atomic_output

# Colormaps sampled at a few points; np.interp fills the rest (matplotlib is not a dependency).
# twilight (matplotlib's cyclic map, 17 samples): its two ends meet, so a phase that wraps at
# +-pi shows no false edge; its dark middle is a phase of 0.
COLORMAPS = {
    "gray": np.array([[0, 0, 0], [255, 255, 255]], dtype=np.float64),
    "twilight": np.array([
        [226, 217, 226], [196, 206, 212], [149, 181, 199], [114, 151, 193], [98, 118, 186],
        [94, 81, 173], [89, 42, 143], [69, 19, 92], [47, 20, 54], [74, 19, 66], [116, 30, 79],
        [152, 53, 80], [178, 86, 82], [194, 124, 99], [204, 163, 137], [216, 199, 190],
        [226, 217, 226]], dtype=np.float64),
}
PHASE_RANGE = (-np.pi, np.pi)
UNCOVERED_RGB = (0, 0, 0)      # pixels no scan position reached
# PNG text chunks that describe the colours, so that any viewer can draw a labelled colour bar.
DISPLAY_KEYS = {"range": "display-range", "colormap": "colormap", "stops": "colormap-stops",
                "unit": "unit"}

# The amplitude's display range: the 1st..99th percentile of the pixels that count, so that a
# few extreme pixels or the unscanned zero border of a stitched image do not squeeze the object
# into a handful of grey levels.
DISPLAY_PERCENTILES = (1.0, 99.0)


def display_range(array2d, valid=None) -> tuple[float, float]:
    """The DISPLAY_PERCENTILES of the finite values (where `valid` is true, if given);
    (0, 1) when there are none."""
    values = np.asarray(array2d, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"expected a 2-D image, got shape {values.shape}")
    counted = np.isfinite(values) if valid is None else np.isfinite(values) & np.asarray(valid, bool)
    if not counted.any():
        return 0.0, 1.0
    low, high = np.percentile(values[counted], DISPLAY_PERCENTILES)
    return float(low), float(high)


def to_uint8(array2d, valid=None, value_range=None):
    """Stretch value_range (default: display_range of the finite values where `valid` is true)
    to 0..255, clipping beyond it; other pixels -> 0; a flat image -> 0."""
    values = np.asarray(array2d, dtype=np.float64)
    low, high = value_range if value_range is not None else display_range(values, valid)
    counted = np.isfinite(values)
    if valid is not None:
        counted &= np.asarray(valid, dtype=bool)
    span = high - low if high > low else 1.0
    scaled = np.where(counted, np.clip((values - low) / span, 0.0, 1.0), 0.0)
    return np.rint(scaled * 255).astype(np.uint8)


def save_png(array2d, path, colormap: str = "gray", valid=None, value_range=None,
             unit: str = "") -> Path:
    """Write a real 2-D array as an 8-bit PNG, atomically: grayscale for colormap 'gray',
    else RGB through COLORMAPS[colormap]. The display range is value_range, else the
    percentile range of the valid pixels; pixels outside `valid` are black. The range,
    colormap and unit go into the PNG's text chunks (DISPLAY_KEYS)."""
    values = np.asarray(array2d, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"expected a 2-D image, got shape {values.shape}")
    if colormap not in COLORMAPS:
        raise ValueError(f"colormap must be one of {sorted(COLORMAPS)}, got {colormap!r}")
    value_range = tuple(value_range) if value_range is not None else display_range(values, valid)
    gray = to_uint8(values, valid, value_range)
    if colormap == "gray":
        pixels = gray
    else:
        table = COLORMAPS[colormap]
        anchors = np.linspace(0, 255, len(table))
        pixels = np.stack([np.interp(gray, anchors, table[:, c]) for c in range(3)], axis=-1)
        pixels = np.rint(pixels).astype(np.uint8)
        if valid is not None:
            pixels[~np.asarray(valid, bool)] = UNCOVERED_RGB
    info = PngImagePlugin.PngInfo()
    info.add_text(DISPLAY_KEYS["range"], f"{value_range[0]:.6g} {value_range[1]:.6g}")
    info.add_text(DISPLAY_KEYS["colormap"], colormap)
    info.add_text(DISPLAY_KEYS["stops"], " ".join("#%02x%02x%02x" % tuple(int(v) for v in rgb)
                                                  for rgb in COLORMAPS[colormap]))
    info.add_text(DISPLAY_KEYS["unit"], unit)
    path = Path(path)
    with atomic_output(path) as handle:
        Image.fromarray(pixels).save(handle, format="PNG", pnginfo=info)
    return path


def read_display(path) -> dict | None:
    """{"range": (lo, hi), "colormap": name, "unit": str} from a PNG written by save_png
    (the harness reads the same chunks itself, harness/html_report.py);
    None for a PNG without them (or an unreadable file)."""
    try:
        with Image.open(path) as image:
            text = dict(getattr(image, "text", {}) or {})
    except (OSError, ValueError, SyntaxError):
        return None
    try:
        low, high = (float(x) for x in text[DISPLAY_KEYS["range"]].split())
        colormap = text[DISPLAY_KEYS["colormap"]]
    except (KeyError, ValueError):
        return None
    if colormap not in COLORMAPS or not np.isfinite([low, high]).all():
        return None
    return {"range": (low, high), "colormap": colormap, "unit": text.get(DISPLAY_KEYS["unit"], "")}


def centred_phase(complex_image, valid):
    """The phase with its median over the valid pixels removed, wrapped to [-pi, pi): the
    global phase is arbitrary in ptychography, so a reconstruction and its truth are drawn
    about the same zero."""
    phase = np.angle(np.asarray(complex_image))
    valid = np.asarray(valid, bool)
    offset = np.median(phase[valid]) if valid.any() else 0.0
    return np.mod(phase - offset + np.pi, 2 * np.pi) - np.pi


def phase_range(complex_image, valid) -> tuple[float, float]:
    """Symmetric display range of centred_phase: +-1.1 x its 99th percentile of |phase|, so a
    weak phase (the simulated object's is ~+-1 rad) uses the whole colormap; the full
    PHASE_RANGE once that reaches pi/2, where wrapping matters and the cyclic map shows it."""
    phase = np.abs(centred_phase(complex_image, valid))[np.asarray(valid, bool)]
    reach = 1.1 * float(np.percentile(phase, 99)) if phase.size else np.pi
    if not np.isfinite(reach) or reach <= 0 or reach >= np.pi / 2:
        return PHASE_RANGE
    return -reach, reach


def save_complex_pngs(complex_image, out_dir, prefix: str, valid=None,
                      phase_display=None) -> tuple[Path, Path]:
    """<prefix>_amplitude.png (grayscale, percentile range) and <prefix>_phase.png (twilight,
    about the median phase, over phase_display, default phase_range) in out_dir. Pixels
    outside `valid` (default: the non-zero pixels) are left out of the display range and shown
    black."""
    complex_image = np.asarray(complex_image)
    out_dir = Path(out_dir)
    valid = complex_image != 0 if valid is None else np.asarray(valid, bool)
    phase_display = phase_display or phase_range(complex_image, valid)
    amplitude = save_png(np.abs(complex_image), out_dir / f"{prefix}_amplitude.png", valid=valid)
    phase = save_png(centred_phase(complex_image, valid), out_dir / f"{prefix}_phase.png",
                     colormap="twilight", valid=valid, value_range=phase_display, unit="rad")
    return amplitude, phase


def save_reconstruction_pngs(complex_image, out_dir, truth=None) -> tuple[Path, ...]:
    """reconstructed_amplitude.png and reconstructed_phase.png in out_dir; with the ground
    truth `truth` (same canvas) also truth_amplitude.png and truth_phase.png over the same
    pixels. Pixels no scan position covered (exactly 0 after stitching,
    ptycho.reference.reassemble) are left out of the display ranges and shown black."""
    complex_image = np.asarray(complex_image)
    covered = complex_image != 0
    # Both phases on one display range (the truth's, when given) so that their colours compare.
    shown = phase_range(truth if truth is not None else complex_image, covered)
    written = save_complex_pngs(complex_image, out_dir, "reconstructed", covered, shown)
    if truth is not None:
        written += save_complex_pngs(truth, out_dir, "truth", covered, shown)
    return written
