"""GPU variants of the integration workflow (CUDA opt-in: `harness run <cadence> --accelerator
cuda`, else deselected; on a machine without a CUDA device they skip with the reason).

The torch scenarios of scenarios.py with `ptycho-train --accelerator cuda`: train on the device,
save, then load and infer in a fresh process, through the same commands as the CPU tests. The
artifacts must be as valid as on the CPU and the reconstruction as good: every gated metric at
or above the CPU scenario's recorded baseline minus its tolerance (baselines/metrics.json)."""
import dataclasses

import pytest

from harness.verdicts import validators
from ptycho import archive

from .scenarios import SCENARIOS, assert_quality_holds, baseline_for, run_chain

pytestmark = [pytest.mark.cuda, pytest.mark.persistent_artifacts]

ACCELERATOR_OPTIONS = ("--accelerator", "cuda")
GPU_SCENARIOS = {
    name: dataclasses.replace(SCENARIOS[name], name=f"{name}-cuda",
                              train_options=SCENARIOS[name].train_options + ACCELERATOR_OPTIONS)
    for name in SCENARIOS if SCENARIOS[name].backend == "pytorch"}


@pytest.mark.parametrize("scenario", list(GPU_SCENARIOS))
def test_cuda_round_trip_matches_the_cpu_quality(scenario, simulated_dataset, artifact_dir):
    gpu, cpu = GPU_SCENARIOS[scenario], SCENARIOS[scenario]
    entry = baseline_for(cpu)   # refuse a stale baseline before spending GPU time
    result = run_chain(gpu, simulated_dataset(), artifact_dir)
    assert result.ok, f"scenario {gpu.name} failed:\n{result.describe()}"

    archive_file = result.train_dir / archive.ARCHIVE_NAME
    facts = validators.validate_model_archive(archive_file, expected_backend="pytorch")
    assert set(facts["members"]) == {"model.ckpt"}
    _, params_doc = archive.read_metadata(archive_file)
    assert params_doc["cfg"]["gridsize"] == gpu.gridsize
    validators.validate_checkpoint(result.train_dir / "checkpoints" / "last.ckpt")
    for name in ("reconstructed_amplitude.png", "reconstructed_phase.png"):
        validators.validate_png(result.infer_dir / name)
    validators.validate_log(result.train_dir / "train.log")
    validators.validate_log(result.infer_dir / "inference.log")

    assert_quality_holds(gpu.name, entry, result, baseline_label="the CPU baseline")
