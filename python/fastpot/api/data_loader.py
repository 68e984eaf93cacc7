"""``DataLoader``: the calibration / evaluation data a user provides."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from fastpot.utils.attrdict import Dict

__all__ = ["DataLoader"]


class DataLoader(ABC):
    """Indexable dataset of items ``(data, annotation[, meta])``.

    ``data`` is an array (single-input model) or ``{input_name: array}``; the annotation may
    be None. The legacy forms ``((sample_id, annotation), data)`` and ``({sample_id:
    annotation}, data)`` are accepted too.

    Parameters
    ----------
    config : dict
        Stored as ``self.config`` (attribute access). Required, as in POT; subclasses that
        define their own ``__init__`` need not call this one.
    """

    def __init__(self, config: Any) -> None:
        self.config = Dict(config) if isinstance(config, dict) else config

    @abstractmethod
    def __len__(self) -> int:
        """Return the number of items."""

    @abstractmethod
    def __getitem__(self, index: int) -> Any:
        """Return item `index` (0 <= index < len)."""
