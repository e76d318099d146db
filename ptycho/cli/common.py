"""What ptycho-train and ptycho-infer share: one-line argument errors, the exit-2 policy for
bad input, and quiet TensorFlow start-up."""
import argparse
import contextlib
import os
import sys
from pathlib import Path

from ptycho.errors import PtychoInputError

EXIT_BAD_INPUT = 2


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line on stderr, exit 2 (no usage dump)."""

    def error(self, message):
        self.exit(EXIT_BAD_INPUT, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


class BadInput(Exception):
    """A CLI-level input problem: `message` is printed as one line and the CLI exits 2."""


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text}")
    return value


def prepare_output_dir(path) -> Path:
    """Create the output folder (BadInput when that is impossible or it is not writable)."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"{path}: cannot create the output folder ({exc.strerror or exc}) "
                       "(choose a writable --output-dir)") from None
    if not os.access(path, os.W_OK):
        raise BadInput(f"{path}: output folder is not writable (choose a writable --output-dir)")
    return path


def quiet_tensorflow() -> None:
    """Keep TensorFlow's C++ start-up chatter off the CLI's stderr (unless the user set it)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@contextlib.contextmanager
def bad_input_exits():
    """Turn input errors into one stderr line and SystemExit(2): BadInput, the package's
    DataError/ArchiveError/ConfigError, and POLICY-001's RuntimeError (torch missing)."""
    try:
        yield
    except (BadInput, PtychoInputError) as exc:
        _fail(str(exc))
    except RuntimeError as exc:
        if "PyTorch backend selected" not in str(exc):
            raise
        _fail(str(exc))


def _fail(message: str):
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    raise SystemExit(EXIT_BAD_INPUT)
