"""``Engine``: runs a model over a data loader, for statistics and metrics (POT spec 1.4)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from fastpot.api.data_loader import DataLoader
from fastpot.api.metric import Metric
from fastpot.utils.attrdict import Dict

__all__ = ["Engine"]


class Engine(ABC):
    """Base class of inference engines.

    Parameters
    ----------
    config : dict
        Engine configuration (attribute access); ``stat_requests_number`` and
        ``eval_requests_number`` are read here.
    data_loader : DataLoader, optional
    metric : Metric, optional
    """

    def __init__(
        self, config: Any, data_loader: DataLoader | None = None, metric: Metric | None = None
    ) -> None:
        self.config = Dict(config) if isinstance(config, dict) else config
        self._data_loader = data_loader
        self._metric = metric
        self._stat_requests_number = self.config.get("stat_requests_number")
        self._eval_requests_number = self.config.get("eval_requests_number")
        # Set by algorithms, as in POT.
        self.calculate_metrics = False
        self.allow_pairwise_subset = False
        self.dump_prediction_to_annotation = False
        self.annotation_conf_threshold = 0.0

    @property
    def data_loader(self) -> DataLoader | None:
        """The data loader; an empty one is an error."""
        if self._data_loader is not None and len(self._data_loader) == 0:
            raise RuntimeError("Empty data loader! The data loader has no items.")
        return self._data_loader

    @property
    def metric(self) -> Metric | None:
        """The metric, if any."""
        return self._metric

    def set_model(self, model: Any) -> None:  # noqa: B027 - optional hook, like POT's
        """Load a model (no-op in the base class)."""

    @abstractmethod
    def predict(
        self,
        stats_layout: dict[Any, dict[str, Any]] | None = None,
        sampler: Any = None,
        stat_aliases: dict[Any, dict[str, str]] | None = None,
        metric_per_sample: bool = False,
        print_progress: bool = False,
    ) -> tuple[Any, dict[Any, dict[str, list[Any]]]]:
        """Run the model; return ``(metrics, statistics)``."""

    def get_metrics_attributes(self) -> dict[str, dict[str, str]]:
        """Metric attributes (``{}`` without a metric)."""
        return self._metric.get_attributes() if self._metric is not None else {}
