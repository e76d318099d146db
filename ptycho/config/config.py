"""Typed configuration (dataclasses) and its bridge to the legacy flat dict `ptycho.params.cfg`.

CONFIG-001: legacy consumers (grouping, model construction) read `params.cfg`, never these
dataclasses, so `update_legacy_dict(params.cfg, config)` must run before they do.
CONFIG-002: `PyTorchExecutionConfig` is runtime-only and never reaches `params.cfg`.
"""
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path

from ptycho import limits
from ptycho.errors import ConfigError

BACKENDS = ("tensorflow", "pytorch")
MODEL_TYPES = ("pinn", "supervised")
AMP_ACTIVATIONS = ("sigmoid",)
GRIDSIZES = (1, 2)
ACCELERATORS = ("auto", "cpu", "cuda")
LOGGER_BACKENDS = ("csv", "none")
MAX_SEED = 2 ** 32 - 1    # numpy, Keras and Lightning seeds are 32-bit

# Probe normalisation: mean |P_norm| inside the central disk (r < N/4) is 1/probe_scale.
# 0.5 puts the amplitude a sigmoid must output to explain the default simulated data at
# ~0.6x the true object (background ~0.6, lines ~0.25: mid-range, gradients alive), and makes
# the untrained model (sigmoid ~0.5) predict ~0.8x the normalised energy (N/2)**2.
# Checked in tests/unit/test_simulate.py::test_default_probe_scale_matches_simulated_energy.
DEFAULT_PROBE_SCALE = 0.5

# dataclass field name -> legacy params.cfg key (fields not listed keep their name)
KEY_MAPPINGS = {
    "object_big": "object.big",
    "probe_big": "probe.big",
    "probe_mask": "probe.mask",
    "output_dir": "output_prefix",
    "train_data_file": "train_data_file_path",
    "test_data_file": "test_data_file_path",
}


def _fail(owner, what: str, fix: str):
    raise ConfigError(type(owner).__name__, what, fix)


def _check_choice(owner, name: str, allowed: tuple):
    value = getattr(owner, name)
    if value not in allowed or isinstance(value, bool) != isinstance(allowed[0], bool):
        literals = " or ".join(repr(a) for a in allowed)
        _fail(owner, f"{name} must be {literals}, got {value!r}",
              f"set {name} to one of {', '.join(repr(a) for a in allowed)}")


def _check_bool(owner, name: str):
    value = getattr(owner, name)
    if not isinstance(value, bool):
        _fail(owner, f"{name} must be True or False, got {value!r}", f"pass a bool for {name}")


def _check_int(owner, name: str, minimum: int, allow_none: bool = False,
               maximum: int | None = None):
    value = getattr(owner, name)
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum \
            or (maximum is not None and value > maximum):
        span = f">= {minimum}" if maximum is None else f"in {minimum}..{maximum}"
        _fail(owner, f"{name} must be an integer {span}, got {value!r}",
              f"pass an integer {span} for {name}")


def _check_positive(owner, name: str, allow_none: bool = False):
    value = getattr(owner, name)
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        _fail(owner, f"{name} must be a number > 0, got {value!r}", f"pass a positive number for {name}")


def _check_non_negative(owner, name: str):
    value = getattr(owner, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        _fail(owner, f"{name} must be a number >= 0, got {value!r}", f"pass a number >= 0 for {name}")


def _check_path(owner, name: str):
    value = getattr(owner, name)
    if value is not None and not isinstance(value, (str, Path)):
        _fail(owner, f"{name} must be a path, got {value!r}", f"pass a str or pathlib.Path for {name}")
    if isinstance(value, str):
        setattr(owner, name, Path(value))


@dataclass
class ModelConfig:
    N: int = 64
    gridsize: int = 1
    model_type: str = "pinn"
    n_filters_scale: float = 0.5
    amp_activation: str = "sigmoid"
    probe_scale: float = DEFAULT_PROBE_SCALE
    probe_mask: bool = False
    object_big: bool = True
    probe_big: bool = False
    gaussian_smoothing_sigma: float = 0.0

    def __post_init__(self):
        if isinstance(self.N, bool) or not isinstance(self.N, int) or self.N <= 0 or self.N % 8:
            _fail(self, f"N must be a positive integer divisible by 8, got {self.N!r}",
                  "use a patch size such as 32, 64 or 128")
        _check_choice(self, "gridsize", GRIDSIZES)
        _check_choice(self, "model_type", MODEL_TYPES)
        _check_choice(self, "amp_activation", AMP_ACTIVATIONS)
        _check_positive(self, "n_filters_scale")
        check_filters_scale(self.n_filters_scale, type(self).__name__)
        if int(32 * self.n_filters_scale) < 1:
            _fail(self, f"n_filters_scale {self.n_filters_scale!r} leaves the first conv layer "
                  "with no filters", "use n_filters_scale >= 1/32")
        _check_positive(self, "probe_scale")
        for name in ("probe_mask", "object_big", "probe_big"):
            _check_bool(self, name)
        _check_non_negative(self, "gaussian_smoothing_sigma")


def check_filters_scale(value: float, where) -> None:
    """The size policy's network width (ptycho.limits.FILTERS_SCALE), for configs and for
    checkpoint hyper_parameters alike."""
    allowed = limits.FILTERS_SCALE.value()
    if value > allowed:
        raise ConfigError(where, f"n_filters_scale {value:g} is over the size policy's "
                          f"{allowed:g} ({int(128 * value)} filters in the widest layer; refused "
                          "before building the network)",
                          f"use a smaller n_filters_scale, or pass {limits.FILTERS_SCALE.flag} / set "
                          f"{limits.FILTERS_SCALE.name}")


def _check_model(owner):
    if not isinstance(owner.model, ModelConfig):
        _fail(owner, f"model must be a ModelConfig, got {type(owner.model).__name__}",
              "pass model=ModelConfig(...)")


@dataclass
class TrainingConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    train_data_file: Path | None = None
    test_data_file: Path | None = None
    batch_size: int = 16
    nepochs: int = 2
    nll_weight: float = 1.0
    mae_weight: float = 0.0
    # Gauge term: pins the object's global phase, which the data cannot see (reference.phase_offset).
    phase_offset_weight: float = 1e4
    nphotons: float = 1e9
    n_groups: int = 512
    neighbor_count: int = 4
    subsample_seed: int | None = None
    output_dir: Path = Path("training_outputs")
    backend: str = "tensorflow"
    learning_rate: float = 1e-3
    seed: int = 42

    def __post_init__(self):
        _check_choice(self, "backend", BACKENDS)
        _check_model(self)
        for name in ("train_data_file", "test_data_file", "output_dir"):
            _check_path(self, name)
        _check_int(self, "batch_size", 1)
        _check_int(self, "nepochs", 1)
        _check_non_negative(self, "nll_weight")
        _check_non_negative(self, "mae_weight")
        _check_non_negative(self, "phase_offset_weight")
        if self.nll_weight == 0 and self.mae_weight == 0:
            _fail(self, "nll_weight and mae_weight are both 0, so there is no loss",
                  "set nll_weight or mae_weight > 0")
        _check_positive(self, "nphotons")
        _check_int(self, "n_groups", 1)
        _check_int(self, "neighbor_count", 4)
        _check_int(self, "subsample_seed", 0, allow_none=True, maximum=MAX_SEED)
        _check_positive(self, "learning_rate")
        _check_int(self, "seed", 0, maximum=MAX_SEED)


@dataclass
class InferenceConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    model_path: Path | None = None
    test_data_file: Path | None = None
    n_groups: int | None = None
    neighbor_count: int = 4
    debug: bool = False
    output_dir: Path = Path("inference_outputs")
    backend: str = "tensorflow"

    def __post_init__(self):
        _check_choice(self, "backend", BACKENDS)
        _check_model(self)
        for name in ("model_path", "test_data_file", "output_dir"):
            _check_path(self, name)
        _check_int(self, "n_groups", 1, allow_none=True)
        _check_int(self, "neighbor_count", 4)
        _check_bool(self, "debug")


@dataclass
class PyTorchExecutionConfig:
    """Runtime knobs of the torch backend only (CONFIG-002: never written to params.cfg)."""
    accelerator: str = "cpu"
    deterministic: bool = True
    num_workers: int = 0
    learning_rate: float | None = None
    logger_backend: str = "csv"
    enable_checkpointing: bool = True
    enable_progress_bar: bool = False

    def __post_init__(self):
        _check_choice(self, "accelerator", ACCELERATORS)
        _check_int(self, "num_workers", 0)
        _check_positive(self, "learning_rate", allow_none=True)
        _check_choice(self, "logger_backend", LOGGER_BACKENDS)
        for name in ("deterministic", "enable_checkpointing", "enable_progress_bar"):
            _check_bool(self, name)


def _legacy_value(value):
    return str(value) if isinstance(value, Path) else value


def dataclass_to_legacy_dict(config) -> dict:
    """Flat legacy view of `config`: the nested `model` fields move to the top level, names go
    through KEY_MAPPINGS, Path values become str. PyTorchExecutionConfig is refused (CONFIG-002)."""
    if isinstance(config, PyTorchExecutionConfig):
        raise TypeError("PyTorchExecutionConfig controls runtime only (CONFIG-002) and is never "
                        "written to params.cfg")
    if not is_dataclass(config) or isinstance(config, type):
        raise TypeError(f"expected a config dataclass instance, got {type(config).__name__}")
    flat = {}
    for f in fields(config):
        value = getattr(config, f.name)
        if is_dataclass(value):
            flat.update(dataclass_to_legacy_dict(value))
        else:
            flat[KEY_MAPPINGS.get(f.name, f.name)] = _legacy_value(value)
    return flat


def update_legacy_dict(cfg: dict, config) -> None:
    """Write `config` into the legacy dict `cfg` in place (CONFIG-001). Fields that are None
    (unset, e.g. InferenceConfig.n_groups) leave the existing cfg entry alone."""
    for key, value in dataclass_to_legacy_dict(config).items():
        if value is not None:
            cfg[key] = value
