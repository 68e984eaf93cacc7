"""AccuracyAwareQuantization driven by a validation function instead of a ``Metric``.

:func:`fastpot.quantize_with_accuracy_control` takes NNCF's
``validation_fn(compiled_model, items) -> float | (float, [value per item])`` and two data
sets. POT's ``AccuracyAwareQuantization`` reads one engine: its data loader gives the items it
evaluates and ranks by index, and the statistics of its quantization passes. Here:

* :class:`ValidationEngine` is fastpot's ``IEEngine`` whose data loader is the validation
  items, except inside :meth:`ValidationEngine.calibration_data`, where it is the
  calibration feeds. Metric evaluations (``predict`` without statistics) compile the current
  model and call the validation function on the items the sampler selects; statistics go
  through ``IEEngine``'s own path, so they are those :func:`fastpot.quantize` collects.
* :class:`AccuracyControl` is ``AccuracyAwareQuantization`` with its quantization passes
  (the only steps that register statistics) run inside ``calibration_data``.
* :class:`ValidationMetric` is the ``Metric`` the algorithm checks for (name, direction,
  last values); its values come from the validation function.

Per-item values rank the items and layers. A validation function that returns only a float
is called once more per item, on a one-item list, when per-item values are needed.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from fastpot.algorithms.accuracy_aware.algorithm import AccuracyAwareQuantization
from fastpot.api.metric import Metric
from fastpot.engines.ie_engine import IEEngine
from fastpot.graph.model import CompressedModel
from fastpot.quantization.dataset import ItemLoader
from fastpot.samplers.sampler import Sampler

__all__ = ["AccuracyControl", "ValidationEngine", "ValidationMetric", "metric_name"]

ValidationFn = Callable[[Any, Sequence[Any]], Any]


def metric_name(validation_fn: Any) -> str:
    """Name the metric after the validation function (``metric`` for a lambda).

    Leading underscores are dropped (``_top1`` is ``top1``): plots and tables of the report
    treat names starting with one as hidden.
    """
    name = str(getattr(validation_fn, "__name__", "")).lstrip("_")
    return name if name and not name.startswith("<") else "metric"


class ValidationMetric(Metric):
    """The validation function's result as the ``Metric`` AccuracyAwareQuantization reads.

    Higher is better (as NNCF assumes). :class:`ValidationEngine` records each evaluation;
    ``update`` is never called (the engine does not hand outputs to this metric).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__()

    def reset(self) -> None:
        """Forget the last evaluation."""
        self._average = math.nan
        self._values: list[float] = []

    def record(self, average: float, values: list[float]) -> None:
        """Store one evaluation: its average and per-item values (may be empty)."""
        self._average = average
        self._values = list(values)

    @property
    def value(self) -> dict[str, list[float]]:
        """Per-item values of the last evaluation."""
        return {self.name: list(self._values)}

    @property
    def avg_value(self) -> dict[str, float]:
        """The last evaluation's value."""
        return {self.name: self._average}

    def update(self, output: Any, target: Any) -> None:
        """Not used: the validation function computes the metric from the compiled model."""
        raise RuntimeError(
            "ValidationMetric is computed by the validation function, not from outputs"
        )

    def get_attributes(self) -> dict[str, dict[str, str]]:
        """One higher-better metric."""
        return {self.name: {"direction": "higher-better", "type": self.name}}


def _number(value: Any, what: str) -> float:
    try:
        number = float(np.asarray(value, dtype=np.float64).reshape(()))
    except (TypeError, ValueError):
        raise TypeError(f"validation_fn: {what} must be a number, got {value!r:.80}") from None
    return number


def split_result(result: Any, items: int) -> tuple[float, list[float] | None]:
    """(value, per-item values or None) of one validation_fn call on `items` items.

    Raises
    ------
    TypeError
        Not a number or a ``(number, list)`` pair.
    ValueError
        A per-item list of another length than the items.
    """
    if isinstance(result, tuple):
        if len(result) != 2:
            raise TypeError(
                "validation_fn: expected a float or (float, [value per item]), got a tuple of "
                f"{len(result)}"
            )
        value, per_item = result
        average = _number(value, "the metric value")
        if per_item is None:
            return average, None
        values = [_number(v, "each per-item value") for v in per_item]
        if len(values) != items:
            raise ValueError(
                f"validation_fn: {len(values)} per-item values for {items} validation items"
            )
        return average, values
    return _number(result, "the metric value"), None


class ValidationEngine(IEEngine):
    """``IEEngine`` over calibration feeds whose metric is a validation function.

    Parameters
    ----------
    calibration : ItemLoader
        Items ``({input name: array}, None)`` statistics are collected on.
    validation : ItemLoader
        The validation items, handed to `validation_fn` as they are.
    validation_fn : callable
        ``validation_fn(compiled_model, items)``.
    metric : ValidationMetric
        Receives each evaluation.
    config : mapping, optional
        IEEngine config (default ``{"device": "CPU"}``; ``cache_dir`` for the statistics
        store); its device runs statistics and validation.
    """

    config_keys = IEEngine.config_keys

    def __init__(
        self,
        calibration: ItemLoader,
        validation: ItemLoader,
        validation_fn: ValidationFn,
        metric: ValidationMetric,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(dict(config or {"device": "CPU"}), validation, metric)
        self._calibration = calibration
        self._validation = validation
        self._validation_fn = validation_fn
        self._validation_metric = metric
        self.validation_calls = 0

    @contextlib.contextmanager
    def calibration_data(self) -> Iterator[None]:
        """Within the block, the data loader is the calibration feeds."""
        previous = self._data_loader
        self._data_loader = self._calibration
        try:
            yield
        finally:
            self._data_loader = previous

    def collect_statistics(
        self, accumulators: dict[Any, list[Any]], sampler: Sampler, print_progress: bool = False
    ) -> None:
        """IEEngine's statistics (overridden so that fastpot's collector keeps using it)."""
        super().collect_statistics(accumulators, sampler, print_progress)

    def predict(
        self,
        stats_layout: dict[Any, dict[str, Callable[[np.ndarray], Any]]] | None = None,
        sampler: Sampler | None = None,
        stat_aliases: dict[Any, dict[str, str]] | None = None,
        metric_per_sample: bool = False,
        print_progress: bool = False,
    ) -> tuple[Any, dict[Any, dict[str, list[Any]]]]:
        """Statistics as IEEngine; metrics by calling the validation function.

        Returns
        -------
        (metrics, statistics)
            As :meth:`IEEngine.predict`: ``{name: value}``, or with `metric_per_sample`
            ``([{"sample_id", "metric_name", "result"}, ...], {name: value})``.
        """
        if stats_layout or self._data_loader is self._calibration:
            metric, self._metric = self._metric, None  # statistics only: no labels here
            try:
                return super().predict(
                    stats_layout, sampler, stat_aliases, metric_per_sample, print_progress
                )
            finally:
                self._metric = metric
        if self._model is None:
            raise RuntimeError("Model was not set in Engine class")
        indices = sampler.indices if sampler is not None else list(range(len(self._validation)))
        items = [self._validation.items[i] for i in indices]
        # float32 on CPU, as IEEngine's own evaluations (and NNCF's): bf16 noise would blur drops
        compiled = self._core.compile_model(
            self._model, str(self.config["device"]), self._compile_config(asynchronous=True)
        )
        average, values = split_result(self._call(compiled, items), len(items))
        name = self._validation_metric.name
        if not metric_per_sample:
            self._validation_metric.record(average, values or [])
            return {name: average}, {}
        if values is None:  # one call per item (the function gave no per-item values)
            values = [split_result(self._call(compiled, [item]), 1)[0] for item in items]
        self._validation_metric.record(average, values)
        entries = [
            {"sample_id": i, "metric_name": name, "result": v}
            for i, v in zip(indices, values, strict=True)
        ]
        return (entries, {name: average}), {}

    def _call(self, compiled: Any, items: list[Any]) -> Any:
        self.validation_calls += 1
        return self._validation_fn(compiled, items)


class AccuracyControl(AccuracyAwareQuantization):
    """AccuracyAwareQuantization whose quantization passes read the calibration feeds."""

    def __init__(self, config: Any, engine: ValidationEngine) -> None:
        super().__init__(config, engine)
        self._validation_engine = engine

    def _quantize(self, model: CompressedModel, config: dict[str, Any], variant: str) -> Any:
        with self._validation_engine.calibration_data():
            return super()._quantize(model, config, variant)

    def _prefetch(self, model: CompressedModel, configs: list[dict[str, Any]]) -> None:
        with self._validation_engine.calibration_data():
            super()._prefetch(model, configs)
