"""The machine and software a run happened on, without importing any framework.

`collect()` gives the full description for report.json; `fingerprint()` keeps the fields that
make timings comparable between runs (no commit, no host name) and `fingerprint_hash()` a short
stable id of it. Baselines and budgets key on these two: keep their output stable.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

# package label -> distribution names that provide it (first installed one wins)
PACKAGES = {
    "torch": ("torch",),
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tf-nightly"),
    "lightning": ("lightning", "pytorch-lightning"),
    "numpy": ("numpy",),
    "pytest": ("pytest",),
    "pytest-xdist": ("pytest-xdist",),
}
FINGERPRINT_PACKAGES = ("torch", "tensorflow", "lightning", "numpy")


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for label, distributions in PACKAGES.items():
        versions[label] = None
        for distribution in distributions:
            try:
                versions[label] = metadata.version(distribution)
                break
            except metadata.PackageNotFoundError:
                continue
    return versions


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def usable_cores() -> int | None:
    """The cores this process may run on (`taskset`, cgroup cpusets), not the machine's count:
    a run pinned to one core of two is a different machine for its timings (its parallel work
    queues on one core), so it gets its own fingerprint and baseline."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # no affinity on this platform
        return os.cpu_count()


def cuda_probe() -> dict[str, Any]:
    """GPUs as nvidia-smi lists them; torch is deliberately not imported to find out."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return {"available": False, "gpus": [], "method": "nvidia-smi not found (torch not probed)"}
    try:
        listing = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10)
        gpus = [line.strip() for line in listing.stdout.splitlines() if line.strip()]
    except (OSError, subprocess.SubprocessError):
        gpus = []
    return {"available": bool(gpus), "gpus": gpus, "method": "nvidia-smi -L"}


def git_state(project_root: Path) -> dict[str, Any]:
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=project_root, capture_output=True,
                                  text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD") or os.environ.get("GITHUB_SHA")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None,
            "branch": git("rev-parse", "--abbrev-ref", "HEAD")}


def collect(project_root: Path) -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "system": platform.system(),
        "machine": platform.machine(),
        "cpu_model": cpu_model(),
        "cpu_count": usable_cores(),
        "packages": package_versions(),
        "cuda": cuda_probe(),
        "git": git_state(project_root),
        "thread_env": {name: os.environ.get(name) for name in
                       ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                        "TF_NUM_INTEROP_THREADS")},
    }


def fingerprint(environment: dict[str, Any]) -> dict[str, Any]:
    """The timing-relevant subset of `collect()`'s output."""
    packages = environment.get("packages", {})
    python = str(environment.get("python", ""))
    return {
        "python": ".".join(python.split(".")[:2]),
        "implementation": environment.get("implementation"),
        "system": environment.get("system"),
        "machine": environment.get("machine"),
        "cpu_model": environment.get("cpu_model"),
        "cpu_count": environment.get("cpu_count"),
        "gpus": len(environment.get("cuda", {}).get("gpus", [])),
        "packages": {name: packages.get(name) for name in FINGERPRINT_PACKAGES},
    }


def fingerprint_hash(fingerprint_fields: dict[str, Any]) -> str:
    canonical = json.dumps(fingerprint_fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]
