"""CONFIG-002: PyTorchExecutionConfig validates itself on construction (ValueError naming the
field) and never touches params.cfg."""
import pytest

from ptycho.config.config import (PyTorchExecutionConfig, dataclass_to_legacy_dict,
                                  update_legacy_dict)

BAD_FIELDS = [
    ("accelerator", "tpu"), ("accelerator", "CPU"), ("num_workers", -1), ("num_workers", 1.5),
    ("learning_rate", 0), ("learning_rate", -1e-3), ("logger_backend", "wandb"),
    ("deterministic", "yes"), ("enable_checkpointing", 1), ("enable_progress_bar", None),
]


def test_defaults():
    config = PyTorchExecutionConfig()
    assert (config.accelerator, config.deterministic, config.num_workers, config.learning_rate,
            config.logger_backend) == ("cpu", True, 0, None, "csv")


@pytest.mark.parametrize(("field", "value"), BAD_FIELDS, ids=lambda v: repr(v))
def test_bad_field_is_a_value_error_naming_it(field, value):
    with pytest.raises(ValueError) as raised:
        PyTorchExecutionConfig(**{field: value})
    assert field in str(raised.value) and repr(value) in str(raised.value)


def test_never_written_to_params_cfg(legacy_params):
    before = dict(legacy_params)
    config = PyTorchExecutionConfig(accelerator="auto", deterministic=False, num_workers=2,
                                    learning_rate=0.5, logger_backend="none",
                                    enable_checkpointing=False)
    for bridge in (lambda: update_legacy_dict(legacy_params, config),
                   lambda: dataclass_to_legacy_dict(config)):
        with pytest.raises(TypeError, match="CONFIG-002"):
            bridge()
    assert legacy_params == before
