"""What the parity fixtures are made of: the small simulated dataset (cached by its
arguments), the data grouped and normalised as the shared workflow does, params.cfg
handling (CONFIG-001) and TensorFlow/torch model pairs with identical (ported) weights.

Sizes are small (N = 32, filters 8/16/32) so the group runs well inside its minute on two
cores; the numerics are the same at N = 64. TensorFlow, torch and Lightning are imported
lazily, once per session, by the first fixture that needs them.
"""
import dataclasses
import functools
from contextlib import contextmanager
from types import SimpleNamespace

import numpy as np

from ptycho import params, reference, simulate
from ptycho.backend_api import TrainingInputs
from ptycho.config.config import (ModelConfig, PyTorchExecutionConfig, TrainingConfig,
                                  update_legacy_dict)
from ptycho.raw_data import generate_grouped_data

from ._compare import CHANNELS_FIRST, to_channels_last

N = 32
N_FILTERS_SCALE = 0.25      # 8 / 16 / 32 filters
N_IMAGES = 128
OBJECT_SIZE = 96
NPHOTONS = 1e9
N_GROUPS = 64
DATA_SEED = 0
GROUP_SEED = 1
WEIGHT_SEED = 7


@functools.lru_cache(maxsize=None)
def simulated_dataset(n_images: int = N_IMAGES, N: int = N, object_size: int = OBJECT_SIZE,
                      nphotons: float = NPHOTONS, seed: int = DATA_SEED):
    """ptycho.simulate's seeded dataset, built once per distinct argument set."""
    return simulate.simulate_dataset(n_images=n_images, N=N, object_size=object_size,
                                     nphotons=nphotons, seed=seed)


def training_config(gridsize: int, **overrides) -> TrainingConfig:
    model = ModelConfig(N=N, gridsize=gridsize, n_filters_scale=N_FILTERS_SCALE)
    settings = dict(model=model, nphotons=NPHOTONS, n_groups=N_GROUPS, subsample_seed=GROUP_SEED,
                    seed=WEIGHT_SEED)
    return TrainingConfig(**{**settings, **overrides})


@contextmanager
def legacy_cfg(config: TrainingConfig, intensity_scale: float | None = None):
    """params.cfg synchronised with `config` (CONFIG-001) for the legacy consumers inside the
    block (grouping, Keras model construction), restored afterwards."""
    saved = dict(params.cfg)
    update_legacy_dict(params.cfg, config)
    if intensity_scale is not None:
        params.cfg["intensity_scale"] = intensity_scale
    try:
        yield params.cfg
    finally:
        params.cfg.clear()
        params.cfg.update(saved)


@functools.lru_cache(maxsize=None)
def prepared_data(gridsize: int) -> SimpleNamespace:
    """The simulated scan grouped, normalised and scaled exactly as
    ptycho.workflows.common.run_workflow prepares it for a backend: config, raw, grouped
    (GroupedData), inputs (TrainingInputs) and views (true object patches, (B, N, N, C))."""
    from ptycho.workflows.common import prepare_probe

    config = training_config(gridsize)
    raw = simulated_dataset()
    scale = reference.intensity_scale(config.nphotons, N)
    with legacy_cfg(config, scale):
        grouped = generate_grouped_data(raw, config.n_groups, seed=config.subsample_seed)
        probe = prepare_probe(grouped.probe)
    X_norm, norm_factor = reference.normalize_diffraction(grouped.X)
    inputs = TrainingInputs(X_norm=X_norm, offsets=grouped.coords_offsets.astype(np.float32),
                            probe=probe, intensity_scale=scale, norm_factor=norm_factor)
    # Ground-truth object patches seen by each channel (B, N, N, C): what a perfect
    # diffraction_to_obj would return, cut from objectGuess at the channel's scan position.
    flat = grouped.coords_global.reshape(-1, 2)
    patches = simulate.extract_patches(raw.objectGuess, flat[:, 0], flat[:, 1], N)
    views = to_channels_last(patches.reshape(len(X_norm), -1, N, N), CHANNELS_FIRST)
    return SimpleNamespace(config=config, raw=raw, grouped=grouped, inputs=inputs,
                           views=views.astype(np.complex64))


def make_model_pair(gridsize: int, **config_overrides) -> SimpleNamespace:
    """Fresh Keras models (seeded Glorot init) and a PtychoLightningModule built by the
    package's own helpers for the same data, with the Keras weights ported into torch.

    Returns keras (dict with 'autoencoder', 'diffraction_to_obj'), module (the Lightning
    module; .autoencoder / .diffraction_to_obj are the torch networks), data and config.
    """
    import keras

    from ptycho.tf.model import build_models
    from ptycho_torch import interop, training
    from ptycho_torch.lightning_module import PtychoLightningModule

    prepared = prepared_data(gridsize)
    config = dataclasses.replace(prepared.config, **config_overrides)
    inputs = prepared.inputs
    with legacy_cfg(config, inputs.intensity_scale):
        keras.utils.set_random_seed(config.seed)
        keras_models = build_models(inputs.probe)
    execution = PyTorchExecutionConfig(enable_checkpointing=False, logger_backend="none")
    module = PtychoLightningModule(*training.module_configs(inputs, config, execution))
    interop.tf_to_torch(keras_models["diffraction_to_obj"], module.autoencoder)
    return SimpleNamespace(keras=keras_models, module=module, data=prepared, config=config,
                           execution=execution)


