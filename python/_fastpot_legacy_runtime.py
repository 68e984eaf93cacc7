"""Legacy ``openvino.runtime`` namespace for POT-era scripts, on OpenVINO releases without it.

OpenVINO 2023 scripts import the runtime API from ``openvino.runtime`` (``from
openvino.runtime import Core, PartialShape``, ``import openvino.runtime.opset8 as ops``);
OpenVINO 2025 removed that namespace and the same objects live in ``openvino`` itself.
fastpot's wheel installs this module with a one-line ``fastpot-legacy-runtime.pth``, so
``site`` runs ``import _fastpot_legacy_runtime`` at interpreter start-up. That only appends
:class:`LegacyRuntimeFinder` to the end of ``sys.meta_path`` (nothing else is imported; in
particular not ``openvino``), so:

* it is asked about ``openvino.runtime`` only after every normal finder found nothing: an
  OpenVINO that still ships a real ``openvino.runtime`` is never shadowed (finders appended
  after this one are asked first, too);
* then ``openvino.runtime`` becomes a module holding every public name of ``openvino``
  (``Core``, ``Model``, ``PartialShape``, ``Type``, ``serialize``, ``opset8``, ...: the same
  objects), and ``openvino.runtime.<sub>[.<sub>...]`` is the module ``openvino.<sub>...``
  itself (``openvino.runtime.opset8 is openvino.opset8``; ``openvino.runtime.ie_api`` is
  ``openvino._ov_api``, where ``Core`` and ``Model`` moved). Sub-module aliases are resolved
  by a second instance at the front of ``sys.meta_path``, installed only once the legacy
  ``openvino.runtime`` exists, and answering only while it is the one in ``sys.modules``.

Nothing is logged or warned. ``LEGACY_MARK`` is set on the legacy module, so
``getattr(openvino.runtime, "__fastpot_legacy_runtime__", False)`` tells the two apart.
"""

from __future__ import annotations

import sys

# Start-up cost stays ~0: no typing/types import at run time (annotations are strings).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any

__all__ = ["LEGACY_MARK", "LegacyRuntimeFinder", "install"]

PREFIX = "openvino.runtime"
LEGACY_MARK = "__fastpot_legacy_runtime__"
# openvino.runtime.<old> -> openvino.<new>, for modules that were renamed when the namespace went
_RENAMED = {"ie_api": "_ov_api"}


def _target_name(fullname: str) -> str:
    """``openvino.runtime.a.b`` -> ``openvino.a.b`` (with the renames above)."""
    parts = fullname[len(PREFIX) + 1 :].split(".")
    parts[0] = _RENAMED.get(parts[0], parts[0])
    return "openvino." + ".".join(parts)


def _is_legacy(module: Any) -> bool:
    return bool(getattr(module, LEGACY_MARK, False))


class _RuntimeLoader:
    """Fills the legacy ``openvino.runtime`` with the public names of ``openvino``."""

    @staticmethod
    def create_module(spec: Any) -> None:
        """Use the default module object."""
        return

    @staticmethod
    def exec_module(module: ModuleType) -> None:
        """Copy ``openvino``'s public names, add lazy sub-module access, mark the module."""
        import openvino  # noqa: PLC0415 - only when a script asks for openvino.runtime

        for name in dir(openvino):
            if not name.startswith("_"):
                setattr(module, name, getattr(openvino, name))
        module.__version__ = getattr(openvino, "__version__", None)
        module.__doc__ = (
            "Legacy openvino.runtime namespace provided by fastpot: the objects of the "
            "openvino package under their OpenVINO 2023 import paths."
        )
        setattr(module, LEGACY_MARK, True)

        def __getattr__(name: str) -> Any:  # the module-level __getattr__ of PEP 562
            if name.startswith("_"):  # private and dunder probes: no import attempts
                raise AttributeError(f"module {PREFIX!r} has no attribute {name!r}")
            from importlib import import_module  # noqa: PLC0415

            try:
                return import_module(f"{PREFIX}.{name}")
            except ModuleNotFoundError:
                pass
            try:
                return getattr(openvino, name)
            except AttributeError:
                raise AttributeError(f"module {PREFIX!r} has no attribute {name!r}") from None

        module.__getattr__ = __getattr__  # type: ignore[attr-defined]
        install(front=True)


class _AliasLoader:
    """Makes ``openvino.runtime.<x>`` the already-imported module ``openvino.<x>``."""

    def __init__(self, module: ModuleType) -> None:
        self._module = module
        self._spec = getattr(module, "__spec__", None)

    def create_module(self, spec: Any) -> ModuleType:
        """Return the real module (the import system then files it under the legacy name)."""
        return self._module

    def exec_module(self, module: ModuleType) -> None:
        """Give the module its own ``__spec__`` back (the import system replaced it)."""
        if self._spec is not None:
            module.__spec__ = self._spec


class LegacyRuntimeFinder:
    """Meta-path finder for ``openvino.runtime`` and ``openvino.runtime.*`` (see the module).

    Parameters
    ----------
    front : bool
        The sub-module instance at the front of ``sys.meta_path`` (it never answers for
        ``openvino.runtime`` itself); False for the last-resort instance at the end.
    """

    __fastpot_legacy_runtime__ = True

    def __init__(self, front: bool = False) -> None:
        self.front = front

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        """Return a spec for a legacy ``openvino.runtime`` name, or None to stay out of it."""
        if not fullname.startswith(PREFIX):
            return None
        if fullname == PREFIX:
            if self.front or self._found_by_later_finders(fullname, path, target):
                return None
            from importlib.machinery import ModuleSpec  # noqa: PLC0415

            return ModuleSpec(PREFIX, _RuntimeLoader(), is_package=True)
        if fullname[len(PREFIX)] != ".":
            return None  # e.g. openvino.runtimes
        if not _is_legacy(sys.modules.get(PREFIX)):
            return None  # a real openvino.runtime, or none at all: not ours to answer
        from importlib import import_module  # noqa: PLC0415
        from importlib.machinery import ModuleSpec  # noqa: PLC0415

        name = _target_name(fullname)
        try:
            module = import_module(name)
        except ModuleNotFoundError as exc:
            missing = exc.name or ""
            if name == missing or name.startswith(missing + "."):
                return None  # no such module in openvino: a plain ModuleNotFoundError
            raise
        is_package = hasattr(module, "__path__")
        return ModuleSpec(fullname, _AliasLoader(module), is_package=is_package)

    def _found_by_later_finders(self, fullname: str, path: Any, target: Any) -> bool:
        """Tell whether a finder after this one on ``sys.meta_path`` can import `fullname`."""
        try:
            position = sys.meta_path.index(self)
        except ValueError:
            return False
        for finder in sys.meta_path[position + 1 :]:
            if _is_legacy(finder) or not hasattr(finder, "find_spec"):
                continue
            try:
                if finder.find_spec(fullname, path, target) is not None:
                    return True
            except Exception:  # noqa: BLE001, S112 - a broken finder must not break this import
                continue
        return False


def install(front: bool = False) -> LegacyRuntimeFinder:
    """Put a :class:`LegacyRuntimeFinder` on ``sys.meta_path`` (idempotent).

    Parameters
    ----------
    front : bool
        Insert the sub-module instance first instead of appending the last-resort one.

    Returns
    -------
    LegacyRuntimeFinder
        The installed (or already present) finder.
    """
    for finder in sys.meta_path:
        if _is_legacy(finder) and getattr(finder, "front", None) == front:
            return finder
    finder = LegacyRuntimeFinder(front=front)
    if front:
        sys.meta_path.insert(0, finder)
    else:
        sys.meta_path.append(finder)
    return finder


install()
