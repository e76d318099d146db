"""Run folders under the harness root: naming, atomic creation, atomic files, lookup.

Layout of one run (`<root>/<UTC timestamp>-<label>[-N]/`):
    report.json    status 'running' from the start, atomically replaced at the end
    report.md      GitHub job summary      junit.xml   pytest --junitxml
    events.jsonl   live progress events    pytest.log  pytest's own output (CLI runs)
    logs/<test>.log                        tests/<test>/  artifacts a test kept
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
JUNIT_XML = "junit.xml"
EVENTS = "events.jsonl"
PYTEST_LOG = "pytest.log"
LOGS_DIR = "logs"
TESTS_DIR = "tests"
LEDGER = "ledger.jsonl"

_RUN_NAME = re.compile(r"^(?P<stamp>\d{8}T\d{6}Z)-(?P<label>.+?)(?:-(?P<n>\d+))?$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")
_MAX_NAME = 120


class NotARootFolder(ValueError):
    """The harness root names something that is not a folder."""


def resolve_root(project_root: Path, configured: str, override: str | None = None,
                 base: Path | None = None) -> Path:
    """The harness root: `override` (--harness-artifacts; relative to `base`, the invocation
    folder), else $HARNESS_ARTIFACTS (relative to the current folder), else the configured
    [artifacts] root (relative to the project root)."""
    if override:
        chosen, anchor = override, Path(base or Path.cwd())
    elif os.environ.get("HARNESS_ARTIFACTS"):
        chosen, anchor = os.environ["HARNESS_ARTIFACTS"], Path.cwd()
    else:
        chosen, anchor = configured, Path(project_root)
    path = Path(chosen).expanduser()
    path = (path if path.is_absolute() else anchor / path).resolve()
    if path.exists() and not path.is_dir():
        source = ("--harness-artifacts" if override else "$HARNESS_ARTIFACTS"
                  if os.environ.get("HARNESS_ARTIFACTS") else "[artifacts] root")
        raise NotARootFolder(f"{source}: {chosen} is a file, not a folder (give the folder for "
                             "run folders and the ledger; it is created when missing)")
    return path


def utc_stamp(moment: datetime | None = None) -> str:
    return (moment or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")


def utc_iso(moment: datetime | None = None) -> str:
    return (moment or datetime.now(timezone.utc)).isoformat(timespec="seconds").replace("+00:00", "Z")


def create_run_folder(root: Path, label: str, moment: datetime | None = None) -> Path:
    """Make `<root>/<stamp>-<label>`, or `...-2`, `-3`... when a run already started in that
    second - under any label, so that (stamp, suffix) orders runs as they were made (a merge in
    the same second as its last shard is the newer run). os.mkdir is atomic, so two runs started
    in the same second never share a folder."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    stamp = utc_stamp(moment)
    base = f"{stamp}-{safe_name(label)}"
    same_second = [order[1] for entry in root.glob(f"{stamp}-*")
                   if (order := run_order(entry.name)) is not None]
    attempt = max(same_second, default=0) + 1
    while True:
        folder = root / (base if attempt == 1 else f"{base}-{attempt}")
        try:
            os.mkdir(folder)
            return folder
        except FileExistsError:
            attempt += 1


def safe_name(text: str) -> str:
    """A file-system-safe, readable name for `text` (a node id or a label). Lossy or long names
    get a short hash so that different inputs keep different names."""
    readable = text.replace("::", "__").replace("/", ".")
    cleaned = _UNSAFE.sub("_", readable).strip("._") or "_"
    if cleaned != readable or len(cleaned) > _MAX_NAME:
        digest = hashlib.sha1(text.encode()).hexdigest()[:8]
        cleaned = f"{cleaned[:_MAX_NAME - 9]}-{digest}"
    return cleaned


def artifact_dir_for(run_dir: Path, test_name: str) -> Path:
    return Path(run_dir) / TESTS_DIR / safe_name(test_name)


def log_path_for(run_dir: Path, test_name: str) -> Path:
    return Path(run_dir) / LOGS_DIR / f"{safe_name(test_name)}.log"


OUTPUT_MODE = 0o644   # reports are read by people and CI uploaders; mkstemp's default is 0600


def write_atomic(path: Path, text: str) -> None:
    """Write via a temp file in the same folder + os.replace: readers never see half a file,
    and the file is on disk (fsync) before it takes the final name. Mode OUTPUT_MODE."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, OUTPUT_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, data: Any) -> None:
    write_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def read_report(run_dir: Path) -> dict | None:
    """report.json as a dict, or None when it is missing or unreadable."""
    try:
        data = json.loads((Path(run_dir) / REPORT_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_complete(report: dict | None) -> bool:
    return report is not None and report.get("status") not in (None, "running")


def list_runs(root: Path) -> list[Path]:
    """Run folders under `root`, oldest first (timestamp, then same-second suffix)."""
    root = Path(root)
    if not root.is_dir():
        return []
    runs = [((order, entry.name), entry) for entry in root.iterdir()
            if (order := run_order(entry.name)) is not None and entry.is_dir()]
    return [path for _, path in sorted(runs)]


def run_order(name: object) -> tuple[str, int] | None:
    """(UTC stamp, same-second suffix) of a run folder's name, by which runs are ordered; None
    for a name that is not a run folder's."""
    match = _RUN_NAME.match(str(name))
    return (match["stamp"], int(match["n"] or 1)) if match else None


def find_run(root: Path, name: str | None) -> Path:
    """A run by folder path or name under `root`; None = the newest. FileNotFoundError if none."""
    if name is None:
        runs = list_runs(root)
        if not runs:
            raise FileNotFoundError(f"{root}: no run folders (run `harness run <cadence>` first)")
        return runs[-1]
    for candidate in (Path(name), Path(root) / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"{name}: no such run folder (see `ls {root}`)")
