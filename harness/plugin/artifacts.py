"""The `artifact_dir` fixture: a folder for a test's artifacts, validated at the end of the
test (harness.verdicts.validators), kept when the test failed, an artifact is invalid or the
test, group or cadence keeps its artifacts, removed otherwise."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.plugin.recorder import (ARTIFACTS_PROPERTY, GROUP_PROPERTY, PERSISTENT_MARKER,
                                     VALIDATION_PROPERTY, _CONFIG, _PHASES, _SELECTION, _run_dir,
                                     _test_name)
from harness.records import runfolder
from harness.verdicts import validators


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    test_report = yield
    item.stash.setdefault(_PHASES, {})[test_report.when] = test_report.outcome
    return test_report


@pytest.fixture
def artifact_dir(request):
    """A folder for the test's artifacts: `<run>/tests/<test>/` in a harness run (validated at
    the end of the test, kept if the test failed, an artifact is invalid or the test/group/
    cadence is persistent, removed otherwise); a tmp folder outside a harness run."""
    run_dir = _run_dir(request.config)
    if run_dir is None:
        yield request.getfixturevalue("tmp_path")
        return
    item = request.node
    folder = runfolder.artifact_dir_for(run_dir, _test_name(request.config, item.nodeid))
    folder.mkdir(parents=True, exist_ok=True)
    yield folder
    _archive(request.config, item, folder, run_dir)


def _archive(config, item, folder: Path, run_dir: Path) -> None:
    settings = config.stash[_CONFIG]
    selection = config.stash[_SELECTION]
    results = validators.validate_tree(folder, settings.validation, relative_to=run_dir)
    if results:
        item.user_properties.append((VALIDATION_PROPERTY, [r.to_dict() for r in results]))
    phases = item.stash.get(_PHASES, {})
    unfinished = phases.get("setup") == "passed" and "call" not in phases  # interrupted
    group = settings.groups.get(dict(item.user_properties).get(GROUP_PROPERTY))
    keep = ("failed" in phases.values() or unfinished
            or any(not r.ok for r in results)
            or item.get_closest_marker(PERSISTENT_MARKER) is not None
            or (group is not None and group.persistent_artifacts)
            or selection.persistent_artifacts)
    if keep and any(folder.iterdir()):
        item.user_properties.append((ARTIFACTS_PROPERTY, folder.relative_to(run_dir).as_posix()))
    else:
        shutil.rmtree(folder, ignore_errors=True)
