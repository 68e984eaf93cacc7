"""The NNCF-style one-call API: ``fastpot.quantize`` and ``quantize_with_accuracy_control``.

::

    import fastpot
    quantized = fastpot.quantize("net.onnx", fastpot.Dataset(pairs, lambda item: item[0]))
    fastpot.save_model(quantized, "out", model_name="net_int8")  # out/net_int8.{xml,bin}

(``openvino.save_model`` works too, but compresses float weights to FP16 by default; pass
``compress_to_fp16=False`` to keep the model as it was returned.)

Underneath, each call is the POT-API pipeline: :func:`fastpot.load_model` (a path) or a clone
of the given ``openvino.Model``, fastpot's ``IEEngine`` (on CPU) over the calibration items
(up to ``subset_size`` of them, read once), ``create_pipeline`` with POT's
``DefaultQuantization`` (or ``AccuracyAwareQuantization``), ``pipeline.run`` and
``compress_model_weights``. The result is the model that pipeline gives, bit for bit; its
``rt_info`` records the equivalent POT config (``quantization_parameters/config``, JSON),
the fastpot version and the function (``quantization_parameters/api``).

How the arguments map onto POT's configuration (``params`` of the algorithm):

=========================================  ========================================================
argument                                   POT
=========================================  ========================================================
``model``                                  an ``ov.Model`` (cloned, never modified), or an ``.xml``
                                           / ``.onnx`` path: ``load_model({"model_name": stem,
                                           "model": path})`` (the ``.bin`` next to the ``.xml``)
``calibration_dataset``, ``transform_fn``  the ``IEEngine`` data loader: one ``({input name:
                                           array}, None)`` item per transformed item
``subset_size=300``                        ``stat_subset_size``
``preset=None``                            ``preset``: ``"performance"``, or ``"mixed"`` with
                                           ``model_type=TRANSFORMER`` (NNCF's default);
                                           ``QuantizationPreset.MIXED``: ``"mixed"``
``target_device="CPU"``                    ``target_device`` (``ANY``, ``CPU``, ``GPU``, ``NPU``,
                                           ``CPU_SPR``); statistics always run on CPU
``fast_bias_correction=True``              ``use_fast_bias`` (``False``: BiasCorrection)
``model_type=ModelType.TRANSFORMER``       ``model_type: "transformer"``
``ignored_scope=IgnoredScope(...)``        ``ignored``: ``names``, and the node names ``patterns``
                                           match (``re.match``, constants excluded), give
                                           ``scope``; ``types`` give ``operations: [{"type": t}]``
``advanced_parameters``                    merged into the ``DefaultQuantization`` params
                                           (``weights``, ``activations``, ``range_estimator``,
                                           ``inplace_statistics``, ...); unknown keys are errors
``show_progress=None``                     progress bars on (``False``: off)
``report="dir"``                           :func:`fastpot.build_report` of the run, saved there
``cache_dir=None``                         IEEngine's ``cache_dir`` (the statistics store; default
                                           ``FASTPOT_CACHE_DIR``, else none)
``validation_dataset``                     the items ``AccuracyAwareQuantization`` evaluates and
                                           ranks (its data loader)
``validation_fn``                          its metric (one higher-is-better value)
``max_drop=0.01``                          ``maximal_drop``
``drop_type=DropType.ABSOLUTE``            ``drop_type`` (``"absolute"`` / ``"relative"``)
``advanced_quantization_parameters``       as ``advanced_parameters``
``advanced_accuracy_restorer_parameters``  AA's own keys: ``max_iter_num``,
                                           ``ranking_subset_size``, ``metric_subset_ratio``,
                                           ``tune_hyperparams``, ``convert_to_mixed_preset``,
                                           ``use_prev_if_drop_increase``, ``intermediate_dir``
=========================================  ========================================================

``validation_fn(compiled_model, items)`` gets an ``openvino.CompiledModel`` and a list of
raw validation items (not transformed, as in NNCF) and returns the metric over them, or
``(metric, [value per item])``. Per-item values rank items and layers; without them, the
function is called once per item (on a one-item list) when ranking needs them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov

from fastpot.quantization.dataset import Dataset, ItemLoader, as_dataset, feed_dicts
from fastpot.quantization.options import (
    DropType,
    IgnoredScope,
    ModelType,
    QuantizationPreset,
    TargetDevice,
    default_params,
    restorer_params,
    stamp,
)

__all__ = [
    "Dataset",
    "DropType",
    "IgnoredScope",
    "ModelType",
    "QuantizationPreset",
    "TargetDevice",
    "quantize",
    "quantize_with_accuracy_control",
]

_ENGINE_DEVICE = "CPU"  # statistics and validation run here, whatever the target device


def _load(model: Any) -> Any:
    """Load `model` as a CompressedModel that shares nothing with the caller's objects."""
    from fastpot.graph import CompressedModel, load_model  # noqa: PLC0415 - keep import light

    if isinstance(model, ov.Model):
        return CompressedModel([{"model": model.clone()}], model.get_friendly_name())
    if isinstance(model, (str, os.PathLike)):
        path = Path(os.fspath(model))
        if path.suffix.lower() not in (".xml", ".onnx"):
            raise ValueError(
                f"model: {path} is neither an OpenVINO IR (.xml) nor an ONNX (.onnx) file"
            )
        return load_model(path)
    raise TypeError(
        f"model: expected an openvino.Model or a .xml/.onnx path, got {type(model).__name__}"
    )


def _config(
    name: str | None, target_device: str, algorithm: str, params: Mapping[str, Any]
) -> dict[str, Any]:
    """Return the POT config equivalent to a one-call run (what ``pot -c`` would read)."""
    return {
        "model": {"model_name": name or "model"},
        "engine": {"type": "IEEngine", "device": _ENGINE_DEVICE},
        "compression": {
            "target_device": target_device,
            "algorithms": [{"name": algorithm, "params": dict(params)}],
        },
    }


def _finish(
    result: Any,
    original: ov.Model,
    feeds: list[dict[str, np.ndarray]],
    config: dict[str, Any],
    api: str,
    report: str | os.PathLike[str] | None,
    accuracy_aware: dict[str, Any] | None = None,
) -> ov.Model:
    from fastpot.graph import compress_model_weights  # noqa: PLC0415

    compress_model_weights(result)
    quantized: ov.Model = result.get_model()
    stamp(quantized, config, api)
    if report is not None:
        from fastpot.report import build_report  # noqa: PLC0415 - optional part

        build_report(
            original,
            quantized,
            feeds,
            algorithms=config["compression"]["algorithms"],
            accuracy_aware=accuracy_aware,
        ).save(report)
    return quantized


def _engine_config(cache_dir: str | os.PathLike[str] | None) -> dict[str, Any]:
    """IEEngine config of a one-call run; ``cache_dir=None`` leaves the store to the env."""
    config: dict[str, Any] = {"device": _ENGINE_DEVICE}
    if cache_dir is not None:
        config["cache_dir"] = cache_dir
    return config


def _progress(enabled: bool | None) -> Any:
    from fastpot.utils.logger import show_progress  # noqa: PLC0415

    if enabled is not None and not isinstance(enabled, bool):
        raise TypeError(f"show_progress: {enabled!r} is not True, False or None")
    return show_progress(True if enabled is None else enabled)


def quantize(
    model: ov.Model | str | os.PathLike[str],
    calibration_dataset: Dataset | Iterable[Any],
    *,
    preset: QuantizationPreset | str | None = None,
    target_device: TargetDevice | str = "CPU",
    subset_size: int = 300,
    fast_bias_correction: bool = True,
    model_type: ModelType | str | None = None,
    ignored_scope: IgnoredScope | None = None,
    transform_fn: Callable[[Any], Any] | None = None,
    show_progress: bool | None = None,
    report: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    advanced_parameters: Mapping[str, Any] | None = None,
) -> ov.Model:
    """Quantize `model` to INT8 with POT's DefaultQuantization; return the new model.

    Parameters
    ----------
    model : openvino.Model, str or os.PathLike
        The model, or the path of an IR ``.xml`` (its ``.bin`` next to it) or an ``.onnx``.
        An ``openvino.Model`` is not modified.
    calibration_dataset : Dataset or iterable
        Items for the statistics: a :class:`Dataset`, or any iterable (list, generator)
        whose items `transform_fn` maps to model input. Up to `subset_size` items are read,
        once.
    preset : QuantizationPreset or str, optional
        ``PERFORMANCE`` (symmetric) or ``MIXED`` (asymmetric activations). Default:
        performance, or mixed for ``model_type=TRANSFORMER``.
    target_device : TargetDevice or str
        ``ANY``, ``CPU`` (default), ``GPU``, ``NPU`` or ``CPU_SPR``.
    subset_size : int
        Number of calibration items (POT's ``stat_subset_size``; default 300).
    fast_bias_correction : bool
        FastBiasCorrection (default) or BiasCorrection.
    model_type : ModelType or str, optional
        ``TRANSFORMER`` for POT's transformer scheme.
    ignored_scope : IgnoredScope, optional
        Nodes kept in floating point.
    transform_fn : callable, optional
        Maps a plain iterable's items to model input (or a :class:`Dataset` without one).
    show_progress : bool, optional
        Draw progress bars (default: yes).
    report : str or os.PathLike, optional
        Save a :class:`fastpot.QuantizationReport` of the run in this directory.
    cache_dir : str or os.PathLike, optional
        Statistics store (:mod:`fastpot.statistics.store`): a later run over the same model,
        data and subset, with any range estimator, reuses the statistics instead of
        inferring. Default: the folder ``FASTPOT_CACHE_DIR`` names, else no store (a first
        run with the store records more per sample and is slower); ``""`` turns it off.
    advanced_parameters : mapping, optional
        More ``DefaultQuantization`` params (``weights``, ``activations``,
        ``range_estimator``, ...), checked as POT configs are.

    Returns
    -------
    openvino.Model
        The quantized model, weights compressed to int8 (as POT's
        ``compress_model_weights``), with the equivalent POT config in its ``rt_info``.

    Raises
    ------
    ValueError
        A bad argument (named, with its allowed values), an ignored node name that is not
        in the model, calibration items that do not fit the model's inputs, no items.
    fastpot.algorithms.params.ParameterError
        A bad or unknown ``advanced_parameters`` key, named by its key path.
    TypeError
        A model or data set of the wrong type.
    """
    from fastpot.engines import IEEngine  # noqa: PLC0415
    from fastpot.pipeline import create_pipeline  # noqa: PLC0415

    compressed = _load(model)
    fp32: ov.Model = compressed.get_model()
    params = default_params(
        fp32,
        preset=preset,
        target_device=target_device,
        subset_size=subset_size,
        fast_bias_correction=fast_bias_correction,
        model_type=model_type,
        ignored_scope=ignored_scope,
        advanced_parameters=advanced_parameters,
    )
    dataset = as_dataset(calibration_dataset, transform_fn, "calibration_dataset")
    feeds = feed_dicts(dataset, fp32, params["stat_subset_size"], "calibration_dataset")
    original = model if isinstance(model, ov.Model) else fp32.clone()
    algorithms = [{"name": "DefaultQuantization", "params": params}]
    with _progress(show_progress):
        engine = IEEngine(_engine_config(cache_dir), ItemLoader.of_feeds(feeds))
        result = create_pipeline(algorithms, engine).run(compressed)
    config = _config(compressed.name, params["target_device"], "DefaultQuantization", params)
    return _finish(result, original, feeds, config, "fastpot.quantize", report)


def quantize_with_accuracy_control(
    model: ov.Model | str | os.PathLike[str],
    calibration_dataset: Dataset | Iterable[Any],
    validation_dataset: Dataset | Iterable[Any],
    validation_fn: Callable[[Any, Sequence[Any]], Any],
    *,
    max_drop: float = 0.01,
    drop_type: DropType | str = DropType.ABSOLUTE,
    preset: QuantizationPreset | str | None = None,
    target_device: TargetDevice | str = "CPU",
    subset_size: int = 300,
    fast_bias_correction: bool = True,
    model_type: ModelType | str | None = None,
    ignored_scope: IgnoredScope | None = None,
    transform_fn: Callable[[Any], Any] | None = None,
    show_progress: bool | None = None,
    report: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    advanced_quantization_parameters: Mapping[str, Any] | None = None,
    advanced_accuracy_restorer_parameters: Mapping[str, Any] | None = None,
) -> ov.Model:
    """Quantize `model`, then revert layers to FP32 until the metric drop is within `max_drop`.

    POT's AccuracyAwareQuantization on top of DefaultQuantization: statistics come from
    `calibration_dataset` (as :func:`quantize`), the metric is `validation_fn` on
    `validation_dataset` (higher is better), and the layers whose quantization costs most
    are reverted one at a time until the drop is within `max_drop` (or nothing is left to
    revert: then the best model found is returned and a warning is logged).

    Parameters
    ----------
    model, calibration_dataset, preset, target_device, subset_size, fast_bias_correction, \
model_type, ignored_scope, transform_fn, show_progress, report, cache_dir
        As in :func:`quantize` (`transform_fn` applies to the calibration items only).
    validation_dataset : Dataset or iterable
        The validation items, all read once and handed to `validation_fn` as they are
        (a :class:`Dataset`'s transform is not applied to them, as in NNCF).
    validation_fn : callable
        ``validation_fn(compiled_model, items) -> float`` or ``(float, [value per item])``,
        with an ``openvino.CompiledModel`` and a list of validation items.
    max_drop : float
        Allowed metric drop (POT's ``maximal_drop``; default 0.01).
    drop_type : DropType or str
        ``ABSOLUTE`` (baseline - metric) or ``RELATIVE`` (the same over the baseline).
    advanced_quantization_parameters : mapping, optional
        As ``advanced_parameters`` of :func:`quantize`.
    advanced_accuracy_restorer_parameters : mapping, optional
        AccuracyAwareQuantization's own keys: ``max_iter_num``, ``ranking_subset_size``,
        ``metric_subset_ratio``, ``tune_hyperparams``, ``convert_to_mixed_preset``,
        ``use_prev_if_drop_increase``, ``intermediate_dir``.

    Returns
    -------
    openvino.Model
        The quantized model with some layers reverted, weights compressed to int8, the
        equivalent POT config in its ``rt_info``.

    Raises
    ------
    ValueError, TypeError, fastpot.algorithms.params.ParameterError
        As :func:`quantize`; also a bad `max_drop` / `drop_type`, an empty validation set,
        a `validation_fn` result that is not a number or ``(number, list)``.
    """
    from fastpot.pipeline import Pipeline  # noqa: PLC0415
    from fastpot.quantization.accuracy_control import (  # noqa: PLC0415
        AccuracyControl,
        ValidationEngine,
        ValidationMetric,
        metric_name,
    )

    if not callable(validation_fn):
        raise TypeError(f"validation_fn: expected a callable, got {validation_fn!r}")
    compressed = _load(model)
    fp32: ov.Model = compressed.get_model()
    params = default_params(
        fp32,
        preset=preset,
        target_device=target_device,
        subset_size=subset_size,
        fast_bias_correction=fast_bias_correction,
        model_type=model_type,
        ignored_scope=ignored_scope,
        advanced_parameters=advanced_quantization_parameters,
        advanced_name="advanced_quantization_parameters",
    )
    params.update(restorer_params(max_drop, drop_type, advanced_accuracy_restorer_parameters))
    calibration = as_dataset(calibration_dataset, transform_fn, "calibration_dataset")
    feeds = feed_dicts(calibration, fp32, params["stat_subset_size"], "calibration_dataset")
    validation = list(as_dataset(validation_dataset, None, "validation_dataset").get_data())
    if not validation:
        raise ValueError(
            "validation_dataset: no data items (an exhausted generator? a generator can be "
            "read once)"
        )
    original = model if isinstance(model, ov.Model) else fp32.clone()
    metric = ValidationMetric(metric_name(validation_fn))
    with _progress(show_progress):
        engine = ValidationEngine(
            ItemLoader.of_feeds(feeds),
            ItemLoader(validation),
            validation_fn,
            metric,
            config=_engine_config(cache_dir),
        )
        algorithm = AccuracyControl(params, engine)
        pipeline = Pipeline(engine)
        pipeline.add_algo(algorithm)
        result = pipeline.run(compressed)
    config = _config(compressed.name, params["target_device"], "AccuracyAwareQuantization", params)
    return _finish(
        result,
        original,
        feeds,
        config,
        "fastpot.quantize_with_accuracy_control",
        report,
        accuracy_aware=algorithm.statistics(),
    )
