"""Fixtures for the harness self-tests: a throw-away project (pytester's tmp dir) holding the
real selectors/*.toml, a conftest that loads harness.plugin and synthetic tests."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                    "TF_NUM_INTEROP_THREADS")


class Project:
    """A synthetic project under pytester.path: write tests, edit TOML, run pytest/harness."""

    def __init__(self, pytester: pytest.Pytester):
        self.pytester = pytester
        self.path = pytester.path
        self.artifacts = self.path / "artifacts"

    def write(self, relative: str, text: str) -> Path:
        path = self.path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def edit_toml(self, name: str, old: str, new: str) -> None:
        path = self.path / "selectors" / name
        text = path.read_text()
        assert old in text, f"{old!r} not in {name}"
        path.write_text(text.replace(old, new, 1))

    def runs(self) -> list[Path]:
        from harness.records import runfolder

        return runfolder.list_runs(self.artifacts)

    def report(self, run: Path | None = None) -> dict:
        run = run or self.runs()[-1]
        return json.loads((run / "report.json").read_text())

    def ledger_lines(self) -> list[dict]:
        path = self.artifacts / "ledger.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def harness(self, *args: str, timeout: float = 120, **popen) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "harness", *args], cwd=self.path,
                              capture_output=True, text=True, timeout=timeout, **popen)

    def harness_popen(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "harness", *args], cwd=self.path,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Project:
    for name in ("groups.toml", "harness.toml"):
        target = pytester.path / "selectors" / name
        target.parent.mkdir(exist_ok=True)
        shutil.copy(REPO / "selectors" / name, target)
    pytester.makeconftest('pytest_plugins = ["harness.plugin"]\n')
    # no:hypothesispytest as in pyproject.toml (its plugin costs every pytest process ~1.2 s)
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider -p no:hypothesispytest\n"
                     "strict_markers = true\n")
    monkeypatch.setenv("HARNESS_ARTIFACTS", str(pytester.path / "artifacts"))
    # the plugin caps threads in os.environ; pin them so in-process runs change nothing here
    for name in THREAD_VARIABLES:
        monkeypatch.setenv(name, "1")
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return Project(pytester)


# One test per group plus one outside the suite: enough to see every selection.
SUITE = {
    "tests/suite/integration/test_integration.py": "def test_train_save_load_infer():\n    pass\n",
    "tests/suite/backend_selection/test_backend_selection.py": "def test_dispatch():\n    pass\n",
    "tests/suite/parity/test_parity.py": "def test_forward_parity():\n    pass\n",
    "tests/suite/model_manager/test_model_manager.py": "def test_archive_roundtrip():\n    pass\n",
    "tests/unit/test_unit.py": "def test_unit():\n    pass\n",
}


@pytest.fixture
def suite(project: Project) -> Project:
    for relative, text in SUITE.items():
        project.write(relative, text)
    return project

