"""The plugin at collection time: cadence selection, group markers, grouping errors, bad TOML,
and staying out of the way of plain pytest runs."""
import json

import pytest


ALL_SUITE = {
    "integration": "tests/suite/integration/test_integration.py::test_train_save_load_infer",
    "backend_selection": "tests/suite/backend_selection/test_backend_selection.py::test_dispatch",
    "parity": "tests/suite/parity/test_parity.py::test_forward_parity",
    "model_manager": "tests/suite/model_manager/test_model_manager.py::test_archive_roundtrip",
}


def collected(project, *args: str) -> dict:
    listing = project.path / "collected.json"
    result = project.pytester.runpytest("--collect-only", "-q", "--harness-collect-json",
                                        str(listing), *args)
    assert listing.exists(), result.stdout.str()
    data = json.loads(listing.read_text())
    data["result"] = result
    return data


@pytest.mark.parametrize("target, groups", [
    ("per_pr", ["integration", "backend_selection"]),
    ("nightly", ["integration", "backend_selection", "parity"]),
    ("weekly", ["integration", "backend_selection", "parity", "model_manager"]),
    ("parity", ["parity"]),
    ("parity,model_manager", ["parity", "model_manager"]),
])
def test_cadence_selects_its_groups_and_never_unit_tests(suite, target, groups):
    data = collected(suite, "--harness-run", target)
    assert {t["nodeid"]: t["group"] for t in data["tests"]} == {ALL_SUITE[g]: g for g in groups}
    assert data["errors"] == []
    assert not suite.artifacts.exists()  # collect-only records nothing


def test_plain_pytest_runs_everything_and_records_nothing(suite):
    result = suite.pytester.runpytest("-q")
    result.assert_outcomes(passed=5)
    assert not suite.artifacts.exists()


def test_group_markers_come_from_paths(suite):
    data = collected(suite, "-m", "parity or model_manager")
    assert sorted(t["nodeid"] for t in data["tests"]) == sorted(
        [ALL_SUITE["parity"], ALL_SUITE["model_manager"]])
    assert data["result"].ret == 0


def test_strict_markers_rejects_typos_of_group_markers(suite):
    suite.write("tests/suite/parity/test_typo.py",
                "import pytest\n\n@pytest.mark.parityy\ndef test_typo():\n    pass\n")
    result = suite.pytester.runpytest("-q", "--collect-only")
    result.stdout.fnmatch_lines(["*'parityy' not found in `markers` configuration option*"])


def test_marker_alone_puts_a_test_in_a_group(suite):
    suite.write("tests/suite/misc/test_misc.py",  # also: --strict-markers knows group markers
                "import pytest\n\n@pytest.mark.parity\n@pytest.mark.persistent_artifacts\n"
                "def test_by_marker():\n    pass\n")
    data = collected(suite, "--harness-run", "nightly")
    assert {"nodeid": "tests/suite/misc/test_misc.py::test_by_marker", "group": "parity"} in data["tests"]


def test_node_ids_put_a_test_in_a_group(suite):
    suite.edit_toml("groups.toml", 'paths = ["tests/suite/model_manager/"]',
                    'paths = ["tests/suite/model_manager/"]\n'
                    'node_ids = ["tests/suite/misc/test_ckpt.py::test_ckpt"]')
    suite.write("tests/suite/misc/test_ckpt.py",
                "import pytest\n\n@pytest.mark.parametrize('b', ['tf', 'torch'])\n"
                "def test_ckpt(b):\n    pass\n")
    data = collected(suite, "--harness-run", "model_manager")
    assert sorted(t["nodeid"] for t in data["tests"]) == sorted([
        ALL_SUITE["model_manager"], "tests/suite/misc/test_ckpt.py::test_ckpt[tf]",
        "tests/suite/misc/test_ckpt.py::test_ckpt[torch]"])


@pytest.mark.parametrize("harness_args", [[], ["--harness-run", "weekly"]])
def test_ungrouped_suite_test_is_a_collection_error(suite, harness_args):
    suite.write("tests/suite/misc/test_orphan.py", "def test_orphan():\n    pass\n")
    data = collected(suite, *harness_args)
    [error] = data["errors"]
    assert error["nodeid"] == "tests/suite/misc/test_orphan.py::test_orphan"
    assert "is under tests/suite/ but belongs to no selector group" in error["message"]
    assert "mark it with one of: integration, backend_selection, parity, model_manager" in error["message"]
    assert data["result"].ret == pytest.ExitCode.INTERRUPTED  # "1 error during collection"
    data["result"].stdout.fnmatch_lines(["*belongs to no selector group*", "*1 error*"])


def test_test_in_two_groups_is_a_collection_error(suite):
    suite.write("tests/suite/integration/test_double.py",
                "import pytest\n\npytestmark = pytest.mark.parity\n\ndef test_double():\n    pass\n")
    data = collected(suite)
    [error] = data["errors"]
    assert "belongs to 2 selector groups (integration, parity)" in error["message"]
    assert "exactly one" in error["message"]


def test_malformed_toml_is_one_usage_error(suite):
    suite.edit_toml("groups.toml", 'cadences = ["nightly", "weekly"]', 'cadences = ["hourly"]')
    result = suite.pytester.runpytest("-q", "tests/unit")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([
        "ERROR: selectors/groups.toml: groups.parity.cadences: unknown cadence 'hourly' "
        "(use one of per_pr, nightly, weekly)"])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_unknown_harness_target_is_a_usage_error(suite):
    result = suite.pytester.runpytest("--harness-run", "hourly")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --harness-run: unknown cadence or group 'hourly'*"])


def test_artifact_dir_outside_a_run_is_a_tmp_folder(suite):
    suite.write("tests/unit/test_tmp.py",
                "def test_tmp(artifact_dir, tmp_path):\n    assert artifact_dir == tmp_path\n")
    suite.pytester.runpytest("-q", "tests/unit/test_tmp.py").assert_outcomes(passed=1)
    assert not suite.artifacts.exists()
