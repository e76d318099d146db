"""Hook specifications the harness plugin adds to pytest: how a project plugs its own checks and
its own report.html sections into the harness (implement them in a conftest or a plugin)."""
import pluggy

hookspec = pluggy.HookspecMarker("pytest")


@hookspec
def pytest_harness_findings(config, report):
    """Called on the controller once a harness run has finished, before report.json is final.

    `report` is report.json's dict (read it, do not modify it). Return a list of finding
    sections - {"source", "title", "severity": "info"|"warning"|"violation", "items": [str]} -
    or None; a section may add "attach": {key: value} (new top-level report.json keys, e.g.
    the budget checks' "budgets" and "escalations"). They are appended to report["findings"],
    rendered in report.md / the terminal,
    and a "violation" turns a green run into status "over_budget" (exit code 4). This is
    where budgets, baselines and escalations plug in.
    """


@hookspec
def pytest_harness_html_sections(config, report, run_dir):
    """Extra sections of report.html, placed after the slowest tests: return a list of HTML
    strings (build them with harness.report.figures: section, figure, metrics_table, escape)
    or None. `report` is report.json's dict (do not modify it), `run_dir` the run folder (its
    tests/ holds the kept artifacts). Called wherever report.html is rendered: on the
    controller when a harness run finishes, by `harness merge` (on the merged report, before
    its findings) and by `harness report RUN --format html` (both in a `pytest --collect-only`
    process in the project root). A hook that raises costs only its sections.
    """
