"""Configuration dataclasses and the legacy params bridge."""
from ptycho.config.config import (  # noqa: F401  (re-exported API)
    KEY_MAPPINGS,
    InferenceConfig,
    ModelConfig,
    PyTorchExecutionConfig,
    TrainingConfig,
    dataclass_to_legacy_dict,
    update_legacy_dict,
)
