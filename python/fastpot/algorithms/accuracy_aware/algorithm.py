"""``AccuracyAwareQuantization``: quantize, then revert layers until the drop is met.

Flow (POT's ``AccuracyAwareCommon``): FP32 baseline with per-sample values; quantize a copy
with the base algorithm and evaluate it; optionally re-quantize with the mixed preset and
grid-search range estimators and the bias-correction variant; then greedily
revert FakeQuantize groups, most harmful first, ranked on the samples that degrade most.

Differences from POT, all deliberate:

* statistics are collected once: every re-quantization (mixed preset, grid) reuses them
  through :class:`~fastpot.algorithms.accuracy_aware.statistics_cache.CachingStatisticsCollector`;
  the requests of every configuration are registered before the first pass;
* evaluations of a model state met again are not repeated (inference is deterministic);
* per-sample values are matched by ``sample_id``, so asynchronous evaluation stays aligned;
* intermediate models go to ``intermediate_dir`` (default: a temporary directory, or
  ``<exec_log_dir>/accuracy_aware_intermediate`` when ``exec_log_dir`` is set), never the
  current directory; a JSON summary is written next to them and kept in :attr:`summary`;
* when the drop is not reached, the best model evaluated is returned (POT returned the last);
* the mixed preset and the grid result are kept only if they lower the mean drop;
* ``metric_subset_ratio``'s random subset is drawn with ``seed`` (POT's was unseeded).
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
import random
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fastpot.algorithms._common import stages
from fastpot.algorithms.accuracy_aware.ranking import (
    Evaluation,
    Evaluator,
    MetricSpec,
    check_per_sample_values,
    metric_specs,
    ranking_subset,
)
from fastpot.algorithms.accuracy_aware.reverting import (
    RevertGroup,
    RevertInfo,
    candidate_fake_quantizes,
    fake_quantize_count,
    fake_quantize_group,
    quantized_operations,
    revert_group,
)
from fastpot.algorithms.accuracy_aware.search import Step, excess, greedy_revert, met
from fastpot.algorithms.accuracy_aware.statistics_cache import CachingStatisticsCollector
from fastpot.algorithms.accuracy_aware.summary import SUMMARY_FILE, Summary
from fastpot.algorithms.algorithm import COMMON_PARAMS, Algorithm, UnsupportedParameterError
from fastpot.algorithms.channel_alignment import ActivationChannelAlignment
from fastpot.algorithms.default import DefaultQuantization
from fastpot.algorithms.registry import COMPRESSION_ALGORITHMS
from fastpot.graph.hardware import hardware_config
from fastpot.graph.io import save_model
from fastpot.graph.model import CompressedModel
from fastpot.statistics.collector import StatisticsCollector
from fastpot.utils.logger import progress_wanted
from fastpot.utils.progress import Progress

__all__ = ["AA_PARAMS", "AccuracyAwareQuantization"]

logger = logging.getLogger("fastpot.algorithms.accuracy_aware")

#: Parameters AccuracyAwareQuantization reads itself; the rest go to the base algorithm.
AA_PARAMS = frozenset(
    {
        "maximal_drop",
        "drop_type",
        "max_iter_num",
        "ranking_subset_size",
        "metric_subset_ratio",
        "base_algorithm",
        "use_prev_if_drop_increase",
        "convert_to_mixed_preset",
        "tune_hyperparams",
        "metrics",
        "annotation_free",
        "annotation_conf_threshold",
        "intermediate_dir",
    }
)
_DEVICES = ("ANY", "CPU", "GPU")
_GNA = ("GNA", "GNA3", "GNA3.5")
_DROP_TYPES = ("absolute", "relative")
# Spec 7.8 (POT's outlier_prob 10e-4 and 10e-5).
_GRID_MIN = (
    {"type": "min", "aggregator": "min"},
    {"type": "quantile", "aggregator": "mean", "outlier_prob": 1e-3},
    {"type": "quantile", "aggregator": "mean", "outlier_prob": 1e-4},
)
_GRID_MAX = (
    {"type": "max", "aggregator": "max"},
    {"type": "quantile", "aggregator": "mean", "outlier_prob": 1e-3},
    {"type": "quantile", "aggregator": "mean", "outlier_prob": 1e-4},
)
_INTERMEDIATE = "intermediate_model"


@dataclass(frozen=True)
class _State:
    """A quantized model and the groups reverted in it so far."""

    model: CompressedModel
    variant: str
    info: RevertInfo
    groups: tuple[RevertGroup, ...] = ()

    @property
    def key(self) -> tuple[Any, ...]:
        fqs = frozenset(n for g in self.groups for n in g.fake_quantizes)
        layers = frozenset(n for g in self.groups for n in g.layers)
        return (self.variant, fqs, layers)

    @property
    def reverted_layers(self) -> list[str]:
        out: list[str] = []
        for g in self.groups:
            out.extend(n for n in g.layers if n not in out)
        return out


def _config_tag(config: Mapping[str, Any]) -> str:
    """Identify a grid configuration (``use_fast_bias: true`` is the default)."""
    plain = {k: v for k, v in config.items() if not (k == "use_fast_bias" and v is True)}
    return "grid:" + json.dumps(plain, sort_keys=True, default=str)


@dataclass
class _GridPoint:
    """The best grid point so far."""

    error: float
    name: str
    config: dict[str, Any]
    changes: list[tuple[str, dict[str, Any]]]
    state: _State


def _flag(config: Mapping[str, Any], key: str, default: bool) -> bool:
    value = config.get(key, default)
    if value in ({}, None):
        return default
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{key}: expected true or false, got {value!r}")
    return bool(value)


def _number(config: Mapping[str, Any], key: str, default: float) -> float:
    value = config.get(key, default)
    if value in ({}, None):
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{key}: expected a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{key}: {value} is not finite")
    return value


def _integer(config: Mapping[str, Any], key: str, default: int, minimum: int) -> int:
    value = config.get(key, default)
    if value in ({}, None):
        return default
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{key}: expected an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{key}: {value} must be at least {minimum}")
    return int(value)


def _mode(config: Mapping[str, Any], group: str) -> str | None:
    section = config.get(group) or {}
    return section.get("mode") if isinstance(section, Mapping) else None


def is_preset_performance(config: Mapping[str, Any]) -> bool:
    """Whether a config quantizes everything symmetrically (POT's ``is_preset_performance``)."""
    weights, activations = _mode(config, "weights"), _mode(config, "activations")
    if weights == "symmetric" and activations == "symmetric":
        return True
    if "asymmetric" in (weights, activations):
        return False
    return bool(config.get("preset", "performance") == "performance")


def mixed_preset_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """`config` with the mixed preset (asymmetric activations, symmetric weights)."""
    out = copy.deepcopy(dict(config))
    out["preset"] = "mixed"
    for group, mode in (("activations", "asymmetric"), ("weights", "symmetric")):
        if _mode(out, group):
            out[group] = {**out[group], "mode": mode}
    return out


def grid_spaces(config: Mapping[str, Any]) -> list[list[tuple[str, dict[str, Any]]]]:
    """Return POT's two grid-search spaces as ``[(label, changes), ...]`` each.

    Space 1: weights min/max, or one of the nine activation min x max estimators; space 2:
    ``use_fast_bias`` true or false (applied on top of the best point of space 1).
    """
    del config
    first: list[tuple[str, dict[str, Any]]] = [
        (
            "weights min/max",
            {"weights": {"range_estimator": {"min": {"type": "min"}, "max": {"type": "max"}}}},
        )
    ]
    for low in _GRID_MIN:
        for high in _GRID_MAX:
            label = f"activations {_label(low)} / {_label(high)}"
            first.append((label, {"activations": {"range_estimator": {"min": low, "max": high}}}))
    second = [(f"use_fast_bias {v}", {"use_fast_bias": v}) for v in (True, False)]
    return [first, second]


def _label(est: Mapping[str, Any]) -> str:
    if est["type"] == "quantile":
        return f"quantile {est['outlier_prob']:g}/{est['aggregator']}"
    return f"{est['type']}/{est['aggregator']}"


def apply_changes(config: Mapping[str, Any], *changes: Mapping[str, Any]) -> dict[str, Any]:
    """`config` with grid `changes` merged in (range estimators replace the group's one)."""
    out = copy.deepcopy(dict(config))
    for change in changes:
        for key, value in change.items():
            if key in ("weights", "activations"):
                section = dict(out.get(key) or {})
                section.update(copy.deepcopy(value))
                out[key] = section
            else:
                out[key] = value
    return out


@COMPRESSION_ALGORITHMS.register()
class AccuracyAwareQuantization(Algorithm):
    """Quantize with a base algorithm, then revert layers to FP32 until the drop is met.

    Parameters (POT's names and defaults): ``maximal_drop`` (0.01), ``drop_type`` (``absolute`` or
    ``relative``: a fraction of the baseline), ``max_iter_num`` (unlimited),
    ``ranking_subset_size`` (``min(len(loader), 300)``), ``metric_subset_ratio`` (0.5, used
    only when every metric has a ``baseline_value``), ``base_algorithm``
    (``DefaultQuantization``), ``use_prev_if_drop_increase`` (true),
    ``convert_to_mixed_preset`` (false), ``tune_hyperparams`` (false), ``metrics`` (list of
    ``{name, type?, baseline_value?}``; default: every metric of the engine), plus every
    parameter of the base algorithm. fastpot adds ``intermediate_dir``.

    Attributes
    ----------
    summary : dict
        After :meth:`run`: what was done, in order (see
        :mod:`fastpot.algorithms.accuracy_aware.summary`).

    Raises
    ------
    ValueError
        At construction, before any work: no metric on the engine, a metric without
        per-sample ``value``, a metric direction other than ``higher-better`` /
        ``higher-worse``, an unknown metric name, an unsupported ``target_device`` or a bad
        parameter value.
    TypeError
        A parameter of the wrong type (e.g. ``max_iter_num: 2.5``).
    KeyError
        An unknown ``base_algorithm``.
    UnsupportedParameterError
        ``annotation_free`` (Accuracy-Checker engine only) or a GNA target.
    """

    name = "AccuracyAwareQuantization"
    extra_params = AA_PARAMS | DefaultQuantization.extra_params

    # Set by run(). The best state evaluated so far: (rank key, state, drops); only it is kept
    # alive. The rank key is (excess drop, reverted layers, evaluation number).
    _best: tuple[tuple[float, int, int], _State, dict[str, float]] | None
    _evaluations_seen: int

    def __init__(self, config: Any, engine: Any) -> None:
        super().__init__(config, engine)
        cfg = self._config
        self._check_device(cfg.get("target_device"))
        if engine is None or getattr(engine, "data_loader", None) is None:
            raise ValueError(f"{self.name}: the engine needs a data loader")
        self._specs: list[MetricSpec] = metric_specs(engine, cfg.get("metrics"))
        check_per_sample_values(engine.metric)
        if _flag(cfg, "annotation_free", False):
            raise UnsupportedParameterError(
                f"{self.name}: annotation_free needs POT's Accuracy-Checker engine, which "
                "fastpot does not provide; label the data instead"
            )
        self.maximal_drop = _number(cfg, "maximal_drop", 0.01)
        if self.maximal_drop < 0:
            raise ValueError(f"maximal_drop: {self.maximal_drop} must not be negative")
        self.drop_type = str(cfg.get("drop_type") or "absolute")
        if self.drop_type not in _DROP_TYPES:
            raise ValueError(f"drop_type: {self.drop_type!r} is not one of {_DROP_TYPES}")
        self.max_iter_num = _integer(cfg, "max_iter_num", sys.maxsize, 0)
        n = len(engine.data_loader)
        self.ranking_subset_size = _integer(cfg, "ranking_subset_size", min(n, 300), 1)
        self.metric_subset_ratio = _number(cfg, "metric_subset_ratio", 0.5)
        if not 0 < self.metric_subset_ratio <= 1:
            raise ValueError(f"metric_subset_ratio: {self.metric_subset_ratio} is not in (0, 1]")
        self.use_prev_if_drop_increase = _flag(cfg, "use_prev_if_drop_increase", True)
        self.convert_to_mixed_preset = _flag(cfg, "convert_to_mixed_preset", False)
        self.tune_hyperparams = _flag(cfg, "tune_hyperparams", False)
        _number(cfg, "annotation_conf_threshold", 0.6)
        base = str(cfg.get("base_algorithm") or "DefaultQuantization")
        if base == self.name:
            raise ValueError(f"base_algorithm: {base} cannot be its own base algorithm")
        self._base_cls = COMPRESSION_ALGORITHMS.get(base)
        self._base_config = {k: copy.deepcopy(v) for k, v in cfg.items() if k not in AA_PARAMS}
        known = self._base_cls.known_params()
        self._base_config = {k: v for k, v in self._base_config.items() if k in known}
        self._base_cls(self._base_config, engine)  # validates the base parameters now
        self._agnostic = hardware_config(str(cfg.target_device)).agnostic
        self.summary: dict[str, Any] = {}
        self.collector: CachingStatisticsCollector | None = None
        engine.calculate_metrics = True

    # ---- configuration -----------------------------------------------------------------------

    def _check_device(self, device: Any) -> None:
        if device is None:
            raise ValueError(f"{self.name}: 'target_device' is required in the params")
        device = str(device)
        if device == "CPU_SPR":
            raise ValueError(
                f"{self.name}: target_device CPU_SPR is not supported by AccuracyAware "
                "quantization (POT raised KeyError for it); use CPU"
            )
        if device in _GNA:
            raise UnsupportedParameterError(
                f"{self.name}: target_device {device} needs POT's AccuracyAwareGNA (16-bit "
                "reverting), which fastpot does not implement"
            )
        if device not in _DEVICES:
            hardware_config(device)  # raises with the reason (e.g. NPU)
            raise ValueError(f"{self.name}: target_device {device!r} is not one of {_DEVICES}")

    def _warn_unknown_params(self) -> None:
        # The base algorithm's parameters are ours too.
        base = str(self._config.get("base_algorithm") or "DefaultQuantization")
        try:
            extra = COMPRESSION_ALGORITHMS.get(base).known_params()
        except KeyError:
            extra = frozenset()
        known = COMMON_PARAMS | AA_PARAMS | extra
        unknown = {k: self._config[k] for k in self._config if k not in known}
        if unknown:
            saved = self._config
            self._config = type(saved)(unknown)
            try:
                super()._warn_unknown_params()
            finally:
                self._config = saved

    @property
    def change_original_model(self) -> bool:
        """True: AA runs its own statistics passes and evaluations."""
        return True

    def register_statistics(self, model: CompressedModel, collector: StatisticsCollector) -> None:
        """Nothing up front: AA collects through its own caching collector."""
        super().register_statistics(model, collector)

    def statistics(self) -> dict[str, Any]:
        """Return the summary of the last run."""
        return dict(self.summary)

    # ---- helpers -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _workdir(self) -> Iterator[tuple[Path, bool]]:
        chosen = self._config.get("intermediate_dir")
        if chosen not in (None, {}, ""):
            path = Path(chosen)
            path.mkdir(parents=True, exist_ok=True)
            yield path, True
        elif self._config.get("exec_log_dir"):
            path = Path(self._config.exec_log_dir) / "accuracy_aware_intermediate"
            path.mkdir(parents=True, exist_ok=True)
            yield path, True
        else:
            with tempfile.TemporaryDirectory(prefix="fastpot-aa-") as tmp:
                yield Path(tmp), False

    def _drops(self, metrics: Mapping[str, float]) -> dict[str, float]:
        return {s.name: s.comparator(self._baseline[s.name] - metrics[s.name]) for s in self._specs}

    def _spec(self, name: str) -> MetricSpec:
        return next(s for s in self._specs if s.name == name)

    def _quantize(self, model: CompressedModel, config: dict[str, Any], variant: str) -> _State:
        assert self.collector is not None
        algo = self._base_cls(config, self._engine)
        work = model.copy()
        algo.register_statistics(work, self.collector)
        self.collector.compute_statistics(work, print_progress=self._progress)
        algo.algo_collector = self.collector
        work = algo.run(work)
        self._algorithm_passes += sum(
            int(getattr(part, "passes", 0) or 0)
            for part in (getattr(algo, "algorithms", None) or [algo])
        )
        return _State(work, variant, RevertInfo.from_algorithm(algo, work))

    def _prefetch(self, model: CompressedModel, configs: list[dict[str, Any]]) -> None:
        """Register the statistics of every configuration that may run, for the first pass."""
        assert self.collector is not None
        probe = StatisticsCollector(self._engine)
        for config in configs:
            algo = self._base_cls(config, self._engine)
            parts = getattr(algo, "algorithms", None) or [algo]
            for part in parts:
                if isinstance(part, ActivationChannelAlignment):
                    continue  # taken on the unaligned model: a pass of its own
                part.register_statistics(model, probe)
            for name, (requests, _sampler) in probe._registered.items():
                self.collector.prefetch(name, requests)
            probe._registered.clear()

    def _save(self, state: _State) -> None:
        if not self._keep_dir:  # a temporary directory, deleted at the end: nobody reads it
            return
        save_model(state.model, self._dir, model_name=_INTERMEDIATE)
        logger.debug("Intermediate model is saved in %s", self._dir)

    def _write_summary(self) -> None:
        self._summary.set("counts", self._counts())
        self.summary = self._summary.as_dict()
        self._summary.write(self._dir)

    def _counts(self) -> dict[str, Any]:
        ev, col = self._evaluator, self.collector
        assert col is not None
        return {
            "full_evaluations": ev.full_evaluations,
            "full_evaluations_reused": ev.full_reused,
            "subset_evaluations": ev.subset_evaluations,
            "inferred_samples": ev.samples,
            "evaluation_seconds": round(ev.seconds, 3),
            "statistics_passes": col.passes,
            "statistics_reused": col.reused,
            "statistics_derived": col.derived,
            "bias_correction_passes": self._algorithm_passes,
            "statistics_note": (
                "one pass on the FP32 model for MinMax and bias correction of every "
                "configuration; models with channel-alignment pairs need one more pass "
                "(ActivationChannelAlignment's statistics are taken on the unaligned model), "
                "and BiasCorrection (use_fast_bias false) its own pass on its smaller subset; "
                "bias_correction_passes counts BiasCorrection's passes over quantized models, "
                "part of that algorithm, not statistics"
            ),
        }

    def _consider(self, state: _State, drops: dict[str, float]) -> None:
        """Keep `state` if it is the best so far: lowest excess drop, then fewest reverted."""
        self._evaluations_seen += 1
        rank = (
            excess(drops, self._allowed, self._baseline),
            len(state.reverted_layers),
            self._evaluations_seen,
        )
        if self._best is None or rank < self._best[0]:
            self._best = (rank, state, dict(drops))

    def _record_configuration(
        self, label: str, state: _State, ev: Evaluation, drops: dict[str, float], kept: bool
    ) -> None:
        self._summary.add(
            "configurations",
            {"name": label, "metrics": ev.metrics, "drop": drops, "kept": kept},
        )
        logger.info("%s metrics: %s; accuracy drop: %s", label, ev.metrics, drops)
        self._consider(state, drops)

    # ---- run ---------------------------------------------------------------------------------

    def run(self, model: CompressedModel) -> CompressedModel:
        """Return the best quantized copy of `model` (which is not modified)."""
        stages(model, self.name)  # a CompressedModel: a single model or a cascade
        if not self._specs:
            logger.warning(
                "Could not find the required metrics for optimization in the engine. Stop "
                "AccuracyAware optimization. Available metrics: %s.",
                ", ".join(self._engine.get_metrics_attributes()),
            )
            return model
        start = time.perf_counter()
        self._progress = progress_wanted()
        # The grid's range estimators are derived from the first pass's superset.
        self.collector = CachingStatisticsCollector(self._engine, superset=self.tune_hyperparams)
        self._evaluator = Evaluator(self._engine, self._specs, self._progress)
        self._best = None
        self._evaluations_seen = 0
        self._quantized_ops: list[str] | None = None
        self._algorithm_passes = 0
        params = {
            "maximal_drop": self.maximal_drop,
            "drop_type": self.drop_type,
            "max_iter_num": self.max_iter_num,
            "ranking_subset_size": self.ranking_subset_size,
            "metric_subset_ratio": self.metric_subset_ratio,
            "base_algorithm": self._base_cls.name,
            "use_prev_if_drop_increase": self.use_prev_if_drop_increase,
            "convert_to_mixed_preset": self.convert_to_mixed_preset,
            "tune_hyperparams": self.tune_hyperparams,
            "metrics": [s.name for s in self._specs],
        }
        self._summary = Summary(params)
        with self._workdir() as (directory, kept):
            self._dir, self._keep_dir = directory, kept
            self._summary.set("intermediate_dir", str(directory) if kept else None)
            result = self._run(model)
            self._summary.set("elapsed_seconds", round(time.perf_counter() - start, 3))
            self._write_summary()
        return result

    def _run(self, model: CompressedModel) -> CompressedModel:
        ev = self._evaluator
        n = ev.dataset_size
        # 1. baseline
        given = all(s.baseline is not None for s in self._specs) and bool(
            self._config.get("metrics")
        )
        self._original: dict[str, dict[Any, float]] | None = None
        if given:
            self._baseline = {s.name: s.baseline for s in self._specs if s.baseline is not None}
            k = int(n * self.metric_subset_ratio)
            seed = int(self._config.get("seed", 0) or 0)
            self._diff_ids = (
                sorted(random.Random(seed).sample(range(n), k)) if 0 < k < n else list(range(n))
            )
        else:
            logger.info("Start original model inference")
            fp32 = ev.full(model, key=("fp32",))
            self._baseline = fp32.metrics
            self._original = fp32.per_sample
            self._diff_ids = list(range(n))
        diff = set(self._diff_ids)
        logger.info("Baseline metrics: %s", self._baseline)
        self._allowed = {
            s.name: self.maximal_drop * abs(self._baseline[s.name])
            if self.drop_type == "relative"
            else self.maximal_drop
            for s in self._specs
        }
        self._summary.set("baseline", self._baseline)
        self._summary.set("allowed_drop", self._allowed)

        # 2. quantize with the base configuration (statistics of every config at once)
        configs = [self._base_config]
        mixed = self.convert_to_mixed_preset and is_preset_performance(self._base_config)
        if mixed:
            configs.append(mixed_preset_config(self._base_config))
        assert self.collector is not None
        if self.tune_hyperparams and not self.collector.records_superset(model):
            for base in list(configs):  # no superset (a POT-style engine): prefetch the grid
                for first in grid_spaces(base)[0]:
                    for second in grid_spaces(base)[1]:
                        configs.append(apply_changes(base, first[1], second[1]))
        self._prefetch(model, configs)
        logger.info("Start quantization")
        state = self._quantize(model, self._base_config, "default")
        config = self._base_config
        qev = ev.full(state.model, key=state.key, per_sample_ids=diff)
        drops = self._drops(qev.metrics)
        self._record_configuration("default", state, qev, drops, kept=True)
        self._save(state)
        self._per_sample = {state.key: qev.per_sample}
        if met(drops, self._allowed):
            return self._finish(state, drops, reached=True, search=None)

        # 3. mixed preset
        if mixed:
            logger.info("Start quantization in mixed mode")
            mixed_config = mixed_preset_config(self._base_config)
            other = self._quantize(model, mixed_config, "mixed")
            oev = ev.full(other.model, key=other.key, per_sample_ids=diff)
            odrops = self._drops(oev.metrics)
            better = float(np.mean(list(odrops.values()))) <= float(np.mean(list(drops.values())))
            self._record_configuration("mixed preset", other, oev, odrops, kept=better)
            if better:
                state, drops, config = other, odrops, mixed_config
                self._per_sample[state.key] = oev.per_sample
                self._save(state)
                if met(drops, self._allowed):
                    return self._finish(state, drops, reached=True, search=None)

        if self._original is None:
            logger.info("Start original model inference on %d samples", len(self._diff_ids))
            self._original = ev.subset(model, self._diff_ids, per_sample=True).per_sample

        # 4. hyper-parameter grid
        if self.tune_hyperparams:
            state, drops, config = self._grid_search(model, state, drops, config)
            if met(drops, self._allowed):
                return self._finish(state, drops, reached=True, search=None)

        # 5. greedy reverting
        return self._search(state, drops)

    # ---- grid search -------------------------------------------------------------------------

    def _hardest_subset(self, state: _State) -> list[Any]:
        per_sample = self._per_sample[state.key]
        original = self._original
        assert original is not None
        chosen: list[Any] = []
        rankings = {
            s.name: self._ranking_ids(original[s.name], per_sample[s.name], s) for s in self._specs
        }
        position = 0
        size = min(self.ranking_subset_size, len(self._diff_ids))
        while len(chosen) < size and any(position < len(r) for r in rankings.values()):
            for ids in rankings.values():
                if position < len(ids) and ids[position] not in chosen:
                    chosen.append(ids[position])
            position += 1
        return chosen[:size]

    def _grid_search(
        self, model: CompressedModel, state: _State, drops: dict[str, float], config: dict[str, Any]
    ) -> tuple[_State, dict[str, float], dict[str, Any]]:
        logger.info("Start parameters grid search")
        ev = self._evaluator
        subset = self._hardest_subset(state)
        spaces = grid_spaces(config)
        best: _GridPoint | None = None
        seen: dict[str, tuple[dict[str, float], float]] = {}
        points = []
        total = sum(len(s) for s in spaces)
        with Progress(total, "AA grid search", enabled=self._progress) as progress:
            chosen: list[tuple[str, dict[str, Any]]] = []  # best point of the spaces so far
            for space in spaces:
                for label, change in space:
                    changes = [*chosen, (label, change)]
                    candidate = apply_changes(config, *(c for _, c in changes))
                    name = " + ".join(lbl for lbl, _ in changes)
                    tag = _config_tag(candidate)
                    if tag in seen:  # the same configuration as an earlier point
                        metrics, error = seen[tag]
                    else:
                        trial = self._quantize(model, candidate, tag)
                        metrics = ev.subset(trial.model, subset).metrics
                        error = float(
                            np.mean(
                                [
                                    s.comparator(self._baseline[s.name] - metrics[s.name])
                                    / (abs(self._baseline[s.name]) or 1.0)
                                    for s in self._specs
                                ]
                            )
                        )
                        seen[tag] = (metrics, error)
                        if best is None or error < best.error:
                            best = _GridPoint(error, name, candidate, changes, trial)
                    points.append({"point": name, "metrics": metrics, "error": error})
                    progress.advance()
                assert best is not None
                chosen = best.changes  # the next space builds on the best point so far
        assert best is not None
        trial = best.state
        tev = ev.full(trial.model, key=trial.key, per_sample_ids=set(self._diff_ids))
        tdrops = self._drops(tev.metrics)
        better = float(np.mean(list(tdrops.values()))) < float(np.mean(list(drops.values())))
        self._summary.set("grid_search", {"subset_size": len(subset), "points": points})
        self._record_configuration(f"grid best: {best.name}", trial, tev, tdrops, kept=better)
        if not better:
            return state, drops, config
        logger.info("Applying the best configuration")
        self._per_sample[trial.key] = tev.per_sample
        self._save(trial)
        return trial, tdrops, best.config

    # ---- greedy reverting --------------------------------------------------------------------

    def _ranking_ids(
        self, original: Mapping[Any, float], quantized: Mapping[Any, float], spec: MetricSpec
    ) -> list[Any]:
        ids = ranking_subset(original, quantized, spec.comparator, self.ranking_subset_size)
        n = self._evaluator.dataset_size
        bad = [i for i in ids if not isinstance(i, (int, np.integer)) or not 0 <= i < n]
        if bad:
            raise RuntimeError(
                f"per-sample metric ids {bad[:3]} are not loader indices in [0, {n}); "
                "AccuracyAwareQuantization samples the ranking subset by these ids"
            )
        return [int(i) for i in ids]

    def _revert(self, state: _State, fq: str) -> _State:
        group = fake_quantize_group(state.model, fq, self._agnostic)
        work = state.model.copy()
        revert_group(work, group, state.info)
        return _State(work, state.variant, state.info, (*state.groups, group))

    def _groups(self, state: _State) -> list[tuple[str, RevertGroup]]:
        """Candidate groups of `state`: each FQ not in an earlier group starts one."""
        groups: list[tuple[str, RevertGroup]] = []
        covered: set[str] = set()
        for fq in candidate_fake_quantizes(state.model):
            if fq in covered:
                continue
            group = fake_quantize_group(state.model, fq, self._agnostic)
            covered |= set(group.fake_quantizes)
            groups.append((fq, group))
        return groups

    def _importance(self, state: _State, metric: str) -> list[str]:
        spec = self._spec(metric)
        per_sample = self._per_sample[state.key]
        assert self._original is not None
        subset = self._ranking_ids(self._original[metric], per_sample[metric], spec)
        groups = self._groups(state)
        groups_all = list(groups)
        scores: dict[str, float | None] = {}
        if len(groups) == 1:  # nothing to compare: no evaluation needed
            scores[groups[0][0]] = None
            groups = []
        with Progress(len(groups), f"AA ranking ({metric})", enabled=self._progress) as progress:
            for fq, _group in groups:
                trial = self._revert(state, fq)
                metrics = self._evaluator.subset(trial.model, subset, key=trial.key).metrics
                scores[fq] = spec.comparator(metrics[metric])
                progress.advance()
        order = sorted(scores, key=lambda n: (_score(scores[n]), n), reverse=True)
        by_name = dict(groups_all)
        self._summary.add(
            "rankings",
            {
                "metric": metric,
                "subset_size": len(subset),
                "base_reverted_layers": state.reverted_layers,
                "order": [
                    {
                        "fake_quantize": n,
                        "fake_quantizes": list(by_name[n].fake_quantizes),
                        "layers": list(by_name[n].layers),
                        "score": scores[n],
                    }
                    for n in order
                ],
            },
        )
        return order

    def _search(self, state: _State, drops: dict[str, float]) -> CompressedModel:
        self._quantized_ops = quantized_operations(state.model, self._agnostic)
        logger.info(
            "The total number of quantized operations in the graph: %d", len(self._quantized_ops)
        )
        logger.info("Changing fake quantize nodes scope")
        hooks = _Hooks(self, set(self._diff_ids))
        total = min(self.max_iter_num, len(self._groups(state)))
        progress = Progress(total, "AA reverting", enabled=self._progress)

        def on_step(step: Step) -> None:
            s: _State = step.state
            group = s.groups[-1]
            self._summary.add(
                "steps",
                {
                    "iteration": step.iteration,
                    "metric": step.metric,
                    "fake_quantize": step.fake_quantize,
                    "reverted_fake_quantizes": list(group.fake_quantizes),
                    "reverted_layers": list(group.layers),
                    "metrics": self._evaluator.result(s.key).metrics,
                    "drop": step.drops,
                    "action": step.action,
                    "all_reverted_layers": s.reverted_layers,
                },
            )
            progress.advance()
            self._write_summary()

        with progress:
            result = greedy_revert(
                state,
                drops,
                self._allowed,
                self._baseline,
                hooks,
                max_iter_num=self.max_iter_num,
                use_prev_if_drop_increase=self.use_prev_if_drop_increase,
                on_step=on_step,
            )
        return self._finish(result.state, result.drops, reached=result.reached, search=result)

    # ---- result ------------------------------------------------------------------------------

    def _finish(
        self, state: _State, drops: dict[str, float], *, reached: bool, search: Any
    ) -> CompressedModel:
        chosen, chosen_drops = state, drops
        if not reached:
            logger.warning(
                "AccuracyAwareQuantization could not achieve the required accuracy drop."
            )
            assert self._best is not None
            _, chosen, chosen_drops = self._best
            if chosen is not state:
                logger.info(
                    "Returning the best model evaluated (drop %s, reverted: %s)",
                    chosen_drops,
                    ", ".join(chosen.reverted_layers) or "none",
                )
        if search is not None and search.hit_iteration_limit:
            logger.info("Reached maximum number of iterations.")
        quantized_ops = self._quantized_ops
        if quantized_ops is None:
            quantized_ops = quantized_operations(chosen.model, self._agnostic)
        reverted = chosen.reverted_layers
        logger.info(
            " %d out of %d layers have been reverted back to the floating-point precision: %s",
            len(reverted),
            len(quantized_ops),
            ", ".join(reverted),
        )
        self._summary.set(
            "result",
            {
                "reached": reached,
                "configuration": chosen.variant
                if not chosen.variant.startswith("grid:")
                else "grid",
                "metrics": self._evaluator.result(chosen.key).metrics,
                "drop": chosen_drops,
                "reverted_layers": reverted,
                "reverted_fake_quantizes": [n for g in chosen.groups for n in g.fake_quantizes],
                "quantized_layers": len(quantized_ops),
                "iterations": 0 if search is None else search.iterations,
                "rankings": 0 if search is None else search.rankings,
                "all_reverted": bool(search is not None and search.all_reverted),
                "hit_iteration_limit": bool(search is not None and search.hit_iteration_limit),
                "summary_file": SUMMARY_FILE,
            },
        )
        return chosen.model


def _score(value: float | None) -> float:
    return -math.inf if value is None else value


class _Hooks:
    """Connects :func:`greedy_revert` to real models, evaluations and the summary."""

    def __init__(self, algo: AccuracyAwareQuantization, diff: set[Any]) -> None:
        self.algo = algo
        self.diff = diff

    def importance(self, state: _State, metric: str) -> list[str]:
        return self.algo._importance(state, metric)

    def revert(self, state: _State, fq: str) -> _State:
        new = self.algo._revert(state, fq)
        group = new.groups[-1]
        logger.info(
            "Reverted %d layers to the floating-point precision: %s",
            len(group.layers),
            ", ".join(group.layers),
        )
        self.algo._save(new)
        return new

    def evaluate(self, state: _State) -> dict[str, float]:
        algo = self.algo
        result = algo._evaluator.full(state.model, key=state.key, per_sample_ids=self.diff)
        algo._per_sample[state.key] = result.per_sample
        drops = algo._drops(result.metrics)
        algo._consider(state, drops)
        return drops

    def fake_quantizes_left(self, state: _State) -> int:
        return fake_quantize_count(state.model)
