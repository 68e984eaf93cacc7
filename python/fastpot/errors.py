"""Exceptions raised by fastpot."""

from __future__ import annotations

__all__ = ["BackendUnavailableError", "FastpotError"]


class FastpotError(Exception):
    """Base class of fastpot's own errors."""


class BackendUnavailableError(FastpotError, RuntimeError):
    """A kernel backend was requested explicitly but cannot be used here."""
