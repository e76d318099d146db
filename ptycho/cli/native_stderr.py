"""Keep TensorFlow's native start-up chatter off a CLI's stderr.

TensorFlow 2.21 logs through absl, which writes every message to stderr until absl's logging is
initialised - ignoring TF_CPP_MIN_LOG_LEVEL. With oneDNN on (ptycho.tf), each TensorFlow process
then prints "oneDNN custom operations are on" twice and a harmless int32 fallback notice as an
"E" line. The filter reads file descriptor 2 through a pipe and applies TF_CPP_MIN_LOG_LEVEL to
those native lines itself; every other line (Python logging, warnings, tracebacks) passes
through unchanged and live.
"""
import contextlib
import os
import re
import sys
import threading

# absl/glog line prefix: severity, MMDD, time (before absl is initialised: 00:00:<epoch s>),
# thread id, file:line]
_NATIVE_LINE = re.compile(rb"^([IWEF])\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+:\d+\] ")
_ABSL_PREAMBLE = b"WARNING: All log messages before absl::InitializeLog() is called"
# TF_CPP_MIN_LOG_LEVEL when the user set none: errors and fatals only (ptycho.cli.common too).
DEFAULT_LEVEL = "2"
_SEVERITY = {b"I": 0, b"W": 1, b"E": 2, b"F": 3}
# Errors absl logs that are notices, not failures: oneDNN falling back to Eigen for int32 ops.
_BENIGN_ERRORS = (b"oneDNN supports DT_INT32 only",)


def _keep(line: bytes, min_level: int) -> bool:
    if line.startswith(_ABSL_PREAMBLE):
        return False
    native = _NATIVE_LINE.match(line)
    if native is None:
        return True
    level = _SEVERITY[native.group(1)]
    if level == 2 and any(text in line for text in _BENIGN_ERRORS):
        return min_level < 2
    return level >= min_level


@contextlib.contextmanager
def filtered():
    """Within the block, native log lines below TF_CPP_MIN_LOG_LEVEL (default 2: errors and
    fatals only) are dropped from file descriptor 2. For a console-script process only: it
    replaces the process-wide descriptor."""
    level = os.environ.get("TF_CPP_MIN_LOG_LEVEL", DEFAULT_LEVEL)
    min_level = int(level if level.isdigit() else DEFAULT_LEVEL)
    sys.stderr.flush()
    real_stderr = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def pump():
        with os.fdopen(read_end, "rb") as source, os.fdopen(real_stderr, "wb", buffering=0) as sink:
            for line in source:
                if _keep(line, min_level):
                    sink.write(line)

    forwarder = threading.Thread(target=pump, name="native-stderr-filter", daemon=True)
    forwarder.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        restored = os.dup(real_stderr)
        os.dup2(restored, 2)        # closes the pipe's last write end: the pump sees EOF
        os.close(restored)
        forwarder.join(timeout=5)
