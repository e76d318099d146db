"""Helpers of the model_manager tests: expected layout, network inputs, zip surgery."""
import zipfile
from pathlib import Path

import numpy as np

N = 32
BACKENDS = ("tensorflow", "pytorch")
PAYLOADS = {"tensorflow": ["autoencoder.keras", "diffraction_to_obj.keras"],
            "pytorch": ["model.ckpt"]}


def sample_batch(n: int = 6, seed: int = 0):
    """Network inputs the models were not trained on: (X (n, N, N, 1), offsets (n, 1, 2))."""
    rng = np.random.default_rng(seed)
    return rng.random((n, N, N, 1), dtype=np.float32), np.zeros((n, 1, 2), np.float32)


def read_members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def rewrite(path: Path, members: dict[str, bytes]) -> Path:
    """Replace the zip at `path` by one holding exactly `members` (name -> bytes), in order."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return path
