"""Plain helpers of the regression suite (no pytest here, so that
benchmarks/record_metric_baselines.py can use them too): the simulated dataset cached by its
arguments, environments with capped threads for subprocesses, and running a command with its
output captured to files.

tests/suite/ is on sys.path whenever its tests run (pytest's rootdir-based imports), so test
modules import this as `suite_support`.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

REPO_ROOT = Path(__file__).resolve().parents[2]
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                    "TF_NUM_INTEROP_THREADS")

# The suite's dataset: small patches (N = 32) so that a few CLI epochs learn visibly on two
# cores. Every group builds on it; a group that needs other sizes passes its own arguments.
DEFAULT_DATASET = {"n_images": 512, "N": 32, "object_size": 128, "nphotons": 1e9, "seed": 0}


def dataset_key(arguments: dict) -> str:
    """Stable short hash of simulate_dataset's arguments (the cache file's name)."""
    text = json.dumps(arguments, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cached_dataset(cache_dir: Path, **overrides) -> Path:
    """The NPZ of ptycho.simulate.simulate_dataset(**DEFAULT_DATASET | overrides) in cache_dir,
    written once per argument set. A file lock makes concurrent callers (xdist workers) wait
    for the first writer; write_dataset itself renames a finished temp file into place."""
    arguments = {**DEFAULT_DATASET, **overrides}
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / f"simulated-{dataset_key(arguments)}.npz"
    with FileLock(str(target) + ".lock"):
        if not target.is_file():
            from ptycho.simulate import write_dataset
            write_dataset(target, **arguments)
    return target


def save_untrained_tensorflow_archive(raw, config) -> dict:
    """A real TensorFlow wts.h5.zip of freshly built, untrained networks for `config` (N,
    gridsize, n_filters_scale, nphotons, seed, output_dir), written with the package's own
    TensorFlow persistence (ptycho.model_manager) from params.cfg as the workflow sets it.
    Skips training on purpose: tracing one TensorFlow training step costs seconds, and
    persistence does not care whether the weights were trained. Leaves params.cfg bridged to
    `config`. -> {"models", "intensity_scale", "norm_factor", "archive_path"}."""
    import keras

    from ptycho import params, reference
    from ptycho.tf import model_manager
    from ptycho.config.config import update_legacy_dict
    from ptycho.raw_data import generate_grouped_data
    from ptycho.tf.model import build_models
    from ptycho.workflows.common import prepare_probe

    update_legacy_dict(params.cfg, config)
    grouped = generate_grouped_data(raw, config.n_groups, seed=config.subsample_seed)
    _, norm_factor = reference.normalize_diffraction(grouped.X)
    scale = reference.intensity_scale(config.nphotons, config.model.N)
    params.cfg["intensity_scale"] = scale
    keras.utils.set_random_seed(config.seed)
    models = build_models(prepare_probe(grouped.probe))
    path = model_manager.save_archive(models, config.output_dir, scale, norm_factor)
    return {"models": models, "intensity_scale": scale, "norm_factor": norm_factor,
            "archive_path": path}


def thread_budget() -> int:
    """Threads this process may use: what the harness (or the user) put in OMP_NUM_THREADS,
    else every core."""
    value = os.environ.get("OMP_NUM_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else (os.cpu_count() or 1)


def subprocess_env(threads: int = 1) -> dict:
    """os.environ for a child Python: `threads` per framework pool, TensorFlow's C++ start-up
    chatter off, and this checkout first on the import path (so a child imports the code
    under test even where another copy is installed)."""
    env = dict(os.environ)
    for name in THREAD_VARIABLES:
        env[name] = str(threads)
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


@dataclass
class Step:
    """One finished command: exit code, wall and CPU seconds, and where its output went."""
    name: str
    command: list[str]
    returncode: int
    seconds: float
    cpu_seconds: float
    stdout: Path
    stderr: Path

    def describe(self) -> str:
        """The command, its exit code and the tail of its stderr (for assertion messages)."""
        tail = self.stderr.read_text(errors="replace")[-2000:] if self.stderr.is_file() else ""
        return (f"{self.name}: exit {self.returncode} after {self.seconds:.1f} s "
                f"({self.cpu_seconds:.1f} CPU s)\n  command: {' '.join(self.command)}\n"
                f"  stderr (tail):\n{tail}")


def run_step(name: str, command: list[str], log_dir: Path, env: dict,
             timeout: float = 600.0) -> Step:
    """Run `command` in the repository root with stdout/stderr written to
    log_dir/<name>.stdout.txt and .stderr.txt (kept with the test's artifacts). A command
    still running after `timeout` seconds is killed (exit code -9)."""
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    stdout, stderr = log_dir / f"{name}.stdout.txt", log_dir / f"{name}.stderr.txt"
    started = time.perf_counter()
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=out, stderr=err)
        watchdog = threading.Timer(timeout, process.kill)
        watchdog.start()
        try:
            # wait4: this child's own CPU time (the process-wide RUSAGE_CHILDREN would mix in
            # other threads' children).
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            watchdog.cancel()
    process.returncode = os.waitstatus_to_exitcode(status)
    return Step(name, command, process.returncode, time.perf_counter() - started,
                usage.ru_utime + usage.ru_stime, stdout, stderr)


def python_command(*arguments: str) -> list[str]:
    """[this interpreter, *arguments]: children run the same Python as the tests."""
    return [sys.executable, *arguments]
