"""``Metric``: accuracy measurement plugged into the engine (POT spec 1.3)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

__all__ = ["Metric"]


class Metric(ABC):
    """Accumulates predictions against annotations; ``reset`` runs on construction."""

    def __init__(self) -> None:
        self.reset()

    @property
    def value(self) -> dict[str, list[float]]:
        """Per-sample values of the last batch, ``{name: [value per sample]}``.

        Needed by AccuracyAwareQuantization; the default raises.
        """
        raise NotImplementedError(
            "Metric.value: implement per-sample values to use AccuracyAwareQuantization"
        )

    @property
    @abstractmethod
    def avg_value(self) -> dict[str, float]:
        """Return ``{name: value}`` over everything since ``reset``."""

    @abstractmethod
    def update(self, output: Any, target: Any) -> None:
        """Add a batch: processed model outputs and the batch's annotations (in order)."""

    @abstractmethod
    def reset(self) -> None:
        """Forget everything accumulated."""

    def __call__(self, output: Any, target: Any) -> None:
        """Forward to :meth:`update`."""
        self.update(output, target)

    @property
    def higher_better(self) -> bool:
        """Whether larger values are better (informational)."""
        return True

    @abstractmethod
    def get_attributes(self) -> dict[str, dict[str, str]]:
        """Return ``{name: {"direction": "higher-better" | "higher-worse", "type": str}}``."""
