# Project-wide pytest setup: the regression harness plugin (groups, markers, artifact_dir,
# harness runs), the suite's reconstruction gallery for report.html (a harness hook,
# tests/suite/report_gallery.py) and pytester for the harness self-tests in tests/harness/.
# pytest only accepts `pytest_plugins` in this top-level conftest.
pytest_plugins = ["harness.plugin", "tests.suite.report_gallery", "pytester"]

# tests/second_project is a project of its own (tests/harness/test_second_project.py runs it
# through the harness in a copy): its tests are not the main suite's.
collect_ignore = ["tests/second_project"]
