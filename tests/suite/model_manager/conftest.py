"""Fixtures of the model_manager group: one tiny real model per backend, saved once per
session as a real wts.h5.zip (PyTorch: a one-epoch run through the dispatcher; TensorFlow:
freshly built networks saved by its persistence code - tracing a TensorFlow training step
would cost seconds that persistence does not need); tests that damage an archive work on
their own copy."""
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from ptycho import params
from ptycho.config.config import InferenceConfig, ModelConfig, TrainingConfig
from ptycho.raw_data import RawData

from suite_support import save_untrained_tensorflow_archive

from ._archives import N


@dataclass
class SavedModel:
    backend: str
    config: TrainingConfig
    models: dict            # the networks as saved
    intensity_scale: float
    norm_factor: float
    output_dir: Path

    @property
    def archive(self) -> Path:
        return self.output_dir / "wts.h5.zip"

    def inference_config(self, backend: str | None = None) -> InferenceConfig:
        return InferenceConfig(model=ModelConfig(N=N), backend=backend or self.backend)


@pytest.fixture(scope="session")
def scan(simulated_dataset) -> RawData:
    return RawData.from_file(simulated_dataset())


@pytest.fixture(scope="session")
def trained(scan, tmp_path_factory):
    """Factory: trained(backend) -> SavedModel, built on first use (16 patterns, 8/16/32
    filters) and shared by the session. params.cfg is left as it was."""
    models = {}

    def get(backend: str) -> SavedModel:
        if backend not in models:
            saved = dict(params.cfg)
            config = TrainingConfig(model=ModelConfig(N=N, n_filters_scale=0.25), n_groups=16,
                                    nepochs=1, batch_size=8, subsample_seed=0, backend=backend,
                                    output_dir=tmp_path_factory.mktemp(f"saved-{backend}"))
            try:
                result = _save(scan, config)
            finally:
                params.cfg.clear()
                params.cfg.update(saved)
            models[backend] = SavedModel(backend, config, result["models"],
                                         result["intensity_scale"], result["norm_factor"],
                                         config.output_dir)
        return models[backend]
    return get


def _save(scan: RawData, config: TrainingConfig) -> dict:
    if config.backend == "tensorflow":
        return save_untrained_tensorflow_archive(scan, config)
    from ptycho.workflows.backend_selector import run_cdi_example_with_backend
    return run_cdi_example_with_backend(scan, None, config, do_stitching=False)[2]


@pytest.fixture
def legacy_params():
    """ptycho.params.cfg for a test that changes it (loading restores it from the archive);
    restored afterwards."""
    saved = dict(params.cfg)
    yield params.cfg
    params.cfg.clear()
    params.cfg.update(saved)


@pytest.fixture
def archive_copy(trained, tmp_path):
    """Factory: archive_copy(backend) -> a private copy of that backend's archive (in its own
    folder, as a training run leaves it)."""
    def get(backend: str) -> Path:
        folder = tmp_path / f"copy-{backend}"
        folder.mkdir()
        return Path(shutil.copy2(trained(backend).archive, folder / "wts.h5.zip"))
    return get

