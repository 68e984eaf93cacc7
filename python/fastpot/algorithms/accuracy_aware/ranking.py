"""Metrics, evaluations and node importance of AccuracyAwareQuantization.

Per-sample values are matched by ``sample_id`` (the loader index with fastpot's IEEngine),
never by position, so the comparison of two models stays aligned however the engine
schedules its requests.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fastpot.api._hints import did_you_mean
from fastpot.api.metric import Metric
from fastpot.samplers import create_sampler

__all__ = [
    "Evaluation",
    "Evaluator",
    "MetricSpec",
    "check_per_sample_values",
    "metric_specs",
    "ranking_subset",
]

logger = logging.getLogger("fastpot.algorithms.accuracy_aware")

DIRECTIONS = ("higher-better", "higher-worse")


@dataclass(frozen=True)
class MetricSpec:
    """One metric AA optimises: its name, direction and optional given baseline."""

    name: str
    type: str
    direction: str
    baseline: float | None = None

    def comparator(self, value: float) -> float:
        """`value` oriented so that larger is better (POT's comparator)."""
        return value if self.direction == "higher-better" else -value


def metric_specs(engine: Any, metrics_param: Any) -> list[MetricSpec]:
    """Validate the engine's metric and the ``metrics`` parameter; return what AA optimises.

    Raises
    ------
    ValueError
        No metric on the engine, an unknown metric name, an unknown direction, or a bad
        ``baseline_value``.
    """
    if getattr(engine, "metric", None) is None:
        raise ValueError(
            "AccuracyAwareQuantization: the engine has no metric; create it with "
            "IEEngine(config, data_loader, metric) where metric implements per-sample 'value'"
        )
    attributes = engine.get_metrics_attributes() or {}
    if not isinstance(attributes, Mapping):
        raise TypeError(
            "AccuracyAwareQuantization: metric.get_attributes() must return "
            f"{{name: {{'direction': ..., 'type': ...}}}}, got {type(attributes).__name__}"
        )
    wanted: list[Mapping[str, Any]]
    if metrics_param in (None, {}, []):
        wanted = [{"name": name} for name in attributes]
    else:
        if not isinstance(metrics_param, Sequence) or isinstance(metrics_param, str):
            raise ValueError(
                "metrics: expected a list of {'name': ..., 'baseline_value': ...} entries"
            )
        wanted = []
        for i, entry in enumerate(metrics_param):
            if not isinstance(entry, Mapping) or "name" not in entry:
                raise ValueError(f"metrics[{i}]: expected {{'name': ..., 'baseline_value': ...}}")
            wanted.append(entry)
    specs = []
    for i, entry in enumerate(wanted):
        name = str(entry["name"])
        if name not in attributes:
            raise ValueError(
                f"metrics[{i}]: the engine's metric has no {name!r}"
                f"{did_you_mean(name, attributes)} "
                f"(available: {', '.join(map(str, attributes)) or 'none'})"
            )
        attr = attributes[name] or {}
        direction = attr.get("direction")
        if direction not in DIRECTIONS:
            raise ValueError(
                f"metric {name!r}: direction {direction!r} is not one of {DIRECTIONS}"
                f"{did_you_mean(direction, DIRECTIONS)} (set it in Metric.get_attributes())"
            )
        baseline = entry.get("baseline_value")
        if baseline is not None:
            try:
                baseline = float(baseline)
            except (TypeError, ValueError):
                raise ValueError(
                    f"metrics[{i}].baseline_value: {baseline!r} is not a number"
                ) from None
            if not math.isfinite(baseline):
                raise ValueError(f"metrics[{i}].baseline_value: {baseline!r} is not finite")
        specs.append(
            MetricSpec(
                name, str(entry.get("type") or attr.get("type") or name), direction, baseline
            )
        )
    return specs


def check_per_sample_values(metric: Any) -> None:
    """Refuse a metric without per-sample ``value`` before any inference is done.

    The property must be overridden: the class's ``value`` must not be the base class's own
    (:class:`fastpot.api.Metric`, which ``openvino.tools.pot`` re-exports), whatever module
    the metric's class lives in (POT's samples define metrics under
    ``openvino.tools.pot.api.samples``). Probing it on the fresh metric must not raise
    ``NotImplementedError`` either (what a base ``value`` of another Metric class does).
    Other exceptions of the probe are tolerated: a metric may have nothing to report before
    its first batch.

    Raises
    ------
    ValueError
        The metric does not implement per-sample values.
    """
    msg = (
        f"AccuracyAwareQuantization: the metric {type(metric).__name__} does not implement the "
        "per-sample 'value' property ({name: [one value per sample of the last batch]}), "
        "which AA needs to rank samples and layers"
    )
    owner = next((c for c in type(metric).__mro__ if "value" in c.__dict__), None)
    if owner is None or owner.__dict__["value"] is Metric.__dict__["value"]:
        raise ValueError(msg)
    try:
        metric.value  # noqa: B018 - probing the property
    except NotImplementedError:
        raise ValueError(msg) from None
    except Exception as exc:  # noqa: BLE001 - a fresh metric may have no last batch yet
        logger.debug("metric.value probe raised %s (tolerated before the first batch)", exc)


@dataclass
class Evaluation:
    """Metrics of one model: averages and ``{metric: {sample_id: value}}``."""

    metrics: dict[str, float]
    per_sample: dict[str, dict[Hashable, float]] = field(default_factory=dict)


def _per_sample(
    entries: Sequence[Mapping[str, Any]], names: set[str]
) -> dict[str, dict[Any, float]]:
    out: dict[str, dict[Any, float]] = {n: {} for n in names}
    for e in entries:
        name = e["metric_name"]
        if name not in out:
            continue
        result = e["result"]
        value = float("nan") if result is None else float(np.nanmean(np.asarray(result, float)))
        sample_id = e["sample_id"]
        if sample_id in out[name]:
            raise RuntimeError(
                f"metric {name!r}: two per-sample values for sample_id {sample_id!r}; "
                "per-sample ids must identify loader items"
            )
        out[name][sample_id] = value
    return out


class Evaluator:
    """Runs evaluations through the engine's asynchronous path and counts them.

    Full-dataset evaluations are memoised by a state key (the set of reverted FakeQuantize
    nodes of a quantized configuration): inference is deterministic, so a state met again
    needs no second pass. Subset evaluations (ranking, grid search) are counted apart.
    """

    def __init__(self, engine: Any, specs: list[MetricSpec], print_progress: bool) -> None:
        self.engine = engine
        self.specs = specs
        self.names = {s.name for s in specs}
        self.print_progress = print_progress
        self.full_evaluations = 0
        self.full_reused = 0
        self.subset_evaluations = 0
        self.samples = 0
        self.seconds = 0.0
        self._memo: dict[Hashable, Evaluation] = {}
        self._subset_memo: dict[Hashable, dict[str, float]] = {}

    @property
    def dataset_size(self) -> int:
        """Number of items in the engine's data loader."""
        return len(self.engine.data_loader)

    def result(self, key: Hashable) -> Evaluation:
        """Return the full evaluation memoised under `key`."""
        return self._memo[key]

    def _predict(
        self, model: Any, sampler: Any, per_sample: bool, progress: bool
    ) -> tuple[Any, float]:
        self.engine.calculate_metrics = True
        start = time.perf_counter()
        self.engine.set_model(model)
        metrics, _ = self.engine.predict(
            sampler=sampler, metric_per_sample=per_sample, print_progress=progress
        )
        elapsed = time.perf_counter() - start
        self.seconds += elapsed
        if metrics is None:
            raise RuntimeError("AccuracyAwareQuantization: the engine returned no metrics")
        self._check_result(metrics, per_sample)
        return metrics, elapsed

    def _check_result(self, metrics: Any, per_sample: bool) -> None:
        """Refuse a malformed ``predict`` result (custom engines are not checked per batch)."""
        owner = f"metric {type(getattr(self.engine, 'metric', None)).__name__}"
        averages = metrics
        if per_sample:
            if not (isinstance(metrics, tuple) and len(metrics) == 2):
                raise TypeError(
                    f"AccuracyAwareQuantization: predict(metric_per_sample=True) must return "
                    f"([{{'sample_id', 'metric_name', 'result'}}, ...], {{name: float}}) as "
                    f"metrics, got {type(metrics).__name__}"
                )
            entries, averages = metrics
            if not isinstance(entries, Sequence) or not all(
                isinstance(e, Mapping) and {"sample_id", "metric_name", "result"} <= set(e)
                for e in entries
            ):
                raise TypeError(
                    f"AccuracyAwareQuantization: {owner}: per-sample results must be "
                    "[{'sample_id': ..., 'metric_name': ..., 'result': ...}, ...] (from "
                    "Metric.value, {name: [one value per sample]})"
                )
        if not isinstance(averages, Mapping):
            raise TypeError(
                f"AccuracyAwareQuantization: {owner}: avg_value must be {{name: float}}, got "
                f"{type(averages).__name__} {averages!r:.60}"
            )

    def full(
        self,
        model: Any,
        key: Hashable | None = None,
        per_sample_ids: set[Any] | None = None,
    ) -> Evaluation:
        """Evaluate `model` on the whole dataset with per-sample values (memoised by `key`)."""
        if key is not None and key in self._memo:
            self.full_reused += 1
            return self._memo[key]
        sampler = create_sampler(self.engine, list(range(self.dataset_size)))
        (entries, averages), elapsed = self._predict(
            model, sampler, per_sample=True, progress=self.print_progress
        )
        self.full_evaluations += 1
        self.samples += self.dataset_size
        table = _per_sample(entries, self.names)
        if per_sample_ids is not None:
            table = {
                n: {i: v for i, v in t.items() if i in per_sample_ids} for n, t in table.items()
            }
        ev = Evaluation(self._averages(averages), table)
        logger.debug("full evaluation %.2f s: %s", elapsed, ev.metrics)
        if key is not None:
            self._memo[key] = ev
        return ev

    def subset(
        self,
        model: Any,
        indices: Sequence[int],
        per_sample: bool = False,
        key: Hashable | None = None,
    ) -> Evaluation:
        """Evaluate `model` on the loader items `indices` (memoised by `key`)."""
        memo_key = None if key is None else (key, tuple(indices), per_sample)
        if memo_key is not None and memo_key in self._subset_memo:
            return Evaluation(self._subset_memo[memo_key])
        sampler = create_sampler(self.engine, list(indices))
        # Silent: subset evaluations are counted by the caller's progress bar.
        result, _ = self._predict(model, sampler, per_sample=per_sample, progress=False)
        self.subset_evaluations += 1
        self.samples += len(indices)
        if per_sample:
            entries, averages = result
            return Evaluation(self._averages(averages), _per_sample(entries, self.names))
        ev = Evaluation(self._averages(result))
        if memo_key is not None:
            self._subset_memo[memo_key] = ev.metrics
        return ev

    def _averages(self, averages: Mapping[str, Any]) -> dict[str, float]:
        missing = self.names - set(averages)
        if missing:
            raise RuntimeError(
                f"metric.avg_value has no {sorted(missing)} (got {sorted(averages)})"
            )
        return {n: float(np.nanmean(np.asarray(averages[n], float))) for n in self.names}


def ranking_subset(
    original: Mapping[Any, float],
    quantized: Mapping[Any, float],
    comparator: Callable[[float], float],
    size: int,
) -> list[Any]:
    """Return the `size` samples that degrade most: largest ``comparator(original - quantized)``.

    Samples are matched by id (those both models have a value for); ties go to the smaller
    id. Returns sample ids in that order.
    """
    common = [i for i in original if i in quantized]
    if not common:
        raise RuntimeError(
            "no per-sample metric values in common between the FP32 and the quantized model "
            "(check that metric.value reports one value per sample)"
        )

    def degradation(i: Any) -> float:
        d = comparator(original[i] - quantized[i])
        return -math.inf if math.isnan(d) else d

    ranked = sorted(common, key=lambda i: (-degradation(i), _order(i)))
    return ranked[:size]


def _order(sample_id: Any) -> tuple[int, Any]:
    return (0, sample_id) if isinstance(sample_id, (int, np.integer)) else (1, str(sample_id))
