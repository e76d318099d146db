"""Polling for the harness tests that watch a run in the background (tests/harness/ is on
sys.path when they run, as pytest's rootdir-based imports put it there)."""
import time


def wait_for(predicate, timeout: float = 120.0, interval: float = 0.05) -> bool:
    """True as soon as predicate() is true; False if it is still false after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False
