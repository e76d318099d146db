"""The backend literals: 'tensorflow' (the default) and 'pytorch', exactly; anything else is a
ValueError naming both, from the configs and from the dispatcher itself."""
import pytest

from ptycho.config.config import InferenceConfig, ModelConfig, TrainingConfig
from ptycho.raw_data import RawData
from ptycho.workflows import backend_selector

CONFIG_CLASSES = (TrainingConfig, InferenceConfig)
LITERALS = ("tensorflow", "pytorch")
NOT_LITERALS = ("torch", "tf", "TensorFlow", "PyTorch", " pytorch", "tensorflow ", "", None, 1)


def names_both_literals(message: str) -> bool:
    return "'tensorflow'" in message and "'pytorch'" in message


@pytest.mark.parametrize("config_class", CONFIG_CLASSES)
def test_default_backend_is_tensorflow(config_class):
    assert config_class().backend == "tensorflow"


@pytest.mark.parametrize("backend", LITERALS)
@pytest.mark.parametrize("config_class", CONFIG_CLASSES)
def test_both_literals_are_accepted(config_class, backend):
    assert config_class(backend=backend).backend == backend


@pytest.mark.parametrize("value", NOT_LITERALS, ids=repr)
@pytest.mark.parametrize("config_class", CONFIG_CLASSES)
def test_any_other_backend_is_a_value_error_naming_the_literals(config_class, value):
    with pytest.raises(ValueError) as raised:
        config_class(backend=value)
    message = str(raised.value)
    assert "backend" in message and repr(value) in message and names_both_literals(message)


@pytest.mark.parametrize("value", ("torch", "TensorFlow", None), ids=repr)
def test_dispatcher_refuses_a_backend_changed_after_validation(value, legacy_params,
                                                               simulated_dataset, tmp_path):
    """A config mutated after __post_init__ still cannot route anywhere but the two
    backends (no guessing, no default)."""
    raw = RawData.from_file(simulated_dataset())
    training = TrainingConfig(model=ModelConfig(N=32), output_dir=tmp_path / "run")
    inference = InferenceConfig(model=ModelConfig(N=32))
    training.backend = inference.backend = value
    calls = {
        "run": lambda: backend_selector.run_cdi_example_with_backend(raw, raw, training),
        "load": lambda: backend_selector.load_inference_bundle_with_backend(tmp_path, inference),
        "get_backend": lambda: backend_selector.get_backend(value),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError) as raised:
            call()
        assert names_both_literals(str(raised.value)) and repr(value) in str(raised.value), name
    assert not (tmp_path / "run").exists()
