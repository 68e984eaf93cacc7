"""POT's config dictionaries: attribute access, and a missing key reads as an empty dict.

POT converted every config to ``addict.Dict``; several of its defaults rely on a missing key
reading as an empty, falsy dict instead of raising. User code written against POT does the
same (``self.config.device``), so fastpot's configs behave alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["Dict"]


class Dict(dict):  # type: ignore[type-arg]
    """A dict with attribute access; nested mappings become ``Dict`` too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    @staticmethod
    def _wrap(value: Any) -> Any:
        if isinstance(value, Mapping) and not isinstance(value, Dict):
            return Dict(value)
        if isinstance(value, list):
            return [Dict._wrap(v) for v in value]
        return value

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, self._wrap(value))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self[name] if name in self else Dict()

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        del self[name]

    def __deepcopy__(self, memo: dict[int, Any]) -> Dict:
        import copy  # noqa: PLC0415

        return Dict({k: copy.deepcopy(v, memo) for k, v in self.items()})
