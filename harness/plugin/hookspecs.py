"""Hook specifications the harness plugin adds to pytest (extension points for later checks)."""
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
