"""The PyTorch implementation of `ptycho.backend_api.Backend` (twin of ptycho.tf.backend)."""
from pathlib import Path

import numpy as np
import torch

from ptycho.backend_api import TrainingInputs
from ptycho_torch import model_manager

BACKEND = "pytorch"


def to_channels_first(X: np.ndarray) -> torch.Tensor:
    """(B, N, N, C) numpy -> contiguous float32 (B, C, N, N) tensor."""
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(np.asarray(X, np.float32), 3, 1)))


class PyTorchBackend:
    name = BACKEND

    def train(self, data: TrainingInputs, config, execution_config=None) -> tuple[dict, dict]:
        # Imported here: Lightning costs seconds to import and inference never needs it.
        from ptycho_torch import training
        module = training.train(data, config, execution_config)
        models = {"autoencoder": module.autoencoder, "diffraction_to_obj": module.diffraction_to_obj}
        return models, module.history

    def predict(self, models: dict, X_norm: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        network = models["diffraction_to_obj"]
        device = next(network.parameters()).device
        with torch.inference_mode():
            patches = network(to_channels_first(X_norm).to(device),
                              torch.from_numpy(np.asarray(offsets, np.float32)).to(device))
        return np.ascontiguousarray(np.moveaxis(patches.cpu().numpy(), 1, 3)).astype(np.complex64)

    def save_payload(self, models: dict, staging_dir: Path) -> list[str]:
        return model_manager.save_payload(models, staging_dir)

    def load_payload(self, extract_dir: Path, params: dict) -> dict:
        return model_manager.load_payload(extract_dir, params)
