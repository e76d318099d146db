"""The torch payload of the model archive: one Lightning-format checkpoint `model.ckpt`.

It holds `hyper_parameters` (the PtychoLightningModule's model/data/training config dicts) and
the module's `state_dict`, so it alone rebuilds the networks: with Lightning
(`PtychoLightningModule.load_from_checkpoint(path, weights_only=True)`) or, as here, without
importing Lightning (inference start-up). Every load uses torch.load(..., weights_only=True).
The archive around it (manifest, params.json, atomic write, safe extraction) is ptycho.archive.
"""
import copy
import math
import re
from importlib import metadata
from pathlib import Path
from pickle import UnpicklingError  # what weights_only=True raises on a refused object

import torch

from ptycho.fileio import atomic_output
from ptycho.config.config import ModelConfig
from ptycho.errors import ArchiveError, ConfigError
from ptycho_torch.model import Autoencoder

PAYLOAD_NAME = "model.ckpt"
HPARAM_KEYS = ("model_config", "data_config", "training_config")
STATE_PREFIX = "autoencoder."   # PtychoLightningModule keeps the networks under .autoencoder
_RETRAIN = "the checkpoint is corrupt or from another program; retrain"


def checkpoint_dict(autoencoder: Autoencoder) -> dict:
    """A Lightning-compatible checkpoint of the PtychoLightningModule owning `autoencoder`."""
    if autoencoder.hyper_parameters is None:
        raise ValueError("this Autoencoder has no hyper_parameters; build it through "
                         "PtychoLightningModule or load_checkpoint so it can be saved")
    return {
        "hyper_parameters": copy.deepcopy(autoencoder.hyper_parameters),
        "state_dict": {STATE_PREFIX + k: v.detach().cpu() for k, v in autoencoder.state_dict().items()},
        "pytorch-lightning_version": metadata.version("lightning"),
    }


def save_checkpoint(autoencoder: Autoencoder, path) -> Path:
    """Write the checkpoint atomically (temp file in the same folder, then os.replace)."""
    path = Path(path)
    with atomic_output(path) as handle:
        torch.save(checkpoint_dict(autoencoder), handle)
    return path


def _read(path: Path) -> dict:
    if not path.is_file():
        raise ArchiveError(path, "checkpoint not found", "the archive is incomplete; retrain")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except UnpicklingError as exc:
        # torch's first line is only "Weights only load failed ..." (with terminal escapes);
        # the line naming the refused global is the useful one
        refused = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
        reason = re.search(r"WeightsUnpickler error: ([^\n]+)", str(exc))
        detail = (f"a pickled {refused.group(1)}" if refused else reason.group(1).strip() if reason
                  else re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip().splitlines()[0])
        raise ArchiveError(path, "checkpoint holds objects that safe loading refuses "
                           f"(weights_only=True: {detail})",
                           "only load checkpoints written by this package; retrain") from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise ArchiveError(path, f"checkpoint cannot be read ({type(exc).__name__}: {exc})",
                           _RETRAIN) from None
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), dict):
        raise ArchiveError(path, "checkpoint has no 'state_dict'", _RETRAIN)
    hparams = checkpoint.get("hyper_parameters")
    if not isinstance(hparams, dict) or not all(isinstance(hparams.get(k), dict) for k in HPARAM_KEYS):
        raise ArchiveError(path, f"checkpoint 'hyper_parameters' must hold the dicts {list(HPARAM_KEYS)}",
                           _RETRAIN)
    _check_hyper_parameters(path, hparams)
    return checkpoint


def _positive(value) -> bool:
    return (not isinstance(value, bool) and isinstance(value, (int, float))
            and math.isfinite(value) and value > 0)


def _check_hyper_parameters(path: Path, hparams: dict) -> None:
    """Types and ranges of what rebuilds the network, before anything is allocated:
    model_config through ModelConfig's own checks (the size policy included), data_config's
    sizes, scales and probe shape, training_config's weights."""
    model, data, training = (hparams[key] for key in HPARAM_KEYS)

    def refuse(what: str):
        raise ArchiveError(path, f"checkpoint hyper_parameters.{what}", _RETRAIN)

    try:
        config = ModelConfig(**{k: v for k, v in model.items() if k in ModelConfig.__dataclass_fields__})
    except (ConfigError, TypeError) as exc:
        refuse(f"model_config: {getattr(exc, 'what', exc)}")
    if model.get("N") != config.N or not isinstance(model.get("gridsize"), int):
        refuse(f"model_config must give N and gridsize, got {model.get('N')!r}, "
               f"{model.get('gridsize')!r}")
    if data.get("N") != config.N or data.get("C") != config.gridsize ** 2:
        refuse(f"data_config N, C = {data.get('N')!r}, {data.get('C')!r} do not match model_config "
               f"(N {config.N}, {config.gridsize ** 2} channel(s))")
    for key in ("intensity_scale", "norm_factor"):
        if not _positive(data.get(key)):
            refuse(f"data_config.{key} must be a positive number, got {data.get(key)!r}")
    for key in ("probe_real", "probe_imag"):
        rows = data.get(key)
        if not (isinstance(rows, list) and len(rows) == config.N and all(
                isinstance(row, list) and len(row) == config.N for row in rows)):
            refuse(f"data_config.{key} must be an N x N = {config.N} x {config.N} nested list")
    for key in ("learning_rate", "nll_weight", "mae_weight", "phase_offset_weight"):
        value = training.get(key, 0.0 if key != "learning_rate" else None)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not math.isfinite(value) or value < 0):
            refuse(f"training_config.{key} must be a number >= 0, got {value!r}")


def load_checkpoint(path) -> dict:
    """Rebuild the networks from a checkpoint alone -> {"autoencoder", "diffraction_to_obj"}
    (nn.Modules on the CPU, in eval mode). Anything unsafe or inconsistent is an ArchiveError
    naming the file."""
    path = Path(path)
    checkpoint = _read(path)
    hparams = checkpoint["hyper_parameters"]
    try:
        autoencoder = Autoencoder(hparams["model_config"], hparams["data_config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ArchiveError(path, f"checkpoint hyper_parameters cannot rebuild the model "
                           f"({type(exc).__name__}: {exc})", _RETRAIN) from None
    state = {k[len(STATE_PREFIX):]: v for k, v in checkpoint["state_dict"].items()
             if k.startswith(STATE_PREFIX)}
    try:
        autoencoder.load_state_dict(state)
    except RuntimeError as exc:
        raise ArchiveError(path, f"checkpoint weights do not fit the model they describe ({exc})",
                           _RETRAIN) from None
    autoencoder.hyper_parameters = hparams
    autoencoder.eval()
    return {"autoencoder": autoencoder, "diffraction_to_obj": autoencoder.diffraction_to_obj}


def save_payload(models: dict, staging_dir) -> list[str]:
    """Backend.save_payload: write model.ckpt into staging_dir."""
    save_checkpoint(models["autoencoder"], Path(staging_dir) / PAYLOAD_NAME)
    return [PAYLOAD_NAME]


def load_payload(extract_dir, params: dict) -> dict:
    """Backend.load_payload: rebuild the models from model.ckpt, which is self-contained;
    params.json must agree with it on the intensity scale."""
    path = Path(extract_dir) / PAYLOAD_NAME
    models = load_checkpoint(path)
    checkpoint_n = models["autoencoder"].hyper_parameters["model_config"].get("N")
    if checkpoint_n != params["cfg"].get("N"):
        raise ArchiveError(path, f"checkpoint model_config N = {checkpoint_n!r} differs from "
                           f"params.json's N = {params['cfg'].get('N')!r}",
                           "the archive mixes files from different runs; retrain")
    checkpoint_scale = models["autoencoder"].intensity_scale
    if not math.isclose(checkpoint_scale, float(params["intensity_scale"]), rel_tol=1e-6):
        raise ArchiveError(path, f"checkpoint intensity_scale {checkpoint_scale} differs from "
                           f"params.json's {params['intensity_scale']}",
                           "the archive mixes files from different runs; retrain")
    return models
