"""Errors raised by slawatch.

Every error a user can cause carries the data needed to fix it, and its message says
what was wrong, where, what was expected and what to do::

    SlawatchError
    ├── ConfigError          settings or policy file problems (file, key, fix)
    │   └── PolicyError      one or more problems in a policy file
    ├── InvalidEvent         an input event breaks the contract (code, field, message)
    └── BrokerError          the local Kafka broker could not be started or reached
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BrokerError", "ConfigError", "InvalidEvent", "PolicyError", "PolicyProblem", "SlawatchError"]


class SlawatchError(Exception):
    """Root of every error slawatch raises on purpose."""


class ConfigError(SlawatchError):
    """A setting is missing or wrong; the message names the file, the key and the fix."""

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None) -> None:
        super().__init__(message)
        self.file = file
        self.key = key


@dataclass(frozen=True, slots=True)
class PolicyProblem:
    """One problem found in a policy file."""

    file: str
    key: str
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.file}: {self.key}: {self.problem} (fix: {self.fix})"


class PolicyError(ConfigError):
    """A policy file has one or more problems; all of them are listed, not just the first."""

    def __init__(self, problems: list[PolicyProblem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        first = problems[0] if problems else None
        super().__init__(
            f"policy has {len(problems)} problem(s):\n{lines}",
            file=first.file if first else None,
            key=first.key if first else None,
        )


class InvalidEvent(SlawatchError):
    """An event breaks the contract (events.md); it is dead-lettered, never applied.

    ``code`` is a short machine code (``missing_field``, ``bad_type`` ...), ``field``
    the offending field (or None), and the message a human sentence.
    """

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.field = field

    @property
    def message(self) -> str:
        return str(self.args[0])


class BrokerError(SlawatchError):
    """The local Kafka broker could not be started, stopped or reached."""


class EngineFault(RuntimeError):
    """The native engine failed (a bug in it, not bad input): an ordinary exception, so
    that the worker dead-letters the message (``internal_error``) and goes on."""
