"""The second project loads the harness plugin and adds one report.html section of its own."""
from harness.report.figures import escape, section

pytest_plugins = ["harness.plugin"]


def pytest_harness_html_sections(config, report, run_dir):
    groups = ", ".join(report.get("groups", {}))
    return [section("Second project", f"<p>groups of this run: {escape(groups)}</p>", "second")]
