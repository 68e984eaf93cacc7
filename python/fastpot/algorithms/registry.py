"""The algorithm registry: POT's ``COMPRESSION_ALGORITHMS``."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from fastpot.algorithms.algorithm import Algorithm

__all__ = ["COMPRESSION_ALGORITHMS", "Registry"]

T = TypeVar("T", bound="Algorithm")


class Registry:
    """Algorithm classes by name; ``@REGISTRY.register()`` adds one.

    Registering a name twice is a ``KeyError``, as in POT. Lookup accepts POT's
    ``"Registry.Name"`` form as well as the bare name.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._classes: dict[str, type[Algorithm]] = {}

    def register(self, name: str | None = None) -> Callable[[type[T]], type[T]]:
        """Class decorator registering under `name` (default: the class's ``name``)."""

        def add(cls: type[T]) -> type[T]:
            key = name or getattr(cls, "name", None) or cls.__name__
            if key in self._classes:
                raise KeyError(f"{key} is already registered in {self.name}")
            self._classes[key] = cls
            return cls

        return add

    def get(self, name: str) -> type[Algorithm]:
        """Return the class registered as `name` (``KeyError`` naming close ones if unknown)."""
        key = name.split(".", 1)[1] if name.startswith(f"{self.name}.") else name
        if key not in self._classes:
            close = difflib.get_close_matches(key, self._classes, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise KeyError(f"{name} is unknown type of {self.name}{hint}")
        return self._classes[key]

    def __contains__(self, name: object) -> bool:
        return name in self._classes

    def __iter__(self) -> Iterator[str]:
        return iter(self._classes)

    def __len__(self) -> int:
        return len(self._classes)

    @property
    def registry_dict(self) -> dict[str, type[Algorithm]]:
        """A copy of ``{name: class}``."""
        return dict(self._classes)

    def __repr__(self) -> str:
        return f"Registry({self.name!r}, {sorted(self._classes)})"


COMPRESSION_ALGORITHMS = Registry("QuantizationAlgos")


def lookup(name: str) -> Any:
    """Shorthand for ``COMPRESSION_ALGORITHMS.get(name)``."""
    return COMPRESSION_ALGORITHMS.get(name)
