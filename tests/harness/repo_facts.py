"""What the checkout itself says, for tests that hold configuration to it: the CI workflow
(.github/workflows/regression.yml) and the node ids the weekly cadence selects.

The selection is collected once per test process (lru_cache) through the harness's own
machinery - `pytest --collect-only --harness-run weekly`, exactly what `harness list weekly`
runs, ~5 s - on the CPU accelerator the CI workflow uses, so the GPU variants are left out.
(PyYAML comes with Lightning.)"""
import os
from functools import lru_cache
from pathlib import Path
from unittest import mock

import yaml

from harness.cli import listing as cli_listing
from harness.cli import common as cli_common
from harness.config import selectors

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github" / "workflows" / "regression.yml"
WEEKLY = "weekly"


def workflow() -> dict:
    """The parsed workflow, with its `on` key (YAML 1.1 reads a bare `on` as true)."""
    data = yaml.safe_load(WORKFLOW.read_text())
    data["on"] = data.pop(True, data.get("on"))
    return data


@lru_cache(maxsize=1)
def weekly_selection() -> tuple[str, ...]:
    """Node ids the weekly cadence selects on cpu, in collection order."""
    settings = selectors.load(REPO)
    context = cli_common.Context(REPO, settings, REPO / settings.artifacts_root)
    with mock.patch.dict(os.environ):
        os.environ.pop("HARNESS_ACCELERATOR", None)  # cpu, as the scheduled CI jobs run
        listing = cli_listing._collect(context, settings.resolve([WEEKLY]))
    assert not listing["errors"], f"collecting the weekly cadence failed: {listing['errors']}"
    return tuple(test["nodeid"] for test in listing["tests"])
