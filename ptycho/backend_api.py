"""The contract between the backend-neutral workflow (`ptycho.workflows.common`) and a backend
(TensorFlow: `ptycho.tf.backend.TensorFlowBackend`; PyTorch: `ptycho_torch`).

The shared workflow does everything that is not framework-specific - grouping, diffraction
normalisation, the intensity scale, probe preparation, archive writing/reading, prediction
batching, stitching, images and metrics - and hands a backend only plain NumPy data.
Importing this module imports neither TensorFlow nor torch.
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass
class TrainingInputs:
    """Everything a backend needs to train, already prepared by the shared workflow.

    X_norm           float32 (B, N, N, C) normalised diffraction amplitudes, channels-last for
                     every backend (torch moves channels itself). This is the network input.
    offsets          float32 (B, C, 2) per-channel (x, y) offsets from the group centre
                     (zeros for gridsize 1); used by merge_channels when C > 1 and object_big.
    probe            complex64 (N, N) illumination used as-is: psi = probe * obj. It is
                     already normalised (reference.normalize_probe with params.cfg
                     ['probe_scale']) and masked when params.cfg['probe.mask'].
    intensity_scale  s: the model's predicted amplitude is s * forward_diffraction(psi) and the
                     loss target is s * X_norm (also in params.cfg['intensity_scale']).
    norm_factor      f with X_norm = f * X_raw (recorded for provenance; not used by a model).
    """
    X_norm: np.ndarray
    offsets: np.ndarray
    probe: np.ndarray
    intensity_scale: float
    norm_factor: float


@runtime_checkable
class Backend(Protocol):
    """A training/inference backend. `models` is an opaque dict owned by the backend; it must
    hold at least "autoencoder" and "diffraction_to_obj"."""

    name: str   # 'tensorflow' | 'pytorch' (the archive's backend tag)

    def train(self, data: TrainingInputs, config, execution_config=None) -> tuple[dict, dict]:
        """Build fresh models from params.cfg (N, gridsize, n_filters_scale, object.big, ...)
        and `data`, train for config.nepochs on `nll_weight * poisson_nll + mae_weight *
        amplitude_mae`, seeded from config.seed. Returns (models, history) where history maps
        loss names ("loss", "poisson_nll", "amplitude_mae") to per-epoch lists of floats."""
        ...

    def predict(self, models: dict, X_norm: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """diffraction_to_obj on one batch: X_norm float32 (B, N, N, C), offsets (B, C, 2)
        -> complex64 (B, N, N, C) object patches (channels-last, whatever the backend)."""
        ...

    def save_payload(self, models: dict, staging_dir: Path) -> list[str]:
        """Write the model files into staging_dir; return their paths relative to it."""
        ...

    def load_payload(self, extract_dir: Path, params: dict) -> dict:
        """Rebuild `models` from the payload in extract_dir. params is the archive's
        params.json ({"cfg": ..., "intensity_scale": ..., "norm_factor": ...}); params.cfg
        has already been restored from it."""
        ...

