"""pytest plugin (`-p harness.runs.importguard`): a test process of a component that must
not import a framework fails when it did. $HARNESS_FORBID_IMPORTS lists top-level module names
(comma-separated), e.g. "tensorflow" for the torch-only components: TensorFlow costs seconds and
threads per mutant, and a torch test that pulls it in is testing more than its component."""
import os
import sys

import pytest


def pytest_sessionfinish(session):
    forbidden = [name.strip() for name in os.environ.get("HARNESS_FORBID_IMPORTS", "").split(",")
                 if name.strip()]
    imported = [name for name in forbidden if name in sys.modules]
    if imported and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.USAGE_ERROR
        sys.stderr.write(f"importguard: this test process imported {', '.join(imported)} "
                         f"(forbidden by HARNESS_FORBID_IMPORTS; see selectors/components.toml "
                         "forbid_imports)\n")
