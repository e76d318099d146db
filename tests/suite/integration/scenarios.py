"""The integration scenarios (train -> save -> load -> infer through the console scripts, each
step its own process) and their metric baselines in baselines/metrics.json.

Used by the integration tests and by benchmarks/record_metric_baselines.py, so that a baseline
is always recorded with exactly the commands the test runs. A scenario's settings are stored
next to its baseline; the test refuses a baseline recorded for other settings.
"""
from __future__ import annotations

import json
import shutil
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from ptycho.fileio import atomic_output
from suite_support import (DEFAULT_DATASET, REPO_ROOT, Step, python_command, run_step,
                           subprocess_env)

BASELINE_FILE = REPO_ROOT / "baselines" / "metrics.json"
BASELINE_FORMAT = "ptycho-metric-baselines"
BASELINE_VERSION = 2
# Candidate metrics of metrics.json: they measure the reconstruction against the truth's own
# dynamic range (phase SSIM mapped from [-pi, pi] barely separates trained from untrained).
METRICS = ("phase_r", "amp_r", "phase_ssim_range")
TOLERANCE_FLOORS = {"phase_r": 0.01, "amp_r": 0.01, "phase_ssim_range": 0.01}
# The rules, stated once (the recorder applies them, docs and the handoff brief quote them).
TOLERANCE_FACTOR = 1.5
GATE_RATIO = 10.0
TOLERANCE_RULE = (f"tolerance = max(floor, {TOLERANCE_FACTOR:g} x the largest distance of any "
                  "recorded variant run (seeds, thread counts, TensorFlow oneDNN on/off) from "
                  "their median)")
GATE_RULE = (f"a metric is gated (measured >= baseline - tolerance) only when its learning gap "
             f"(baseline - untrained) is at least {GATE_RATIO:g} x its tolerance; every metric "
             "must reach untrained + half the gap (learning happened)")
# Statistical parity: TensorFlow and PyTorch trained on the same data, same settings.
PARITY_PAIR = ("tensorflow-gs1", "pytorch-gs1")
PARITY_BAND = 0.05
PARITY_RULE = (f"{PARITY_PAIR[0]} and {PARITY_PAIR[1]}: per metric, recorded baselines within "
               f"{PARITY_BAND:g}, and one run's values within {PARITY_BAND:g} + both tolerances")
RECORD_COMMAND = "python benchmarks/record_metric_baselines.py"
# An untrained network, through the very same commands: one epoch at a learning rate that
# cannot move float32 weights (Adam's step is ~lr).
UNTRAINED_OPTIONS = ("--nepochs", "1", "--learning-rate", "1e-30")
STEP_TIMEOUT_S = 300.0     # a step still running after this is killed (hang guard)


@dataclass(frozen=True)
class Variant:
    """How one chain deviates from the scenario as the test runs it: extra training options
    (later ones win with argparse), extra environment, threads per framework pool."""
    name: str = "as-tested"
    train_options: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    threads: int = 1


AS_TESTED = Variant()
UNTRAINED = Variant("untrained", UNTRAINED_OPTIONS)


def numeric_variants(scenario: "Scenario") -> list[Variant]:
    """The runs a baseline's spread is measured over: what another CPU may do to training
    (other rounding -> another trajectory, like another seed; another thread count; TensorFlow
    with its oneDNN kernels off), each alone."""
    variants = [AS_TESTED, Variant("seed-7", ("--seed", "7")), Variant("seed-123", ("--seed", "123")),
                Variant("threads-2", threads=2)]
    if scenario.backend == "tensorflow":
        variants.append(Variant("onednn-off", env=(("TF_ENABLE_ONEDNN_OPTS", "0"),)))
    return variants


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

    def train_command(self, data: Path, output_dir: Path, variant: Variant = AS_TESTED) -> list[str]:
        options = [*self.train_options, *variant.train_options]  # later occurrences win
        return python_command("-m", "ptycho.cli.train", "--backend", self.backend,
                              "--gridsize", str(self.gridsize), "--train-data", str(data),
                              "--output-dir", str(output_dir), "--quiet", *options)

    def infer_command(self, model_dir: Path, data: Path, output_dir: Path) -> list[str]:
        return python_command("-m", "ptycho.cli.infer", "--model-path", str(model_dir),
                              "--test-data", str(data), "--output-dir", str(output_dir),
                              "--quiet", *self.infer_options)


# Trained far enough to reconstruct the object visibly (gridsize 1: phase and amplitude r
# 0.89-0.96 over seeds and numeric variants; gridsize 2, which learns more slowly per second,
# ~0.8; an untrained network ~0), within the integration budget: the 3 chains run at once,
# one thread each, on 2 cores (~60 CPU-s, ~30 s wall on the 2-core CI machine type).
_TRAINING = ("--batch-size", "16", "--learning-rate", "2e-3", "--n-filters-scale", "0.25",
             "--seed", "42")
GS1_EPOCHS, GS2_EPOCHS = "36", "80"
SCENARIOS = {s.name: s for s in (
    Scenario("tensorflow-gs1", "tensorflow", 1,
             ("--n-groups", "512", "--nepochs", GS1_EPOCHS, *_TRAINING), cost=1.0),
    Scenario("pytorch-gs1", "pytorch", 1,
             ("--n-groups", "512", "--nepochs", GS1_EPOCHS, *_TRAINING), cost=1.2),
    Scenario("pytorch-gs2", "pytorch", 2,
             ("--n-groups", "128", "--nepochs", GS2_EPOCHS, *_TRAINING), ("--n-groups", "256"),
             cost=1.1),
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


def run_chain(scenario: Scenario, data: Path, root: Path, variant: Variant = AS_TESTED) -> ChainResult:
    """ptycho-train into root/train, then (if it succeeded) ptycho-infer from that folder into
    root/infer, each a fresh process with variant.threads (1 as tested: results do not depend
    on how many chains share the machine) threads per framework pool."""
    root = Path(root)
    result = ChainResult(scenario, root, root / "train", root / "infer")
    env = {**subprocess_env(threads=variant.threads), **dict(variant.env)}
    result.steps.append(run_step("train", scenario.train_command(data, result.train_dir, variant),
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
    variant: Variant = AS_TESTED


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
                                                             job.root, job.variant)

    def result(self, job: Job) -> ChainResult:
        self.start([job])
        return self.futures[job.key].result()

    def wait(self) -> None:
        """Until every started chain has ended (their outcomes are read through result())."""
        wait(self.futures.values())

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
    """The stored entry of `scenario`, checked to be recorded with its current settings:
    {"metrics": {metric: {"baseline", "tolerance", "untrained", "gated", "runs", ...}}, ...}."""
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
        stored = entry.get("metrics", {}).get(metric, {})
        for key in ("baseline", "tolerance", "untrained"):
            if isinstance(stored.get(key), bool) or not isinstance(stored.get(key), (int, float)):
                raise BaselineError(f"{path}: scenario {scenario.name!r} has no number "
                                    f"metrics.{metric}.{key} (re-record it with {RECORD_COMMAND})")
        if not isinstance(stored.get("gated"), bool):
            raise BaselineError(f"{path}: scenario {scenario.name!r}: metrics.{metric}.gated "
                                f"must be true or false (re-record it with {RECORD_COMMAND})")
    return entry


def learned_floor(stored: dict) -> float:
    """untrained + half the recorded learning gap: below it, the network did not learn."""
    return stored["untrained"] + (stored["baseline"] - stored["untrained"]) / 2


def assert_quality_holds(name: str, entry: dict, result: ChainResult,
                         baseline_label: str = "baseline") -> None:
    """Every metric clearly above an untrained network's (learning happened), each gated one
    at or above `entry`'s baseline minus its tolerance, and the training loss went down."""
    failures = []
    for metric in METRICS:
        stored, measured = entry["metrics"][metric], result.metrics[metric]
        if measured < learned_floor(stored):
            failures.append(f"{metric} {measured:.4f} is not clearly above an untrained "
                            f"network's {stored['untrained']:.4f} (needs >= "
                            f"{learned_floor(stored):.4f}: untrained + half the learning gap)")
        floor = stored["baseline"] - stored["tolerance"]
        if stored["gated"] and measured < floor:
            failures.append(f"{metric} {measured:.4f} < {baseline_label} "
                            f"{stored['baseline']:.4f} - tolerance {stored['tolerance']:.4f}")
    assert not failures, f"{name}: " + "; ".join(failures) + f" (metrics: {result.metrics})"
    losses = result.history["loss"]
    assert losses[-1] < losses[0], f"{name}: training loss did not decrease: {losses}"


def write_baselines(document: dict, path: Path = BASELINE_FILE) -> Path:
    """Human-diffable JSON (sorted keys, indent 2), written atomically."""
    path = Path(path)
    with atomic_output(path, "w") as handle:
        json.dump(document, handle, indent=2, sort_keys=True)
        handle.write("\n")
    return path
