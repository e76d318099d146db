"""The integration scenarios (train -> save -> load -> infer through the console scripts, each
step its own process) and their metric baselines in baselines/metrics.json.

Used by the integration tests and by benchmarks/record_metric_baselines.py, so that a baseline
is always recorded with exactly the commands the test runs. A scenario's settings are stored
next to its baseline; the test refuses a baseline recorded for other settings.
"""
from __future__ import annotations

import json
import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ptycho.fileio import atomic_output
from suite_support import (DEFAULT_DATASET, REPO_ROOT, Step, python_command, run_step,
                           subprocess_env)

BASELINE_FILE = REPO_ROOT / "baselines" / "metrics.json"
BASELINE_FORMAT = "ptycho-metric-baselines"
BASELINE_VERSION = 1
# Gated metrics of metrics.json. Phase SSIM is the regression gate the suite was asked for;
# phase PSNR is gated too because it separates a trained network from an untrained one far
# better on this data (gridsize 2: SSIM 0.870 vs 0.860, PSNR 29.9 vs 24.1 dB).
METRIC = "phase_ssim"
METRICS = (METRIC, "phase_psnr")
TOLERANCE_FLOORS = {"phase_ssim": 0.01, "phase_psnr": 0.5}
RECORD_COMMAND = "python benchmarks/record_metric_baselines.py"
# An untrained network, through the very same commands: one epoch at a learning rate that
# cannot move float32 weights (Adam's step is ~lr).
UNTRAINED_OPTIONS = ("--nepochs", "1", "--learning-rate", "1e-30")
STEP_TIMEOUT_S = 300.0     # a step still running after this is killed (hang guard)


@dataclass(frozen=True)
class Scenario:
    name: str
    backend: str
    gridsize: int
    train_options: tuple[str, ...]
    infer_options: tuple[str, ...] = ()
    # Relative cost, to start the longest chains first when they run side by side.
    cost: float = 1.0

    def settings(self) -> dict:
        """What a baseline depends on (stored with it, compared by the test)."""
        return {"backend": self.backend, "gridsize": self.gridsize,
                "train_options": list(self.train_options),
                "infer_options": list(self.infer_options), "dataset": dict(DEFAULT_DATASET)}

    def train_command(self, data: Path, output_dir: Path, untrained: bool = False) -> list[str]:
        options = list(self.train_options)
        if untrained:   # later occurrences win with argparse
            options += UNTRAINED_OPTIONS
        return python_command("-m", "ptycho.cli.train", "--backend", self.backend,
                              "--gridsize", str(self.gridsize), "--train-data", str(data),
                              "--output-dir", str(output_dir), "--quiet", *options)

    def infer_command(self, model_dir: Path, data: Path, output_dir: Path) -> list[str]:
        return python_command("-m", "ptycho.cli.infer", "--model-path", str(model_dir),
                              "--test-data", str(data), "--output-dir", str(output_dir),
                              "--quiet", *self.infer_options)


_TRAINING = ("--nepochs", "2", "--batch-size", "8", "--learning-rate", "2e-3",
             "--n-filters-scale", "0.25", "--seed", "42")
SCENARIOS = {s.name: s for s in (
    Scenario("tensorflow-gs1", "tensorflow", 1, ("--n-groups", "512", *_TRAINING), cost=1.4),
    Scenario("pytorch-gs1", "pytorch", 1, ("--n-groups", "512", *_TRAINING), cost=1.0),
    Scenario("pytorch-gs2", "pytorch", 2, ("--n-groups", "128", *_TRAINING),
             ("--n-groups", "256"), cost=0.8),
)}


@dataclass
class ChainResult:
    """train -> infer of one scenario: the steps that ran and the folders they wrote."""
    scenario: Scenario
    root: Path
    train_dir: Path
    infer_dir: Path
    steps: list[Step] = field(default_factory=list)
    metrics: dict | None = None     # metrics.json and history.json, read when the chain ends
    history: dict | None = None     # (the test may move the folders into its artifact_dir)

    @property
    def ok(self) -> bool:
        return len(self.steps) == 2 and all(step.returncode == 0 for step in self.steps)

    def describe(self) -> str:
        return "\n".join(step.describe() for step in self.steps)

    def move_to(self, target: Path) -> None:
        """Move everything the chain wrote into `target` (e.g. the test's artifact_dir)."""
        target = Path(target)
        for child in list(self.root.iterdir()):
            shutil.move(str(child), str(target / child.name))
        for step in self.steps:
            step.stdout, step.stderr = target / step.stdout.name, target / step.stderr.name
        self.root, self.train_dir, self.infer_dir = target, target / "train", target / "infer"


def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def run_chain(scenario: Scenario, data: Path, root: Path, untrained: bool = False) -> ChainResult:
    """ptycho-train into root/train, then (if it succeeded) ptycho-infer from that folder into
    root/infer, each a fresh process with one thread per framework pool (so results do not
    depend on how many chains share the machine)."""
    root = Path(root)
    result = ChainResult(scenario, root, root / "train", root / "infer")
    env = subprocess_env(threads=1)
    result.steps.append(run_step("train", scenario.train_command(data, result.train_dir, untrained),
                                 root, env, STEP_TIMEOUT_S))
    if result.steps[-1].returncode == 0:
        result.steps.append(run_step("infer", scenario.infer_command(result.train_dir, data,
                                                                     result.infer_dir),
                                     root, env, STEP_TIMEOUT_S))
    result.history = _read_json(result.train_dir / "history.json")
    result.metrics = _read_json(result.infer_dir / "metrics.json")
    return result


@dataclass(frozen=True)
class Job:
    """One chain to run: `key` names its result, `root` is its own folder."""
    key: object
    scenario: Scenario
    root: Path
    untrained: bool = False


class ChainPool:
    """Runs chains `parallel` at a time in threads (each chain's steps are processes).
    start(jobs) queues jobs, the costliest first; result(job) also starts a job that was not
    queued, then waits for its ChainResult."""

    def __init__(self, data: Path, parallel: int):
        self.data = data
        self.executor = ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="chain")
        self.futures: dict[object, Future] = {}

    def start(self, jobs) -> None:
        for job in sorted(jobs, key=lambda job: -job.scenario.cost):
            if job.key not in self.futures:
                self.futures[job.key] = self.executor.submit(run_chain, job.scenario, self.data,
                                                             job.root, job.untrained)

    def result(self, job: Job) -> ChainResult:
        self.start([job])
        return self.futures[job.key].result()

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


# ---- baselines ------------------------------------------------------------------------------

class BaselineError(Exception):
    """baselines/metrics.json is missing, malformed or recorded for other settings."""


def load_baselines(path: Path = BASELINE_FILE) -> dict:
    try:
        document = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise BaselineError(f"{path}: not found (record it with {RECORD_COMMAND})") from None
    except json.JSONDecodeError as exc:
        raise BaselineError(f"{path}: not valid JSON ({exc}) (re-record it with "
                            f"{RECORD_COMMAND})") from None
    if document.get("format") != BASELINE_FORMAT or document.get("version") != BASELINE_VERSION:
        raise BaselineError(f"{path}: format/version is {document.get('format')!r}/"
                            f"{document.get('version')!r}, expected {BASELINE_FORMAT!r}/"
                            f"{BASELINE_VERSION}")
    return document


def baseline_for(scenario: Scenario, path: Path = BASELINE_FILE) -> dict:
    """The stored entry of `scenario`, checked to be recorded with its current settings."""
    entry = load_baselines(path).get("scenarios", {}).get(scenario.name)
    if entry is None:
        raise BaselineError(f"{path}: no baseline for scenario {scenario.name!r} (record it "
                            f"with {RECORD_COMMAND} --scenario {scenario.name})")
    if entry.get("settings") != scenario.settings():
        raise BaselineError(f"{path}: the {scenario.name!r} baseline was recorded with settings "
                            f"{entry.get('settings')} but the scenario now runs "
                            f"{scenario.settings()} (re-record it with {RECORD_COMMAND} "
                            f"--scenario {scenario.name})")
    for metric in METRICS:
        for key in ("baseline", "tolerance", "untrained", "min_learning_gain"):
            if not isinstance(entry.get(metric, {}).get(key), (int, float)):
                raise BaselineError(f"{path}: scenario {scenario.name!r} has no number "
                                    f"{metric}.{key} (re-record it with {RECORD_COMMAND})")
    return entry


def assert_quality_holds(name: str, entry: dict, result: ChainResult,
                         baseline_label: str = "baseline") -> None:
    """Each gated metric of the chain's metrics.json at or above `entry`'s baseline minus its
    tolerance, and the training loss went down."""
    for metric in METRICS:
        stored, measured = entry[metric], result.metrics[metric]
        floor = stored["baseline"] - stored["tolerance"]
        assert measured >= floor, (
            f"{name}: {metric} {measured:.4f} < {baseline_label} {stored['baseline']:.4f} - "
            f"tolerance {stored['tolerance']:.4f} (metrics: {result.metrics})")
    losses = result.history["loss"]
    assert losses[-1] < losses[0], f"{name}: training loss did not decrease: {losses}"


def write_baselines(document: dict, path: Path = BASELINE_FILE) -> Path:
    """Human-diffable JSON (sorted keys, indent 2), written atomically."""
    path = Path(path)
    with atomic_output(path, "w") as handle:
        json.dump(document, handle, indent=2, sort_keys=True)
        handle.write("\n")
    return path
