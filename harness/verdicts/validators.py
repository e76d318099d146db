"""Artifact validators: Lightning checkpoints, PNGs, logs, wts.h5.zip model archives.

Each `validate_*` returns a small dict of facts on success and raises `ValidationError` (with
`.path` and `.rule`) on the first broken rule. Tests call them directly; the harness applies
them by file type to what tests leave in their artifact_dir, and `harness validate` re-applies
them to a run folder. torch is imported only by `validate_checkpoint`.
"""
from __future__ import annotations

import copy
import functools
import importlib
import json
import re
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Iterable

from harness.config.selectors import ValidationSettings

ARCHIVE_BACKENDS = ("tensorflow", "pytorch")
_TRACEBACK = re.compile(r"Traceback \(most recent call last\)")
# ERROR as a word: `ERROR:root:`, `[ERROR]`, `... ERROR` at the end; not ERRORS or MY_ERROR_RATE
_ERROR_LINE = re.compile(r"\bERROR\b")
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
_REFUSED_GLOBAL = re.compile(r"Unsupported global: GLOBAL ([\w.]+)")
# torch's own reason, when the refusal is not a global (its first lines only say "Weights only
# load failed" and how to load the file unsafely, which is never the advice here)
_UNPICKLER_REASON = re.compile(r"WeightsUnpickler error: ([^\n]+)")


class ValidationError(Exception):
    def __init__(self, path: Path | str, rule: str, message: str):
        super().__init__(f"{path}: {rule}: {message}")
        self.path = Path(path)
        self.rule = rule
        self.message = message


@dataclass
class ValidationResult:
    path: str
    kind: str
    ok: bool
    rule: str = ""
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _require_file(path: Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise ValidationError(path, "exists", "file not found")
    return path


def validate_png(path: Path | str, *, min_bytes: int = 1024,
                 expected_size: tuple[int, int] | None = None) -> dict[str, Any]:
    """A real image: > min_bytes, decodes with Pillow, not one flat colour, optional (w, h)."""
    from PIL import Image, UnidentifiedImageError

    path = _require_file(path)
    size_bytes = path.stat().st_size
    if size_bytes <= min_bytes:
        raise ValidationError(path, "min-bytes", f"{size_bytes} bytes, expected > {min_bytes}")
    try:
        with Image.open(path) as image:
            if image.format != "PNG":
                raise ValidationError(path, "decodes", f"is {image.format}, not PNG")
            image.load()
            extrema = image.getextrema()
            size, mode = image.size, image.mode
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValidationError(path, "decodes", f"Pillow cannot decode it: {exc}") from None
    bands = extrema if isinstance(extrema[0], tuple) else (extrema,)
    if all(low == high for low, high in bands):
        raise ValidationError(path, "not-constant", f"every pixel has the same value {bands[0][0]}")
    if expected_size is not None and tuple(size) != tuple(expected_size):
        raise ValidationError(path, "size", f"{size[0]}x{size[1]} pixels, expected "
                                            f"{expected_size[0]}x{expected_size[1]}")
    return {"bytes": size_bytes, "width": size[0], "height": size[1], "mode": mode}


def validate_log(path: Path | str, *, allow: Iterable[str] = (),
                 errors_expected: bool = False) -> dict[str, Any]:
    """Exists, is not empty, and has no Traceback / ERROR line unless an `allow` regex matches
    (with `errors_expected`, e.g. the log of a failed test, only the first two are checked)."""
    path = _require_file(path)
    text = path.read_text(encoding="utf-8", errors="replace")
    if not text.strip():
        raise ValidationError(path, "non-empty", "the log is empty")
    if errors_expected:
        return {"lines": len(text.splitlines())}
    allowed = [re.compile(pattern) for pattern in allow]
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        if any(pattern.search(line) for pattern in allowed):
            continue
        if _TRACEBACK.search(line):
            raise ValidationError(path, "no-traceback", f"line {number}: {line.strip()[:200]}")
        if _ERROR_LINE.search(line):
            raise ValidationError(path, "no-error-lines", f"line {number}: {line.strip()[:200]}")
    return {"lines": len(lines)}


def validate_model_archive(path: Path | str, *,
                           expected_backend: str | None = None) -> dict[str, Any]:
    """wts.h5.zip: opens, manifest.json at the root with a backend tag, safe member names,
    and every member the manifest lists is present."""
    path = _require_file(path)
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            broken = archive.testzip()
            if broken is not None:
                raise ValidationError(path, "zip", f"member {broken!r} fails its CRC check")
            for name in names:
                member = PurePosixPath(name)
                if member.is_absolute() or ".." in member.parts or "\\" in name:
                    raise ValidationError(path, "safe-members", f"member {name!r} escapes the "
                                                                "extraction folder")
            if "manifest.json" not in names:
                raise ValidationError(path, "manifest", "no manifest.json at the archive root")
            try:
                manifest = json.loads(archive.read("manifest.json"))
            except ValueError as exc:
                raise ValidationError(path, "manifest", f"manifest.json is not JSON: {exc}") from None
    except zipfile.BadZipFile as exc:
        raise ValidationError(path, "zip", f"not a zip file: {exc}") from None
    if not isinstance(manifest, dict):
        raise ValidationError(path, "manifest", "manifest.json is not a JSON object")
    backend = manifest.get("backend")
    if backend not in ARCHIVE_BACKENDS:
        raise ValidationError(path, "backend-tag", f"manifest backend is {backend!r}, expected one "
                                                   f"of {', '.join(ARCHIVE_BACKENDS)}")
    if expected_backend is not None and backend != expected_backend:
        raise ValidationError(path, "backend-tag", f"archive is {backend!r}, expected "
                                                   f"{expected_backend!r}")
    members = manifest.get("members", [])
    if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
        raise ValidationError(path, "members", "manifest 'members' is not a list of names")
    missing = [m for m in members if m not in names]
    if missing:
        raise ValidationError(path, "members", "listed but absent: " + ", ".join(missing))
    return {"backend": backend, "members": members}


def validate_checkpoint(path: Path | str, *,
                        module_class: str | type | None = None) -> dict[str, Any]:
    """Lightning checkpoint: loads with weights_only=True, holds `state_dict` and
    `hyper_parameters`, and `module_class(**hyper_parameters)` (a class or its dotted path; the
    project's `[validation] checkpoint_module_class`, None = no rebuild) accepts the state dict
    strictly. A file found valid before, unchanged since (same size and
    modification time), is not loaded again: a test validates its checkpoint, and the harness
    validates the test's artifacts once more when it ends."""
    path = _require_file(path)
    stat = path.stat()
    return copy.deepcopy(_validated_checkpoint(path, stat.st_size, stat.st_mtime_ns, module_class))


@functools.lru_cache(maxsize=64)  # failures raise, so only valid files are remembered
def _validated_checkpoint(path: Path, size: int, mtime_ns: int,
                          module_class: str | type | None) -> dict[str, Any]:
    import torch  # only here: torch costs seconds to import

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError...
        raise ValidationError(path, "loads", f"torch.load(weights_only=True) failed: "
                                             f"{_load_failure(exc)}") from None
    if not isinstance(checkpoint, dict):
        raise ValidationError(path, "structure", f"top level is {type(checkpoint).__name__}, "
                                                 "expected a dict")
    for key in ("state_dict", "hyper_parameters"):
        if key not in checkpoint:
            raise ValidationError(path, "structure", f"no {key!r} key (keys: "
                                                     f"{', '.join(map(str, checkpoint))})")
    state_dict, hyper_parameters = checkpoint["state_dict"], checkpoint["hyper_parameters"]
    if not isinstance(hyper_parameters, dict):
        raise ValidationError(path, "structure", "'hyper_parameters' is not a dict")
    if not isinstance(state_dict, dict) or not all(torch.is_tensor(v) for v in state_dict.values()):
        raise ValidationError(path, "structure", "'state_dict' is not a dict of tensors")
    facts = {"tensors": len(state_dict), "hyper_parameters": sorted(hyper_parameters),
             "module_class": None}
    if module_class is None:
        return facts
    cls = _import_class(path, module_class) if isinstance(module_class, str) else module_class
    class_name = f"{cls.__module__}.{cls.__qualname__}"
    try:
        module = cls(**hyper_parameters)
    except Exception as exc:
        raise ValidationError(path, "rebuild", f"{class_name}(**hyper_parameters) failed: "
                                               f"{type(exc).__name__}: {exc}") from None
    try:
        module.load_state_dict(state_dict, strict=True)
    except Exception as exc:
        message = " ".join(str(exc).split())[:400]
        raise ValidationError(path, "state-dict", f"load_state_dict(strict=True) failed: "
                                                  f"{message}") from None
    return {**facts, "module_class": class_name}


def _load_failure(exc: Exception) -> str:
    """One plain line for a failed torch.load: the refused global of a pickle-bearing file
    (torch's own first line only says "Weights only load failed", with terminal escapes)."""
    text = _ANSI_ESCAPE.sub("", str(exc)).strip()
    refused = _REFUSED_GLOBAL.search(text)
    if refused:
        return (f"it holds a pickled {refused.group(1)} object, which safe loading refuses "
                "(save plain tensors, numbers, strings and containers only)")
    reason = _UNPICKLER_REASON.search(text)
    if reason:
        return f"safe loading refuses it ({reason.group(1).strip()})"
    return text.splitlines()[0] if text else type(exc).__name__


def _import_class(path: Path, dotted: str):
    module_name, _, class_name = dotted.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ValidationError(path, "module-class", f"cannot import {dotted!r}: {exc}") from None


def artifact_kind(path: Path) -> str | None:
    """Which validator a file gets, by name; None for files the harness does not check."""
    name = path.name.lower()
    if name.endswith(".h5.zip"):
        return "archive"
    return {".ckpt": "checkpoint", ".png": "png", ".log": "log"}.get(path.suffix.lower())


def validate_artifact(path: Path, settings: ValidationSettings, relative_to: Path) -> ValidationResult:
    kind = artifact_kind(path)
    shown = path.relative_to(relative_to).as_posix()
    try:
        if kind == "checkpoint":
            validate_checkpoint(path, module_class=settings.checkpoint_module_class)
        elif kind == "png":
            validate_png(path, min_bytes=settings.png_min_bytes,
                         expected_size=settings.png_size_for(shown))
        elif kind == "log":
            validate_log(path, allow=settings.log_allow)
        elif kind == "archive":
            validate_model_archive(path)
    except ValidationError as exc:
        return ValidationResult(shown, kind, False, exc.rule, exc.message)
    return ValidationResult(shown, kind, True)


def validate_tree(folder: Path, settings: ValidationSettings,
                  relative_to: Path) -> list[ValidationResult]:
    """Validate every recognised file under `folder` (sorted, so reports are stable)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return [validate_artifact(path, settings, relative_to)
            for path in sorted(folder.rglob("*")) if path.is_file() and artifact_kind(path)]
