"""POT's config file for the ``pot`` command line: reading, validation, defaults.

A config has three sections::

    {"model": {"model_name": ..., "model": "net.xml", "weights": "net.bin"},
     "engine": {"type": "simplified", "data_source": "images/", "device": "CPU", ...},
     "compression": {"target_device": "ANY", "algorithms": [{"name": ..., "params": {...}}]}}

JSON files may hold ``//`` and ``/* */`` comments; ``.yml``/``.yaml`` files are YAML. Every key
is checked: an unknown one is a :class:`ConfigError` naming the file, the key's place and the
closest valid key (POT rejected unknown algorithm parameters too, with a bare message). Values
are checked too, before anything is written: algorithm parameters and the compression
section by :mod:`fastpot.algorithms.params` (the checks the Python API runs), the engine's
device, request numbers and layout as :class:`~fastpot.engines.IEEngine` checks them. The
Accuracy Checker engine is out of scope and refused with what to use instead.
"""

from __future__ import annotations

import copy
import difflib
import json
import os
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any, cast

from fastpot.algorithms.accuracy_aware.algorithm import AA_PARAMS
from fastpot.algorithms.params import ParameterError, check_unknown_keys, check_values
from fastpot.api._hints import did_you_mean

__all__ = [
    "ALGORITHM_PARAMS",
    "ConfigError",
    "check_keys",
    "prepare_config",
    "read_config_file",
    "strip_json_comments",
    "template_config",
]


class ConfigError(ValueError):
    """A config file or command-line combination fastpot cannot run."""


ACCURACY_CHECKER_MESSAGE = (
    "the Accuracy Checker engine is out of scope for fastpot. Use the simplified engine "
    '(engine: {"type": "simplified", "data_source": <image folder or .txt list>}, or '
    "--engine simplified --data-source ...) to quantize with calibration images, or the "
    "Python API (a DataLoader and a Metric with IEEngine) to quantize and evaluate with your "
    "own data and accuracy metric"
)

_TOP_KEYS = ("model", "engine", "compression")
_MODEL_KEYS = ("model_name", "model", "weights", "cascade")
_CASCADE_KEYS = ("name", "model", "weights")
_ENGINE_KEYS = (
    "type",
    "data_source",
    "device",
    "layout",
    "central_fraction",
    "stat_requests_number",
    "eval_requests_number",
)
# Keys of an Accuracy-Checker engine section (its own config file, or an inline model).
_AC_ENGINE_KEYS = ("config", "launchers", "datasets", "models", "module", "name")
_COMPRESSION_KEYS = (
    "target_device",
    "model_type",
    "inplace_statistics",
    "dump_intermediate_model",
    "algorithms",
)
_ALGORITHM_KEYS = ("name", "params")
_LAYOUTS = ("NCHW", "NHWC", "CHW", "HWC")

_SAMPLING = ("stat_subset_size", "shuffle_data", "seed")
_MIN_MAX = ("preset", "range_estimator", "weights", "activations", "saturation_fix", "ignored")
_BIAS = ("apply_for_all_nodes", "threshold", "ignored")
_DEFAULT = (*_SAMPLING, *_MIN_MAX, *_BIAS, "use_fast_bias", "use_layerwise_tuning")
# AccuracyAware's own keys (its base algorithm's come on top, below).
_ACCURACY_AWARE = tuple(sorted(AA_PARAMS))
# Algorithm -> the parameters a config file may give it (POT's whitelist).
ALGORITHM_PARAMS: dict[str, tuple[str, ...]] = {
    "DefaultQuantization": _DEFAULT,
    "MinMaxQuantization": (*_SAMPLING, *_MIN_MAX),
    "ActivationChannelAlignment": (*_SAMPLING, "ignored"),
    "FastBiasCorrection": (*_SAMPLING, *_BIAS),
    "BiasCorrection": (*_SAMPLING, *_BIAS),
    "AccuracyAwareQuantization": (*_ACCURACY_AWARE, *_DEFAULT),
}
# Copied from the compression section into every algorithm's parameters.
_INHERITED = ("target_device", "model_type", "dump_intermediate_model", "inplace_statistics")


def _where(source: str | None, place: str) -> str:
    return f"{source}: {place}" if source else place


def check_keys(
    section: Any, allowed: tuple[str, ...], place: str, source: str | None = None
) -> None:
    """Raise :class:`ConfigError` for a non-mapping `section` or a key not in `allowed`."""
    if not isinstance(section, Mapping):
        raise ConfigError(
            _where(source, f"{place}: expected a mapping, got {type(section).__name__}")
        )
    for key in section:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                _where(source, f"{place}: unknown key {key!r}{hint} (valid: {', '.join(allowed)})")
            )


def strip_json_comments(text: str) -> str:
    """Remove ``//`` line and ``/* */`` block comments outside JSON strings.

    Comment characters are replaced by spaces (newlines kept), so JSON error positions still
    point at the right line and column.
    """
    out: list[str] = []
    i, n = 0, len(text)
    in_string = False
    while i < n:
        c = text[i]
        if in_string:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            if c == '"':
                in_string = False
            i += 1
        elif c == '"':
            in_string = True
            out.append(c)
            i += 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            out.append(" " * (end - i))
            i = end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise ValueError("unterminated /* comment")
            block = text[i : end + 2]
            out.append("".join("\n" if ch == "\n" else " " for ch in block))
            i = end + 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a JSON (comments allowed) or YAML config file into a dict.

    Raises
    ------
    ConfigError
        Missing or unreadable file, another extension, a syntax error, or not a mapping.
    """
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix not in (".json", ".yml", ".yaml"):
        raise ConfigError(
            f"{file}: unsupported config file extension {file.suffix!r} (use .json, .yml or .yaml)"
        )
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read the config file ({exc.strerror or exc})") from None
    if suffix == ".json":
        try:
            data = json.loads(strip_json_comments(text))
        except (ValueError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{file}: invalid JSON: {exc}") from None
    else:
        import yaml  # noqa: PLC0415 - only YAML configs need it

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{file}: invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: the config must be a mapping with model/engine/compression")
    return data


def template_config(
    quantize: str,
    model: str,
    weights: str,
    name: str | None,
    preset: str | None,
    max_drop: float | None,
    engine: str,
    data_source: str | None,
) -> dict[str, Any]:
    """Build the config that ``pot -q default|accuracy_aware`` runs (POT's templates)."""
    params: dict[str, Any] = {"preset": preset or "performance", "stat_subset_size": 300}
    if quantize == "accuracy_aware":
        algorithm = "AccuracyAwareQuantization"
        params.update(
            {
                "maximal_drop": 0.01 if max_drop is None else max_drop,
                "tune_hyperparams": False,
            }
        )
    else:
        algorithm = "DefaultQuantization"
    engine_section: dict[str, Any] = {"type": engine}
    if data_source is not None:
        engine_section["data_source"] = data_source
    return {
        "model": {"model_name": name or "model_name", "model": model, "weights": weights},
        "engine": engine_section,
        "compression": {
            "target_device": "ANY",
            "algorithms": [{"name": algorithm, "params": params}],
        },
    }


def _check_engine(engine: Any, source: str | None) -> None:
    if not isinstance(engine, Mapping):
        raise ConfigError(_where(source, "engine: expected a mapping"))
    engine_type = engine.get("type")
    ac_keys = [key for key in engine if key in _AC_ENGINE_KEYS]
    if engine_type in (None, "accuracy_checker") or ac_keys:
        asked = (
            f"engine.type {engine_type!r}"
            if engine_type is not None
            else (
                f"engine key {ac_keys[0]!r}"
                if ac_keys
                else "no engine.type (POT's default is accuracy_checker)"
            )
        )
        raise ConfigError(_where(source, f"{asked}: {ACCURACY_CHECKER_MESSAGE}"))
    if engine_type != "simplified":
        close = difflib.get_close_matches(str(engine_type), ["simplified"], n=1)
        hint = "; did you mean 'simplified'?" if close else ""
        raise ConfigError(
            _where(source, f"engine.type: unknown engine {engine_type!r}{hint} (valid: simplified)")
        )
    check_keys(engine, _ENGINE_KEYS, "engine", source)
    if not engine.get("data_source"):
        raise ConfigError(
            _where(
                source,
                "engine.data_source: the simplified engine needs an image folder or a .txt list "
                "of images (or pass --data-source)",
            )
        )
    if not isinstance(engine["data_source"], (str, os.PathLike)):
        raise ConfigError(
            _where(
                source,
                f"engine.data_source: expected an image folder or a .txt list, got "
                f"{engine['data_source']!r}",
            )
        )
    if "central_fraction" in engine:
        fraction = engine["central_fraction"]
        if (
            isinstance(fraction, bool)
            or not isinstance(fraction, (int, float))
            or not 0 < fraction <= 1
        ):
            raise ConfigError(
                _where(source, f"engine.central_fraction: {fraction!r} must be in (0, 1]")
            )
    layout = engine.get("layout")
    if layout is not None and (not isinstance(layout, str) or layout.upper() not in _LAYOUTS):
        raise ConfigError(
            _where(
                source,
                f"engine.layout: {layout!r} is not one of {', '.join(_LAYOUTS)}"
                f"{did_you_mean(layout, _LAYOUTS)}",
            )
        )
    _check_engine_values(engine, source)


def _check_engine_values(engine: Mapping[str, Any], source: str | None) -> None:
    """Check the engine keys IEEngine reads: request numbers, a device OpenVINO has here."""
    import openvino as ov  # noqa: PLC0415 - the command line needs OpenVINO anyway

    from fastpot.engines.ie_engine import check_engine_config  # noqa: PLC0415

    try:
        check_engine_config(engine, "engine", ov.Core() if "device" in engine else None)
    except (TypeError, ValueError) as exc:
        raise ConfigError(_where(source, str(exc))) from None


def _normalise_preset(
    params: MutableMapping[str, Any], target_device: str, place: str, source: str | None
) -> None:
    preset = params.get("preset")
    if preset is None:
        return
    aliases = {"symmetric": "performance", "asymmetric": "accuracy"}
    preset = aliases.get(preset, preset)
    if preset not in ("performance", "mixed", "accuracy"):
        raise ConfigError(
            _where(
                source,
                f"{place}.preset: unsupported preset {params['preset']!r} "
                "(performance, mixed, accuracy, symmetric, asymmetric)",
            )
        )
    if preset == "accuracy" and str(target_device).upper() != "NPU":
        preset = "mixed"  # as POT's command line: 'accuracy' means mixed except on NPU
    params["preset"] = preset


def _missing_algorithms() -> dict[str, str]:
    from openvino.tools.pot import _MISSING  # noqa: PLC0415 - shipped in the same wheel

    missing: dict[str, str] = _MISSING
    return missing


def prepare_config(config: Mapping[str, Any], source: str | None = None) -> dict[str, Any]:
    """Validate a POT config and fill in what POT's command line filled in.

    Parameters
    ----------
    config : mapping
        The parsed config file (or a ``-q`` template).
    source : str, optional
        Where it came from, used in error messages.

    Returns
    -------
    dict
        A deep copy with ``model.model_name`` defaulted to the xml stem, ``engine.device``
        to ``CPU``, and every algorithm's ``params`` holding ``target_device`` (default
        ``ANY``), ``model_type``, ``dump_intermediate_model``, ``inplace_statistics`` (default
        True) from the compression section, and the preset aliases resolved.

    Raises
    ------
    ConfigError
        With the file, the key's place, and the closest valid key where one exists.
    """
    check_keys(config, _TOP_KEYS, "config", source)
    for section in _TOP_KEYS:
        if section not in config:
            raise ConfigError(_where(source, f"config: missing section {section!r}"))
    result = copy.deepcopy(dict(config))

    model = result["model"]
    check_keys(model, _MODEL_KEYS, "model", source)
    if "cascade" in model:
        if not isinstance(model["cascade"], list) or not model["cascade"]:
            raise ConfigError(_where(source, "model.cascade: expected a non-empty list"))
        for i, entry in enumerate(model["cascade"]):
            check_keys(entry, _CASCADE_KEYS, f"model.cascade[{i}]", source)
    else:
        for key in ("model", "weights"):
            if not model.get(key):
                raise ConfigError(_where(source, f"model: missing key {key!r}"))
        model.setdefault("model_name", Path(str(model["model"])).stem)
    model.setdefault("model_name", "model")

    engine = result["engine"]
    _check_engine(engine, source)
    engine.setdefault("device", "CPU")

    compression = result["compression"]
    check_keys(compression, _COMPRESSION_KEYS, "compression", source)
    algorithms = compression.get("algorithms")
    if not isinstance(algorithms, list) or not algorithms:
        raise ConfigError(
            _where(source, "compression.algorithms: expected a non-empty list of algorithms")
        )
    _checked(
        source,
        check_values,
        compression,
        keys=_INHERITED,
        place="compression",
        strict=True,
    )
    target_device = compression.get("target_device", "ANY")
    model_type = compression.get("model_type")
    inherited = {
        "target_device": target_device,
        "model_type": None if model_type in (None, "None") else model_type,
        "dump_intermediate_model": compression.get("dump_intermediate_model", False),
        "inplace_statistics": compression.get("inplace_statistics", True),
    }
    missing = _missing_algorithms()
    for i, algorithm in enumerate(algorithms):
        place = f"compression.algorithms[{i}]"
        check_keys(algorithm, _ALGORITHM_KEYS, place, source)
        name = algorithm.get("name")
        if name in missing:
            raise ConfigError(
                _where(source, f"{place}.name: fastpot does not implement {name}: {missing[name]}")
            )
        if name not in ALGORITHM_PARAMS:
            known = list(ALGORITHM_PARAMS)
            close = difflib.get_close_matches(str(name), known, n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                _where(
                    source,
                    f"{place}.name: unknown algorithm {name!r}{hint} (valid: {', '.join(known)})",
                )
            )
        params = algorithm.setdefault("params", {})
        if params is None:
            params = algorithm["params"] = {}
        if not isinstance(params, Mapping):
            raise ConfigError(
                _where(
                    source,
                    f"{place}.params: expected a mapping of parameters, got "
                    f"{type(params).__name__} {params!r}",
                )
            )
        params = cast("MutableMapping[str, Any]", params)  # in a deep copy of the config
        allowed = ALGORITHM_PARAMS[name]
        if name == "AccuracyAwareQuantization":
            base = params.get("base_algorithm", "DefaultQuantization")
            bases = [n for n in ALGORITHM_PARAMS if n != name]
            if base not in bases:
                raise ConfigError(
                    _where(
                        source,
                        f"{place}.params.base_algorithm: {base!r} is not one of "
                        f"{', '.join(bases)}{did_you_mean(base, bases)}",
                    )
                )
            allowed = (*_ACCURACY_AWARE, *ALGORITHM_PARAMS[base])
        _checked(
            source,
            check_unknown_keys,
            params,
            allowed,
            algorithm=name,
            place=f"{place}.params",
            strict=True,
        )
        if params.get("use_layerwise_tuning"):
            raise ConfigError(
                _where(
                    source,
                    f"{place}.params.use_layerwise_tuning: fastpot does not implement "
                    "layer-wise fine-tuning; remove the key",
                )
            )
        for key in _INHERITED:
            params[key] = inherited[key]
        _normalise_preset(params, target_device, f"{place}.params", source)
        _checked(source, check_values, params, place=f"{place}.params", strict=True)
    return result


def _checked(source: str | None, check: Any, *args: Any, **kwargs: Any) -> None:
    """Run a check of :mod:`fastpot.algorithms.params`; its error as a :class:`ConfigError`."""
    try:
        check(*args, **kwargs)
    except ParameterError as exc:
        raise ConfigError(_where(source, str(exc))) from None
