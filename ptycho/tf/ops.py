"""TensorFlow versions of `ptycho.reference`'s functions: same names, same semantics, same
channels-last layout, differentiable with respect to the image/amplitude arguments.

`ptycho.reference` is the oracle (tests/unit/test_tf_ops.py holds each function to it); the
docstrings there give the definitions, which are not repeated here.
"""
import numpy as np
import tensorflow as tf

from ptycho import reference

EPS = reference.EPS
COVERAGE_EPS = reference.COVERAGE_EPS


def normalize_probe(probe, probe_scale: float):
    probe = tf.convert_to_tensor(probe, dtype=tf.complex64)
    n_rows, n_cols = probe.shape
    inside = tf.boolean_mask(tf.abs(probe), reference.central_disk(n_rows, n_cols))
    norm = tf.cast(probe_scale * tf.reduce_mean(tf.cast(inside, tf.float64)), tf.float32)
    return probe / tf.complex(norm, 0.0)


def forward_diffraction(psi):
    """psi (B, N, N, C) or (B, N, N) complex -> diffraction amplitude, same layout, float32."""
    psi = tf.convert_to_tensor(psi, dtype=tf.complex64)
    channels_last = psi.shape.rank == 4
    # fft2d transforms the two innermost axes, so move channels out of the way.
    planes = tf.transpose(psi, (0, 3, 1, 2)) if channels_last else psi
    n_pixels = float(planes.shape[-1] * planes.shape[-2])
    spectrum = tf.signal.fft2d(planes)
    intensity = tf.math.square(tf.math.real(spectrum)) + tf.math.square(tf.math.imag(spectrum))
    intensity = tf.signal.fftshift(intensity / n_pixels, axes=(-2, -1))
    # The floor keeps sqrt's gradient finite at exactly-zero intensity; it changes values by
    # at most sqrt(float32 tiny) ~ 1e-19.
    amplitude = tf.sqrt(tf.maximum(intensity, np.finfo(np.float32).tiny))
    return tf.transpose(amplitude, (0, 2, 3, 1)) if channels_last else amplitude


def intensity_scale(nphotons: float, N: int):
    return tf.constant(reference.intensity_scale(nphotons, N), dtype=tf.float32)


def poisson_nll(pred_amp_scaled, obs_amp_scaled):
    lam = tf.maximum(tf.square(pred_amp_scaled), EPS)
    counts = tf.square(obs_amp_scaled)
    return tf.reduce_mean(lam - counts * tf.math.log(lam))


def amplitude_mae(pred_amp_scaled, obs_amp_scaled):
    return tf.reduce_mean(tf.abs(obs_amp_scaled - pred_amp_scaled))


def phase_offset(obj):
    return tf.math.angle(tf.reduce_sum(tf.convert_to_tensor(obj, dtype=tf.complex64)))


def combine_complex(amp, phase):
    amp = tf.convert_to_tensor(amp, dtype=tf.float32)
    phase = tf.convert_to_tensor(phase, dtype=tf.float32)
    return tf.complex(amp * tf.cos(phase), amp * tf.sin(phase))


def translate(images, shifts):
    """images (B, H, W) real or complex, shifts (B, 2) = (dx, dy): content moves by +shift,
    bilinear 4-neighbour gather, zero outside (reference.translate). Output keeps the dtype."""
    images = tf.convert_to_tensor(images)
    shifts = tf.cast(tf.convert_to_tensor(shifts), tf.float64)   # index arithmetic in float64
    height, width = images.shape[1], images.shape[2]
    n_batch = tf.shape(images)[0]
    sy = tf.range(height, dtype=tf.float64)[None, :, None] - shifts[:, 1, None, None]  # (B,H,1)
    sx = tf.range(width, dtype=tf.float64)[None, None, :] - shifts[:, 0, None, None]   # (B,1,W)
    y0 = tf.floor(sy)
    x0 = tf.floor(sx)
    wy = tf.cast(sy - y0, images.dtype.real_dtype)
    wx = tf.cast(sx - x0, images.dtype.real_dtype)
    y0 = tf.cast(y0, tf.int32)
    x0 = tf.cast(x0, tf.int32)
    flat = tf.reshape(images, (n_batch, height * width))

    def gather(rows, cols, weight):
        inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
        index = tf.clip_by_value(rows, 0, height - 1) * width + tf.clip_by_value(cols, 0, width - 1)
        index = tf.broadcast_to(index, (n_batch, height, width))
        values = tf.gather(flat, tf.reshape(index, (n_batch, -1)), batch_dims=1)
        weight = tf.where(inside, weight, tf.zeros_like(weight))
        weight = tf.reshape(tf.broadcast_to(weight, (n_batch, height, width)), (n_batch, -1))
        return values * tf.cast(weight, images.dtype)

    out = (gather(y0, x0, (1 - wy) * (1 - wx)) + gather(y0, x0 + 1, (1 - wy) * wx)
           + gather(y0 + 1, x0, wy * (1 - wx)) + gather(y0 + 1, x0 + 1, wy * wx))
    return tf.reshape(out, (n_batch, height, width))


def _divide_by_coverage(total, coverage):
    covered = coverage > COVERAGE_EPS
    safe = tf.where(covered, coverage, tf.ones_like(coverage))
    return tf.where(covered, total / tf.cast(safe, total.dtype), tf.zeros_like(total))


def reassemble(patches, positions, canvas_shape, M: int, chunk: int = 64):
    """reference.reassemble in TensorFlow: each patch's central M x M crop is padded so its
    pixel (M//2, M//2) sits on the canvas centre, translated to its (x, y) position, summed,
    and divided by the summed coverage. Patches are processed `chunk` at a time so memory
    stays O(chunk * H * W)."""
    patches = tf.convert_to_tensor(patches, dtype=tf.complex64)
    positions = tf.cast(tf.convert_to_tensor(positions), tf.float64)
    n_size = patches.shape[1]
    height, width = canvas_shape
    if not 0 < M <= n_size:
        raise ValueError(f"M must be in 1..N = 1..{n_size}, got {M}")
    start = n_size // 2 - M // 2
    top, left = height // 2 - M // 2, width // 2 - M // 2
    paddings = ((0, 0), (top, height - top - M), (left, width - left - M))
    if min(min(p) for p in paddings[1:]) < 0:
        raise ValueError(f"canvas {canvas_shape} is smaller than the {M} x {M} crop")
    centre = tf.constant([[width // 2, height // 2]], dtype=tf.float64)
    total = tf.zeros((height, width), tf.complex64)
    coverage = tf.zeros((height, width), tf.float32)
    for first in range(0, patches.shape[0], chunk):
        crop = patches[first:first + chunk, start:start + M, start:start + M]
        shifts = positions[first:first + chunk] - centre
        padded = tf.pad(crop, paddings)
        support = tf.pad(tf.ones(tf.shape(crop), tf.float32), paddings)
        total += tf.reduce_sum(translate(padded, shifts), axis=0)
        coverage += tf.reduce_sum(translate(support, shifts), axis=0)
    return _divide_by_coverage(total, coverage)


def _channels_to_batch(x):
    """(B, N, N, C) -> (B*C, N, N), channel fastest."""
    return tf.reshape(tf.transpose(x, (0, 3, 1, 2)), (-1, x.shape[1], x.shape[2]))


def _batch_to_channels(x, n_chan: int):
    return tf.transpose(tf.reshape(x, (-1, n_chan, x.shape[1], x.shape[2])), (0, 2, 3, 1))


def merge_channels(patches, offsets):
    """(B, N, N, C) complex + (B, C, 2) offsets -> consistent (B, N, N, C) views
    (reference.merge_channels)."""
    patches = tf.convert_to_tensor(patches)
    offsets = tf.cast(tf.convert_to_tensor(offsets), tf.float64)
    n_chan = patches.shape[3]
    flat_shifts = tf.reshape(offsets, (-1, 2))
    moved = _batch_to_channels(translate(_channels_to_batch(patches), flat_shifts), n_chan)
    ones = tf.ones((tf.shape(flat_shifts)[0], patches.shape[1], patches.shape[2]), tf.float32)
    cover = _batch_to_channels(translate(ones, flat_shifts), n_chan)
    merged = _divide_by_coverage(tf.reduce_sum(moved, axis=3), tf.reduce_sum(cover, axis=3))
    repeated = tf.repeat(merged, n_chan, axis=0)                        # (B*C, N, N)
    return _batch_to_channels(translate(repeated, -flat_shifts), n_chan)
