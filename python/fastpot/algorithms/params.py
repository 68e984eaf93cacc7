"""Algorithm parameters: one validator for the Python API and the ``pot`` command line.

Every parameter a built-in algorithm reads has a check of its type and range here, and both
entry points run the same checks (:func:`check_values`):

* ``create_pipeline`` / ``Algorithm(...)`` (API): a bad value is a :class:`ParameterError`
  (a ``ValueError``) or :class:`ParameterTypeError` (a ``TypeError`` and a ``ValueError``)
  naming the key path, e.g. ``algorithms[0].params.activations.range_estimator.max
  .outlier_prob``; an unknown top-level key is a warning naming the close match (POT ignored
  such keys in API use, and scripts pass one params dict to several algorithms);
* ``pot -c`` (command line, ``strict``): unknown keys are errors too (POT's command line
  refused them), and the messages carry the config file and
  ``compression.algorithms[i].params``.

Nested sections (``weights``, ``activations``, ``range_estimator``, ``ignored``) are checked
key by key in both modes: an unknown key there is an error naming the close match.
``ignored`` is checked for its structure here; whether its node names and operation types
exist in the model is checked when the model is known
(:func:`fastpot.graph.fq_insertion.plan_fake_quantize`).
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import os
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from fastpot.api._hints import did_you_mean, warn_user
from fastpot.errors import FastpotError
from fastpot.graph.hardware import SUPPORTED_DEVICES
from fastpot.kernels._validation import AGGREGATIONS

__all__ = [
    "ParameterError",
    "ParameterTypeError",
    "check_params",
    "check_unknown_keys",
    "check_values",
    "current_place",
    "params_place",
]

# Devices fastpot knows and refuses with a reason (the algorithms say why).
_REFUSED_DEVICES = ("NPU", "GNA", "GNA3", "GNA3.5")
_PRESETS = ("performance", "mixed", "accuracy")
_MODEL_TYPES = ("transformer",)
_SATURATION_FIX = ("first_layer", "all", "no")
_MODES = ("symmetric", "asymmetric")
_GRANULARITIES = ("pertensor", "perchannel")
_GROUP_KEYS = ("bits", "mode", "granularity", "level_low", "level_high", "range_estimator")
_ESTIMATOR_SECTION_KEYS = ("preset", "min", "max")
_ESTIMATOR_PRESETS = ("default", "quantile")
_ESTIMATOR_KEYS = ("type", "aggregator", "outlier_prob", "granularity", "clipping_value")
_ESTIMATOR_TYPES = ("min", "max", "abs_max", "quantile", "abs_quantile")
_IGNORED_KEYS = ("scope", "operations", "skip_model")
_OPERATION_KEYS = ("type", "attributes")
_METRIC_KEYS = ("name", "type", "baseline_value")
_DROP_TYPES = ("absolute", "relative")
_BITS = (2, 16)


class ParameterError(FastpotError, ValueError):
    """A bad algorithm parameter; the message names its key path."""


class ParameterTypeError(ParameterError, TypeError):
    """An algorithm parameter of the wrong type (also a ``ValueError``)."""


# ---- where the parameters come from -----------------------------------------------------------

_PLACE: contextvars.ContextVar[str | None] = contextvars.ContextVar("fastpot_params_place")


@contextlib.contextmanager
def params_place(place: str) -> Iterator[None]:
    """Name the parameters of the algorithms built inside, e.g. ``algorithms[0].params``.

    ``create_pipeline`` uses it so that errors raised by an algorithm's constructor (and the
    sub-algorithms it builds) name the entry of its list.
    """
    token = _PLACE.set(place)
    try:
        yield
    finally:
        _PLACE.reset(token)


def current_place() -> str:
    """Return the key path of the parameters being built (``params`` outside a pipeline)."""
    return _PLACE.get(None) or "params"


# ---- messages -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    label: str  # prefix of every message, e.g. "DefaultQuantization: "
    strict: bool  # unknown keys are errors (command line)


def _show(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def _type_error(ctx: _Context, path: str, expected: str, value: Any) -> ParameterTypeError:
    return ParameterTypeError(f"{ctx.label}{path}: expected {expected}, got {_show(value)}")


def _value_error(ctx: _Context, path: str, problem: str) -> ParameterError:
    return ParameterError(f"{ctx.label}{path}: {problem}")


def _unset(value: Any) -> bool:
    """None, or an empty mapping (what ``addict.Dict`` gives for a key never set)."""
    return value is None or (isinstance(value, Mapping) and not value)


def _keys(ctx: _Context, section: Mapping[str, Any], allowed: Collection[str], path: str) -> None:
    """Refuse keys of a nested section that are not in `allowed` (error in every mode)."""
    for key in section:
        if key not in allowed:
            raise _value_error(
                ctx,
                f"{path}.{key}",
                f"unknown key {key!r}{did_you_mean(key, allowed, 0.5)} "
                f"(valid: {', '.join(allowed)})",
            )


def _mapping(ctx: _Context, value: Any, path: str, example: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _type_error(ctx, path, f"a mapping {example}", value)
    return value


# ---- value checks -------------------------------------------------------------------------------

Check = Callable[[Any, str, _Context], None]


def _boolean(value: Any, path: str, ctx: _Context) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise _type_error(ctx, path, "true or false", value)


def _integer(minimum: int | None = None, maximum: int | None = None) -> Check:
    def check(value: Any, path: str, ctx: _Context) -> None:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise _type_error(ctx, path, "an integer", value)
        if minimum is not None and maximum is not None and not minimum <= value <= maximum:
            raise _value_error(
                ctx, path, f"{value} is outside the valid range [{minimum}, {maximum}]"
            )
        if minimum is not None and value < minimum:
            what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
            raise _value_error(ctx, path, f"{value} is not {what}")

    return check


def _number(
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> Check:
    def check(value: Any, path: str, ctx: _Context) -> None:
        if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (int, float, np.integer, np.floating)
        ):
            raise _type_error(ctx, path, "a number", value)
        number = float(value)
        if not math.isfinite(number):
            raise _value_error(ctx, path, f"{value!r} is not a finite number")
        below = low is not None and (number <= low if low_open else number < low)
        above = high is not None and (number >= high if high_open else number > high)
        if below or above:
            left = "(" if low_open else "["
            right = ")" if high_open else "]"
            lo = "-inf" if low is None else f"{low:g}"
            hi = "inf" if high is None else f"{high:g}"
            raise _value_error(
                ctx, path, f"{value!r} is outside the valid range {left}{lo}, {hi}{right}"
            )

    return check


def _choice(choices: tuple[str, ...]) -> Check:
    def check(value: Any, path: str, ctx: _Context) -> None:
        if not isinstance(value, str):
            raise _type_error(ctx, path, f"one of {', '.join(map(repr, choices))}", value)
        if value not in choices:
            raise _value_error(
                ctx,
                path,
                f"{value!r} is not one of {', '.join(map(repr, choices))}"
                f"{did_you_mean(value, choices)}",
            )

    return check


def _path_like(value: Any, path: str, ctx: _Context) -> None:
    if not isinstance(value, (str, os.PathLike)):
        raise _type_error(ctx, path, "a directory path", value)


def _model_type(value: Any, path: str, ctx: _Context) -> None:
    if value == "None":  # POT's config files wrote the string
        return
    if not isinstance(value, str) or value not in _MODEL_TYPES:
        raise _value_error(
            ctx,
            path,
            f"{value!r} is not a model type POT knew (None or 'transformer')"
            f"{did_you_mean(value, _MODEL_TYPES)}",
        )


def _target_device(value: Any, path: str, ctx: _Context) -> None:
    known = (*SUPPORTED_DEVICES, *_REFUSED_DEVICES)
    if not isinstance(value, str):
        raise _type_error(ctx, path, f"one of {', '.join(SUPPORTED_DEVICES)}", value)
    if value not in known:
        raise _value_error(
            ctx,
            path,
            f"{value!r} is not a target device (valid: {', '.join(SUPPORTED_DEVICES)})"
            f"{did_you_mean(value, known)}",
        )


def _base_algorithm(value: Any, path: str, ctx: _Context) -> None:
    # Unknown names are a KeyError naming the close match (the registry's, at construction).
    if not isinstance(value, str):
        raise _type_error(ctx, path, "an algorithm name", value)


def _estimator_end(
    value: Any, path: str, ctx: _Context, weights: bool, allow_aggregator: bool
) -> None:
    est = _mapping(ctx, value, path, "such as {'type': 'max', 'aggregator': 'mean'}")
    for key in est:
        if key == "aggregator" and not allow_aggregator:
            message = (
                f"{ctx.label}{path}.aggregator: weights have no samples to aggregate, "
                "the key has no effect"
            )
            if ctx.strict:
                raise ParameterError(message + " (remove it)")
            warn_user(message + " and is ignored")
            continue
        if key not in _ESTIMATOR_KEYS:
            raise _value_error(
                ctx,
                f"{path}.{key}",
                f"unknown key {key!r}{did_you_mean(key, _ESTIMATOR_KEYS, 0.5)} "
                f"(valid: {', '.join(_ESTIMATOR_KEYS)})",
            )
    checks: dict[str, Check] = {
        "type": _choice(_ESTIMATOR_TYPES),
        "aggregator": _choice(AGGREGATIONS),
        "outlier_prob": _number(0.0, 1.0, high_open=True),
        "granularity": _choice(_GRANULARITIES),
        "clipping_value": _number(),
    }
    for key, check in checks.items():
        if key == "aggregator" and weights:
            continue
        if est.get(key) is not None:
            check(est[key], f"{path}.{key}", ctx)


def _range_estimator_section(value: Any, path: str, ctx: _Context, group: str | None) -> None:
    section = _mapping(ctx, value, path, "{'preset': ..., 'min': {...}, 'max': {...}}")
    _keys(ctx, section, _ESTIMATOR_SECTION_KEYS, path)
    if section.get("preset") is not None:
        _choice(_ESTIMATOR_PRESETS)(section["preset"], f"{path}.preset", ctx)
    for end in ("min", "max"):
        if not _unset(section.get(end)):
            _estimator_end(
                section[end],
                f"{path}.{end}",
                ctx,
                weights=group == "weights",
                allow_aggregator=group != "weights",
            )


def _range_estimator(value: Any, path: str, ctx: _Context) -> None:
    # A top-level range_estimator stands for the activations' and the weights' ones.
    try:
        _range_estimator_section(value, path, ctx, None)
    except ParameterError as exc:
        note = (
            " (a top-level range_estimator stands for activations.range_estimator and "
            "weights.range_estimator where those are not given)"
        )
        raise type(exc)(f"{exc}{note}") from None


def _group(group: str) -> Check:
    def check(value: Any, path: str, ctx: _Context) -> None:
        section = _mapping(ctx, value, path, "{'bits': ..., 'mode': ..., 'granularity': ...}")
        _keys(ctx, section, _GROUP_KEYS, path)
        checks: dict[str, Check] = {
            "bits": _integer(*_BITS),
            "mode": _choice(_MODES),
            "granularity": _choice(_GRANULARITIES),
            "level_low": _integer(),
            "level_high": _integer(),
        }
        for key, item in checks.items():
            if section.get(key) is not None:
                item(section[key], f"{path}.{key}", ctx)
        low, high = section.get("level_low"), section.get("level_high")
        if low is not None and high is not None and not low < high:
            raise _value_error(ctx, f"{path}.level_low", f"{low} must be below level_high ({high})")
        if not _unset(section.get("range_estimator")):
            _range_estimator_section(
                section["range_estimator"], f"{path}.range_estimator", ctx, group
            )

    return check


def _ignored_section(section: Mapping[str, Any], path: str, ctx: _Context) -> None:
    if section.get("skip_model") is not None:
        _boolean(section["skip_model"], f"{path}.skip_model", ctx)
    scope = section.get("scope")
    if scope is not None:
        if not isinstance(scope, (list, tuple)):
            hint = f" (write [{scope!r}])" if isinstance(scope, str) else ""
            raise ParameterTypeError(
                f"{ctx.label}{path}.scope: expected a list of node names, got {_show(scope)}{hint}"
            )
        for i, entry in enumerate(scope):
            parts = entry if isinstance(entry, (list, tuple)) else [entry]
            if not parts or not all(isinstance(p, str) and p for p in parts):
                raise _type_error(ctx, f"{path}.scope[{i}]", "a node name", entry)
    operations = section.get("operations")
    if operations is not None:
        if not isinstance(operations, (list, tuple)):
            raise _type_error(
                ctx,
                f"{path}.operations",
                "a list of {'type': ..., 'attributes': {...}} entries",
                operations,
            )
        for i, entry in enumerate(operations):
            where = f"{path}.operations[{i}]"
            op = _mapping(ctx, entry, where, "{'type': ..., 'attributes': {...}}")
            _keys(ctx, op, _OPERATION_KEYS, where)
            if "type" not in op:
                raise _value_error(ctx, where, f"entry {dict(op)!r} has no 'type'")
            if not isinstance(op["type"], str) or not op["type"]:
                raise _type_error(ctx, f"{where}.type", "an operation type name", op["type"])
            attributes = op.get("attributes")
            if attributes is not None:
                _mapping(ctx, attributes, f"{where}.attributes", "{name: value}")


def _ignored(value: Any, path: str, ctx: _Context) -> None:
    section = _mapping(ctx, value, path, "{'scope': [...], 'operations': [...]}")
    if all(k in _IGNORED_KEYS for k in section):
        _ignored_section(section, path, ctx)
        return
    if not any(k in _IGNORED_KEYS for k in section) and all(
        isinstance(v, Mapping) for v in section.values()
    ):  # a cascade's {sub-model name: {...}} (the names are checked against the model)
        for name, sub in section.items():
            _keys(ctx, sub, _IGNORED_KEYS, f"{path}.{name}")
            _ignored_section(sub, f"{path}.{name}", ctx)
        return
    key = next(k for k in section if k not in _IGNORED_KEYS)
    raise _value_error(
        ctx,
        f"{path}.{key}",
        f"unknown key {key!r}{did_you_mean(key, _IGNORED_KEYS, 0.5)} (valid: "
        f"{', '.join(_IGNORED_KEYS)}; a cascade gives them per sub-model name)",
    )


def _metrics(value: Any, path: str, ctx: _Context) -> None:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise _type_error(ctx, path, "a list of {'name': ..., 'baseline_value': ...}", value)
    for i, item in enumerate(value):
        where = f"{path}[{i}]"
        entry = _mapping(ctx, item, where, "{'name': ..., 'baseline_value': ...}")
        _keys(ctx, entry, _METRIC_KEYS, where)
        if "name" not in entry:
            raise _value_error(ctx, where, "missing 'name'")
        if entry.get("baseline_value") is not None:
            _number()(entry["baseline_value"], f"{where}.baseline_value", ctx)


#: The check of every parameter a built-in algorithm reads (keys without one are free-form).
CHECKS: dict[str, Check] = {
    "target_device": _target_device,
    "preset": _choice(_PRESETS),
    "stat_subset_size": _integer(1),
    "stat_batch_size": _integer(1),
    "shuffle_data": _boolean,
    "seed": _integer(),
    "inplace_statistics": _boolean,
    "model_type": _model_type,
    "ignored": _ignored,
    "range_estimator": _range_estimator,
    "weights": _group("weights"),
    "activations": _group("activations"),
    "saturation_fix": _choice(_SATURATION_FIX),
    "use_fast_bias": _boolean,
    "use_layerwise_tuning": _boolean,
    "threshold": _number(0.0),
    "apply_for_all_nodes": _boolean,
    "dump_intermediate_model": _boolean,
    "exec_log_dir": _path_like,
    # AccuracyAwareQuantization
    "maximal_drop": _number(0.0),
    "drop_type": _choice(_DROP_TYPES),
    "max_iter_num": _integer(0),
    "ranking_subset_size": _integer(1),
    "metric_subset_ratio": _number(0.0, 1.0, low_open=True),
    "base_algorithm": _base_algorithm,
    "use_prev_if_drop_increase": _boolean,
    "convert_to_mixed_preset": _boolean,
    "tune_hyperparams": _boolean,
    "metrics": _metrics,
    "annotation_free": _boolean,
    "annotation_conf_threshold": _number(0.0, 1.0),
    "intermediate_dir": _path_like,
}


# ---- entry points -------------------------------------------------------------------------------


def check_unknown_keys(
    params: Mapping[str, Any],
    known: Collection[str],
    *,
    algorithm: str,
    place: str = "params",
    strict: bool = False,
    label: str = "",
) -> None:
    """Report top-level keys of `params` that are not in `known`, naming the close match.

    Parameters
    ----------
    params : mapping
        An algorithm's parameters.
    known : collection of str
        The keys the algorithm reads.
    algorithm : str
        The algorithm's name (in the messages).
    place : str, optional
        The parameters' key path, e.g. ``compression.algorithms[0].params``.
    strict : bool, optional
        Raise :class:`ParameterError` (command line) instead of warning (API).
    label : str, optional
        Prefix of error messages.

    Raises
    ------
    ParameterError
        With `strict`, for the first unknown key.
    """
    ordered = sorted(known)
    for key in params:
        if key in known:
            continue
        if strict:
            raise ParameterError(
                f"{label}{place} ({algorithm}): unknown key {key!r}"
                f"{did_you_mean(key, ordered, 0.5)} (valid: {', '.join(ordered)})"
            )
        warn_user(
            f"{algorithm}: {place}: unknown parameter {key!r} is ignored"
            f"{did_you_mean(key, ordered)}"
        )


def check_values(
    params: Mapping[str, Any],
    *,
    keys: Collection[str] | None = None,
    place: str = "params",
    strict: bool = False,
    label: str = "",
) -> None:
    """Check the type and range of every parameter of `params` that has a check.

    Parameters
    ----------
    params : mapping
        An algorithm's parameters (or a config file's ``compression`` section).
    keys : collection of str, optional
        Check only these keys (default: every key with a check).
    place : str, optional
        The parameters' key path (messages name ``<place>.<key>...``).
    strict : bool, optional
        Unknown keys of nested sections that POT ignored (a weights estimator's
        ``aggregator``) are errors instead of warnings.
    label : str, optional
        Prefix of every message (e.g. the algorithm's name).

    Raises
    ------
    ParameterTypeError
        A value of the wrong type.
    ParameterError
        A value out of range, an unknown choice (naming the close match) or an unknown key
        in a nested section.
    """
    ctx = _Context(label, strict)
    for key, value in params.items():
        check = CHECKS.get(key)
        if check is None or (keys is not None and key not in keys) or _unset(value):
            continue
        check(value, f"{place}.{key}", ctx)


def check_params(
    params: Any,
    known: Collection[str],
    *,
    algorithm: str,
    place: str = "params",
    strict: bool = False,
) -> None:
    """Check an algorithm's parameters: a mapping, known keys, valid values.

    Parameters
    ----------
    params : mapping
        The parameters.
    known : collection of str
        The keys the algorithm reads.
    algorithm : str
        Its name.
    place : str, optional
        The parameters' key path.
    strict : bool, optional
        Unknown keys are errors (command line) instead of warnings (API).

    Raises
    ------
    ParameterTypeError
        `params` is not a mapping, or a value has the wrong type.
    ParameterError
        See :func:`check_values` (and unknown keys with `strict`).
    """
    label = "" if strict else f"{algorithm}: "
    if not isinstance(params, Mapping):
        raise ParameterTypeError(
            f"{label}{place}: expected a mapping of parameters {{name: value}}, got {_show(params)}"
        )
    check_unknown_keys(params, known, algorithm=algorithm, place=place, strict=strict, label="")
    check_values(params, keys=known, place=place, strict=strict, label=label)
