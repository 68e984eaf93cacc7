"""``Engine``: runs a model over a data loader, for statistics and metrics."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
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
        owner = type(self).__name__
        if config is None:
            config = {}
        if not isinstance(config, Mapping):
            raise TypeError(
                f"{owner}: config must be a mapping such as {{'device': 'CPU'}}, "
                f"got {type(config).__name__}"
            )
        _check_data_loader(data_loader, owner)
        _check_metric(metric, owner)
        # Read with attribute access (config.device), as POT's engines do: a Dict, or the
        # caller's own mapping type.
        self.config: Any = Dict(config) if isinstance(config, dict) else config
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
        if self._data_loader is not None:
            try:
                size = len(self._data_loader)
            except TypeError as exc:
                raise TypeError(
                    f"data_loader {type(self._data_loader).__name__}: __len__ must return the "
                    f"number of items as an int ({exc})"
                ) from None
            if size == 0:
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


def _check_data_loader(loader: Any, owner: str) -> None:
    """Refuse what cannot be a data loader: a class, an iterator, no ``__len__``/``__getitem__``."""
    if loader is None:
        return
    if isinstance(loader, type):
        raise TypeError(
            f"{owner}: data_loader is the class {loader.__name__}; pass an instance, e.g. "
            f"{loader.__name__}(config)"
        )
    cls = type(loader)
    if callable(getattr(cls, "__len__", None)) and callable(getattr(cls, "__getitem__", None)):
        return
    hint = (
        "; a generator or iterator can be read only once and has no length: collect its items "
        "in a list, or write a DataLoader subclass"
        if isinstance(loader, Iterator)
        else ""
    )
    raise TypeError(
        f"{owner}: data_loader must be a DataLoader (an indexable object with __len__ and "
        f"__getitem__, e.g. a fastpot.api.DataLoader subclass or a list of items), got "
        f"{cls.__name__}{hint}"
    )


def _check_metric(metric: Any, owner: str) -> None:
    """Refuse what cannot be a metric: a class, an object without update/avg_value/reset."""
    if metric is None:
        return
    if isinstance(metric, type):
        raise TypeError(
            f"{owner}: metric is the class {metric.__name__}; pass an instance: {metric.__name__}()"
        )
    missing = [name for name in ("update", "reset", "avg_value") if not hasattr(type(metric), name)]
    if missing:
        raise TypeError(
            f"{owner}: metric must be a Metric (fastpot.api.Metric subclass with update, reset, "
            f"avg_value and get_attributes), got {type(metric).__name__} without {missing}"
        )
