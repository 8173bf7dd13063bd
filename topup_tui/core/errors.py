"""The exceptions the core raises; both faces turn them into one line for the operator.

`InputError` means the operator typed something the core cannot accept (exit code 2);
`Refused` means the input was well-formed but a rule says no (exit code 1). Neither has
written anything when it is raised.
"""

from __future__ import annotations


class TopupError(Exception):
    """Base of every error the core reports to an operator."""

    exit_code = 1

    def __str__(self) -> str:  # one line, always
        return " ".join(super().__str__().split())


class InputError(TopupError, ValueError):
    """A value failed validation. `field` names the input it came from."""

    exit_code = 2

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


def raise_first(errors: dict[str, str]) -> None:
    """Raise the first of a form's field errors (a face that shows one line at a time)."""
    if errors:
        field, message = next(iter(errors.items()))
        raise InputError(field, message)


class Refused(TopupError):
    """A well-formed request that a rule refuses (nothing written)."""

    exit_code = 1

    def __init__(self, message: str, *, code: str = "refused") -> None:
        self.code = code
        super().__init__(message)


class DatabaseError(TopupError):
    """The database cannot be opened or used as it is (wrong key, newer schema, locked...)."""

    exit_code = 1


class Cancelled(TopupError):
    """A long operation was cancelled by the operator; nothing was written."""

    exit_code = 1

    def __init__(self, message: str = "cancelled; nothing was written") -> None:
        super().__init__(message)
