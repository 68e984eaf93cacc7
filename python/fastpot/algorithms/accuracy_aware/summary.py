"""The machine-readable account of an AccuracyAwareQuantization run.

:class:`Summary` collects, in order, the baseline, every quantized configuration tried, each
ranking and each reverting step with the metrics after it, the counts of full-dataset
evaluations, subset evaluations and statistics passes, and the result. ``as_dict()`` is
JSON-serialisable; :meth:`Summary.write` stores it as ``accuracy_aware_summary.json``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

__all__ = ["SUMMARY_FILE", "Summary"]

SUMMARY_FILE = "accuracy_aware_summary.json"


def _clean(value: Any) -> Any:
    """JSON-friendly copy: floats stay floats (NaN/inf as strings), sets become lists."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_clean(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    try:
        f = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f if math.isfinite(f) else str(f)


class Summary:
    """Accumulates what AccuracyAwareQuantization did (see the module docstring)."""

    def __init__(self, params: dict[str, Any]) -> None:
        self._data: dict[str, Any] = {
            "parameters": _clean(params),
            "baseline": None,
            "allowed_drop": None,
            "configurations": [],
            "rankings": [],
            "steps": [],
            "result": None,
            "counts": {},
        }

    def set(self, key: str, value: Any) -> None:
        """Set a top-level entry."""
        self._data[key] = _clean(value)

    def add(self, key: str, entry: dict[str, Any]) -> None:
        """Append `entry` to the list `key`."""
        self._data[key].append(_clean(entry))

    @property
    def steps(self) -> list[dict[str, Any]]:
        """Reverting steps so far."""
        return list(self._data["steps"])

    def as_dict(self) -> dict[str, Any]:
        """Return a deep copy of the summary."""
        copy: dict[str, Any] = json.loads(json.dumps(self._data))
        return copy

    def write(self, directory: str | os.PathLike[str]) -> Path:
        """Write the summary as JSON into `directory` (atomically); returns the file."""
        path = Path(directory) / SUMMARY_FILE
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self._data, indent=2) + "\n")
        tmp.replace(path)
        return path
