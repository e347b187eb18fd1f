"""Exit statuses and the user-facing error type; one place maps one to the other."""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    SUCCESS = 0
    ERROR = 1  # runtime error
    USAGE = 2  # bad flags, bad input
    UNAVAILABLE = 3  # model or backend unavailable
    NO_PASS = 4  # verification found no passing candidate
    INTERRUPTED = 130  # 128 + SIGINT


class ThinkError(Exception):
    """An expected failure: one line for the user that names the fix, and an exit status."""

    status = ExitStatus.ERROR

    def __init__(self, message: str, status: ExitStatus | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status

    @property
    def message(self) -> str:
        return str(self.args[0])


class UsageError(ThinkError):
    status = ExitStatus.USAGE


class ModelUnavailable(ThinkError):
    status = ExitStatus.UNAVAILABLE


class BackendError(ThinkError):
    """A backend failed at run time (HTTP error, decode failure)."""

    status = ExitStatus.ERROR


class ConfigError(ThinkError):
    status = ExitStatus.USAGE


class DeadlineReached(Exception):
    """A backend call ran into its ``GenParams.deadline``; the engine turns it into the time budget's stop."""


class CallCancelled(Exception):
    """A backend call saw its ``GenParams.cancel`` set; the engine stops the run as on Ctrl-C."""
