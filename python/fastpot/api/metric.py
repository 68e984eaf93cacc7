"""``Metric``: accuracy measurement plugged into the engine."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

import numpy as np

from fastpot.api._hints import did_you_mean

__all__ = ["Metric", "check_metric_formats"]


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
    def update(self, output: Any, target: Any) -> object:
        """Add a batch: processed model outputs and the batch's annotations (in order).

        Engines ignore the return value (some of POT's sample metrics return their
        per-image results).
        """

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


_DIRECTIONS = ("higher-better", "higher-worse")
_AVG_FORMAT = "{name: float} (one average per metric)"
_VALUE_FORMAT = "{name: [one value per sample of the last batch]}"
_ATTRIBUTES_FORMAT = "{name: {'direction': 'higher-better' | 'higher-worse', 'type': str}}"


def _shown(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def _numeric(value: Any) -> bool:
    """Whether `value` is a real number or an array of them (no strings, no complex)."""
    if isinstance(value, (str, bytes, Mapping)):
        return False
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        return False
    return array.dtype.kind in "biuf"


def check_metric_formats(metric: Any, batch_size: int, per_sample: bool) -> None:
    """Check what a metric reports after its first batch, before a long run goes on.

    ``avg_value`` must be ``{name: float}``, ``get_attributes()`` ``{name: {"direction":
    ..., "type": ...}}`` naming metrics that ``avg_value`` reports, and (when per-sample
    values are wanted, as AccuracyAwareQuantization does) ``value`` ``{name: [value per
    sample]}`` with `batch_size` values each.

    Parameters
    ----------
    metric : Metric
        The metric, updated with one batch.
    batch_size : int
        The number of items of that batch.
    per_sample : bool
        Whether ``value`` is read too.

    Raises
    ------
    TypeError
        A wrong format, naming the metric class, the member and what it returned.
    ValueError
        An unknown direction, or attributes of metrics ``avg_value`` does not report.
    """
    cls = type(metric).__name__
    avg = metric.avg_value
    if not isinstance(avg, Mapping):
        raise TypeError(f"metric {cls}: avg_value must be {_AVG_FORMAT}, got {_shown(avg)}")
    for name, value in avg.items():
        if not _numeric(value):
            raise TypeError(
                f"metric {cls}: avg_value[{name!r}] must be a number ({_AVG_FORMAT}), "
                f"got {_shown(value)}"
            )
    get_attributes = getattr(metric, "get_attributes", None)
    attributes = get_attributes() if callable(get_attributes) else {}
    if not isinstance(attributes, Mapping):
        raise TypeError(
            f"metric {cls}: get_attributes() must return {_ATTRIBUTES_FORMAT}, "
            f"got {_shown(attributes)}"
        )
    for name, attrs in attributes.items():
        if not isinstance(attrs, Mapping):
            raise TypeError(
                f"metric {cls}: get_attributes()[{name!r}] must be {{'direction': ..., "
                f"'type': ...}} ({_ATTRIBUTES_FORMAT}), got {_shown(attrs)}"
            )
        direction = attrs.get("direction")
        if direction is not None and direction not in _DIRECTIONS:
            raise ValueError(
                f"metric {cls}: get_attributes()[{name!r}]['direction'] is {direction!r}, "
                f"not one of {_DIRECTIONS}{did_you_mean(direction, _DIRECTIONS)}"
            )
        if name not in avg:
            raise ValueError(
                f"metric {cls}: get_attributes() names {name!r}, which avg_value does not "
                f"report (avg_value has {sorted(map(str, avg))})"
            )
    if not per_sample:
        return
    values = metric.value
    if not isinstance(values, Mapping):
        raise TypeError(f"metric {cls}: value must be {_VALUE_FORMAT}, got {_shown(values)}")
    for name, value in values.items():
        if not _numeric(value) and not (
            isinstance(value, (list, tuple)) and all(v is None or _numeric(v) for v in value)
        ):
            raise TypeError(
                f"metric {cls}: value[{name!r}] must be a list of numbers, one per sample of "
                f"the batch ({batch_size}), got {_shown(value)}"
            )
