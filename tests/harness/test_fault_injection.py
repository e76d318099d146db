"""Fault injection: bad input of every kind the package and the harness read, plus hard faults of
harness runs.

1. The fault table (`FAULTS`, one parametrized test, ids = the fault kinds): a bad NPZ, CLI
   configuration, selectors TOML, runtime baseline JSON, model archive or checkpoint is written
   into a throw-away project, the command that meets it runs as a subprocess, and it must answer
   with its documented exit code and exactly one stderr line (`error: ...`; `invalid: ...` for a
   failed `harness check-ckpt`), no traceback, naming the file and the offending key or field.
   Nothing it leaves behind may look complete: no model archive, PNG, metrics.json,
   history.json, reconstruction.npz or temp file, and a harness run folder only with a
   report.json that says 'error'. With FAULT_TABLE_OUT=PATH the cases that ran are written to
   PATH as a Markdown table (docs/fault_injection.md; normal runs write nothing):
       FAULT_TABLE_OUT=docs/fault_injection.md python -m pytest \\
           tests/harness/test_fault_injection.py -p no:cacheprovider -q
2. Resilience (the `project` fixture of tests/harness/conftest.py, real `python -m harness run`):
   four runs at once on one artifacts folder; a run SIGKILLed mid-way. Already covered elsewhere
   and referenced here, not repeated (see `RESILIENCE`): the hung test stopped by its timeout
   (tests/harness/test_budget_plugin.py) and the crashed xdist worker
   (tests/harness/test_harness_cli.py).
"""
from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from filelock import FileLock

from harness.records import baselines
from harness.measure import environment
from harness.records import ledger
from harness.records import runfolder
from ptycho import archive, limits
from ptycho.simulate import simulate_dataset
from waiting import wait_for

# ---------------------------------------------------------------------------------------------
# Bad inputs. Each `make` writes into the project root (the command's working folder).

N = 32
N_IMAGES = 16
BASELINE_FINGERPRINT = {"cpu_model": "fault-injection cpu", "cpu_count": 2}
BASELINE_FILE = f"{environment.fingerprint_hash(BASELINE_FINGERPRINT)}.json"
# Active budgets (and so baselines) in a harness run need selectors/budgets.toml.
BUDGETS = "[defaults]\nconfirm_reruns = 0\n"


@lru_cache(maxsize=1)
def _scan() -> dict:
    return simulate_dataset(n_images=N_IMAGES, N=N, object_size=64, seed=0).to_arrays()


def _npz(root: Path, name: str = "scan.npz", **changes) -> Path:
    """A small valid scan with `changes` applied (None drops a key)."""
    arrays = dict(_scan())
    for key, value in changes.items():
        if value is None:
            arrays.pop(key)
        else:
            arrays[key] = value
    np.savez(root / name, **arrays)
    return root / name


def npz_truncated(root):
    path = _npz(root, "truncated.npz")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def npz_missing_diffraction(root):
    _npz(root, "no_diffraction.npz", diff3d=None)


def npz_nan(root):
    diffraction = _scan()["diff3d"].copy()
    diffraction[3, 5, 5] = np.nan
    _npz(root, "nan.npz", diff3d=diffraction)


def npz_negative(root):
    diffraction = _scan()["diff3d"].copy()
    diffraction[0, 0, 0] = -1.0
    _npz(root, "negative.npz", diff3d=diffraction)


def npz_count_mismatch(root):
    _npz(root, "count_mismatch.npz", diff3d=_scan()["diff3d"][:12])


def npz_probe_shape(root):
    _npz(root, "probe_shape.npz", probeGuess=_scan()["probeGuess"][:16, :16])


def npz_pickled(root):
    _npz(root, "pickled.npz", xcoords=np.array(list(_scan()["xcoords"]), dtype=object))


def npz_forged_huge_header(root):
    """A few hundred bytes whose .npy header declares a (40, 2**20, 2**20) float32 diff3d."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False,
                                                  "shape": (40, 2 ** 20, 2 ** 20)})
    with zipfile.ZipFile(root / "huge.npz", "w") as archive:
        archive.writestr("diff3d.npy", header.getvalue() + bytes(64))


def npz_text_file(root):
    (root / "notes.npz").write_text("xcoords,ycoords\n1,2\n")


def npz_complex_coords(root):
    _npz(root, "complex_coords.npz", xcoords=_scan()["xcoords"] + 1e-3j)


def npz_far_positions(root):
    """Test data without objectGuess whose positions ask for a canvas of ~1e9 pixels a side."""
    _npz(root, "far.npz", objectGuess=None, xcoords=_scan()["xcoords"] * 0 + 1e9)
    scan(root)


def scan(root):
    _npz(root)


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def toml_syntax(root):
    _edit(root / "selectors/groups.toml", 'owner = "dispatcher"', 'owner = "dispatcher')


def toml_unknown_key(root):
    _edit(root / "selectors/groups.toml", 'marker = "parity"',
          'marker = "parity"\nmarkers = ["slow"]')


def toml_unknown_cadence(root):
    _edit(root / "selectors/groups.toml", 'cadences = ["nightly", "weekly"]',
          'cadences = ["nightly", "hourly"]')


def toml_budget_value(root):
    (root / "selectors/budgets.toml").write_text(BUDGETS + '[groups.integration]\nmax_s = "fast"\n')


def _baseline(root: Path) -> Path:
    """A valid recorded baseline (harness.records.baselines' own writer) plus what a run needs."""
    (root / "selectors/budgets.toml").write_text(BUDGETS)
    (root / "tests/suite/integration").mkdir(parents=True, exist_ok=True)
    (root / "tests/suite/integration/test_ok.py").write_text("def test_ok():\n    pass\n")
    recorded = baselines.record([{"group": {"integration": 0.2}}], "per_pr", BASELINE_FINGERPRINT,
                                calibrations=[0.05])
    path = baselines.write(root / "baselines", recorded)
    assert path.name == BASELINE_FILE
    return path


def baseline_truncated(root):
    path = _baseline(root)
    path.write_bytes(path.read_bytes()[:200])


def _edit_baseline(root: Path, change: Callable[[dict], None]) -> None:
    path = _baseline(root)
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document, indent=2))


def baseline_wrong_format(root):
    _edit_baseline(root, lambda d: d.update(format="ptycho-baseline-v0"))


def baseline_missing_field(root):
    _edit_baseline(root, lambda d: d["groups"]["integration"].pop("wall"))


def baseline_misnamed(root):
    path = _baseline(root)
    path.rename(path.with_name("0123456789ab.json"))


def _write_archive(root: Path, backend: str = "tensorflow", payload: dict | None = None,
                   extra: dict | None = None, drop: tuple = (), replace: dict | None = None):
    """model/wts.h5.zip in the archive format (ptycho.archive constants) with a stand-in
    payload: every check before the payload is loaded sees a well-formed archive."""
    if payload is None:
        payload = ({"model.ckpt": b"weights"} if backend == "pytorch" else
                   {"autoencoder.keras": b"weights", "diffraction_to_obj.keras": b"weights"})
    manifest = {"format": archive.FORMAT, "version": archive.VERSION, "backend": backend,
                "models": list(archive.MODEL_NAMES), "members": list(payload),
                "created_utc": "2026-01-01T00:00:00Z", "package_version": "fault-injection"}
    params_doc = {"cfg": {"N": N, "gridsize": 1}, "intensity_scale": 1.0, "norm_factor": 1.0}
    entries = {archive.MANIFEST: json.dumps(manifest).encode(),
               archive.PARAMS: json.dumps(params_doc).encode(), **payload, **(extra or {})}
    entries.update(replace or {})
    for name in drop:
        entries.pop(name)
    (root / "model").mkdir()
    with zipfile.ZipFile(root / "model" / archive.ARCHIVE_NAME, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    scan(root)


def archive_not_zip(root):
    (root / "model").mkdir()
    (root / "model" / archive.ARCHIVE_NAME).write_text("weights, honestly\n")
    scan(root)


def archive_manifest_missing(root):
    _write_archive(root, drop=(archive.MANIFEST,))


def archive_manifest_invalid(root):
    _write_archive(root, replace={archive.MANIFEST: b'{"format": "ptycho-model-archive",'})


def archive_member_escape(root):
    _write_archive(root, extra={"../evil.py": b"print('owned')\n"})


def archive_backend_mismatch(root):
    _write_archive(root, backend="tensorflow")


def archive_payload_corrupt(root):
    _write_archive(root, payload={"autoencoder.keras": b"not a keras file",
                                  "diffraction_to_obj.keras": b"not a keras file"})


_KERAS_SCRIPT = """
import sys, keras
model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
model.save(sys.argv[1])
"""


@lru_cache(maxsize=1)
def _other_keras_model() -> bytes:
    """A loadable .keras file of another architecture (written by a subprocess: TensorFlow
    stays out of this process)."""
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "other.keras"
        subprocess.run([sys.executable, "-c", _KERAS_SCRIPT, str(target)], check=True,
                       timeout=180, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        return target.read_bytes()


def archive_other_architecture(root):
    _write_archive(root, payload={"autoencoder.keras": _other_keras_model(),
                                  "diffraction_to_obj.keras": _other_keras_model()})


# Written by a subprocess: torch imported into this process would not survive pytester's
# sys.modules restore between tests (a second import of its C extension fails).
_CHECKPOINT_SCRIPT = """
import argparse, sys, torch
from pathlib import Path
folder = Path(sys.argv[1])
state = {"layer.weight": torch.zeros(4, 2), "layer.bias": torch.zeros(4)}
torch.save({"state_dict": state, "hyper_parameters": {"width": 4}}, folder / "good.ckpt")
torch.save({"state_dict": state}, folder / "no_hparams.ckpt")
# a pickled object among the hyper-parameters, as Lightning saves an argparse.Namespace
torch.save({"state_dict": state, "hyper_parameters": {"args": argparse.Namespace(lr=0.1)}},
           folder / "pickled.ckpt")
"""


@lru_cache(maxsize=1)
def _checkpoints() -> dict[str, bytes]:
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run([sys.executable, "-c", _CHECKPOINT_SCRIPT, folder], check=True, timeout=120)
        return {path.name: path.read_bytes() for path in Path(folder).iterdir()}


def ckpt_directory(root):
    (root / "checkpoints").mkdir()


def harness_root_file(root):
    (root / "notes.txt").write_text("not a folder\n")


def report_json_malformed(root):
    """A finished run folder whose report.json lost its keys (edited by hand, say)."""
    run = root / "artifacts" / "20260101T000000Z-per_pr"
    run.mkdir(parents=True)
    (run / "report.json").write_text(json.dumps({"status": "passed", "cadence": "per_pr",
                                                 "groups": "not a list"}))


def nothing(root):
    """The fault is in the command line alone."""


def ckpt_truncated(root):
    data = _checkpoints()["good.ckpt"]
    (root / "truncated.ckpt").write_bytes(data[: len(data) // 2])


def ckpt_no_hparams(root):
    (root / "no_hparams.ckpt").write_bytes(_checkpoints()["no_hparams.ckpt"])


def ckpt_pickled(root):
    (root / "pickled.ckpt").write_bytes(_checkpoints()["pickled.ckpt"])


def ckpt_pickled_in_archive(root):
    _write_archive(root, backend="pytorch", payload={"model.ckpt": _checkpoints()["pickled.ckpt"]})


# ---------------------------------------------------------------------------------------------
# The table.

@dataclass(frozen=True)
class Fault:
    kind: str
    component: str                # npz | config | selectors | baselines | archive | checkpoint
    make: Callable[[Path], None]  # writes the bad input into the project root
    command: tuple[str, ...]      # program (see PROGRAMS) and arguments, run in the project root
    exit_code: int
    fragments: tuple[str, ...]    # all in the one stderr line: file name, key/field, what
    prefix: str = "error: "


PROGRAMS = {"ptycho-train": ("-m", "ptycho.cli.train"), "ptycho-infer": ("-m", "ptycho.cli.infer"),
            "ptycho-simulate": ("-m", "ptycho.cli.simulate"),
            "harness": ("-m", "harness")}
TRAIN = ("ptycho-train", "--output-dir", "out", "--train-data")
INFER = ("ptycho-infer", "--model-path", "model", "--test-data", "scan.npz", "--output-dir", "out")
TRAIN_SCAN = (*TRAIN, "scan.npz")

FAULTS = [
    Fault("npz_truncated", "npz", npz_truncated, (*TRAIN, "truncated.npz"), 2,
          ("truncated.npz", "cannot be read as NPZ", "truncated or corrupt")),
    Fault("npz_missing_diffraction", "npz", npz_missing_diffraction,
          (*TRAIN, "no_diffraction.npz"), 2,
          ("no_diffraction.npz", "missing key(s) 'diff3d'")),
    Fault("npz_nan_in_diffraction", "npz", npz_nan, (*TRAIN, "nan.npz"), 2,
          ("nan.npz", "'diff3d' contains NaN")),
    Fault("npz_negative_amplitudes", "npz", npz_negative, (*TRAIN, "negative.npz"), 2,
          ("negative.npz", "'diff3d' has negative values")),
    Fault("npz_coords_pattern_count_mismatch", "npz", npz_count_mismatch,
          (*TRAIN, "count_mismatch.npz"), 2,
          ("count_mismatch.npz", "'diff3d' shape (12, 32, 32)", f"{N_IMAGES} scan positions")),
    Fault("npz_probe_shape_mismatch", "npz", npz_probe_shape, (*TRAIN, "probe_shape.npz"), 2,
          ("probe_shape.npz", "'probeGuess' shape (16, 16)", "(32, 32)")),
    Fault("npz_pickled_object_array", "npz", npz_pickled, (*TRAIN, "pickled.npz"), 2,
          ("pickled.npz", "key 'xcoords' cannot be read", "allow_pickle=False")),
    Fault("npz_forged_huge_header", "npz", npz_forged_huge_header, (*TRAIN, "huge.npz"), 2,
          ("huge.npz", "key 'diff3d' declares shape (40, 1048576, 1048576)", "refused before "
           "reading")),
    Fault("npz_text_file", "npz", npz_text_file, (*TRAIN, "notes.npz"), 2,
          ("notes.npz", "is not an NPZ file", "b'xcoord'")),
    Fault("npz_complex_coordinates", "npz", npz_complex_coords, (*TRAIN, "complex_coords.npz"), 2,
          ("complex_coords.npz", "'xcoords' is complex", "np.real")),
    Fault("npz_test_data_far_positions", "npz", npz_far_positions,
          (*TRAIN_SCAN, "--test-data", "far.npz"), 2,
          ("far.npz", "stitching canvas of", "over the 8 GiB size policy", "PTYCHO_MAX_ARRAY_GB")),
    Fault("config_network_too_wide", "config", scan, (*TRAIN_SCAN, "--n-filters-scale", "1e6"), 2,
          ("n_filters_scale 1e+06 is over the size policy's 8", "PTYCHO_MAX_N_FILTERS_SCALE")),
    Fault("config_simulate_too_many_positions", "config", nothing,
          ("ptycho-simulate", "--output", "out/scan.npz", "--n-images", "100000000000"), 2,
          ("simulate", "100000000000 scan positions", "size policy", "PTYCHO_MAX_ARRAY_GB")),
    Fault("config_nepochs_zero", "config", scan, (*TRAIN_SCAN, "--nepochs", "0"), 2,
          ("--nepochs", "expected an integer >= 1, got 0")),
    Fault("config_seed_beyond_32_bits", "config", scan, (*TRAIN_SCAN, "--seed", str(2 ** 64)), 2,
          ("TrainingConfig", "seed must be an integer in 0..4294967295")),
    Fault("config_gridsize_3", "config", scan, (*TRAIN_SCAN, "--gridsize", "3"), 2,
          ("--gridsize", "invalid choice: 3")),
    Fault("config_batch_size_not_a_number", "config", scan, (*TRAIN_SCAN, "--batch-size", "x"), 2,
          ("--batch-size", "expected an integer, got 'x'")),
    Fault("config_torch_bad_accelerator", "config", scan,
          (*TRAIN_SCAN, "--backend", "pytorch", "--accelerator", "tpu"), 2,
          ("--accelerator", "invalid choice: 'tpu'")),
    Fault("config_torch_negative_num_workers", "config", scan,
          (*TRAIN_SCAN, "--backend", "pytorch", "--num-workers", "-1"), 2,
          ("PyTorchExecutionConfig", "num_workers must be an integer >= 0, got -1")),
    Fault("selectors_toml_syntax_error", "selectors", toml_syntax,
          ("harness", "list", "--no-collect"), 2,
          ("selectors/groups.toml", "not valid TOML", "line")),
    Fault("selectors_unknown_key", "selectors", toml_unknown_key, ("harness", "run", "nightly"), 2,
          ("selectors/groups.toml", "groups.parity.markers: unknown key")),
    Fault("selectors_group_unknown_cadence", "selectors", toml_unknown_cadence,
          ("harness", "history"), 2,
          ("selectors/groups.toml", "groups.parity.cadences", "unknown cadence 'hourly'")),
    Fault("selectors_budget_not_a_number", "selectors", toml_budget_value,
          ("harness", "run", "per_pr"), 2,
          ("selectors/budgets.toml", "groups.integration.max_s", "positive number", "'fast'")),
    Fault("baselines_truncated_json", "baselines", baseline_truncated,
          ("harness", "baseline", "show"), 2,
          (BASELINE_FILE, "not valid JSON")),
    Fault("baselines_wrong_format_tag", "baselines", baseline_wrong_format,
          ("harness", "baseline", "show"), 2,
          (BASELINE_FILE, "format: must be 'harness-runtime-baseline'",
           "'ptycho-baseline-v0'")),
    Fault("baselines_missing_field", "baselines", baseline_missing_field,
          ("harness", "run", "per_pr"), 2,
          (BASELINE_FILE, "groups.integration.wall: missing table")),
    Fault("baselines_file_name_not_its_hash", "baselines", baseline_misnamed,
          ("harness", "baseline", "show"), 2,
          ("0123456789ab.json", "fingerprint_hash", f"file name should be {BASELINE_FILE}")),
    Fault("archive_not_a_zip", "archive", archive_not_zip, INFER, 2,
          ("model/wts.h5.zip", "not a readable zip archive")),
    Fault("archive_manifest_missing", "archive", archive_manifest_missing, INFER, 2,
          ("model/wts.h5.zip", "manifest.json is missing")),
    Fault("archive_manifest_invalid_json", "archive", archive_manifest_invalid, INFER, 2,
          ("model/wts.h5.zip", "manifest.json is not valid JSON")),
    Fault("archive_member_escapes_folder", "archive", archive_member_escape, INFER, 2,
          ("model/wts.h5.zip",
           "member '../evil.py' would be written outside the extraction folder")),
    Fault("archive_backend_tag_mismatch", "archive", archive_backend_mismatch,
          (*INFER, "--backend", "pytorch"), 2,
          ("model/wts.h5.zip", "'tensorflow' backend but --backend pytorch")),
    Fault("archive_keras_payload_corrupt", "archive", archive_payload_corrupt, INFER, 2,
          ("model/wts.h5.zip: autoencoder.keras", "cannot be loaded as a Keras model")),
    Fault("ckpt_is_a_directory", "checkpoint", ckpt_directory,
          ("harness", "check-ckpt", "checkpoints"), 2,
          ("checkpoints", "is a directory, not a checkpoint", "give the path of a .ckpt file")),
    Fault("harness_negative_workers", "selectors", nothing, ("harness", "run", "per_pr", "-n", "-1"),
          2, ("-n/--workers", "expected a number of workers >= 1 or 'auto', got '-1'")),
    Fault("harness_artifacts_is_a_file", "selectors", harness_root_file,
          ("harness", "run", "per_pr", "--harness-artifacts", "notes.txt"), 2,
          ("--harness-artifacts", "notes.txt is a file, not a folder")),
    Fault("harness_history_artifacts_is_a_file", "selectors", harness_root_file,
          ("harness", "history", "--harness-artifacts", "notes.txt"), 2,
          ("--harness-artifacts", "notes.txt is a file, not a folder")),
    Fault("harness_report_json_malformed", "selectors", report_json_malformed,
          ("harness", "report", "--format", "markdown"), 2,
          ("20260101T000000Z-per_pr/report.json: malformed", "re-run the cadence")),
    Fault("archive_keras_model_of_another_architecture", "archive", archive_other_architecture,
          INFER, 2, ("model/wts.h5.zip: autoencoder.keras", "holds a Keras model 'sequential'",
                     "not this package's 'autoencoder'")),
    Fault("ckpt_truncated", "checkpoint", ckpt_truncated,
          ("harness", "check-ckpt", "truncated.ckpt"), 3,
          ("truncated.ckpt: loads", "torch.load(weights_only=True) failed"), prefix="invalid: "),
    Fault("ckpt_without_hyper_parameters", "checkpoint", ckpt_no_hparams,
          ("harness", "check-ckpt", "no_hparams.ckpt"), 3,
          ("no_hparams.ckpt: structure", "no 'hyper_parameters' key"), prefix="invalid: "),
    Fault("ckpt_pickled_object", "checkpoint", ckpt_pickled,
          ("harness", "check-ckpt", "pickled.ckpt"), 3,
          ("pickled.ckpt: loads", "pickled argparse.Namespace", "safe loading refuses"),
          prefix="invalid: "),
    Fault("ckpt_pickled_object_in_archive", "checkpoint", ckpt_pickled_in_archive, INFER, 2,
          ("model/wts.h5.zip: model.ckpt", "safe loading refuses", "argparse.Namespace")),
]

_LIMIT_SUBJECTS = {
    limits.ARRAY.name: "one array: an NPZ member's declared size (also checked against the "
                       "bytes it holds), the simulator's exit waves, the stitching canvas",
    limits.ARCHIVE.name: "bytes extracted from a model archive (declared, then counted)",
    limits.FILTERS_SCALE.name: "`n_filters_scale` of a config or a checkpoint's "
                               "hyper_parameters",
}

# Outputs that only a successful command may leave.
COMPLETE_LOOKING = {archive.ARCHIVE_NAME, "metrics.json", "history.json", "reconstruction.npz"}


def _files(root: Path) -> set[Path]:
    """Files under root, without byte code and the dot-folders of $HOME (pytester points HOME
    at the project: Keras writes its ~/.keras/keras.json there)."""
    return {p.relative_to(root) for p in root.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
            and not p.relative_to(root).parts[0] in (".keras", ".cache", ".config")}


def _leftover_problems(root: Path, new_files: set[Path], old_runs=frozenset()) -> list[str]:
    """What the failed command left that could pass for a complete output (run folders in
    `old_runs` were there before it ran)."""
    problems = []
    runs = [run for run in runfolder.list_runs(root / "artifacts") if run not in old_runs]
    for run in runs:
        report = runfolder.read_report(run)
        if not report or report.get("status") != "error" or report.get("exit_code") != 2:
            problems.append(f"{run.name}: run folder of a failed command whose report.json says "
                            f"{report and report.get('status')!r}, not 'error'")
    entries, torn = ledger.read(root / "artifacts" / runfolder.LEDGER)
    problems += [f"ledger.jsonl: line {p.line} {p.message}" for p in torn]
    problems += [f"ledger.jsonl: {e['run_id']} recorded as {e.get('status')!r}"
                 for e in entries if e.get("status") != "error"]
    for relative in sorted(new_files):
        name = relative.name
        if name.startswith(".") and ".tmp" in name or any(".archive-staging-" in part
                                                           for part in relative.parts):
            problems.append(f"{relative}: temp file left behind")
        elif name in COMPLETE_LOOKING or name.endswith(".png"):
            problems.append(f"{relative}: looks like the output of a successful run")
        elif not (relative.suffix == ".log"  # a log of the failure is fine
                  or any(run in (root / relative).parents for run in runs)  # checked above
                  or name in (runfolder.LEDGER, runfolder.LEDGER + ".lock")):
            problems.append(f"{relative}: unexpected output")
    return problems


def _argv(command: tuple[str, ...]) -> list[str]:
    return [sys.executable, *PROGRAMS[command[0]], *command[1:]]


def _markdown_cell(text: str) -> str:
    text = text.replace("|", "\\|")
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _write_table(path: Path, rows: dict) -> None:
    order = {case.kind: index for index, case in enumerate(FAULTS)}
    lines = [
        "# Fault injection",
        "",
        "Generated by `tests/harness/test_fault_injection.py` (do not edit by hand):",
        "",
        "    FAULT_TABLE_OUT=docs/fault_injection.md python -m pytest \\",
        "        tests/harness/test_fault_injection.py -p no:cacheprovider -q",
        "",
        "Each bad input is written into a throw-away project; the command runs there as a "
        "subprocess and must exit with the code shown and print exactly one stderr line (no "
        "traceback) naming the file and the offending key. Nothing it leaves may look complete "
        "(no wts.h5.zip, PNG, metrics.json, history.json, reconstruction.npz or temp file; a "
        "harness run folder only with report.json status 'error'). `ptycho-train`/`ptycho-infer` "
        "run as `python -m ptycho.cli.train|infer`, `harness` as `python -m harness`; "
        "`harness check-ckpt` reports a failed check as `invalid: ...` with exit 3.",
        "",
        f"{len(rows)} of {len(FAULTS)} cases, "
        f"{len({row['component'] for row in rows.values()})} components.",
        "",
        "| kind | component | command | exit code | error line |",
        "|---|---|---|---|---|",
    ]
    for kind in sorted(rows, key=lambda k: order.get(k, len(order))):
        row = rows[kind]
        mark = "" if row["ok"] else " (unexpected)"
        lines.append(f"| `{kind}` | {row['component']} | {_markdown_cell(row['command'])} | "
                     f"{row['exit_code']}{mark} | {_markdown_cell(row['error_line'])} |")
    lines += ["", "## Resilience", "", "| fault | guarded by | asserts |", "|---|---|---|"]
    lines += [f"| {fault} | `{test}` | {asserts} |" for fault, test, asserts in RESILIENCE]
    lines += ["", "## Size policy (`ptycho/limits.py`)", "",
              "What an input may make the package allocate is checked against these limits "
              "before allocating; over a limit, the command answers with one line naming the "
              "input, the size, and the flag and variable that override the limit (exit 2). A failed "
              "`ptycho-train` / `ptycho-infer` removes every file it wrote (its output folder "
              "too when it made it).", "",
              "| limit | default | override (CLI flag, environment) | why |", "|---|---|---|---|"]
    lines += [f"| {_LIMIT_SUBJECTS[limit.name]} | {limit.describe()} | `{limit.flag}`, "
              f"`{limit.name}` | {limit.reason} |" for limit in limits.POLICY]
    path.parent.mkdir(parents=True, exist_ok=True)
    runfolder.write_atomic(path, "\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def fault_table():
    """Rows of the cases that ran (kind -> row); written as Markdown to $FAULT_TABLE_OUT at the
    end. Under xdist every worker merges its rows into one file per test run (keyed by the
    run's uid, under a lock) and rewrites the table from all rows seen so far."""
    rows: dict[str, dict] = {}
    yield rows
    target = os.environ.get("FAULT_TABLE_OUT")
    if not target or not rows:
        return
    uid = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if not uid:
        _write_table(Path(target), rows)
        return
    shared = Path(tempfile.gettempdir()) / f"fault-table-{uid}.json"
    with FileLock(str(shared) + ".lock", timeout=60):
        merged = json.loads(shared.read_text()) if shared.exists() else {}
        merged.update(rows)
        shared.write_text(json.dumps(merged))
        _write_table(Path(target), merged)


@pytest.mark.parametrize("case", FAULTS, ids=[case.kind for case in FAULTS])
def test_bad_input_gets_one_clear_error_and_no_complete_looking_output(case, project, fault_table):
    case.make(project.path)
    before = _files(project.path)
    old_runs = set(runfolder.list_runs(project.path / "artifacts"))
    done = subprocess.run(_argv(case.command), cwd=project.path, capture_output=True, text=True,
                          timeout=180)
    lines = done.stderr.strip().splitlines()
    shown = " ".join(lines).replace(f"{project.path}/", "")
    fragments_ok = len(lines) == 1 and all(f in lines[0] for f in case.fragments)
    fault_table[case.kind] = {
        "component": case.component, "command": " ".join(case.command),
        "exit_code": done.returncode, "error_line": shown,
        "ok": done.returncode == case.exit_code and fragments_ok}

    assert done.returncode == case.exit_code, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert len(lines) == 1, f"expected one stderr line, got:\n{done.stderr}"
    assert lines[0].startswith(case.prefix), lines[0]
    for fragment in case.fragments:
        assert fragment in lines[0], f"{fragment!r} not in: {lines[0]}"
    assert _leftover_problems(project.path, _files(project.path) - before, old_runs) == []
    # a command that failed leaves no output folder, not even one it made before the error
    assert not (project.path / "out").exists(), "the failed command left its output folder"


def test_the_table_spans_every_component_with_at_least_15_kinds():
    assert len(FAULTS) >= 15 and len({case.kind for case in FAULTS}) == len(FAULTS)
    assert {case.component for case in FAULTS} == {
        "npz", "config", "selectors", "baselines", "archive", "checkpoint"}


# ---------------------------------------------------------------------------------------------
# Resilience: hard faults of harness runs.

HERE = "tests/harness/test_fault_injection.py::"
RESILIENCE = [
    ("four harness runs at once on one artifacts folder",
     HERE + "test_four_runs_at_once_get_four_complete_folders_and_ledger_lines",
     "all four overlap (a barrier in the test), exit 0; four distinct run folders, report.json "
     "'passed' (not 'running'), report.md, junit.xml, no temp files; ledger.jsonl: four lines, "
     "every one valid JSON, one per folder"),
    ("a run killed with SIGKILL mid-way (CLI and pytest process groups)",
     HERE + "test_a_run_killed_mid_way_stays_incomplete_and_the_next_run_is_fine",
     "report.json stays 'running' (runfolder.is_complete false), no ledger line, `harness report` "
     "refuses it (exit 2, 'still running or crashed'), `harness validate` fails it (exit 3), "
     "`harness prune` keeps it as incomplete; the next run exits 0 and its ledger line is the only "
     "one, every line valid, `harness history` clean"),
    ("a hung test",
     "tests/harness/test_budget_plugin.py::"
     "test_a_hanging_test_fails_by_timeout_with_a_budget_verdict_and_its_log",
     "stopped by pytest-timeout, run exit 1, report.json timeout verdict naming the test and its "
     "log, escalated to the owner"),
    ("an xdist worker crash (os._exit under -n 2)",
     "tests/harness/test_harness_cli.py::test_crashed_worker_is_reported",
     "run completes with exit 1; the test is a failure with crashed=True and its group; "
     "crashed_workers set; the other tests still ran and passed"),
    ("a run stopped by SIGTERM",
     "tests/harness/test_harness_cli.py::test_sigterm_mid_run_writes_an_interrupted_report",
     "exit 130, report.json 'interrupted', finished tests kept, ledger line 'interrupted'"),
    ("concurrent ledger appends (4 processes x 50 long lines)",
     "tests/harness/test_harness_ledger.py::test_concurrent_appends_are_all_valid",
     "every line whole and valid, per-writer order kept; torn lines skipped and reported"),
]

BARRIER_TEST = '''
import os, time
from pathlib import Path

def test_meets_the_other_runs():
    barrier = Path(os.environ["FI_BARRIER"])
    (barrier / str(os.getpid())).touch()
    deadline = time.monotonic() + 120
    while len(list(barrier.iterdir())) < int(os.environ["FI_RUNS"]):
        assert time.monotonic() < deadline, "the runs never overlapped"
        time.sleep(0.05)
'''

HANGING_TEST = '''
import os, time
from pathlib import Path

def test_a_fast():
    pass

def test_b_hangs_when_asked():
    started = os.environ.get("FI_STARTED")
    if not started:
        return
    Path(started).write_text(str(os.getpid()))
    deadline = time.monotonic() + 120   # never reached: the test is killed long before
    while time.monotonic() < deadline:
        time.sleep(0.05)
'''


def test_four_runs_at_once_get_four_complete_folders_and_ledger_lines(project, monkeypatch,
                                                                       tmp_path_factory):
    """Four `harness run integration` on one artifacts folder, provably at the same time (the
    test in each waits until all four are inside it). The two-run variant without the
    barrier: test_harness_cli.py::test_concurrent_runs_get_their_own_folders_and_ledger_lines."""
    project.write("tests/suite/integration/test_meet.py", BARRIER_TEST)
    monkeypatch.setenv("FI_BARRIER", str(tmp_path_factory.mktemp("barrier")))
    monkeypatch.setenv("FI_RUNS", "4")
    processes = [project.harness_popen("run", "integration") for _ in range(4)]
    try:
        outcomes = [(process.wait(240), process.stderr.read()) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    assert [code for code, _ in outcomes] == [0, 0, 0, 0], outcomes

    runs = project.runs()
    assert len(runs) == 4 and len({run.name for run in runs}) == 4
    for run in runs:
        report = runfolder.read_report(run)
        assert runfolder.is_complete(report) and report["status"] == "passed", run.name
        assert report["totals"]["passed"] == 1 and report["exit_code"] == 0
        assert (run / runfolder.REPORT_MD).is_file() and (run / runfolder.JUNIT_XML).is_file()
        assert [p.name for p in run.iterdir() if p.name.startswith(".")] == []  # no temp files
    raw_lines = (project.artifacts / runfolder.LEDGER).read_text().splitlines()
    assert len(raw_lines) == 4
    entries = [json.loads(line) for line in raw_lines]  # every line whole
    assert sorted(e["run_id"] for e in entries) == sorted(run.name for run in runs)
    assert all(e["status"] == "passed" for e in entries)


def test_a_run_killed_mid_way_stays_incomplete_and_the_next_run_is_fine(project, monkeypatch,
                                                                         tmp_path):
    """SIGKILL (no chance to clean up) to the `harness run` CLI's process group and to pytest's
    (its own session) while the second test runs. The graceful variant, SIGTERM -> report
    'interrupted': test_harness_cli.py::test_sigterm_mid_run_writes_an_interrupted_report."""
    project.write("tests/suite/integration/test_hang.py", HANGING_TEST)
    started = tmp_path / "started"
    monkeypatch.setenv("FI_STARTED", str(started))
    cli = subprocess.Popen([sys.executable, "-m", "harness", "run", "integration"],
                           cwd=project.path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
    try:
        assert wait_for(lambda: started.exists() and started.read_text()), "no hanging test"
        pytest_pid = int(started.read_text())
        os.killpg(cli.pid, signal.SIGKILL)
        os.killpg(pytest_pid, signal.SIGKILL)
        assert cli.wait(30) == -signal.SIGKILL
        assert wait_for(lambda: not _alive(pytest_pid), 30), "pytest survived SIGKILL"
    finally:
        if cli.poll() is None:
            os.killpg(cli.pid, signal.SIGKILL)
    monkeypatch.delenv("FI_STARTED")

    [dead] = project.runs()
    report = runfolder.read_report(dead)
    assert report["status"] == "running" and not runfolder.is_complete(report)
    events = (dead / runfolder.EVENTS).read_text()
    assert "test_a_fast" in events and '"finished"' not in events  # killed mid-way
    assert ledger.read(project.artifacts / runfolder.LEDGER) == ([], [])  # nothing half-written

    shown = project.harness("report", dead.name)
    assert shown.returncode == 2 and shown.stderr.count("\n") == 1, shown.stderr
    assert shown.stderr.startswith("error: ") and "still running or crashed" in shown.stderr
    checked = project.harness("validate", dead.name)
    assert checked.returncode == 3 and "the run did not finish" in checked.stdout, checked.stdout

    following = project.harness("run", "integration")
    assert following.returncode == 0, following.stdout + following.stderr
    dead_run, next_run = project.runs()
    assert dead_run == dead and project.report(next_run)["status"] == "passed"
    entries, problems = ledger.read(project.artifacts / runfolder.LEDGER)
    assert problems == [] and [e["run_id"] for e in entries] == [next_run.name]
    assert all(json.loads(line) for line in
               (project.artifacts / runfolder.LEDGER).read_text().splitlines())
    history = project.harness("history")
    assert history.returncode == 0 and "skipped" not in history.stdout
    # whole names: a run started in the same second as the dead one is "<dead name>-2"
    shown = set(re.findall(r"\d{8}T\d{6}Z-[\w-]+", history.stdout))
    assert next_run.name in shown and dead.name not in shown
    pruned = project.harness("prune", "--keep", "1", "--dry-run")
    assert pruned.returncode == 0
    assert f"keep   {dead.name}: incomplete (running, crashed or no report.json)" in pruned.stdout


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0): look at its state
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False
