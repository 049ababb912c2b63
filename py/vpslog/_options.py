"""Validation shared by the event sources' option dataclasses."""

from __future__ import annotations


def refuse_invalid(checks) -> None:
    """Raise one ValueError naming every failed ``(ok, message)`` check."""
    problems = [message for ok, message in checks if not ok]
    if problems:
        raise ValueError("; ".join(problems))


def from_dict(cls, options: dict, what: str):
    unknown = set(options) - set(cls.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown {what} option(s): {', '.join(sorted(unknown))}")
    return cls(**options)
