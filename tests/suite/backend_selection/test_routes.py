"""The dispatcher's two routes, each observed in its own fresh interpreter after a tiny real
run (see _route_probe.py): what got imported, results['backend'], load symmetry and the
cross-backend error, and the execution config steering only the runtime."""
import pytest

ROUTES = ("tensorflow", "pytorch")
OTHER = {"tensorflow": "pytorch", "pytorch": "tensorflow"}
# Frameworks a route must never import (the other backend's).
FOREIGN = {"tensorflow": {"torch", "lightning", "ptycho_torch"},
           "pytorch": {"tensorflow", "keras"}}
OWN = {"tensorflow": "tensorflow", "pytorch": "torch"}


@pytest.mark.parametrize("backend", ROUTES)
def test_route_never_imports_the_other_framework(route_observations, backend):
    seen = route_observations[backend]
    assert seen["frameworks_before"] == []
    for point in ("frameworks_after_run", "frameworks_after_load", "frameworks_at_end"):
        assert OWN[backend] in seen[point], (point, seen[point])
        assert not FOREIGN[backend] & set(seen[point]), (point, seen[point])


@pytest.mark.parametrize("backend", ROUTES)
def test_results_record_the_backend_that_ran(route_observations, backend):
    seen = route_observations[backend]
    assert seen["results_backend"] == backend
    assert seen["amplitude_shape"] == seen["phase_shape"] == [128, 128]


@pytest.mark.parametrize("backend", ROUTES)
def test_route_reloads_its_own_archive(route_observations, backend):
    """Load symmetry: what a route saved, the same route loads into models that predict
    exactly as the trained ones, with params.cfg restored from the archive (stale values
    replaced)."""
    seen = route_observations[backend]
    assert seen["loaded_models"] == ["autoencoder", "diffraction_to_obj"]
    assert seen["reload_max_abs_difference"] <= 1e-6
    restored = seen["restored_cfg_matches_archive"]
    assert restored and all(restored.values()), restored
    scale, trained_scale = seen["restored_intensity_scale"]
    assert scale == pytest.approx(trained_scale, rel=1e-12)


@pytest.mark.parametrize("backend", ROUTES)
def test_other_backends_archive_is_refused_naming_both(route_observations, backend):
    seen = route_observations[backend]
    assert seen["other_archive"], "the sibling probe wrote no archive"
    refused = seen["cross_load"]
    assert not refused["ok"] and "ArchiveError" in refused["types"], refused
    message = refused["message"]
    assert f"'{OTHER[backend]}'" in message and f"'{backend}'" in message, message
    assert seen["other_archive"] in message, message


@pytest.mark.parametrize("backend", ROUTES)
def test_execution_config_never_reaches_params_cfg(route_observations, backend):
    """After a real run params.cfg is exactly the TrainingConfig's legacy view plus the
    intensity scale. (The torch run's execution config used learning_rate 5e-4, no logger
    and no checkpointing: visible in what it wrote, absent from params.cfg.)"""
    seen = route_observations[backend]
    assert seen["cfg_after_run_differences"] == []
    if backend == "pytorch":
        assert not {"checkpoints", "lightning_logs"} & set(seen["output_entries"]), \
            seen["output_entries"]
