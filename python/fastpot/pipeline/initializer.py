"""``create_pipeline``: algorithms from a POT-style config list."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fastpot.algorithms.params import ParameterTypeError, params_place
from fastpot.algorithms.registry import COMPRESSION_ALGORITHMS
from fastpot.api._hints import did_you_mean
from fastpot.pipeline.pipeline import Pipeline

__all__ = ["create_pipeline"]

_ENTRY_KEYS = ("name", "params")
_ENTRY = "{'name': <algorithm>, 'params': {...}}"


def _missing_algorithms() -> dict[str, str]:
    """POT's algorithms fastpot does not implement, with the reason."""
    try:
        from openvino.tools.pot import _MISSING  # noqa: PLC0415 - shipped in the same wheel
    except ImportError:  # pragma: no cover - the drop-in package is part of the wheel
        return {}
    return dict(_MISSING)


def _check_engine(engine: Any) -> None:
    if isinstance(engine, type):
        raise TypeError(
            f"create_pipeline: engine is the class {engine.__name__}; pass an instance, e.g. "
            f"{engine.__name__}(config, data_loader, metric)"
        )
    if engine is None or not callable(getattr(engine, "predict", None)):
        raise TypeError(
            "create_pipeline: engine must be an Engine (e.g. IEEngine(config, data_loader, "
            f"metric)), got {type(engine).__name__}"
        )


def create_pipeline(
    algo_config: Iterable[Mapping[str, Any]], engine: Any, interface: str = "API"
) -> Pipeline:
    """Build a :class:`Pipeline` of ``[{"name": AlgoName, "params": {...}}, ...]``.

    Parameters
    ----------
    algo_config : list of dict
        The algorithms, in order (POT's ``compression.algorithms``).
    engine : Engine
        The engine the algorithms run the model with.
    interface : str, optional
        Accepted for POT's signature.

    Returns
    -------
    Pipeline

    Raises
    ------
    TypeError
        `algo_config` is not a list of mappings (a single ``{"name": ...}`` dict included:
        wrap it in a list), an entry's ``params`` is not a mapping, or `engine` is not an
        engine instance.
    ValueError
        An entry without ``name`` or with keys other than ``name``/``params``, or a bad
        parameter value (naming ``algorithms[i].params.<key>``).
    KeyError
        An unknown algorithm name, naming the closest registered one.
    NotImplementedError
        A POT algorithm fastpot does not implement.

    Notes
    -----
    Unknown parameters are reported with a warning that names the close match (POT
    ignored them).
    """
    import fastpot.algorithms  # noqa: F401, PLC0415 - registers the built-in algorithms

    if isinstance(algo_config, (Mapping, str, bytes)) or not isinstance(algo_config, Iterable):
        hint = (
            f" (wrap the algorithm in a list: [{{'name': {algo_config['name']!r}, ...}}])"
            if isinstance(algo_config, Mapping) and "name" in algo_config
            else ""
        )
        raise TypeError(
            f"create_pipeline: algo_config must be a list of algorithm configs [{_ENTRY}, ...], "
            f"got {type(algo_config).__name__}{hint}"
        )
    _check_engine(engine)
    pipeline = Pipeline(engine)
    for i, entry in enumerate(list(algo_config)):
        place = f"algorithms[{i}]"
        if not isinstance(entry, Mapping):
            raise TypeError(f"{place}: expected {_ENTRY}, got {type(entry).__name__} {entry!r}")
        for key in entry:
            if key not in _ENTRY_KEYS:
                raise ValueError(
                    f"{place}: unknown key {key!r}{did_you_mean(key, _ENTRY_KEYS, 0.5)} "
                    f"(an entry is {_ENTRY})"
                )
        if "name" not in entry:
            raise ValueError(f"{place}: missing 'name' (an entry is {_ENTRY})")
        name = entry["name"]
        if not isinstance(name, str):
            raise TypeError(f"{place}.name: expected an algorithm name, got {name!r}")
        try:
            cls = COMPRESSION_ALGORITHMS.get(name)
        except KeyError as exc:
            bare = name.split(".", 1)[1] if name.startswith("QuantizationAlgos.") else name
            missing = _missing_algorithms()
            if bare in missing:
                raise NotImplementedError(
                    f"{place}.name: fastpot does not implement {bare}: {missing[bare]}"
                ) from None
            raise KeyError(f"{place}.name: {exc.args[0]}") from None
        params = entry.get("params")
        if params is not None and not isinstance(params, Mapping):
            raise ParameterTypeError(
                f"{name}: {place}.params: expected a mapping of parameters {{name: value}}, "
                f"got {type(params).__name__} {params!r}"
            )
        with params_place(f"{place}.params"):
            pipeline.add_algo(cls(params or {}, engine))
    return pipeline
