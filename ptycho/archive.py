"""The backend-neutral model archive `wts.h5.zip` (NumPy/stdlib only, no pickle).

Layout (zip, root level):
    manifest.json  {"format": "ptycho-model-archive", "version": 1, "backend": ...,
                    "models": ["autoencoder", "diffraction_to_obj"], "members": [...],
                    "created_utc": ..., "package_version": ...}
    params.json    {"cfg": {...params.cfg...}, "intensity_scale": s, "norm_factor": f}
    <members>      the backend's payload (TF: *.keras files, torch: model.ckpt)

Writing is atomic (temp file in the target folder, then os.replace). Reading validates the
manifest, refuses member names that would escape the extraction folder, checks every listed
member exists, and restores params.cfg from params.json.
"""
import json
import math
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Callable

from ptycho import limits, params
from ptycho.config.config import (BACKENDS, KEY_MAPPINGS, InferenceConfig, ModelConfig,
                                  dataclass_to_legacy_dict)
from ptycho.errors import ArchiveError, ConfigError
from ptycho.fileio import atomic_output

ARCHIVE_NAME = "wts.h5.zip"
FORMAT = "ptycho-model-archive"
VERSION = 1
MODEL_NAMES = ("autoencoder", "diffraction_to_obj")
MANIFEST = "manifest.json"
PARAMS = "params.json"
_RESERVED = (MANIFEST, PARAMS)
# What a damaged zip raises while being read.
_ZIP_ERRORS = (zipfile.BadZipFile, OSError, EOFError, zlib.error, ValueError)


@dataclass
class Archive:
    """A validated, extracted archive: `folder` holds the payload members."""
    path: Path
    manifest: dict
    params: dict
    folder: Path


def archive_path(model_path) -> Path:
    """The archive file for `model_path`: the path itself if it is a file, else
    `<model_path>/wts.h5.zip`."""
    model_path = Path(model_path)
    return model_path if model_path.is_file() else model_path / ARCHIVE_NAME


def _package_version() -> str:
    try:
        return metadata.version("ptycho-regression")
    except metadata.PackageNotFoundError:
        return "unknown"


def _json_bytes(value) -> bytes:
    # allow_nan=False: a NaN/inf would make the file unreadable by strict JSON parsers.
    return json.dumps(value, indent=2, sort_keys=True, allow_nan=False).encode("utf-8")


def _safe_member_name(name: str) -> bool:
    """A relative POSIX path with no '..' component that stays inside its folder."""
    path = PurePosixPath(name)
    return (bool(name) and "\\" not in name and not path.is_absolute() and ":" not in path.parts[0]
            and ".." not in path.parts)


def save_archive(output_dir, backend: str, write_payload: Callable[[Path], list],
                 intensity_scale: float, norm_factor: float) -> Path:
    """Write `<output_dir>/wts.h5.zip` atomically and return its path.

    write_payload(staging_dir) writes the backend's model files and returns their paths
    relative to staging_dir. params.json snapshots the current params.cfg.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    target = output_dir / ARCHIVE_NAME
    with tempfile.TemporaryDirectory(prefix=".archive-staging-", dir=output_dir) as staging:
        staging = Path(staging)
        members = [str(PurePosixPath(Path(m))) for m in write_payload(staging)]
        for member in members:
            if not _safe_member_name(member) or member in _RESERVED:
                raise ValueError(f"payload member name {member!r} is not a plain relative path")
            if not (staging / member).is_file():
                raise ValueError(f"payload writer listed {member!r} but did not write it")
        manifest = {
            "format": FORMAT, "version": VERSION, "backend": backend,
            "models": list(MODEL_NAMES), "members": members,
            "created_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "package_version": _package_version(),
        }
        params_doc = {"cfg": dict(params.cfg), "intensity_scale": float(intensity_scale),
                      "norm_factor": float(norm_factor)}
        with atomic_output(target) as handle, zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(MANIFEST, _json_bytes(manifest))
            zf.writestr(PARAMS, _json_bytes(params_doc))
            for member in members:
                zf.write(staging / member, member)
    return target


def _open_zip(path: Path) -> zipfile.ZipFile:
    if not path.is_file():
        raise ArchiveError(path, "model archive not found",
                           f"pass the training output folder that holds {ARCHIVE_NAME}, or the archive itself")
    try:
        zf = zipfile.ZipFile(path)
    except _ZIP_ERRORS as exc:
        raise ArchiveError(path, f"not a readable zip archive ({exc})",
                           "the file is truncated or corrupt; retrain or copy it again") from None
    return zf


def _read_json(zf: zipfile.ZipFile, path: Path, name: str) -> dict:
    try:
        raw = zf.read(name)
    except KeyError:
        raise ArchiveError(path, f"{name} is missing", "the archive is incomplete; retrain") from None
    except _ZIP_ERRORS as exc:
        raise ArchiveError(path, f"{name} cannot be read ({exc})",
                           "the file is truncated or corrupt; retrain or copy it again") from None
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArchiveError(path, f"{name} is not valid JSON ({exc})",
                           "the archive is corrupt; retrain") from None
    if not isinstance(value, dict):
        raise ArchiveError(path, f"{name} must hold a JSON object, got {type(value).__name__}",
                           "the archive is corrupt; retrain")
    return value


def _validate_manifest(path: Path, manifest: dict, expected_backend: str | None) -> None:
    if manifest.get("format") != FORMAT:
        raise ArchiveError(path, f"manifest format is {manifest.get('format')!r}, expected {FORMAT!r}",
                           "this is not a ptycho model archive")
    if manifest.get("version") != VERSION:
        raise ArchiveError(path, f"archive version {manifest.get('version')!r} is not supported "
                           f"(supported: {VERSION})", "retrain with this package version")
    backend = manifest.get("backend")
    if backend not in BACKENDS:
        raise ArchiveError(path, f"manifest backend {backend!r} is not one of {list(BACKENDS)}",
                           "the archive is corrupt; retrain")
    if expected_backend is not None and backend != expected_backend:
        raise ArchiveError(path, f"archive was written by the {backend!r} backend but the active "
                           f"backend is {expected_backend!r}",
                           f"load it with backend={backend!r} or retrain with {expected_backend!r}")
    models = manifest.get("models")
    if not isinstance(models, list) or not set(MODEL_NAMES) <= set(models):
        raise ArchiveError(path, f"manifest models {models!r} must include {list(MODEL_NAMES)}",
                           "the archive is incomplete; retrain")
    members = manifest.get("members")
    if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
        raise ArchiveError(path, "manifest members must be a list of file names",
                           "the archive is corrupt; retrain")


def _cfg_value_problem(value, default) -> str | None:
    """What is wrong with a params.json cfg value, judged by the type of params.cfg's default
    for the same key; None when it fits."""
    if default is None:      # optional paths, seeds and counts: a JSON scalar or null
        ok = value is None or (isinstance(value, (str, int, float)) and not isinstance(value, bool))
        return None if ok else f"must be a string, a number or null, got {value!r}"
    if isinstance(default, bool):
        return None if isinstance(value, bool) else f"must be true or false, got {value!r}"
    if isinstance(default, (int, float)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return f"must be a finite number, got {value!r}"
        if isinstance(default, int) and not isinstance(value, int):
            return f"must be an integer, got {value!r}"
        return None
    return None if isinstance(value, str) else f"must be a string, got {value!r}"


def _validate_cfg(path: Path, cfg: dict) -> None:
    """Every cfg key known to params.cfg (training or inference) with a value of the default's
    type, and the model's keys in range (ModelConfig's own checks, the size policy included):
    params.json is copied into params.cfg, which legacy code trusts."""
    known = {**params.defaults(), **dataclass_to_legacy_dict(InferenceConfig())}
    for key, value in cfg.items():
        if key not in known:
            raise ArchiveError(path, f"{PARAMS} cfg has unknown key {key!r}",
                               "the archive was not written by this package; retrain")
        problem = _cfg_value_problem(value, known[key])
        if problem:
            raise ArchiveError(path, f"{PARAMS} cfg[{key!r}] {problem}",
                               "the archive is corrupt; retrain")
    for key in ("N", "gridsize"):
        if key not in cfg:
            raise ArchiveError(path, f"{PARAMS} cfg has no {key!r}", "the archive is corrupt; retrain")
    model_fields = {name: cfg[KEY_MAPPINGS.get(name, name)] for name in ModelConfig.__dataclass_fields__
                    if KEY_MAPPINGS.get(name, name) in cfg}
    try:
        ModelConfig(**model_fields)
    except ConfigError as exc:
        raise ArchiveError(path, f"{PARAMS} cfg: {exc.what}", "the archive is corrupt; retrain") \
            from None


def _validate_params(path: Path, params_doc: dict) -> None:
    cfg = params_doc.get("cfg")
    if not isinstance(cfg, dict):
        raise ArchiveError(path, f"{PARAMS} has no 'cfg' object", "the archive is corrupt; retrain")
    _validate_cfg(path, cfg)
    for key in ("intensity_scale", "norm_factor"):
        value = params_doc.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or value <= 0:
            raise ArchiveError(path, f"{PARAMS} field {key!r} must be a positive number, got {value!r}",
                               "the archive is corrupt; retrain")


def _validate_member_names(path: Path, names: list, manifest: dict) -> None:
    """Every zip entry a plain relative path; every listed member present."""
    for name in names:
        if not _safe_member_name(name):
            raise ArchiveError(path, f"member {name!r} would be written outside the "
                               "extraction folder", "refusing an unsafe archive; do not use it")
    missing = [m for m in manifest["members"] if m not in names]
    if missing:
        raise ArchiveError(path, f"listed members are missing: {missing}",
                           "the archive is incomplete; retrain")


def read_metadata(model_path) -> tuple[dict, dict]:
    """(manifest, params document), validated, without extracting the payload: cheap, for
    choosing a backend and checking the patch size before any framework is imported. Unsafe
    or missing member names are refused here already, so a CLI fails before its outputs."""
    path = archive_path(model_path)
    with _open_zip(path) as zf:
        manifest = _read_json(zf, path, MANIFEST)
        _validate_manifest(path, manifest, None)
        params_doc = _read_json(zf, path, PARAMS)
        _validate_member_names(path, zf.namelist(), manifest)
    _validate_params(path, params_doc)
    return manifest, params_doc


def declared_size(zf: zipfile.ZipFile, members) -> int:
    """The uncompressed bytes the zip's headers declare for `members`."""
    return sum(zf.getinfo(name).file_size for name in members)


def _extract_capped(zf: zipfile.ZipFile, path: Path, members, extract_dir: Path) -> None:
    """Extract `members`, counting the bytes actually written (a zip's declared sizes can lie):
    more than the size policy's limits.ARCHIVE is refused mid-way, the partial files go with
    the temporary extraction folder."""
    allowed = limits.ARCHIVE.value()
    limits.check_bytes(limits.ARCHIVE, declared_size(zf, members), path, "extracting the archive",
                       ArchiveError)
    written = 0
    for name in members:
        target = extract_dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        with zf.open(name) as source, open(target, "wb") as sink:
            while chunk := source.read(1 << 20):
                written += len(chunk)
                if written > allowed:
                    limits.check_bytes(limits.ARCHIVE, written, path,
                                       "extracting the archive (more than its headers declare)",
                                       ArchiveError)
                sink.write(chunk)


def extract_archive(model_path, expected_backend: str | None, extract_dir) -> Archive:
    """Validate the archive at `model_path` (folder or file) and extract it into extract_dir.

    Refuses, with ArchiveError naming the file: a missing/truncated/corrupt zip, bad JSON, an
    unknown format or version, a backend tag other than `expected_backend` (None skips that
    check), any zip entry whose name is absolute, contains '..' or resolves outside
    extract_dir, and listed members that are absent. Restores params.cfg from params.json.
    """
    path = archive_path(model_path)
    extract_dir = Path(extract_dir).resolve()
    with _open_zip(path) as zf:
        manifest = _read_json(zf, path, MANIFEST)
        _validate_manifest(path, manifest, expected_backend)
        params_doc = _read_json(zf, path, PARAMS)
        _validate_params(path, params_doc)
        names = zf.namelist()
        _validate_member_names(path, names, manifest)
        for name in names:      # a name can still resolve outside, e.g. through a symlink
            if not (extract_dir / name).resolve().is_relative_to(extract_dir):
                raise ArchiveError(path, f"member {name!r} would be written outside the "
                                   "extraction folder", "refusing an unsafe archive; do not use it")
        try:
            _extract_capped(zf, path, manifest["members"], extract_dir)
        except ArchiveError:
            raise
        except _ZIP_ERRORS as exc:
            raise ArchiveError(path, f"payload cannot be extracted ({exc})",
                               "the file is truncated or corrupt; retrain or copy it again") from None
    restore_params(params_doc)
    return Archive(path=path, manifest=manifest, params=params_doc, folder=extract_dir)


def restore_params(params_doc: dict) -> None:
    """Put the archived params.cfg (and its intensity scale) back into ptycho.params.cfg."""
    params.cfg.update(params_doc["cfg"])
    params.cfg["intensity_scale"] = params_doc["intensity_scale"]
