# Project-wide pytest setup: the regression harness plugin (groups, markers, artifact_dir,
# harness runs) and pytester for the harness self-tests in tests/harness/. pytest only accepts
# `pytest_plugins` in this top-level conftest.
pytest_plugins = ["harness.plugin", "pytester"]
