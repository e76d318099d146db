"""Torch versions of `ptycho.reference`'s functions: same names, same semantics, differentiable
with respect to the image/amplitude arguments.

Layout: batched arrays are channels-first `(B, C, N, N)` (the reference is channels-last);
image stacks `(B, H, W)` and single `(N, N)` images are as in the reference.
`ptycho.reference` is the oracle (tests/unit/test_torch_ops.py holds each function to it); the
definitions live in its docstrings and are not repeated here.
"""
import math

import numpy as np
import torch

from ptycho import reference

EPS = reference.EPS
COVERAGE_EPS = reference.COVERAGE_EPS


def normalize_probe(probe, probe_scale: float) -> torch.Tensor:
    probe = torch.as_tensor(probe).to(torch.complex64)
    disk = torch.from_numpy(reference.central_disk(*probe.shape)).to(probe.device)
    inside = probe.abs()[disk]
    norm = probe_scale * inside.double().mean()
    if not norm > 0:
        raise ValueError("probe is zero inside the central disk r < N/4; it cannot be normalised")
    return probe / norm.float()


def forward_diffraction(psi: torch.Tensor) -> torch.Tensor:
    """psi (..., N, N) complex -> diffraction amplitude over the two last axes, float32."""
    n_pixels = psi.shape[-1] * psi.shape[-2]
    spectrum = torch.fft.fft2(psi.to(torch.complex64))
    intensity = torch.fft.fftshift((spectrum.real**2 + spectrum.imag**2) / n_pixels, dim=(-2, -1))
    # The floor keeps sqrt's gradient finite at exactly-zero intensity (as in ptycho.tf.ops);
    # it changes values by at most sqrt(float32 tiny) ~ 1e-19.
    return torch.sqrt(torch.clamp(intensity, min=torch.finfo(torch.float32).tiny))


def mean_pattern_energy(amplitudes: torch.Tensor) -> float:
    """Mean over every (N, N) pattern (batch and channels) of its summed squared amplitude."""
    return float(torch.mean(torch.sum(amplitudes.double() ** 2, dim=(-2, -1))))


def normalize_diffraction(X: torch.Tensor):
    """X (B, C, N, N) -> (X * f, f), f = sqrt((N/2)**2 / mean_pattern_energy(X))."""
    energy = mean_pattern_energy(X)
    if not energy > 0:
        raise ValueError("diffraction patterns are all zero; they cannot be normalised")
    factor = math.sqrt((X.shape[-1] / 2) ** 2 / energy)
    return (X * factor).float(), factor


def intensity_scale(nphotons: float, N: int) -> float:
    return reference.intensity_scale(nphotons, N)


def poisson_nll(pred_amp_scaled: torch.Tensor, obs_amp_scaled: torch.Tensor) -> torch.Tensor:
    lam = torch.clamp(pred_amp_scaled**2, min=EPS)
    return torch.mean(lam - obs_amp_scaled**2 * torch.log(lam))


def amplitude_mae(pred_amp_scaled: torch.Tensor, obs_amp_scaled: torch.Tensor) -> torch.Tensor:
    return torch.mean(torch.abs(obs_amp_scaled - pred_amp_scaled))


def phase_offset(obj: torch.Tensor) -> torch.Tensor:
    return torch.angle(torch.as_tensor(obj).to(torch.complex64).sum())


def combine_complex(amp: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
    amp = torch.as_tensor(amp).float()
    phase = torch.as_tensor(phase).float()
    return torch.complex(amp * torch.cos(phase), amp * torch.sin(phase))


def _bilinear_window(shifts, n_batch: int, height: int, width: int, device):
    """reference.translate's bilinear gather, read once: a shift is one per image, so its sample
    points sit a whole number of pixels plus one fraction (wy, wx) from the source grid, and the
    four taps are the four (H, W) corners of one (H+1, W+1) window of the source. Returns the
    window's flat source index (B, (H+1)*(W+1)), its inside-the-image mask (B, H+1, W+1) and
    wy, wx (B, 1, 1) float64."""
    shifts = torch.as_tensor(shifts, dtype=torch.float64, device=device)  # index maths in float64
    if shifts.shape != (n_batch, 2):
        raise ValueError(f"shifts must be (B, 2) = ({n_batch}, 2), got {tuple(shifts.shape)}")
    back = -shifts  # content moves by +shift: pixel p samples the source at p - shift
    whole = torch.floor(back)
    fraction = back - whole
    rows = torch.arange(height + 1, device=device)[None, :] + whole[:, 1, None].long()
    cols = torch.arange(width + 1, device=device)[None, :] + whole[:, 0, None].long()
    inside = (((rows >= 0) & (rows < height))[:, :, None]
              & ((cols >= 0) & (cols < width))[:, None, :])
    index = (rows.clamp(0, height - 1)[:, :, None] * width
             + cols.clamp(0, width - 1)[:, None, :]).reshape(n_batch, -1)
    return index, inside, fraction[:, 1, None, None], fraction[:, 0, None, None]


def _corners(window: torch.Tensor, wy: torch.Tensor, wx: torch.Tensor) -> torch.Tensor:
    """The bilinear sum of a (B, H+1, W+1) window's four (H, W) corners, in reference.translate's
    order of terms."""
    return ((1 - wy) * (1 - wx) * window[:, :-1, :-1] + (1 - wy) * wx * window[:, :-1, 1:]
            + wy * (1 - wx) * window[:, 1:, :-1] + wy * wx * window[:, 1:, 1:])


def translate(images: torch.Tensor, shifts) -> torch.Tensor:
    """images (B, H, W) real or complex, shifts (B, 2) = (dx, dy): content moves by +shift,
    bilinear 4-neighbour gather, zero outside (reference.translate). Output keeps the dtype."""
    n_batch, height, width = images.shape
    real_dtype = images.real.dtype if images.is_complex() else images.dtype
    index, inside, wy, wx = _bilinear_window(shifts, n_batch, height, width, images.device)
    window = torch.gather(images.reshape(n_batch, height * width), 1, index)
    window = torch.where(inside, window.reshape(n_batch, height + 1, width + 1),
                         torch.zeros((), dtype=images.dtype, device=images.device))
    return _corners(window, wy.to(real_dtype), wx.to(real_dtype))


def translated_coverage(shifts, n_batch: int, height: int, width: int, device) -> torch.Tensor:
    """translate(ones (B, H, W) float64, shifts) without gathering the ones: the in-bounds tap
    weights, summed in translate's order."""
    _, inside, wy, wx = _bilinear_window(shifts, n_batch, height, width, device)
    return _corners(inside.to(torch.float64), wy, wx)


def _divide_by_coverage(total: torch.Tensor, coverage: torch.Tensor) -> torch.Tensor:
    covered = coverage > COVERAGE_EPS
    safe = torch.where(covered, coverage, torch.ones_like(coverage))
    return torch.where(covered, total / safe, torch.zeros_like(total))


def reassemble(patches: torch.Tensor, positions, canvas_shape, M: int) -> torch.Tensor:
    """reference.reassemble in torch, with the same local-window arithmetic: each patch's
    central M x M crop sits in an (M+1) x (M+1) window, translate applies the fractional part
    of its position and the integer part places the window on the canvas."""
    n_batch, n_size, _ = patches.shape
    height, width = canvas_shape
    device = patches.device
    if not 0 < M <= n_size:
        raise ValueError(f"M must be in 1..N = 1..{n_size}, got {M}")
    positions = torch.as_tensor(positions, dtype=torch.float64, device=device)
    if positions.shape != (n_batch, 2):
        raise ValueError(f"positions must be (B, 2) = ({n_batch}, 2), got {tuple(positions.shape)}")
    start = n_size // 2 - M // 2
    crop = patches[:, start:start + M, start:start + M].to(torch.complex128)
    window = torch.nn.functional.pad(crop, (0, 1, 0, 1))
    support = torch.nn.functional.pad(torch.ones(n_batch, M, M, dtype=torch.float64, device=device),
                                      (0, 1, 0, 1))
    whole = torch.floor(positions)
    fraction = positions - whole
    moved = translate(window, fraction)
    cover = translate(support, fraction)
    tops = whole[:, 1].long() - M // 2
    lefts = whole[:, 0].long() - M // 2
    span = torch.arange(M + 1, device=device)
    rows = (tops[:, None] + span[None, :])[:, :, None].expand(n_batch, M + 1, M + 1)
    cols = (lefts[:, None] + span[None, :])[:, None, :].expand(n_batch, M + 1, M + 1)
    # Window pixels outside the canvas are dropped (translate's "zero outside").
    inside = ((rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)).reshape(-1)
    index = (rows * width + cols).reshape(-1)[inside]
    total = torch.zeros(height * width, dtype=torch.complex128, device=device)
    total = total.index_add(0, index, moved.reshape(-1)[inside]).reshape(height, width)
    coverage = torch.zeros(height * width, dtype=torch.float64, device=device)
    coverage = coverage.index_add(0, index, cover.reshape(-1)[inside]).reshape(height, width)
    out = _divide_by_coverage(total, coverage)
    return out if patches.dtype == torch.complex128 else out.to(torch.complex64)


def merge_channels(patches: torch.Tensor, offsets) -> torch.Tensor:
    """(B, C, N, N) complex + (B, C, 2) offsets -> consistent (B, C, N, N) views
    (reference.merge_channels, channels-first)."""
    n_batch, n_chan, rows, cols = patches.shape
    offsets = torch.as_tensor(offsets, dtype=torch.float64, device=patches.device)
    if offsets.shape != (n_batch, n_chan, 2):
        raise ValueError(
            f"offsets must be (B, C, 2) = ({n_batch}, {n_chan}, 2), got {tuple(offsets.shape)}")
    flat_shifts = offsets.reshape(n_batch * n_chan, 2)
    moved = translate(patches.reshape(n_batch * n_chan, rows, cols), flat_shifts)
    cover = translated_coverage(flat_shifts, n_batch * n_chan, rows, cols, patches.device)
    merged = _divide_by_coverage(moved.reshape(n_batch, n_chan, rows, cols).sum(dim=1),
                                 cover.reshape(n_batch, n_chan, rows, cols).sum(dim=1))
    merged = merged.to(patches.dtype)
    repeated = merged[:, None].expand(n_batch, n_chan, rows, cols).reshape(-1, rows, cols)
    return translate(repeated, -flat_shifts).reshape(n_batch, n_chan, rows, cols)


def to_channels_first(X: np.ndarray) -> torch.Tensor:
    """(B, N, N, C) numpy -> contiguous float32 (B, C, N, N) tensor."""
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(np.asarray(X, np.float32), 3, 1)))
