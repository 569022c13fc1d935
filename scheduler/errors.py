"""The user-error family: shown without a traceback, exit code 2.

Anything that is not a `UserError` (or a connector's `ConnectorUserError`) is a bug
and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix; the message names the file, field or value."""


class ConfigError(UserError):
    """The configuration is invalid. `problems` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class StoreError(UserError):
    """The store cannot be opened or migrated (wrong URL, server down)."""


class AlreadySent(UserError):
    """A report for this month and recipient was sent already (use --resend)."""


class ReportNotDue(UserError):
    """The month is not over, or this installation booked nothing in it: a report
    would mislead leadership (a 0 % month). `--force` sends it anyway."""


class PartialFailure(Exception):
    """Some of a command's work failed and the rest was done: exit code 3.

    Not a `UserError` (part of the work *was* done) and not a bug: the command has
    printed its summary already; the one error handler lists `failures` (one line
    each, naming the person or team and the fix) on stderr and exits 3.
    """

    def __init__(self, what: str, failures: list[str]) -> None:
        self.what = what
        self.failures = failures
        # The whole list in the message too: a job run records str(exc).
        super().__init__(f"{what}: {len(failures)} failed: " + "; ".join(failures))
