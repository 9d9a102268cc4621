"""The project's exception hierarchy.

Every stage wraps the third-party exceptions it meets at its boundary into one of these,
with ``raise ... from exc`` and a message that names the stage and the feed, digest or
file concerned, so a log line or a CLI error is enough to act on.

    MonitorError
    ├── ConfigError      watchlist.yaml is unreadable or invalid (carries every problem)
    ├── FetchError       HTTP: DNS, connect, timeout, status, size cap
    ├── ParseError       the body is not a feed we can read
    ├── StorageError     database unreachable, locked, out of date
    │   └── AlreadyRunning   a second daemon on the same SQLite database
    └── DeliveryError    a webhook POST failed
"""

from __future__ import annotations

from dataclasses import dataclass


class MonitorError(Exception):
    """Base class of every error this project raises on purpose."""


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One problem in a configuration file, positioned for an editor (1-based)."""

    file: str
    line: int
    column: int
    message: str
    severity: str = "error"  # "error" or "warning"
    length: int = 1  # how many characters the problem spans (for a caret line)

    def __str__(self) -> str:
        tag = "" if self.severity == "error" else "warning: "
        return f"{self.file}:{self.line}:{self.column}: {tag}{self.message}"


class ConfigError(MonitorError):
    """The watchlist cannot be used. ``problems`` holds every error found, not just the first."""

    def __init__(self, problems: list[ConfigProblem] | str) -> None:
        if isinstance(problems, str):
            problems = [ConfigProblem("<config>", 1, 1, problems)]
        self.problems: list[ConfigProblem] = problems
        super().__init__("\n".join(str(p) for p in problems))


class FetchError(MonitorError):
    """A feed could not be fetched. ``status`` is the HTTP status when there was one."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        permanent_url: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.permanent_url = permanent_url


class ParseError(MonitorError):
    """A fetched body is not a feed we can read."""


class StorageError(MonitorError):
    """The database cannot do what was asked (unreachable, locked, schema out of date)."""


class AlreadyRunning(StorageError):
    """Another ``monitor run`` holds the lock of this SQLite database."""


class DeliveryError(MonitorError):
    """A webhook delivery attempt failed."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = True,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after
