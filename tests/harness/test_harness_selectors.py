"""selectors/*.toml: the shipped configuration, membership rules and one clear error per mistake."""
import shutil
from pathlib import Path

import pytest

from harness.config import owners, selectors

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def config_root(tmp_path: Path) -> Path:
    (tmp_path / "selectors").mkdir()
    for name in ("groups.toml", "harness.toml", "owners.toml"):
        shutil.copy(REPO / "selectors" / name, tmp_path / "selectors" / name)
    return tmp_path


def edit(root: Path, name: str, old: str, new: str) -> None:
    path = root / "selectors" / name
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_shipped_groups_match_the_handoff_plan():
    config = selectors.load(REPO)
    assert list(config.groups) == ["integration", "backend_selection", "parity", "model_manager"]
    assert config.resolve(["per_pr"]).groups == ("integration", "backend_selection")
    assert config.resolve(["nightly"]).groups == ("integration", "backend_selection", "parity")
    assert config.resolve(["weekly"]).groups == tuple(config.groups)
    for name, group in config.groups.items():
        assert group.marker == name
        assert group.paths == (f"tests/suite/{name}",)
        assert group.owner in owners.component_names(REPO)
        assert group.budget, f"{name} has no guardrails"
    assert config.suite_root == "tests/suite"
    # guardrails come from selectors/budgets.toml, the one place budgets are configured
    assert config.groups["integration"].budget == {"baseline_s": 36.0, "tolerance_s": 5.0}
    assert config.cadences["per_pr"].budget == {"max_s": 90.0}


def test_membership_by_path_marker_and_node_id(config_root: Path):
    edit(config_root, "groups.toml", 'paths = ["tests/suite/parity/"]',
         'paths = ["tests/suite/parity/"]\nnode_ids = ["tests/suite/misc/test_m.py::test_p"]')
    config = selectors.load(config_root)
    assert config.groups_of("tests/suite/integration/test_a.py::test_x", set()) == ["integration"]
    assert config.groups_of("tests/suite/other/test_a.py::test_x", {"parity"}) == ["parity"]
    assert config.groups_of("tests/suite/misc/test_m.py::test_p[pytorch]", set()) == ["parity"]
    assert config.groups_of("tests/suite/misc/test_m.py::test_pp", set()) == []
    assert config.groups_of("tests/suite/integration/test_a.py::t", {"parity"}) == [
        "integration", "parity"]
    assert config.in_suite("tests/suite/x/test_a.py::t")
    assert not config.in_suite("tests/suitex/test_a.py::t")
    assert not config.in_suite("tests/unit/test_a.py::t")


def test_resolve_targets(config_root: Path):
    config = selectors.load(config_root)
    both = config.resolve(["model_manager", "parity"])
    assert both.groups == ("parity", "model_manager")  # config order, not argument order
    assert both.label == "model_manager+parity"
    assert config.resolve(["weekly"]).persistent_artifacts
    assert not config.resolve(["per_pr"]).persistent_artifacts
    with pytest.raises(selectors.ConfigError, match=r"unknown cadence or group 'hourly' \(use one of "
                                                    r"per_pr, nightly, weekly, integration"):
        config.resolve(["hourly"])


def test_collection_scope_of_a_selection(config_root: Path):
    config = selectors.load(config_root)
    per_pr = config.resolve(["per_pr"])
    enters = {p: config.may_contain_selected(p, per_pr) for p in (
        ".", "tests", "tests/unit", "tests/suite", "tests/suite/integration",
        "tests/suite/integration/test_x.py", "tests/suite/parity", "tests/suite/misc")}
    assert enters == {".": True, "tests": True, "tests/unit": False, "tests/suite": True,
                      "tests/suite/integration": True, "tests/suite/integration/test_x.py": True,
                      "tests/suite/parity": False, "tests/suite/misc": True}


@pytest.mark.parametrize("name, old, new, message", [
    ("groups.toml", 'cadences = ["nightly", "weekly"]', 'cadences = ["nightly", "hourly"]',
     "selectors/groups.toml: groups.parity.cadences: unknown cadence 'hourly' "
     "(use one of per_pr, nightly, weekly)"),
    ("groups.toml", 'owner = "dispatcher"', 'owner = "nobody"',
     "selectors/groups.toml: groups.backend_selection.owner: unknown owner 'nobody' (use one of "
     "test harness, backend implementation, config bridge, dispatcher, checkpoint persistence: "
     "the components of selectors/owners.toml)"),
    ("groups.toml", 'marker = "parity"', 'marker = "parity"\npathz = []',
     "selectors/groups.toml: groups.parity.pathz: unknown key (allowed: cadences, "
     "description, marker, node_ids, owner, paths, persistent_artifacts)"),
    ("groups.toml", 'paths = ["tests/suite/parity/"]', 'paths = "tests/suite/parity/"',
     "selectors/groups.toml: groups.parity.paths: must be a list of non-empty strings (got "
     "'tests/suite/parity/')"),
    ("groups.toml", 'paths = ["tests/suite/parity/"]', 'paths = ["tests/unit/"]',
     "selectors/groups.toml: groups.parity.paths: 'tests/unit' is outside suite_root "
     "'tests/suite' (list only tests under tests/suite/)"),
    ("groups.toml", '[groups.parity]\ndescription = "TensorFlow / PyTorch numerical parity (~20-25 tests)"\n',
     '[groups.parity]\n',
     "selectors/groups.toml: groups.parity.description: missing (add it)"),
    ("groups.toml", 'marker = "parity"', 'marker = "integration"',
     "selectors/groups.toml: groups: marker 'integration' is used by two groups "
     "(give each group its own marker)"),
    ("groups.toml", "[groups.parity]", "[groups.nightly]",
     "selectors/groups.toml: groups.nightly: group name 'nightly' is also a cadence in "
     "selectors/harness.toml (rename the group or the cadence)"),
    ("groups.toml", "[groups.parity]", "[groups.parity",
     "selectors/groups.toml: not valid TOML: "),
    ("harness.toml", "keep_last = 20", "keep_last = 0",
     "selectors/harness.toml: retention.keep_last: must be an integer >= 1 (got 0)"),
    ("harness.toml", "keep_failing = true", "keep_failing = 1",
     "selectors/harness.toml: retention.keep_failing: must be true or false (got 1)"),
    ("harness.toml", "log_allow = []", 'log_allow = ["(unclosed"]',
     "selectors/harness.toml: validation.log_allow[0]: invalid regular expression '(unclosed'"),
    ("harness.toml", "[128, 128] }", "[128] }",
     'selectors/harness.toml: validation.png_sizes."tests/integration.test_cli_workflow.py__*/'
     'reconstructed_*.png": expected [width, height], got [128] '
     "(give the size in pixels as two positive integers, e.g. [128, 128])"),
    ("harness.toml", "[run]", "[runs]",
     "selectors/harness.toml: runs: unknown key (allowed: artifacts, brief, cadences, retention, run, "
     "validation)"),
])
def test_one_clear_error_per_mistake(config_root: Path, name, old, new, message):
    edit(config_root, name, old, new)
    with pytest.raises(selectors.ConfigError) as raised:
        selectors.load(config_root)
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


def test_missing_file_and_project_root(tmp_path: Path, config_root: Path):
    with pytest.raises(selectors.ConfigError, match=r"^selectors/harness.toml: file not found"):
        selectors.load(tmp_path / "nowhere")
    nested = config_root / "a" / "b"
    nested.mkdir(parents=True)
    assert selectors.find_project_root(nested) == config_root.resolve()
    with pytest.raises(selectors.ConfigError, match="not found in"):
        selectors.find_project_root(Path("/"))
