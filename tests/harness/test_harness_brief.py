"""`harness brief`: the handoff brief is generated from selectors/*.toml and the committed
docs/handoff_brief.md never drifts from it."""
import shutil
import time
from pathlib import Path

import pytest

from harness.report import brief
from harness import cli

REPO = Path(__file__).resolve().parents[2]


def test_committed_brief_matches_the_configuration():
    started = time.perf_counter()
    difference = brief.check(REPO, REPO / brief.BRIEF_FILE)
    assert time.perf_counter() - started < 2.0
    assert not difference, ("docs/handoff_brief.md drifted from selectors/*.toml; run `harness "
                            "brief` and commit the result:\n" + "\n".join(difference[:40]))


def test_brief_covers_every_configured_item():
    text = brief.render(REPO)
    assert text == brief.render(REPO)  # deterministic: no dates, no machine facts
    for heading in ("## 1. Backend selection contract", "## 2. Regression selectors and cadence",
                    "## 3. Artifacts and archival policy", "## 4. Ownership matrix",
                    "## 5. Escalation triggers and workflow", "## 6. Monitoring cadence"):
        assert heading in text
    for group in ("integration", "backend_selection", "parity", "model_manager"):
        assert f"| **{group}** |" in text and f"`harness run {group}`" in text
    for cadence in ("per_pr", "nightly", "weekly"):
        assert f"| **{cadence}** |" in text
    assert "ceiling 90 s wall" in text and "band 36 s ± 5 s" in text
    # a budgets.toml `note` follows its table: why backend_selection's ceiling is not the plan's
    assert "| ceiling 8 s wall; see the note below |" in text
    notes = text.index("Why these guardrails:", text.index("| **backend_selection** |"))
    assert text.index("- **backend_selection**: The handoff plan says < 5 s.", notes) \
        < text.index("### Cadences")
    for component in ("test harness", "backend implementation", "config bridge", "dispatcher",
                      "checkpoint persistence"):
        assert f"| **{component}** |" in text
    for trigger in ("POLICY-001 violation", "CONFIG-001 violation", "Checkpoint load failure",
                    "Parity tolerance breach", "Runtime budget", "Artifact validation failure"):
        assert f"**{trigger}**" in text
    assert "'tensorflow'" in text and "PyTorch backend selected" in text
    assert "newest 20 runs are kept" in text and "more than 1024 bytes" in text
    assert "CPU by default" in text and "--accelerator cuda" in text


@pytest.fixture
def config_copy(tmp_path, monkeypatch):
    shutil.copytree(REPO / "selectors", tmp_path / "selectors")
    (tmp_path / "docs").mkdir()
    shutil.copy(REPO / "docs" / "backend_contract.md", tmp_path / "docs")  # [brief] sections
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_project_prose_comes_from_brief_in_harness_toml(config_copy, capsys):
    contract = config_copy / "docs" / "backend_contract.md"
    contract.write_text(contract.read_text().replace("**Literals.**", "**Backend names.**"))
    harness_toml = config_copy / "selectors" / "harness.toml"
    harness_toml.write_text(harness_toml.read_text().replace(
        'title = "Handoff brief: TEST-PYTORCH-001 regression harness"', 'title = "Our brief"'))
    text = brief.render(config_copy)
    assert text.startswith("# Our brief\n") and "**Backend names.**" in text
    assert "regression harness\n" not in text.splitlines(keepends=True)[0]
    contract.unlink()
    assert cli.main(["brief"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: selectors/harness.toml: brief.sections[0]: cannot read "
                          "'docs/backend_contract.md'") and len(err.splitlines()) == 1


def test_brief_follows_config_changes_and_check_fails_when_stale(config_copy, capsys):
    assert cli.main(["brief"]) == 0
    committed = config_copy / brief.BRIEF_FILE
    assert committed.read_text() == brief.render(config_copy)
    assert cli.main(["brief", "--check"]) == 0

    budgets = config_copy / "selectors" / "budgets.toml"
    budgets.write_text(budgets.read_text().replace("max_s = 90.0", "max_s = 75.0", 1))
    owners = config_copy / "selectors" / "owners.toml"
    owners.write_text(owners.read_text().replace('label = "dispatcher"', 'label = "routing"', 1))
    capsys.readouterr()
    assert cli.main(["brief", "--check"]) == 1
    captured = capsys.readouterr()
    assert "+| **per_pr** |" in captured.out and "ceiling 75 s wall" in captured.out
    assert "`routing`" in captured.out
    assert "differs from the configuration" in captured.err
    assert "ceiling 90 s wall" in committed.read_text()  # --check writes nothing

    assert cli.main(["brief", "--output", "-"]) == 0
    assert "ceiling 75 s wall" in capsys.readouterr().out


def test_brief_refuses_broken_config_with_one_line(config_copy, capsys):
    owners = config_copy / "selectors" / "owners.toml"
    owners.write_text(owners.read_text().replace('[components."dispatcher"]', '[components."x"]'))
    assert cli.main(["brief"]) == 2
    err = capsys.readouterr().err.strip()
    # the groups name an owner that owners.toml no longer has
    assert err.startswith("error: selectors/groups.toml:") and "'dispatcher'" in err
    assert "components of selectors/owners.toml" in err
    assert len(err.splitlines()) == 1
    assert not (config_copy / brief.BRIEF_FILE).exists()
