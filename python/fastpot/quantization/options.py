"""The one-call API's options and their POT parameters.

The enums take their members or the equivalent strings (any case); :func:`default_params`
turns the arguments of :func:`fastpot.quantize` into the ``params`` of POT's
``DefaultQuantization`` and :func:`restorer_params` those of ``AccuracyAwareQuantization``.
"""

from __future__ import annotations

import enum
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import openvino as ov

from fastpot.algorithms.accuracy_aware.algorithm import AA_PARAMS
from fastpot.algorithms.default import DefaultQuantization
from fastpot.algorithms.params import check_params
from fastpot.api._hints import did_you_mean

__all__ = [
    "RESTORER_KEYS",
    "DropType",
    "IgnoredScope",
    "ModelType",
    "QuantizationPreset",
    "TargetDevice",
    "choice",
    "default_params",
    "ignored_section",
    "restorer_params",
    "stamp",
]


class TargetDevice(str, enum.Enum):
    """The device the quantized model is made for (POT's ``target_device``)."""

    ANY = "ANY"
    CPU = "CPU"
    GPU = "GPU"
    NPU = "NPU"
    CPU_SPR = "CPU_SPR"


class QuantizationPreset(str, enum.Enum):
    """POT's ``preset``: symmetric weights and activations, or asymmetric activations."""

    PERFORMANCE = "performance"
    MIXED = "mixed"


class ModelType(str, enum.Enum):
    """A model family with its own quantization scheme (POT's ``model_type``)."""

    TRANSFORMER = "transformer"


class DropType(str, enum.Enum):
    """How the accuracy drop is measured: metric difference, or relative to the baseline."""

    ABSOLUTE = "absolute"
    RELATIVE = "relative"


E = TypeVar("E", bound=enum.Enum)


def choice(kind: type[E], value: Any, argument: str) -> E:
    """Return the member of `kind` that `value` names (a member, or its name or value).

    Raises
    ------
    ValueError
        `value` names no member; the message names `argument` and the allowed values.
    """
    if isinstance(value, kind):
        return value
    if isinstance(value, str):
        wanted = value.strip().lower()
        for member in kind:
            if wanted in (member.name.lower(), str(member.value).lower()):
                return member
    allowed = [member.value for member in kind]
    hint = did_you_mean(value, allowed) if isinstance(value, str) else ""
    raise ValueError(
        f"{argument}: {value!r} is not one of {', '.join(map(repr, allowed))} "
        f"(or {kind.__name__}.<member>){hint}"
    )


@dataclass
class IgnoredScope:
    """Nodes to keep in floating point (NNCF's ``IgnoredScope``).

    Parameters
    ----------
    names : list of str
        Node (friendly) names, as in POT's ``ignored.scope``.
    patterns : list of str
        Regular expressions matched from the start of each node name (``re.match``); every
        matching operation other than a constant is ignored.
    types : list of str
        Operation types (``"MatMul"``, POT's type names such as ``"DepthWiseConvolution"``
        too), as in POT's ``ignored.operations``.
    validate : bool
        A name that is not in the model, a pattern that matches nothing or a type the model
        does not have is a ``ValueError`` (``False``: they are dropped silently).
    """

    names: list[str] = field(default_factory=list)
    patterns: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    validate: bool = True


def _strings(value: Any, where: str) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise TypeError(f"{where}: expected a list of strings, got {value!r}")
    for i, entry in enumerate(value):
        if not isinstance(entry, str):
            raise TypeError(f"{where}[{i}]: expected a string, got {entry!r}")
    return list(value)


def ignored_section(scope: IgnoredScope | None, model: ov.Model) -> dict[str, Any] | None:
    """POT's ``ignored`` section for `scope` on `model` (None if it ignores nothing).

    Raises
    ------
    ValueError
        With ``scope.validate``: a name not in the model (named, with the closest node
        name), a pattern matching no node, a type the model has no operation of; or an
        invalid regular expression.
    TypeError
        `scope` is not an :class:`IgnoredScope`, or its fields are not lists of strings.
    """
    if scope is None:
        return None
    if not isinstance(scope, IgnoredScope):
        raise TypeError(
            f"ignored_scope: expected fastpot.IgnoredScope(names=..., patterns=..., types=...),"
            f" got {type(scope).__name__}"
        )
    ops = list(model.get_ordered_ops())
    node_names = [op.get_friendly_name() for op in ops]
    known = set(node_names)
    chosen: set[str] = set()
    for name in _strings(scope.names, "ignored_scope.names"):
        if name in known:
            chosen.add(name)
        elif scope.validate:
            raise ValueError(
                f"ignored_scope.names: {name!r} is not a node of the model"
                f"{did_you_mean(name, node_names)} (IgnoredScope(validate=False) drops "
                "unknown names instead)"
            )
    layers = [op.get_friendly_name() for op in ops if op.get_type_name() != "Constant"]
    for pattern in _strings(scope.patterns, "ignored_scope.patterns"):
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"ignored_scope.patterns: {pattern!r}: {exc}") from None
        matched = [name for name in layers if regex.match(name)]
        if not matched and scope.validate:
            raise ValueError(f"ignored_scope.patterns: {pattern!r} matches no node of the model")
        chosen.update(matched)
    op_types = {op.get_type_name() for op in ops}
    if "GroupConvolution" in op_types:  # POT's names of grouped convolutions
        op_types |= {"DepthWiseConvolution", "Convolution"}
    if "GroupConvolutionBackpropData" in op_types:
        op_types.add("ConvolutionBackpropData")
    types = []
    for op_type in _strings(scope.types, "ignored_scope.types"):
        if op_type in op_types:
            types.append({"type": op_type})
        elif scope.validate:
            raise ValueError(
                f"ignored_scope.types: the model has no {op_type!r} operation"
                f"{did_you_mean(op_type, sorted(op_types))}"
            )
    section: dict[str, Any] = {}
    if chosen:
        section["scope"] = [name for name in node_names if name in chosen]  # model order
    if types:
        section["operations"] = types
    return section or None


# Keys the arguments of quantize() set; advanced_parameters may not set them again.
_ARGUMENT_KEYS = {
    "target_device": "target_device",
    "preset": "preset",
    "stat_subset_size": "subset_size",
    "use_fast_bias": "fast_bias_correction",
    "model_type": "model_type",
}

#: AccuracyAwareQuantization keys ``advanced_accuracy_restorer_parameters`` may set.
RESTORER_KEYS = AA_PARAMS - {
    "maximal_drop",
    "drop_type",
    "metrics",
    "base_algorithm",
    "annotation_free",
    "annotation_conf_threshold",
}


def _positive_int(value: Any, argument: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{argument}: {value!r} is not a positive integer")
    return value


def default_params(
    model: ov.Model,
    *,
    preset: Any,
    target_device: Any,
    subset_size: Any,
    fast_bias_correction: Any,
    model_type: Any,
    ignored_scope: IgnoredScope | None,
    advanced_parameters: Mapping[str, Any] | None,
    advanced_name: str = "advanced_parameters",
) -> dict[str, Any]:
    """Return the ``DefaultQuantization`` params equivalent to the arguments.

    Raises
    ------
    ValueError
        A bad argument (named, with its allowed values), an ignored name that is not in
        the model, or an ``advanced_parameters`` key that an argument sets.
    fastpot.algorithms.params.ParameterError
        A bad or unknown ``advanced_parameters`` key (named by its key path, with the close
        match).
    """
    device = choice(TargetDevice, target_device, "target_device")
    kind = None if model_type is None else choice(ModelType, model_type, "model_type")
    if preset is None:  # NNCF's default: mixed for transformers, performance otherwise
        chosen = QuantizationPreset.MIXED if kind is not None else QuantizationPreset.PERFORMANCE
    else:
        chosen = choice(QuantizationPreset, preset, "preset")
    if not isinstance(fast_bias_correction, bool):
        raise TypeError(f"fast_bias_correction: {fast_bias_correction!r} is not True or False")
    params: dict[str, Any] = {
        "target_device": device.value,
        "preset": chosen.value,
        "stat_subset_size": _positive_int(subset_size, "subset_size"),
        "use_fast_bias": fast_bias_correction,
    }
    if kind is not None:
        params["model_type"] = kind.value
    ignored = ignored_section(ignored_scope, model)
    if ignored is not None:
        params["ignored"] = ignored
    if advanced_parameters is not None:
        check_params(
            advanced_parameters,
            DefaultQuantization.known_params(),
            algorithm="DefaultQuantization",
            place=advanced_name,
            strict=True,
        )
        for key, value in advanced_parameters.items():
            argument = _ARGUMENT_KEYS.get(key)
            if argument is None and key == "ignored" and ignored is not None:
                argument = "ignored_scope"
            if argument is not None:
                raise ValueError(
                    f"{advanced_name}.{key}: set by the {argument!r} argument; pass it there"
                )
            params[key] = value
    return params


def restorer_params(
    max_drop: Any, drop_type: Any, advanced: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Return the ``AccuracyAwareQuantization`` keys of `max_drop`, `drop_type`, `advanced`.

    Raises
    ------
    ValueError
        A negative or non-finite `max_drop`, an unknown `drop_type`.
    fastpot.algorithms.params.ParameterError
        A bad or unknown key of `advanced` (``advanced_accuracy_restorer_parameters``).
    """
    if isinstance(max_drop, bool) or not isinstance(max_drop, (int, float)):
        raise TypeError(f"max_drop: {max_drop!r} is not a number")
    if not math.isfinite(max_drop) or max_drop < 0:
        raise ValueError(f"max_drop: {max_drop!r} must be a finite number >= 0")
    params: dict[str, Any] = {
        "maximal_drop": float(max_drop),
        "drop_type": choice(DropType, drop_type, "drop_type").value,
    }
    if advanced is not None:
        check_params(
            advanced,
            RESTORER_KEYS,
            algorithm="AccuracyAwareQuantization",
            place="advanced_accuracy_restorer_parameters",
            strict=True,
        )
        params.update(advanced)
    return params


def stamp(model: ov.Model, config: Mapping[str, Any], api: str) -> None:
    """Record in `model`'s ``rt_info`` the POT config it was quantized with.

    The keys are those the ``pot`` command line writes (``quantization_parameters`` /
    ``config`` and ``version``), plus ``api``: the function that made it.
    """
    from fastpot import __version__  # noqa: PLC0415 - the package imports this lazily

    text = json.dumps(config, sort_keys=True, default=str)  # numpy scalars, paths: as text
    model.set_rt_info(text, ["quantization_parameters", "config"])
    model.set_rt_info(f"fastpot {__version__}", ["quantization_parameters", "version"])
    model.set_rt_info(api, ["quantization_parameters", "api"])
