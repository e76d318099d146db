"""Training the torch backend with a lightning.Trainer configured from PyTorchExecutionConfig.

Reads the TrainingConfig dataclass it is given and never reads or writes ptycho.params.cfg
(CONFIG-002); the shared workflow has already grouped and normalised the data.
"""
import dataclasses
import logging
import warnings
from contextlib import contextmanager
from pathlib import Path

import lightning
import numpy as np
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from torch.utils.data import DataLoader, TensorDataset

from ptycho.backend_api import TrainingInputs
from ptycho.config.config import PyTorchExecutionConfig, TrainingConfig
from ptycho.errors import ConfigError
from ptycho_torch.ops import to_channels_first
from ptycho_torch.lightning_module import PtychoLightningModule

CHECKPOINT_DIR = "checkpoints"
LOG_DIR = "lightning_logs"
# Lightning warnings that are expected here, not actionable by the user.
_EXPECTED_WARNINGS = (
    ".*does not have many workers.*",          # num_workers=0 is deliberate: tiny in-memory tensors
    ".*no `val_dataloader`.*",                 # validation_step exists for optional val data
    ".*isinstance\\(treespec, LeafSpec\\).*",  # Lightning-internal deprecation
)


def module_configs(data: TrainingInputs, config: TrainingConfig,
                   execution_config: PyTorchExecutionConfig) -> tuple[dict, dict, dict]:
    """The three plain-dict PtychoLightningModule arguments for this data and config.

    The data's shape must match config.model (N, gridsize**2 channels): a mismatch means the
    data were grouped from a params.cfg out of sync with the config (CONFIG-001).
    """
    model = config.model
    n_patterns, n_rows, n_cols, n_chan = np.shape(data.X_norm)
    if (n_rows, n_cols, n_chan) != (model.N, model.N, model.gridsize ** 2):
        raise ConfigError(
            "TrainingConfig.model",
            f"training data are {n_rows}x{n_cols} with {n_chan} channel(s) but the model is "
            f"N={model.N}, gridsize={model.gridsize} ({model.gridsize ** 2} channel(s))",
            "call update_legacy_dict(params.cfg, config) before grouping the data (CONFIG-001)")
    probe = np.asarray(data.probe, dtype=np.complex64)
    data_config = {
        "N": model.N, "C": n_chan,
        "intensity_scale": float(data.intensity_scale), "norm_factor": float(data.norm_factor),
        "probe_real": probe.real.tolist(), "probe_imag": probe.imag.tolist(),
    }
    learning_rate = execution_config.learning_rate or config.learning_rate
    training_config = {
        "learning_rate": float(learning_rate), "nll_weight": float(config.nll_weight),
        "mae_weight": float(config.mae_weight),
        "phase_offset_weight": float(config.phase_offset_weight), "batch_size": config.batch_size,
        "nepochs": config.nepochs, "seed": config.seed,
    }
    return dataclasses.asdict(model), data_config, training_config


def make_dataloader(data: TrainingInputs, batch_size: int, shuffle: bool, num_workers: int,
                    seed: int) -> DataLoader:
    dataset = TensorDataset(to_channels_first(data.X_norm),
                            torch.from_numpy(np.asarray(data.offsets, np.float32)))
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers,
                      persistent_workers=num_workers > 0,
                      generator=torch.Generator().manual_seed(seed))


def _accelerator(execution_config: PyTorchExecutionConfig) -> str:
    if execution_config.accelerator == "cuda" and not torch.cuda.is_available():
        raise ConfigError("PyTorchExecutionConfig", "accelerator='cuda' but no CUDA device is available",
                          "use accelerator='cpu' or 'auto'")
    return execution_config.accelerator


def build_trainer(config: TrainingConfig, execution_config: PyTorchExecutionConfig,
                  steps_per_epoch: int, validate: bool) -> lightning.Trainer:
    output_dir = Path(config.output_dir)
    callbacks = []
    if execution_config.enable_checkpointing:
        # Only <output_dir>/checkpoints/last.ckpt: no monitored top-k copies.
        callbacks.append(ModelCheckpoint(dirpath=output_dir / CHECKPOINT_DIR, save_last=True,
                                         save_top_k=0))
    logger = CSVLogger(save_dir=output_dir, name=LOG_DIR) \
        if execution_config.logger_backend == "csv" else False
    return lightning.Trainer(
        max_epochs=config.nepochs,
        accelerator=_accelerator(execution_config),
        devices=1,
        deterministic=execution_config.deterministic,
        logger=logger,
        callbacks=callbacks,
        enable_checkpointing=execution_config.enable_checkpointing,
        enable_progress_bar=execution_config.enable_progress_bar,
        enable_model_summary=False,
        num_sanity_val_steps=2 if validate else 0,
        log_every_n_steps=max(1, min(50, steps_per_epoch)),
        default_root_dir=output_dir,
    )


def train(data: TrainingInputs, config: TrainingConfig,
          execution_config: PyTorchExecutionConfig | None = None,
          val_data: TrainingInputs | None = None,
          module: PtychoLightningModule | None = None) -> PtychoLightningModule:
    """Seed everything, build a fresh PtychoLightningModule (or take `module`, e.g. one with
    weights ported from Keras) and fit it for config.nepochs.

    The returned module (on the CPU, in eval mode) carries the per-epoch losses in `.history`.
    """
    execution_config = execution_config or PyTorchExecutionConfig()
    lightning.seed_everything(config.seed, workers=True, verbose=False)
    if module is None:
        module = PtychoLightningModule(*module_configs(data, config, execution_config))
    loader_args = dict(batch_size=config.batch_size, num_workers=execution_config.num_workers,
                       seed=config.seed)
    train_loader = make_dataloader(data, shuffle=True, **loader_args)
    val_loader = make_dataloader(val_data, shuffle=False, **loader_args) if val_data else None
    with _quiet_lightning(), _no_memory_fill():
        trainer = build_trainer(config, execution_config, len(train_loader), val_loader is not None)
        trainer.fit(module, train_dataloaders=train_loader, val_dataloaders=val_loader)
    return module.cpu().eval()


@contextmanager
def _no_memory_fill():
    """Deterministic algorithms without NaN-filling every new tensor (a debugging aid that
    `deterministic=True` switches on: ~450 fills per step, 3-7 % of a step at N = 32). Every
    op writes its output before reading it, so results are unchanged."""
    import torch.utils.deterministic as deterministic

    previous = deterministic.fill_uninitialized_memory
    deterministic.fill_uninitialized_memory = False
    try:
        yield
    finally:
        deterministic.fill_uninitialized_memory = previous


@contextmanager
def _quiet_lightning():
    """Silence Lightning's start-up INFO lines (accelerator availability, product tips) and
    the expected warnings above; its other warnings and errors still show."""
    lightning_logger = logging.getLogger("lightning.pytorch")
    level = lightning_logger.level
    lightning_logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            for message in _EXPECTED_WARNINGS:
                warnings.filterwarnings("ignore", message=message)
            yield
    finally:
        lightning_logger.setLevel(level)
