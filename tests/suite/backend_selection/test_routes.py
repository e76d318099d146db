"""The dispatcher's two routes, each observed where the other backend's framework is absent
(see _route_probe.py: a TensorFlow archive of freshly built networks in a fresh interpreter; a
tiny real PyTorch run with the package imported afresh and TensorFlow refused): what got
imported, results['backend'], load symmetry and the cross-backend error, and the execution
config steering only the runtime."""
import pytest

from ._probes import WAITS_FOR_PROBES

pytestmark = WAITS_FOR_PROBES

ROUTES = ("tensorflow", "pytorch")
OTHER = {"tensorflow": "pytorch", "pytorch": "tensorflow"}
# Frameworks a route must never import (the other backend's).
FOREIGN = {"tensorflow": {"torch", "lightning", "ptycho_torch"},
           "pytorch": {"tensorflow", "keras"}}
OWN = {"tensorflow": "tensorflow", "pytorch": "torch"}


@pytest.mark.parametrize("backend", ROUTES)
def test_route_never_imports_the_other_framework(route_observations, backend):
    """A route that imports the other framework fails while route_observations is set up
    (ModuleNotFoundError "import of ... halted" at the importing line); here: nothing of it got
    loaded either."""
    for point, loaded in route_observations[backend]["frameworks"].items():
        assert OWN[backend] in loaded or point == "before", (point, loaded)
        assert not FOREIGN[backend] & set(loaded), (point, loaded)


def test_results_record_the_backend_that_ran(route_observations):
    seen = route_observations["pytorch"]
    assert seen["results_backend"] == "pytorch"
    assert seen["amplitude_shape"] == seen["phase_shape"] == [128, 128]


@pytest.mark.parametrize("backend", ROUTES)
def test_route_reloads_its_own_archive(route_observations, backend):
    """Load symmetry: what a route saved, the same route loads into the very same networks
    (every weight equal), with params.cfg restored from the archive (stale values replaced)."""
    seen = route_observations[backend]
    assert seen["loaded_models"] == ["autoencoder", "diffraction_to_obj"]
    for name, difference in seen["reload_weight_differences"].items():
        assert difference["count"] > 0 and difference["max_abs"] == 0.0, (name, difference)
    restored = seen["restored_cfg_matches_archive"]
    assert restored and all(restored.values()), restored
    assert seen["restored_intensity_scale"] == pytest.approx(seen["intensity_scale"], rel=1e-12)


@pytest.mark.parametrize("backend", ROUTES)
def test_other_backends_archive_is_refused_naming_both(route_observations, backend):
    seen = route_observations[backend]
    assert seen["other_archive"], "the sibling probe wrote no archive"
    refused = seen["cross_load"]
    assert not refused["ok"] and "ArchiveError" in refused["types"], refused
    message = refused["message"]
    assert f"'{OTHER[backend]}'" in message and f"'{backend}'" in message, message
    assert seen["other_archive"] in message, message


def test_execution_config_never_reaches_params_cfg(route_observations):
    """After a real PyTorch run params.cfg is exactly the TrainingConfig's legacy view plus the
    intensity scale, although the run's execution config said learning_rate 5e-4, no logger
    and no checkpointing - which it obeyed (nothing of either was written)."""
    seen = route_observations["pytorch"]
    assert seen["cfg_after_run_differences"] == []
    assert not {"checkpoints", "lightning_logs"} & set(seen["output_entries"]), \
        seen["output_entries"]
