"""What fastpot's drop-in ``openvino.tools.pot`` does not provide, and what to use instead.

* Names that fastpot does not implement are real, importable names whose use raises
  :class:`NotImplementedError` with the reason and the alternative: :func:`missing_class`
  makes such a class, :func:`missing_function` such a function.
* Sub-modules of POT that are out of scope raise :class:`ModuleNotFoundError` (an
  ``ImportError``) with the same kind of message, through :class:`MissingModuleFinder`, which
  only runs after the normal import machinery found nothing.
"""

from __future__ import annotations

import importlib.abc
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any, NoReturn

__all__ = [
    "MODULE_HINTS",
    "MissingModuleFinder",
    "install_finder",
    "missing_class",
    "missing_function",
]

PACKAGE = "openvino.tools.pot"
_README = "see fastpot's README, section 'Drop-in openvino.tools.pot: what is covered'"
_AC = (
    "the Accuracy Checker engine is out of scope for fastpot; use IEEngine with a Python "
    "DataLoader and Metric, or the simplified engine (pot --engine simplified)"
)

# Sub-modules (relative to openvino.tools.pot) that are out of scope, with the alternative.
MODULE_HINTS: dict[str, str] = {
    "engines.ac_engine": _AC,
    "configs": "pass plain dicts; the pot command line validates config files itself "
    "(fastpot.cli.config)",
    "data_loaders": "use fastpot.cli.simplified_engine.ImageLoader for a folder of images, "
    "or write a DataLoader",
    "benchmark": "time compiled models with openvino's benchmark_app",
    "optimization": "hyper-parameter tuning (nevergrad) is not implemented",
    "algorithms.sparsity": "sparsity algorithms are not implemented",
    "algorithms.quantization": "import the algorithm classes from openvino.tools.pot "
    "(e.g. `from openvino.tools.pot import DefaultQuantization`)",
    "algorithms.finetuning": "layer-wise fine-tuning is not implemented",
    "graph.node_utils": "work on the openvino.Model (CompressedModel.get_model()) directly",
    "graph.editor": "work on the openvino.Model (CompressedModel.get_model()) directly",
    "graph.transformer": "work on the openvino.Model (CompressedModel.get_model()) directly",
}


def _message(what: str, hint: str) -> str:
    return f"fastpot does not implement {what}: {hint} ({_README})"


def missing_class(name: str, hint: str, qualname_module: str = PACKAGE) -> type:
    """Return an importable class `name` whose instantiation raises ``NotImplementedError``.

    Parameters
    ----------
    name : str
        The POT name (e.g. ``"RangeOptimization"``).
    hint : str
        What to use instead.
    qualname_module : str
        The module the class claims to live in.
    """
    message = _message(f"{qualname_module}.{name}", hint)

    def __init__(self: Any, *args: Any, **kwargs: Any) -> NoReturn:
        raise NotImplementedError(message)

    cls = type(name, (), {"__init__": __init__, "__doc__": message, "name": name})
    cls.__module__ = qualname_module
    return cls


def missing_function(name: str, hint: str, qualname_module: str = PACKAGE) -> Callable[..., Any]:
    """Return an importable function `name` that raises ``NotImplementedError`` when called."""
    message = _message(f"{qualname_module}.{name}()", hint)

    def function(*args: Any, **kwargs: Any) -> NoReturn:
        raise NotImplementedError(message)

    function.__name__ = function.__qualname__ = name
    function.__module__ = qualname_module
    function.__doc__ = message
    return function


class MissingModuleFinder(importlib.abc.MetaPathFinder):
    """Last finder on ``sys.meta_path``: explains missing ``openvino.tools.pot`` modules."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> None:
        """Raise ``ModuleNotFoundError`` with a hint for ``openvino.tools.pot.*`` modules."""
        if not fullname.startswith(PACKAGE + "."):
            return
        relative = fullname[len(PACKAGE) + 1 :]
        hint = None
        parts = relative.split(".")
        for end in range(len(parts), 0, -1):
            hint = MODULE_HINTS.get(".".join(parts[:end]))
            if hint is not None:
                break
        if hint is None:
            hint = "this POT module has no fastpot counterpart"
        raise ModuleNotFoundError(
            f"No module named {fullname!r}: fastpot's drop-in {PACKAGE} does not provide it; "
            f"{hint} ({_README})",
            name=fullname,
        )


def install_finder() -> None:
    """Append one :class:`MissingModuleFinder` to ``sys.meta_path`` (idempotent)."""
    if not any(isinstance(f, MissingModuleFinder) for f in sys.meta_path):
        sys.meta_path.append(MissingModuleFinder())
