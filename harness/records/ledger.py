"""`<root>/ledger.jsonl`: one JSON line per finished run, appended under a file lock so that
concurrent runs never interleave; readers skip (and report) lines that are not valid JSON."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

LOCK_TIMEOUT_S = 60


def lock_for(path: Path) -> FileLock:
    return FileLock(str(path) + ".lock", timeout=LOCK_TIMEOUT_S)


def append(path: Path, entry: dict[str, Any]) -> None:
    """Append `entry` as one line. A line left unterminated by a crashed writer is closed first,
    so it stays one corrupt line instead of spoiling this one too."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n"
    with lock_for(path):
        with open(path, "ab") as handle:
            if handle.tell() > 0:
                with open(path, "rb") as reader:
                    reader.seek(-1, os.SEEK_END)
                    if reader.read(1) != b"\n":
                        line = "\n" + line
            handle.write(line.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())


@dataclass
class LedgerProblem:
    line: int
    message: str


def read(path: Path) -> tuple[list[dict[str, Any]], list[LedgerProblem]]:
    """All entries (oldest first) and the problems of the lines that were skipped."""
    entries: list[dict[str, Any]] = []
    problems: list[LedgerProblem] = []
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        return entries, problems
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError as exc:
            problems.append(LedgerProblem(number, f"not valid JSON ({exc.__class__.__name__}: {exc})"))
            continue
        if not isinstance(entry, dict) or "run_id" not in entry:
            problems.append(LedgerProblem(number, "not a run entry (no run_id)"))
            continue
        entries.append(entry)
    return entries, problems
