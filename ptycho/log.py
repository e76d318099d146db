"""Logging for the package: everything lives under the "ptycho" logger (stdlib logging)."""
import contextlib
import logging
import sys
from pathlib import Path

ROOT = "ptycho"
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_console_handler = None


def get_logger(name: str | None = None) -> logging.Logger:
    """Logger `name` placed under "ptycho" (module names such as "ptycho.raw_data" are kept)."""
    if not name or name == ROOT:
        return logging.getLogger(ROOT)
    if name.startswith(ROOT + "."):
        return logging.getLogger(name)
    return logging.getLogger(f"{ROOT}.{name}")


def configure_console(quiet: bool = False) -> logging.Handler:
    """Install (once) a stderr handler on "ptycho": INFO and up, or WARNING and up when quiet."""
    global _console_handler
    root = logging.getLogger(ROOT)
    if _console_handler is None:
        _console_handler = logging.StreamHandler(sys.stderr)
        _console_handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(_console_handler)
    _console_handler.setLevel(logging.WARNING if quiet else logging.INFO)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
    return _console_handler


@contextlib.contextmanager
def log_to_file(path, level: int = logging.DEBUG):
    """Copy every "ptycho" record at `level` and above into `path` while the block runs
    (the CLIs' train.log / inference.log)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger(ROOT)
    handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter(_FORMAT))
    previous_level = root.level
    root.addHandler(handler)
    # The logger itself must let DEBUG records through for the file to get them.
    root.setLevel(min(level, previous_level) if previous_level != logging.NOTSET else level)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)
        handler.close()
