"""The import-linter contracts of pyproject.toml ([tool.importlinter]) hold: no import cycles
inside ptycho / ptycho_torch, the harness imports nothing of the package it guards, the shared
modules import no backend module. A broken contract fails with lint-imports' own report."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_import_contracts_hold():
    if shutil.which("lint-imports") is None:
        pytest.skip("import-linter is not installed (pip install -e \".[dev]\")")
    done = subprocess.run(["lint-imports", "--no-cache"], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "BROKEN" not in done.stdout and "kept, 0 broken" in done.stdout
