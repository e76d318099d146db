"""pytest side of scale-out: which part of a selection runs here, and on what hardware.

Loaded with harness.plugin (its `pytest_plugins`). Options:
  --harness-shard I/N     run shard I of N (harness.runs.sharding's plan over the selected tests)
  --accelerator cpu|cuda  default $HARNESS_ACCELERATOR, else cpu. Tests marked `cuda` (the GPU
                          variants of integration and parity) are deselected on cpu and, on cuda,
                          skipped with CUDA_SKIP_REASON where torch sees no CUDA device.
Both filters run after the group selection and `-m`/`-k` (trylast), accelerator first, so every
shard of one cadence plans over the same tests. What was decided is recorded in report.json
(`pytest.accelerator`, `pytest.shard`, `pytest.cuda_tests`): under pytest-xdist the workers
collect, so they hand it to the controller through `workeroutput`. The terminal summary (in a
`harness run`: <run>/pytest.log) states the shard plan, its balance and the plan's warning.
"""
from __future__ import annotations

import os
from functools import lru_cache

import pytest

from harness.runs import sharding

ACCELERATORS = ("cpu", "cuda")
ACCELERATOR_ENV = "HARNESS_ACCELERATOR"
CUDA_MARKER = "cuda"
CUDA_SKIP_REASON = "CUDA opt-in: no CUDA device (torch.cuda.is_available() is False)"
_INFO = pytest.StashKey[dict]()
_WORKER_KEY = "harness_scaleout"


def pytest_addoption(parser):
    group = parser.getgroup("harness")
    group.addoption("--harness-shard", metavar="I/N",
                    help="run shard I of N of the selection, balanced by recorded durations "
                         "(`harness run CADENCE --shard I/N`; join them with `harness merge`)")
    group.addoption("--accelerator", choices=ACCELERATORS, default=None,
                    help=f"cpu (default) or cuda: cuda adds the tests marked `{CUDA_MARKER}` "
                         f"(default: ${ACCELERATOR_ENV}, else cpu)")


def accelerator(config) -> str:
    chosen = config.getoption("accelerator") or os.environ.get(ACCELERATOR_ENV) or "cpu"
    if chosen not in ACCELERATORS:
        raise pytest.UsageError(f"{ACCELERATOR_ENV}={chosen!r}: not an accelerator (use "
                                f"{' or '.join(ACCELERATORS)}, or unset it for cpu)")
    return chosen


def _shard(config) -> sharding.ShardSpec | None:
    text = config.getoption("harness_shard")
    if not text:
        return None
    try:
        return sharding.parse_spec(text)
    except ValueError as exc:
        raise pytest.UsageError(f"--harness-shard: {exc}") from None


def pytest_configure(config):
    config.addinivalue_line(
        "markers", f"{CUDA_MARKER}: GPU variant; runs only with --accelerator cuda "
                   f"(or {ACCELERATOR_ENV}=cuda) and skips where no CUDA device is present")
    config.stash[_INFO] = {"accelerator": accelerator(config), "cuda_tests": 0, "shard": None}
    _shard(config)  # a malformed I/N is a usage error before anything runs


@pytest.hookimpl(trylast=True)  # after the group selection and -m / -k
def pytest_collection_modifyitems(session, config, items):
    info = config.stash[_INFO]
    gpu = [item for item in items if item.get_closest_marker(CUDA_MARKER) is not None]
    info["cuda_tests"] = len(gpu)
    deselected = gpu if info["accelerator"] == "cpu" else []
    dropped = {id(item) for item in deselected}
    kept = [item for item in items if id(item) not in dropped]
    spec = _shard(config)
    if spec is not None:
        plan = sharding.plan_for([item.nodeid for item in kept], spec.count, config.rootpath)
        mine = set(plan.tests(spec.index))
        deselected += [item for item in kept if item.nodeid not in mine]
        kept = [item for item in kept if item.nodeid in mine]
        info["shard"] = plan.describe(spec.index)
    if deselected:
        items[:] = kept
        config.hook.pytest_deselected(items=deselected)
    if hasattr(config, "workeroutput"):
        config.workeroutput[_WORKER_KEY] = info


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    reported = getattr(node, "workeroutput", {}).get(_WORKER_KEY)
    if reported:
        node.config.stash[_INFO].update(reported)


def pytest_terminal_summary(terminalreporter, config):
    shard = config.stash.get(_INFO, {}).get("shard")
    if not shard:
        return
    terminalreporter.write_line(
        f"harness shard {shard['spec']}: plan {shard['plan']}, {shard['tests']} of "
        f"{shard['tests_total']} tests, estimated {shard['estimated_seconds']:.1f} s; "
        f"{shard['balance']}")
    if shard["warning"]:
        terminalreporter.write_line(f"warning: {shard['warning']}", yellow=True)


@lru_cache(maxsize=1)
def cuda_available() -> bool:
    """Asked once per process, and only when a cuda test is about to run (imports torch)."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def pytest_runtest_setup(item):
    if item.get_closest_marker(CUDA_MARKER) is not None and not cuda_available():
        pytest.skip(CUDA_SKIP_REASON)


def info(config) -> dict:
    """{"accelerator", "cuda_tests", "shard": sharding.Plan.describe() dict or None}."""
    return dict(config.stash.get(_INFO, {"accelerator": "cpu", "cuda_tests": 0, "shard": None}))
