"""Errors for bad user input. Every one is a ValueError whose message reads
"<where>: <what> (<fix>)" so a CLI can print it as one line and exit 2."""


class PtychoInputError(ValueError):
    """Base class: `where` is the file (or config object) at fault, `what` the problem,
    `fix` what the user should do about it."""

    def __init__(self, where, what: str, fix: str):
        self.where = str(where)
        self.what = what
        self.fix = fix
        super().__init__(f"{self.where}: {what} ({fix})")


class DataError(PtychoInputError):
    """A data file (NPZ) is missing, unreadable or violates the data contract."""


class ArchiveError(PtychoInputError):
    """A model archive is malformed, unsafe or was written by the other backend."""


class ConfigError(PtychoInputError):
    """A configuration value is invalid or inconsistent with the data."""


TORCH_INSTALL_HINT = "pip install torch>=2.2"


def torch_unavailable(exc: BaseException) -> RuntimeError:
    """POLICY-001's error for backend='pytorch' without a working torch. Its words are the
    contract callers match (here and upstream PtychoPINN's tests): "PyTorch backend selected",
    "unavailable" / "not installed", and the install command."""
    return RuntimeError(
        "PyTorch backend selected (backend='pytorch') but torch is unavailable (not installed, "
        f"or its import failed: {exc.__class__.__name__}: {exc}). Install it with: "
        f"{TORCH_INSTALL_HINT} (CPU-only wheel: {TORCH_INSTALL_HINT} --index-url "
        "https://download.pytorch.org/whl/cpu), or choose backend='tensorflow'.")
