"""TensorFlow persistence payload on top of `ptycho.archive`: each Keras model is one `.keras`
file (Keras' own zip of config JSON + weights, loaded with safe_mode on, no pickle)."""
import zipfile
from pathlib import Path

# Importing the model module first applies ptycho.tf's runtime defaults and registers the
# custom layers the .keras configs refer to.
from ptycho.tf import model as _registered_layers  # noqa: F401

import keras  # noqa: E402  (after ptycho.tf on purpose)

from ptycho import archive, params
from ptycho.errors import ArchiveError

BACKEND = "tensorflow"


def member_name(model_name: str) -> str:
    return f"{model_name}.keras"


def save_models(models: dict, staging_dir) -> list[str]:
    """Write autoencoder.keras and diffraction_to_obj.keras into staging_dir; return the names."""
    staging_dir = Path(staging_dir)
    members = []
    for name in archive.MODEL_NAMES:
        members.append(member_name(name))
        models[name].save(staging_dir / members[-1])
    return members


def load_models(extract_dir) -> dict:
    """The models saved by save_models, rebuilt from extract_dir (no compile state). A member
    Keras cannot load is an ArchiveError naming it."""
    extract_dir = Path(extract_dir)
    models = {}
    for name in archive.MODEL_NAMES:
        path = extract_dir / member_name(name)
        try:
            if not zipfile.is_zipfile(path):     # Keras would call it "File not found"
                raise ValueError("not a .keras zip file")
            models[name] = keras.saving.load_model(path, compile=False)
        except (ValueError, TypeError, KeyError, OSError, zipfile.BadZipFile) as exc:
            first_line = (str(exc).strip().splitlines() or [""])[0][:200]
            raise ArchiveError(path, f"cannot be loaded as a Keras model ({type(exc).__name__}: "
                               f"{first_line})", "the archive is corrupt or was not written by "
                               "this package; retrain") from None
        _check_architecture(path, name, models[name])
    return models


def _check_architecture(path: Path, name: str, model) -> None:
    """A loadable Keras model is not necessarily ours: both networks take [diffraction
    (B, N, N, C), offsets (B, C, 2)] as params.cfg describes them."""
    n, channels = int(params.cfg["N"]), int(params.cfg["gridsize"]) ** 2
    expected = [(None, n, n, channels), (None, channels, 2)]
    shapes = [tuple(tensor.shape) for tensor in getattr(model, "inputs", None) or []]
    if model.name != name or shapes != expected:
        raise ArchiveError(path, f"holds a Keras model {model.name!r} with inputs {shapes}, not "
                           f"this package's {name!r} with inputs {expected}",
                           "the archive was not written by this package for this N and "
                           "gridsize; retrain")


def save_archive(models: dict, output_dir, intensity_scale: float, norm_factor: float) -> Path:
    """`<output_dir>/wts.h5.zip` tagged 'tensorflow' holding `models` and params.cfg."""
    return archive.save_archive(output_dir, BACKEND, lambda staging: save_models(models, staging),
                                intensity_scale, norm_factor)

