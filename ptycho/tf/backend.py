"""The TensorFlow implementation of `ptycho.backend_api.Backend`."""
from pathlib import Path

import keras
import numpy as np

from ptycho.tf import model_manager
from ptycho.backend_api import TrainingInputs
from ptycho.log import get_logger
from ptycho.tf import training
from ptycho.tf.model import build_models

logger = get_logger(__name__)


class TensorFlowBackend:
    name = model_manager.BACKEND

    def train(self, data: TrainingInputs, config, execution_config=None) -> tuple[dict, dict]:
        if execution_config is not None:
            logger.debug("execution config %r is for the PyTorch backend; ignored by TensorFlow",
                         execution_config)
        training.configure_threads()
        keras.utils.set_random_seed(config.seed)
        models = build_models(data.probe)
        history = training.fit(
            models["autoencoder"], data.X_norm, data.offsets, data.intensity_scale,
            nepochs=config.nepochs, batch_size=config.batch_size,
            learning_rate=config.learning_rate, nll_weight=config.nll_weight,
            mae_weight=config.mae_weight, phase_offset_weight=config.phase_offset_weight,
            seed=config.seed)
        return models, history

    def predict(self, models: dict, X_norm: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        # An eager call: predict_on_batch would first trace a graph, which costs more than the
        # one or two batches an inference run predicts.
        patches = models["diffraction_to_obj"](
            [np.asarray(X_norm, np.float32), np.asarray(offsets, np.float32)], training=False)
        return np.asarray(patches, np.complex64)

    def save_payload(self, models: dict, staging_dir: Path) -> list[str]:
        return model_manager.save_models(models, staging_dir)

    def load_payload(self, extract_dir: Path, params: dict) -> dict:
        training.configure_threads()
        return model_manager.load_models(extract_dir)
