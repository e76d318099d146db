"""The pytest plugin of the harness: `-p harness.plugin`, or `pytest_plugins = ["harness.plugin"]`
in a conftest (the top-level conftest.py does). Loading this package loads its plugins:

- recorder: selectors, group markers and, with `--harness-run`, the run folder (report.json, report.md, report.html, junit.xml, logs, ledger line, retention);
- artifacts: the `artifact_dir` fixture (validated, kept or removed per test);
- scaleout: `--harness-shard`, `--accelerator` and the `cuda` marker;
- budgets: runtime budgets, baselines, timeouts and escalations (a pytest_harness_findings
  implementation);
- findings: `--harness-findings-of REPORT` (what `harness merge` runs to judge a merged run).

The hooks it adds to pytest (harness.plugin.hookspecs) are how a project plugs in: findings of
its own and sections of report.html.
"""
from harness.plugin import hookspecs

pytest_plugins = ["harness.plugin.recorder", "harness.plugin.artifacts", "harness.plugin.scaleout",
                  "harness.plugin.budgets", "harness.plugin.findings"]


def pytest_addhooks(pluginmanager):
    pluginmanager.add_hookspecs(hookspecs)
