"""PtychoLightningModule: the physics-informed autoencoder trained with Lightning.

Its three constructor arguments are plain JSON-able dicts and are saved with
`save_hyperparameters()`, so a checkpoint alone rebuilds the module (no params.cfg, no other
state): `PtychoLightningModule.load_from_checkpoint(path, weights_only=True)`.

    model_config     ModelConfig fields (N, gridsize, n_filters_scale, amp_activation,
                     object_big, probe_scale, ...)
    data_config      N, C, intensity_scale, norm_factor and the prepared probe as nested
                     lists `probe_real` / `probe_imag`
    training_config  learning_rate, nll_weight, mae_weight, phase_offset_weight (+ batch_size,
                     nepochs, seed for provenance)
"""
import lightning
import torch

from ptycho.config.config import TrainingConfig
from ptycho.log import get_logger
from ptycho_torch import ops
from ptycho_torch.model import Autoencoder

logger = get_logger(__name__)

_DEFAULTS = TrainingConfig()   # the TensorFlow backend's defaults too
DEFAULT_TRAINING = {"learning_rate": _DEFAULTS.learning_rate, "nll_weight": _DEFAULTS.nll_weight,
                    "mae_weight": _DEFAULTS.mae_weight,
                    "phase_offset_weight": _DEFAULTS.phase_offset_weight}
LOSS_TERMS = ("loss", "poisson_nll", "amplitude_mae", "phase_offset")


class PtychoLightningModule(lightning.LightningModule):
    def __init__(self, model_config: dict, data_config: dict, training_config: dict):
        super().__init__()
        # Into the checkpoint only: the logger's hparams.yaml would spend ~0.7 s dumping the
        # probe's 2 x N x N floats as YAML for a copy nobody reads.
        self.save_hyperparameters(logger=False)
        self.autoencoder = Autoencoder(model_config, data_config)
        # What a bare autoencoder needs to be saved as a checkpoint of this module.
        self.autoencoder.hyper_parameters = dict(self.hparams)
        settings = {**DEFAULT_TRAINING, **training_config}
        self.learning_rate = float(settings["learning_rate"])
        self.nll_weight = float(settings["nll_weight"])
        self.mae_weight = float(settings["mae_weight"])
        self.phase_offset_weight = float(settings["phase_offset_weight"])
        # Per-epoch means of each loss term, in the Backend protocol's history format
        # (LOSS_TERMS, and "val_"-prefixed ones with val data).
        self.history: dict[str, list[float]] = {}
        self._running: dict[str, dict] = {}   # per stage: sample count and loss sums

    @property
    def diffraction_to_obj(self):
        return self.autoencoder.diffraction_to_obj

    def forward(self, x: torch.Tensor, offsets: torch.Tensor):
        return self.autoencoder(x, offsets)

    def _loss(self, batch, prefix: str) -> torch.Tensor:
        x, offsets = batch
        pred, obj = self.autoencoder(x, offsets)
        target = self.autoencoder.intensity_scale * x
        terms = {"poisson_nll": ops.poisson_nll(pred, target),
                 "amplitude_mae": ops.amplitude_mae(pred, target),
                 "phase_offset": ops.phase_offset(obj) ** 2}
        terms["loss"] = (self.nll_weight * terms["poisson_nll"]
                         + self.mae_weight * terms["amplitude_mae"]
                         + self.phase_offset_weight * terms["phase_offset"])
        n = x.shape[0]
        running = self._running.setdefault(prefix, {"count": 0.0})
        running["count"] += n
        for name, value in terms.items():
            # Tensors, not floats: no device sync per step. The epoch means go to the logger
            # once per epoch (_close_epoch): self.log on every step cost ~10 % of an epoch.
            running[name] = running.get(name, 0.0) + value.detach() * n
        return terms["loss"]

    def training_step(self, batch, batch_idx):
        return self._loss(batch, "")

    def validation_step(self, batch, batch_idx):
        self._loss(batch, "val_")

    def _close_epoch(self, prefix: str) -> None:
        running = self._running.pop(prefix, None)
        if running is None or self.trainer.sanity_checking:
            return
        count = running.pop("count")
        means = {prefix + name: float(total) / count for name, total in running.items()}
        for name, value in means.items():
            self.history.setdefault(name, []).append(value)
        self.log_dict(means, prog_bar=False)
        logger.info("epoch %d/%d: %sloss %.6g (poisson_nll %.6g, amplitude_mae %.6g, "
                    "phase_offset %.3g)", self.current_epoch + 1, self.trainer.max_epochs, prefix,
                    *(means[prefix + name] for name in LOSS_TERMS))

    def on_train_epoch_end(self):
        self._close_epoch("")

    def on_validation_epoch_end(self):
        self._close_epoch("val_")

    def configure_optimizers(self):
        # fused: one kernel for all parameters instead of a loop of small ops per tensor.
        return torch.optim.Adam(self.parameters(), lr=self.learning_rate, fused=True)
