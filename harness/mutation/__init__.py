"""Mutation testing of the guarded package: does the suite notice a regression?

`harness mutate [COMPONENT ...]` (nox -s mutation) mutates the modules of each component named
in selectors/components.toml with cosmic-ray's operators, runs only the tests that guard that
component on every mutant (`pytest -x`: stop at the first failing test, with a timeout), and
records killed / survived / timed out per component. The scores go where the other verdicts go:
report.json (`mutation`), report.md, report.html, the ledger line (with a trend in
`harness history`), and surviving mutants become findings routed to the component's owner
(selectors/owners.toml). Equivalent mutants are listed, each with its reason, in
selectors/equivalent_mutants.toml.

Modules:
    config    selectors/components.toml and selectors/equivalent_mutants.toml, checked
    engine    enumerate mutants (cosmic-ray), run them in scratch copies of the project
    score     per-component scores, findings, escalations, report.json's `mutation`
    render    report.md lines, the report.html section, the history trend table
    command   the `harness mutate` subcommand (run, shard, merge)
    arguments its command line (light: the CLI's parser imports nothing heavy)
    importguard  a pytest plugin that fails a test process that imported a forbidden framework
"""
