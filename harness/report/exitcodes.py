"""The exit status of every harness command and run: one enum, named after the run statuses of
report.json (`status` "over_budget" exits ExitCode.OVER_BUDGET). The most serious finding wins:
interrupted > failed tests > invalid artifacts > budget findings > green."""
from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    PASSED = 0        # green: tests, artifacts and budgets all fine
    FAILED = 1        # a test failed or errored (whatever else happened)
    ERROR = 2         # usage, configuration or collection error; harness/pytest internal error
    INVALID = 3       # tests green, an artifact failed validation
    OVER_BUDGET = 4   # tests and artifacts green, a finding (budget, escalation) is a violation
    EMPTY = 5         # nothing selected (pytest's "no tests collected")
    INTERRUPTED = 130  # Ctrl-C / SIGTERM: the report holds what had finished

    @classmethod
    def of(cls, status: str) -> ExitCode:
        """The exit code of a run status; ERROR for one that is not a final status ("running")."""
        return cls.__members__.get(status.upper(), cls.ERROR)

    @property
    def status(self) -> str:
        """The report.json status this code stands for ("over_budget")."""
        return self.name.lower()
