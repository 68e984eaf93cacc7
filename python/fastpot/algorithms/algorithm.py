"""``Algorithm``: the base class of every compression algorithm."""

from __future__ import annotations

import copy
import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from fastpot.algorithms.params import (
    ParameterTypeError,
    check_unknown_keys,
    check_values,
    current_place,
)
from fastpot.utils.attrdict import Dict

if TYPE_CHECKING:
    from fastpot.graph.model import CompressedModel
    from fastpot.statistics.collector import StatisticsCollector

__all__ = ["COMMON_PARAMS", "Algorithm", "UnsupportedParameterError"]

logger = logging.getLogger("fastpot.algorithms")

# Keys any quantization algorithm of POT read; every algorithm accepts them.
COMMON_PARAMS = frozenset(
    {
        "target_device",
        "preset",
        "stat_subset_size",
        "stat_batch_size",
        "shuffle_data",
        "seed",
        "inplace_statistics",
        "model_type",
        "ignored",
        "range_estimator",
        "weights",
        "activations",
        "saturation_fix",
        "use_fast_bias",
        "use_layerwise_tuning",
        "threshold",
        "apply_for_all_nodes",
        "dump_intermediate_model",
        "exec_log_dir",
    }
)


class UnsupportedParameterError(NotImplementedError):
    """A POT parameter value that fastpot recognises but does not implement."""


class Algorithm(ABC):
    """Base class of compression algorithms.

    Subclasses set ``name`` (the registry key) and implement :meth:`run`; those that need
    activation statistics register them in :meth:`register_statistics`, and the pipeline
    collects them before :meth:`run`.

    Parameters
    ----------
    config : dict
        The algorithm's ``params`` (deep-copied; attribute access). The values of the keys
        :meth:`known_params` lists are checked (:mod:`fastpot.algorithms.params`, the
        checks the ``pot`` command line runs too); unknown keys are a warning naming the
        close match.
    engine : Engine
        The engine that runs the model for statistics and metrics.

    Raises
    ------
    fastpot.algorithms.params.ParameterError
        A bad value (a ``ValueError``), naming its key path (``algorithms[i].params.<key>``
        inside ``create_pipeline``); ``ParameterTypeError`` (also a ``TypeError``) for a
        value or a ``config`` of the wrong type.
    """

    name: ClassVar[str] = "Algorithm"
    #: Parameter names this algorithm understands beyond :data:`COMMON_PARAMS`.
    extra_params: ClassVar[frozenset[str]] = frozenset()
    default_steps_size = 0.05

    def __init__(self, config: Mapping[str, Any] | None, engine: Any) -> None:
        self._config = self._checked(config)
        self._engine = engine
        self._algo_collector: StatisticsCollector | None = None
        self.total_exec_steps = 0
        self._warn_unknown_params()

    # ---- configuration -----------------------------------------------------------------------

    @classmethod
    def known_params(cls) -> frozenset[str]:
        """Every parameter name this algorithm reads."""
        return COMMON_PARAMS | cls.extra_params

    def _checked(self, config: Mapping[str, Any] | None) -> Dict:
        """Return a deep copy of `config`, its values checked (:mod:`fastpot.algorithms.params`).

        Errors name the key path: ``algorithms[i].params.<key>`` inside ``create_pipeline``,
        ``params.<key>`` otherwise.
        """
        place = current_place()
        if config is not None and not isinstance(config, Mapping):
            shown = repr(config)
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            raise ParameterTypeError(
                f"{self.name}: {place}: expected a mapping of parameters {{name: value}}, "
                f"got {type(config).__name__} {shown}"
            )
        params = Dict(copy.deepcopy(dict(config or {})))
        check_values(params, keys=self.known_params(), place=place, label=f"{self.name}: ")
        scope = params.get("ignored", {}).get("scope") if params.get("ignored") else None
        if scope:
            params.ignored.scope = [
                "|".join(s) if isinstance(s, (list, tuple)) else s for s in scope
            ]
        return params

    def _warn_unknown_params(self) -> None:
        # POT silently ignored unknown keys in API mode; a misspelt key is almost always a bug.
        check_unknown_keys(
            self._config, self.known_params(), algorithm=self.name, place=current_place()
        )

    @property
    def config(self) -> Dict:
        """The algorithm's parameters."""
        return self._config

    @property
    def params(self) -> Dict:
        """Alias of :attr:`config` (POT's name)."""
        return self._config

    def update_config(self, config: Mapping[str, Any]) -> None:
        """Replace the parameters (checked as the constructor's)."""
        self._config = self._checked(config)

    @property
    def engine(self) -> Any:
        """The engine."""
        return self._engine

    @property
    def algo_collector(self) -> StatisticsCollector | None:
        """The statistics collector that serves this algorithm."""
        return self._algo_collector

    @algo_collector.setter
    def algo_collector(self, collector: StatisticsCollector | None) -> None:
        self._algo_collector = collector

    @property
    def change_original_model(self) -> bool:
        """True if :meth:`run` edits the FP32 model that later statistics are taken on."""
        return True

    # ---- work --------------------------------------------------------------------------------

    def register_statistics(self, model: CompressedModel, collector: StatisticsCollector) -> None:
        """Register the statistics :meth:`run` needs (none by default)."""
        self._algo_collector = collector

    @abstractmethod
    def run(self, model: CompressedModel) -> CompressedModel:
        """Apply the algorithm; returns the (edited) model."""

    def statistics(self) -> dict[str, Any]:
        """Printable statistics of the last run (none by default)."""
        return {}

    def compute_total_exec_steps(self, model: CompressedModel | None = None) -> int:
        """Estimate the progress units (inferred samples) of :meth:`run` and its statistics."""
        self.total_exec_steps = 0
        return self.total_exec_steps

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict(self._config)!r})"
