"""Fixtures of the model_manager group: one tiny real model per backend, trained once per
session through the dispatcher and saved as a real wts.h5.zip; tests that damage an archive
work on their own copy."""
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from ptycho import params
from ptycho.config.config import InferenceConfig, ModelConfig, TrainingConfig
from ptycho.raw_data import RawData

from ._archives import N


@dataclass
class TrainedModel:
    backend: str
    config: TrainingConfig
    results: dict
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
    """Factory: trained(backend) -> TrainedModel, built on first use (one epoch, 16 patterns,
    8/16/32 filters) and shared by the session. params.cfg is left as it was."""
    from ptycho.workflows.backend_selector import run_cdi_example_with_backend

    models = {}

    def get(backend: str) -> TrainedModel:
        if backend not in models:
            saved = dict(params.cfg)
            config = TrainingConfig(model=ModelConfig(N=N, n_filters_scale=0.25), n_groups=16,
                                    nepochs=1, batch_size=8, subsample_seed=0, backend=backend,
                                    output_dir=tmp_path_factory.mktemp(f"trained-{backend}"))
            try:
                _, _, results = run_cdi_example_with_backend(scan, None, config,
                                                             do_stitching=False)
            finally:
                params.cfg.clear()
                params.cfg.update(saved)
            models[backend] = TrainedModel(backend, config, results, config.output_dir)
        return models[backend]
    return get


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

