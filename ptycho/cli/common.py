"""What ptycho-train and ptycho-infer share: one-line argument errors, the exit-2 policy for
bad input, and a quick framework start-up for console-script processes."""
import argparse
import contextlib
import gc
import importlib
import os
import shutil
import sys
from pathlib import Path

from ptycho import limits
from ptycho.cli import native_stderr
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


def add_size_policy(parser: argparse.ArgumentParser) -> None:
    """The size policy's flags (ptycho.limits): each raises one limit for this command."""
    group = parser.add_argument_group("size policy (refused before allocating; see "
                                      "docs/fault_injection.md)")
    for limit in limits.POLICY:
        group.add_argument(limit.flag, type=positive_float, metavar="N", dest=limit.name,
                           help=f"{limit.reason.split(':')[0]}: default {limit.describe()} "
                                f"(also ${limit.name})")


def apply_size_policy(args) -> None:
    for limit in limits.POLICY:
        value = getattr(args, limit.name, None)
        if value is not None:
            limits.override(limit, value)


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


@contextlib.contextmanager
def owned_outputs(path):
    """The output folder (created, BadInput when impossible) for a command that must leave
    nothing behind when it fails: on any exception, every file and folder it created under
    `path` is removed again (the folder itself too when the command made it); what was there
    before is kept. Use it inside bad_input_exits and around log_to_file."""
    path = Path(path)
    existed = path.exists()
    before = set(path.rglob("*")) if existed else set()
    prepare_output_dir(path)
    try:
        yield path
    except BaseException:
        if not existed:
            shutil.rmtree(path, ignore_errors=True)
        else:
            for item in sorted(set(path.rglob("*")) - before, key=lambda p: len(p.parts),
                               reverse=True):   # files and sub-folders before their parents
                if item.is_dir() and not item.is_symlink():
                    shutil.rmtree(item, ignore_errors=True)
                else:
                    item.unlink(missing_ok=True)
        raise


def failure_line(exc: BaseException) -> str:
    """`Type: first line of the message` of an exception from a framework (for one-line errors)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__


# Imported up front by ptycho-train besides the backend itself (inference never needs Lightning).
TRAINING_MODULES = {"tensorflow": "ptycho.tf.training", "pytorch": "ptycho_torch.training"}

# Set by run_console_script: this process is the CLI's own, so its garbage collector is ours to
# tune. main() called in-process (tests, notebooks) leaves the caller's collector alone.
_owns_process = False


def run_console_script(main) -> None:
    """Entry point of the console scripts: main() in a process of its own, exit with its code.

    TensorFlow, and torch with Lightning, allocate about a million long-lived objects at import.
    With the cyclic collector running, the import traverses them again and again and interpreter
    exit does once more: about 2.5 s per process on the 2-core CI machine (README "Performance").
    So the collector is paused until load_framework() has imported the framework, everything
    alive then is frozen (gc.freeze: never traversed again, not even at exit), and the collector
    runs as usual for the actual work. TensorFlow's native start-up chatter is filtered from
    stderr (ptycho.cli.native_stderr).
    """
    global _owns_process
    _owns_process = True
    gc.disable()
    try:
        with native_stderr.filtered():
            code = main()
    finally:
        gc.freeze()   # the exit-time collection would only meet objects that die with us
    sys.exit(code)


def load_framework(backend: str, *, training: bool) -> None:
    """Import `backend`'s framework (and its training stack when `training`) now, so its cost is
    paid once at start-up: POLICY-001's RuntimeError when torch is missing; TensorFlow's C++
    start-up chatter kept off stderr unless the user set TF_CPP_MIN_LOG_LEVEL."""
    from ptycho.workflows.backend_selector import get_backend

    if backend == "tensorflow":
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", native_stderr.DEFAULT_LEVEL)
    get_backend(backend)
    if training:
        importlib.import_module(TRAINING_MODULES[backend])
    if _owns_process:
        gc.freeze()
        gc.enable()


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
