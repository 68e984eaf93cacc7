"""A name -> function table for the statistic functions (POT's ``Registry``)."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["FunctionRegistry"]


class FunctionRegistry:
    """Functions registered by name; an unknown name is a ``KeyError`` naming the closest.

    Parameters
    ----------
    name : str
        What the table holds (used in error messages).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._functions: dict[str, Callable[..., Any]] = {}

    def register(self, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Return a decorator that registers a function as `name` (twice: ``KeyError``)."""

        def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
            if name in self._functions:
                raise KeyError(f"{name} is already registered in {self.name}")
            self._functions[name] = fn
            return fn

        return decorate

    def get(self, name: str) -> Callable[..., Any]:
        """Return the function registered as `name`."""
        try:
            return self._functions[name]
        except KeyError:
            close = difflib.get_close_matches(name, self._functions, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise KeyError(
                f"{name} is unknown type of {self.name}{hint}; known: {sorted(self._functions)}"
            ) from None

    __getitem__ = get

    def __contains__(self, name: object) -> bool:
        return name in self._functions

    def __iter__(self) -> Iterator[str]:
        return iter(self._functions)

    def __len__(self) -> int:
        return len(self._functions)

    @property
    def registry_dict(self) -> dict[str, Callable[..., Any]]:
        """A copy of the table."""
        return dict(self._functions)

    def __repr__(self) -> str:
        return f"FunctionRegistry({self.name!r}, {sorted(self._functions)})"
