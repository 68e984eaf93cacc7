"""``Sampler``, ``BatchSampler``, ``IndexSampler`` and ``create_sampler``."""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any

__all__ = ["BatchSampler", "IndexSampler", "Sampler", "create_sampler"]


class Sampler(ABC):
    """Iterates a subset of a data loader.

    ``num_samples`` is ``len(subset_indices)`` or the loader's length.
    """

    def __init__(
        self,
        data_loader: Any = None,
        batch_size: int = 1,
        subset_indices: Sequence[int] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size: {batch_size} must be at least 1")
        self._data_loader = data_loader
        self.batch_size = batch_size
        if subset_indices is not None:
            subset_indices = list(subset_indices)
            if data_loader is not None:
                n = len(data_loader)
                bad = [i for i in subset_indices if not 0 <= i < n]
                if bad:
                    raise ValueError(
                        f"subset_indices: {bad[:5]} outside the data loader's {n} items"
                    )
        self._subset_indices = subset_indices

    @property
    def num_samples(self) -> int:
        """Number of samples the sampler yields."""
        if self._subset_indices is not None:
            return len(self._subset_indices)
        return len(self._data_loader) if self._data_loader is not None else 0

    @property
    def indices(self) -> list[int]:
        """Loader indices in iteration order."""
        if self._subset_indices is not None:
            return list(self._subset_indices)
        return list(range(self.num_samples))

    @abstractmethod
    def __len__(self) -> int:
        """Return the number of samples (not batches), as POT does."""

    @abstractmethod
    def __iter__(self) -> Iterator[Any]:
        """Iterate the subset."""


class BatchSampler(Sampler):
    """Yields lists of ``(index, item)`` pairs of ``batch_size`` (the last may be shorter).

    POT yielded the raw items; the engine here also needs each item's loader index (to name
    it in errors and to align per-sample metrics), so :meth:`batches` gives both and
    iterating gives the items only, as POT's did.
    """

    def __init__(
        self, data_loader: Any, batch_size: int = 1, subset_indices: Sequence[int] | None = None
    ) -> None:
        super().__init__(data_loader, batch_size, subset_indices)

    def __len__(self) -> int:
        return self.num_samples

    def batches(self) -> Iterator[list[tuple[int, Any]]]:
        """Iterate ``[(loader index, item), ...]`` batches."""
        batch: list[tuple[int, Any]] = []
        for index in self.indices:
            try:
                item = self._data_loader[index]
            except Exception as exc:
                raise RuntimeError(
                    f"data loader item {index}: __getitem__ raised {type(exc).__name__}: {exc}"
                ) from exc
            batch.append((index, item))
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    def __iter__(self) -> Iterator[list[Any]]:
        for batch in self.batches():
            yield [item for _, item in batch]


class IndexSampler(Sampler):
    """Yields the subset's indices (used by engines that load items themselves)."""

    def __init__(self, subset_indices: Sequence[int]) -> None:
        super().__init__(None, 1, subset_indices)

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)


def create_sampler(
    engine: Any,
    samples: int | Sequence[int],
    shuffle_data: bool = False,
    seed: int = 0,
    batch_size: int = 1,
) -> Sampler:
    """Sampler over `samples` items of the engine's loader.

    An int (clipped to the loader's length, as POT did) takes the first `samples` items, or
    with `shuffle_data` a draw of Python's ``random`` seeded with `seed` (indices in drawn
    order, as POT). A list of indices is used as is; indices outside the loader are an error.
    """
    loader = engine.data_loader
    if loader is None:
        raise ValueError("engine: has no data loader to sample from")
    n = len(loader)
    if isinstance(samples, int):
        if samples < 1:
            raise ValueError(f"stat_subset_size: {samples} must be at least 1")
        samples = min(samples, n)  # POT clips the subset size to the loader's length
        if shuffle_data:
            rng = random.Random(seed)
            indices = rng.sample(range(n), samples)
        else:
            indices = list(range(samples))
    else:
        indices = list(samples)
    return BatchSampler(loader, batch_size, indices)
