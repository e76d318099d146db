"""Integration: train -> save -> load -> infer through ptycho-train and ptycho-infer, each step
its own process (persistence across processes is the point), for each backend and once with
gridsize 2, on the suite's simulated dataset.

The chains of the selected scenarios start together when the first test needs one and run
side by side (one thread each, as many as the thread budget allows); each test then waits for
its own. The round-trip test moves its chain's files into its artifact_dir, so the archive,
checkpoint, PNGs and logs stay in the run folder.
"""
import json

import numpy as np
import pytest

from harness.verdicts import validators
from ptycho import archive
from suite_support import thread_budget

from .scenarios import (METRICS, PARITY_BAND, PARITY_PAIR, SCENARIOS, STEP_TIMEOUT_S,
                        ChainPool, Job, assert_quality_holds, baseline_for)

# A test may wait for a whole chain (the first one waits while all of them run), so the
# per-test timeout the harness derives from the group budget does not fit: a hung step is
# killed by the chain's own watchdog (scenarios.STEP_TIMEOUT_S per step) instead.
pytestmark = [pytest.mark.persistent_artifacts,
              pytest.mark.timeout(2 * STEP_TIMEOUT_S + 60)]

SCENARIO_NAMES = list(SCENARIOS)
PNG_NAMES = ("reconstructed_amplitude.png", "reconstructed_phase.png", "truth_amplitude.png",
             "truth_phase.png")


def scenario_of(item) -> str | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("scenario") if callspec is not None else None


@pytest.fixture(scope="module")
def chains(request, simulated_dataset, tmp_path_factory):
    """finished(name) -> the scenario's ChainResult, asserted successful. Without xdist every
    scenario the selected tests use starts at once, even with more chains than cores (each
    chain is one thread: the cores are shared, and none idles while the last chain runs);
    an xdist worker (which does not know which tests it will get) starts a chain when a test
    first asks for it, as many at a time as its thread budget."""
    work = tmp_path_factory.mktemp("integration-chains")
    jobs = {name: Job(name, SCENARIOS[name], work / name) for name in SCENARIO_NAMES}
    if hasattr(request.config, "workerinput"):
        pool = ChainPool(simulated_dataset(), parallel=thread_budget())
    else:
        wanted = {scenario_of(item) for item in request.session.items
                  if item.module is request.module} - {None}
        if any(item.name.startswith("test_backends_reach_the_same_quality")
               for item in request.session.items if item.module is request.module):
            wanted |= set(PARITY_PAIR)
        pool = ChainPool(simulated_dataset(), parallel=max(thread_budget(), len(wanted)))
        pool.start(jobs[name] for name in wanted)

    def finished(name):
        # The first test to ask waits for every chain started together: their CPU time then
        # always lands in that test (the runtime budgets judge it), whatever order one core or
        # two finish them in (on one core the other chains were still running at its end).
        pool.wait()
        result = pool.result(jobs[name])
        assert result.ok, f"scenario {name} failed:\n{result.describe()}"
        return result
    yield finished
    pool.close()


@pytest.mark.parametrize("scenario", SCENARIO_NAMES)
def test_cli_round_trip_leaves_valid_artifacts(scenario, chains, artifact_dir, record_property):
    """Both processes succeed, and what they leave is valid: the archive (backend tag, params
    snapshot of this run), the torch checkpoint, both PNGs, the logs, the reconstruction."""
    spec = SCENARIOS[scenario]
    result = chains(scenario)
    result.move_to(artifact_dir)
    for step in result.steps:     # junit.xml: where the gate's time goes (benchmarks/bench_per_pr.py)
        record_property(f"{step.name}_wall_s", round(step.seconds, 3))
        record_property(f"{step.name}_cpu_s", round(step.cpu_seconds, 3))
    for step in result.steps:
        assert "Traceback" not in step.stderr.read_text(), step.describe()

    archive_file = result.train_dir / archive.ARCHIVE_NAME
    facts = validators.validate_model_archive(archive_file, expected_backend=spec.backend)
    payload = {"tensorflow": {"autoencoder.keras", "diffraction_to_obj.keras"},
               "pytorch": {"model.ckpt"}}[spec.backend]
    assert set(facts["members"]) == payload
    manifest, params_doc = archive.read_metadata(archive_file)
    assert manifest["backend"] == spec.backend
    assert (params_doc["cfg"]["gridsize"], params_doc["cfg"]["N"]) == (spec.gridsize, 32)
    assert params_doc["intensity_scale"] > 0 and params_doc["norm_factor"] > 0

    checkpoint = result.train_dir / "checkpoints" / "last.ckpt"
    if spec.backend == "pytorch":
        facts = validators.validate_checkpoint(checkpoint)
        assert {"model_config", "data_config", "training_config"} <= set(facts["hyper_parameters"])
    else:
        assert not checkpoint.exists()

    for name in PNG_NAMES:
        validators.validate_png(result.infer_dir / name, expected_size=(128, 128))
    validators.validate_log(result.train_dir / "train.log")
    validators.validate_log(result.infer_dir / "inference.log")
    with np.load(result.infer_dir / "reconstruction.npz", allow_pickle=False) as npz:
        reconstruction = npz["reconstruction"]
    assert reconstruction.shape == (128, 128) and np.iscomplexobj(reconstruction)
    assert np.isfinite(reconstruction).all() and np.abs(reconstruction).max() > 0
    assert json.loads((result.infer_dir / "metrics.json").read_text()) == result.metrics


@pytest.mark.parametrize("scenario", SCENARIO_NAMES)
def test_reconstruction_quality_meets_baseline_and_shows_learning(scenario, chains):
    """Every metric (phase r, amplitude r, phase SSIM over the truth's range) at least halfway
    from an untrained network's value to the baseline (learning happened); each gated one at
    or above the recorded baseline minus its tolerance; and the training loss went down.
    Baselines, tolerances and which metrics are gated: baselines/metrics.json."""
    entry = baseline_for(SCENARIOS[scenario])
    assert_quality_holds(scenario, entry, chains(scenario))


def test_backends_reach_the_same_quality(chains):
    """Statistical parity: TensorFlow and PyTorch, trained on the same data with the same
    settings, reconstruct equally well: per metric, their recorded baselines (medians over
    seeds and numeric variants) within PARITY_BAND, and this run's values within PARITY_BAND
    plus both tolerances (each run is one draw from its backend's spread)."""
    names = PARITY_PAIR
    entries = [baseline_for(SCENARIOS[name])["metrics"] for name in names]
    results = [chains(name).metrics for name in names]
    for metric in METRICS:
        recorded = [entry[metric]["baseline"] for entry in entries]
        assert abs(recorded[0] - recorded[1]) <= PARITY_BAND, (
            f"recorded {metric}: {names[0]} {recorded[0]:.4f} vs {names[1]} {recorded[1]:.4f} "
            f"differ by more than {PARITY_BAND}")
        band = PARITY_BAND + sum(entry[metric]["tolerance"] for entry in entries)
        measured = [result[metric] for result in results]
        assert abs(measured[0] - measured[1]) <= band, (
            f"{metric}: {names[0]} {measured[0]:.4f} vs {names[1]} {measured[1]:.4f} differ by "
            f"more than {band:.4f} ({PARITY_BAND} + both tolerances)")
