"""CONFIG-001: the dispatcher writes the config into params.cfg (update_legacy_dict) before it
looks at config.backend, so legacy consumers (here generate_grouped_data, which reads N and
gridsize from params.cfg only) see the config's values, never stale ones."""
import pytest

from ptycho.config.config import InferenceConfig, ModelConfig, TrainingConfig
from ptycho.errors import DataError
from ptycho.raw_data import RawData, generate_grouped_data
from ptycho.workflows import backend_selector

from ._probes import WAITS_FOR_PROBES

STALE = {"N": 64, "gridsize": 1, "n_filters_scale": 1.0}


def make_config(kind):
    """A gridsize-2, N=32 config whose backend only the dispatcher will reject."""
    model = ModelConfig(N=32, gridsize=2, n_filters_scale=0.25)
    config = TrainingConfig(model=model) if kind == "run" else InferenceConfig(model=model)
    config.backend = "not-a-backend"
    return config


@pytest.mark.parametrize("entry_point", ("run", "load"))
def test_dispatcher_bridges_before_it_routes(entry_point, legacy_params, simulated_dataset,
                                             tmp_path):
    raw = RawData.from_file(simulated_dataset())
    legacy_params.update(STALE)
    with pytest.raises(DataError):           # the hazard: stale N makes the consumer fail
        generate_grouped_data(raw, 4)
    config = make_config(entry_point)
    with pytest.raises(ValueError, match="backend must be"):
        if entry_point == "run":
            backend_selector.run_cdi_example_with_backend(raw, raw, config)
        else:
            backend_selector.load_inference_bundle_with_backend(tmp_path, config)
    assert (legacy_params["N"], legacy_params["gridsize"], legacy_params["n_filters_scale"]) == \
        (32, 2, 0.25)
    assert generate_grouped_data(raw, 4).X.shape == (4, 32, 32, 4)


@WAITS_FOR_PROBES
def test_pytorch_selection_bridges_before_it_fails_without_torch(policy_observations):
    """The real PyTorch route (torch unimportable, see test_policy_001): params.cfg was stale
    (N 64, gridsize 1) and holds the config's N 32 / gridsize 2 once the route has failed."""
    view = policy_observations["legacy_view_after_run"]
    assert (view["N"], view["gridsize"]) == (32, 2)
    assert view["grouped_X_shape"] == {"ok": True, "value": [4, 32, 32, 4]}
