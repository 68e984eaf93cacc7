"""``ArkEngine``: the simplified engine of POT's speech sample (``api.samples.speech.utils``)."""

from __future__ import annotations

from typing import Any

from fastpot.api.data_loader import DataLoader
from fastpot.cli.simplified_engine import SimplifiedEngine

__all__ = ["ArkEngine"]


class _SelectInputs(DataLoader):
    """Items ``({name: array for name in input_names}, None)`` of a dict-item loader."""

    def __init__(self, loader: Any, input_names: list[str]) -> None:
        self.loader = loader
        self.input_names = input_names

    def __len__(self) -> int:
        return len(self.loader)

    def __getitem__(self, index: int) -> tuple[dict[str, Any], Any]:
        item = self.loader[index]
        data = item[0] if isinstance(item, tuple) else item
        missing = [name for name in self.input_names if name not in data]
        if missing:
            raise KeyError(f"data loader item {index}: no data for input(s) {missing}")
        return {name: data[name] for name in self.input_names}, None

    def __getattr__(self, name: str) -> Any:
        if name == "loader":
            raise AttributeError(name)
        return getattr(self.loader, name)


class ArkEngine(SimplifiedEngine):
    """A :class:`SimplifiedEngine` that feeds the inputs named in the loader's config.

    Each item of the loader (an ``{input_name: frame}`` dict, as
    :class:`~fastpot.samples.kaldi_ark.ArkDataLoader` gives) is reduced to the inputs listed
    in ``data_loader.config["input_names"]``.

    Raises
    ------
    ValueError
        The data loader's config has no ``input_names`` (POT raised when feeding the first
        batch; fastpot at construction).
    """

    def __init__(self, config: Any, data_loader: Any = None, metric: Any = None) -> None:
        loader_config = getattr(data_loader, "config", None) or {}
        if "input_names" not in loader_config:
            raise ValueError("ArkEngine: input_names is not provided in the data loader's config")
        names = list(loader_config["input_names"])
        super().__init__(config, _SelectInputs(data_loader, names), metric)
