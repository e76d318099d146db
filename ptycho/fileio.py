"""Atomic output files: written to a temp file in the target's folder, then os.replace'd, so a
crash never leaves a partial file under the final name."""
import contextlib
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_output(path, mode: str = "wb"):
    """Yield a handle open on a temp file beside `path`; on success it becomes `path` (0644,
    like any ordinary output; mkstemp's default is 0600), on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as handle:
            yield handle
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise
