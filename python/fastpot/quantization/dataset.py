"""``Dataset``: data items and the transform that turns one into model input.

An item becomes model input through ``transform_fn`` (the identity by default); the result is
one array (a model with one input), a tuple or list of arrays in the model's input order, or a
dict ``{input name: array}``. :func:`feed_dicts` reads up to a given number of items once (a
generator works) and gives them as ``{input name: array}`` feeds, the form fastpot's
``IEEngine`` reads from a data loader.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import openvino as ov

from fastpot.api.data_loader import DataLoader

__all__ = ["Dataset", "ItemLoader", "as_dataset", "feed_dicts"]


class Dataset:
    """Data items for calibration or validation, with an optional transform (as NNCF's).

    Parameters
    ----------
    data_source : iterable
        The items: a list, a generator, a PyTorch ``DataLoader``, any iterable. It is read
        as it is, once per use (a generator is read once).
    transform_fn : callable, optional
        Maps an item to model input: an array, a tuple/list of arrays in input order, or a
        dict ``{input name: array}`` (e.g. ``lambda item: item[0]`` for ``(image, label)``
        items). Default: the item is the input.
    """

    def __init__(
        self, data_source: Iterable[Any], transform_fn: Callable[[Any], Any] | None = None
    ) -> None:
        if isinstance(data_source, (str, bytes, Mapping)) or not isinstance(data_source, Iterable):
            raise TypeError(
                "data_source: expected an iterable of data items (a list, a generator, a "
                f"data loader), got {type(data_source).__name__}"
            )
        if transform_fn is not None and not callable(transform_fn):
            raise TypeError(f"transform_fn: expected a callable, got {transform_fn!r}")
        self._data_source = data_source
        self._transform_fn = transform_fn

    @property
    def transform_fn(self) -> Callable[[Any], Any] | None:
        """The transform given at construction (None: the items are the input)."""
        return self._transform_fn

    def get_length(self) -> int | None:
        """Return the number of items, or None if the source has no ``len``."""
        try:
            return len(self._data_source)  # type: ignore[arg-type]
        except TypeError:
            return None

    def get_data(self, indices: Sequence[int] | None = None) -> Iterator[Any]:
        """Iterate the raw items (only those at `indices`, in source order, if given)."""
        if indices is None:
            yield from self._data_source
            return
        wanted = sorted(set(indices))
        position = 0
        for index, item in enumerate(self._data_source):
            if position == len(wanted):
                return
            if index == wanted[position]:
                position += 1
                yield item

    def get_inference_data(self, indices: Sequence[int] | None = None) -> Iterator[Any]:
        """Iterate the transformed items (model inputs)."""
        transform = self._transform_fn
        for item in self.get_data(indices):
            yield item if transform is None else transform(item)


def as_dataset(data: Any, transform_fn: Callable[[Any], Any] | None, argument: str) -> Dataset:
    """Return `data` as a :class:`Dataset` (a plain iterable gets `transform_fn`).

    Raises
    ------
    ValueError
        A :class:`Dataset` with its own transform and `transform_fn` given as well.
    TypeError
        `data` is not iterable (or is a string or a mapping).
    """
    if isinstance(data, Dataset):
        if transform_fn is None:
            return data
        if data.transform_fn is not None:
            raise ValueError(
                f"transform_fn: {argument} is a Dataset with its own transform_fn; give it once"
            )
        return Dataset(data._data_source, transform_fn)
    try:
        return Dataset(data, transform_fn)
    except TypeError:
        raise TypeError(
            f"{argument}: expected a fastpot.Dataset or an iterable of data items, got "
            f"{type(data).__name__}"
        ) from None


def _array(value: Any) -> np.ndarray:
    if isinstance(value, ov.Tensor):
        return np.array(value.data, copy=True)
    return np.asarray(value)


def _feed(item: Any, inputs: list[str], index: int, argument: str) -> dict[str, np.ndarray]:
    where = f"{argument} item {index}"
    if isinstance(item, Mapping):
        return {str(key): _array(value) for key, value in item.items()}
    if isinstance(item, (tuple, list)):
        if len(item) != len(inputs):
            hint = (
                "; if the items are (data, label) pairs, pass transform_fn=lambda item: item[0]"
                if len(inputs) == 1
                else ""
            )
            raise ValueError(
                f"{where}: {len(item)} arrays for a model with {len(inputs)} input(s) "
                f"{inputs}{hint}"
            )
        return {name: _array(value) for name, value in zip(inputs, item, strict=True)}
    if len(inputs) != 1:
        raise ValueError(
            f"{where}: one array for a model with {len(inputs)} inputs {inputs}; give a tuple "
            "in input order or a dict {input name: array}"
        )
    return {inputs[0]: _array(item)}


def feed_dicts(
    dataset: Dataset, model: ov.Model, limit: int | None, argument: str
) -> list[dict[str, np.ndarray]]:
    """Read up to `limit` items of `dataset` (once) as ``{input name: array}`` feeds.

    Raises
    ------
    ValueError
        No items, or an item that does not fit the model's inputs (named by its index).
    """
    inputs = [port.get_node().get_friendly_name() for port in model.inputs]
    items = dataset.get_inference_data()
    chosen = items if limit is None else itertools.islice(items, limit)
    feeds = [_feed(item, inputs, i, argument) for i, item in enumerate(chosen)]
    if not feeds:
        raise ValueError(
            f"{argument}: no data items (an exhausted generator? a generator can be read once)"
        )
    return feeds


class ItemLoader(DataLoader):
    """A list as POT's ``DataLoader``: item `i` is ``items[i]``.

    Calibration feeds are given as ``(feed, None)`` (data without annotation); validation
    items are kept as they are (only the validation function reads them).
    """

    def __init__(self, items: Sequence[Any]) -> None:
        super().__init__({})
        self.items = list(items)

    @classmethod
    def of_feeds(cls, feeds: Sequence[dict[str, np.ndarray]]) -> ItemLoader:
        """Return a loader of ``(feed, None)`` items."""
        return cls([(feed, None) for feed in feeds])

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Any:
        return self.items[index]
