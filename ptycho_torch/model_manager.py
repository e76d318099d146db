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
from ptycho.errors import ArchiveError
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
        detail = (f"a pickled {refused.group(1)}" if refused else
                  re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip().splitlines()[0])
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
    return checkpoint


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
    checkpoint_scale = models["autoencoder"].intensity_scale
    if not math.isclose(checkpoint_scale, float(params["intensity_scale"]), rel_tol=1e-6):
        raise ArchiveError(path, f"checkpoint intensity_scale {checkpoint_scale} differs from "
                           f"params.json's {params['intensity_scale']}",
                           "the archive mixes files from different runs; retrain")
    return models
