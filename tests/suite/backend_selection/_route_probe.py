"""The backend_selection group's observations of the dispatcher, as JSON-able dicts (the tests
judge them). Run in a fresh interpreter, it prints one JSON line. Modes:

  policy DATA WORKDIR       torch made unimportable (a meta-path finder that raises
                            ModuleNotFoundError, as for an absent install; it also records and
                            refuses any TensorFlow import, the sign of a fallback), then every
                            way of selecting the PyTorch backend: import ptycho_torch, the
                            dispatcher's run and load, get_backend, and the ptycho-train CLI.
  tensorflow DATA WORKDIR   a TensorFlow archive of freshly built networks (no training: the
                            tracing alone costs seconds), reloaded through the dispatcher's
                            TensorFlow route, then the PyTorch route's archive offered to it.

The PyTorch route (a tiny real Lightning run through the dispatcher, its archive reloaded,
then the TensorFlow archive offered to it) runs in the pytest process, which has imported
torch and Lightning already (the expensive part, ~5 CPU-s per fresh interpreter), inside
isolated_route(): the package under test re-imported from scratch and TensorFlow absent - what
a fresh interpreter with torch and Lightning but no TensorFlow would show. Both routes run so
(the TensorFlow one without torch) and record which frameworks were loaded at each point.

Only the standard library and the package under test are imported before an observation.
"""
import contextlib
import gc
import importlib.abc
import io
import json
import runpy
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # tests/suite: suite_support
FRAMEWORKS = ("torch", "lightning", "ptycho_torch", "tensorflow", "keras")
PACKAGE = ("ptycho", "ptycho_torch")
# What each route must never import: the other backend's frameworks.
FOREIGN = {"tensorflow": ("torch", "lightning"), "pytorch": ("tensorflow", "keras")}
SIBLING_WAIT_S = 300.0


def loaded_frameworks() -> list[str]:
    return sorted({name.split(".")[0] for name, module in sys.modules.items() if module}
                  & set(FRAMEWORKS))


def outcome(action) -> dict:
    """Call action(); {"ok": True, "value": ...} or the exception's type and message."""
    try:
        return {"ok": True, "value": action()}
    except BaseException as exc:  # noqa: BLE001  (SystemExit from a CLI included)
        return {"ok": False, "type": type(exc).__name__,
                "types": [cls.__name__ for cls in type(exc).__mro__], "message": str(exc)}


class ImportBlocker(importlib.abc.MetaPathFinder):
    """torch: what an environment without torch looks like to `import torch`. TensorFlow and
    Keras: a tripwire - a fallback to the TensorFlow backend would have to import them, so
    every attempt is recorded (and fails at once instead of training)."""

    def __init__(self):
        self.fallback_attempts = []

    def find_spec(self, fullname, path, target=None):
        top = fullname.split(".")[0]
        if top in ("tensorflow", "keras"):
            self.fallback_attempts.append(fullname)
        elif top != "torch":
            return None
        raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)


@contextlib.contextmanager
def isolated_route(backend: str):
    """Inside: the package under test imported afresh, and the other backend's frameworks
    absent as in an environment without them - `import` raises ModuleNotFoundError ("halted;
    None in sys.modules", naming the line that tried) while importlib.util.find_spec, which
    libraries use to look for optional packages, answers None - even in a process that had
    imported them (their modules are set aside, not unloaded). Afterwards sys.modules holds
    what it held before for the package and those frameworks."""
    def isolated(name):
        return name.split(".")[0] in PACKAGE + FOREIGN[backend]

    set_aside = {name: module for name, module in sys.modules.items() if isolated(name)}
    for name in set_aside:
        del sys.modules[name]
    sys.modules.update(dict.fromkeys(FOREIGN[backend]))
    try:
        yield
    finally:
        for name in [name for name in sys.modules if isolated(name)]:
            del sys.modules[name]
        sys.modules.update(set_aside)


def tiny_training_config(backend: str, output_dir: Path, gridsize: int = 1):
    from ptycho.config.config import ModelConfig, TrainingConfig
    return TrainingConfig(model=ModelConfig(N=32, gridsize=gridsize, n_filters_scale=0.25),
                          n_groups=16, nepochs=1, batch_size=8, output_dir=output_dir,
                          backend=backend, subsample_seed=0)


def inference_config(backend: str):
    from ptycho.config.config import InferenceConfig, ModelConfig
    return InferenceConfig(model=ModelConfig(N=32), backend=backend)


def probe_policy(data: Path, work: Path) -> dict:
    blocker = ImportBlocker()
    sys.meta_path.insert(0, blocker)
    from ptycho import params
    from ptycho.raw_data import RawData, generate_grouped_data
    from ptycho.workflows import backend_selector

    raw = RawData.from_file(data)
    observations = {"import_ptycho_torch": outcome(lambda: bool(__import__("ptycho_torch")))}
    # Stale legacy values first: the dispatcher must bridge the config before it routes.
    params.cfg.update({"N": 64, "gridsize": 1})
    config = tiny_training_config("pytorch", work / "run", gridsize=2)
    observations["run"] = outcome(
        lambda: backend_selector.run_cdi_example_with_backend(raw, raw, config)[2]["backend"])
    observations["run_archive_written"] = (work / "run" / "wts.h5.zip").exists()
    observations["legacy_view_after_run"] = {
        "N": params.cfg["N"], "gridsize": params.cfg["gridsize"],
        "grouped_X_shape": outcome(lambda: list(generate_grouped_data(raw, 4).X.shape))}
    observations["load"] = outcome(lambda: backend_selector.load_inference_bundle_with_backend(
        work / "no-such-model", inference_config("pytorch")) and "loaded")
    observations["get_backend"] = outcome(lambda: backend_selector.get_backend("pytorch").name)
    stderr = io.StringIO()
    argv = ["ptycho-train", "--backend", "pytorch", "--train-data", str(data), "--output-dir",
            str(work / "cli"), "--nepochs", "1", "--n-groups", "8", "--quiet"]
    with contextlib.redirect_stderr(stderr):
        sys.argv = argv
        observations["cli_train"] = outcome(
            lambda: runpy.run_module("ptycho.cli.train", run_name="__main__"))
    observations["cli_train"]["stderr"] = stderr.getvalue()
    observations["cli_archive_written"] = (work / "cli" / "wts.h5.zip").exists()
    observations["frameworks_at_end"] = loaded_frameworks()
    observations["tensorflow_import_attempts"] = blocker.fallback_attempts
    return observations


def wait_for_sibling(work: Path, other: str) -> Path | None:
    """The other probe's archive once it exists (archives appear by atomic rename), or None
    when that probe reported a failure or took too long."""
    archive_file = work / other / "wts.h5.zip"
    deadline = time.monotonic() + SIBLING_WAIT_S
    while time.monotonic() < deadline:
        if archive_file.exists():
            return archive_file
        if (work / f"{other}.failed").exists():
            return None
        time.sleep(0.05)
    return None


def weight_difference(model, reference) -> dict:
    """{"count": number of weight arrays, "max_abs": largest elementwise difference} between
    two networks of the same architecture (a Keras model or a torch module)."""
    import numpy as np
    if hasattr(model, "get_weights"):
        pairs = list(zip(model.get_weights(), reference.get_weights()))
    else:
        theirs = reference.state_dict()
        pairs = [(value.numpy(), theirs[key].numpy()) for key, value in model.state_dict().items()]
    return {"count": len(pairs),
            "max_abs": max(float(np.max(np.abs(a - b))) if a.shape == b.shape else float("inf")
                           for a, b in pairs)}


def pytorch_run(raw, work: Path) -> tuple[dict, dict]:
    """A tiny real training run through the dispatcher's PyTorch route, with an execution
    config whose knobs differ from TrainingConfig: visible in what gets written, never in
    params.cfg (CONFIG-002). -> (models, observations)."""
    from ptycho import params
    from ptycho.config.config import PyTorchExecutionConfig, dataclass_to_legacy_dict
    from ptycho.workflows import backend_selector

    config = tiny_training_config("pytorch", work / "pytorch")
    execution = PyTorchExecutionConfig(learning_rate=5e-4, logger_backend="none",
                                       enable_checkpointing=False)
    amplitude, phase, results = backend_selector.run_cdi_example_with_backend(
        raw, raw, config, execution_config=execution)
    expected_cfg = {**dataclass_to_legacy_dict(config), "intensity_scale": results["intensity_scale"]}
    return results["models"], {
        "results_backend": results["backend"],
        "amplitude_shape": list(amplitude.shape), "phase_shape": list(phase.shape),
        "intensity_scale": results["intensity_scale"],
        "cfg_after_run_differences": sorted(
            key for key in set(params.cfg) | set(expected_cfg)
            if params.cfg.get(key, "<absent>") != expected_cfg.get(key, "<absent>")),
        "output_entries": sorted(p.name for p in (work / "pytorch").iterdir()),
    }


def tensorflow_archive(raw, work: Path) -> tuple[dict, dict]:
    """A TensorFlow archive of freshly built networks (suite_support): the TensorFlow route is
    then exercised by loading it, which imports the same TensorFlow modules as training
    without the seconds of tracing a training step. -> (models, observations)."""
    from suite_support import save_untrained_tensorflow_archive

    saved = save_untrained_tensorflow_archive(raw, tiny_training_config("tensorflow",
                                                                        work / "tensorflow"))
    return saved["models"], {"intensity_scale": saved["intensity_scale"]}


def observe_route(backend: str, data: Path, work: Path) -> dict:
    """One route's observations, taken inside isolated_route(backend)."""
    with isolated_route(backend):
        return _observe_route(backend, data, work)


def _observe_route(backend: str, data: Path, work: Path) -> dict:
    from ptycho import params
    from ptycho.raw_data import RawData
    from ptycho.workflows import backend_selector

    other = "pytorch" if backend == "tensorflow" else "tensorflow"
    raw = RawData.from_file(data)
    observations = {"frameworks": {"before": loaded_frameworks()}}
    try:
        made, facts = (pytorch_run if backend == "pytorch" else tensorflow_archive)(raw, work)
    except BaseException:
        (work / f"{backend}.failed").write_text("could not make the archive")
        raise
    observations.update(facts)
    observations["frameworks"]["after_save"] = loaded_frameworks()
    # Load symmetry: the same route reloads its own archive into the very same networks (all
    # weights equal; comparing weights avoids tracing predictions). Stale values in params.cfg
    # beforehand must be replaced by the archive's.
    params.cfg.update({"intensity_scale": None, "gridsize": 2, "n_filters_scale": 1.0})
    models, params_doc = backend_selector.load_inference_bundle_with_backend(
        work / backend, inference_config(backend))
    observations.update({
        "loaded_models": sorted(models),
        "reload_weight_differences": {name: weight_difference(models[name], made[name])
                                      for name in ("autoencoder", "diffraction_to_obj")},
        "restored_cfg_matches_archive": {k: params.cfg[k] == v for k, v in params_doc["cfg"].items()
                                         if k != "intensity_scale"},
        "restored_intensity_scale": params.cfg["intensity_scale"],
    })
    observations["frameworks"]["after_load"] = loaded_frameworks()
    other_archive = wait_for_sibling(work, other)
    observations["other_archive"] = str(other_archive) if other_archive else None
    if other_archive is not None:
        observations["cross_load"] = outcome(
            lambda: backend_selector.load_inference_bundle_with_backend(
                other_archive, inference_config(backend)) and "loaded")
    observations["frameworks"]["at_end"] = loaded_frameworks()
    return observations


def main() -> None:
    mode, data, work = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    work.mkdir(parents=True, exist_ok=True)
    result = probe_policy(data, work) if mode == "policy" else observe_route(mode, data, work)
    sys.stdout.write("\n" + json.dumps(result) + "\n")


if __name__ == "__main__":
    # A short-lived process: no cyclic garbage collection, as in the CLIs' start-up
    # (ptycho.cli.common.run_console_script) - collecting during the framework imports and at
    # exit would double each probe's cost.
    gc.disable()
    main()
    gc.freeze()
