"""torch-lr-finder's loader wrappers, for code that subclasses them to read its own batches.

torch-lr-finder reads ``(inputs, labels)`` from each batch through ``TrainDataLoaderIter`` and
``ValDataLoaderIter``; its README's answer to any other batch is a subclass that overrides
``inputs_labels_from_batch``. Such subclasses run here with only their import changed: pass
an instance as ``train_loader`` (or ``val_loader``) to :meth:`LRFinder.range_test`. lrkit
itself needs none of this: it reads dict batches and takes ``step_fn=lambda model, batch: loss``
for anything else.

Example:
    >>> import torch
    >>> from torch.utils.data import DataLoader, TensorDataset
    >>> class Pairs(TrainDataLoaderIter):  # batches of (labels, inputs): the wrong way round
    ...     def inputs_labels_from_batch(self, batch):
    ...         labels, inputs = batch
    ...         return inputs, labels
    >>> data = DataLoader(TensorDataset(torch.zeros(6), torch.ones(6, 3)), batch_size=4)
    >>> batches = Pairs(data)
    >>> [tuple(x.shape) for x, _ in (next(batches), next(batches), next(batches))]
    [(4, 3), (2, 3), (4, 3)]
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sized
from typing import Any

from lrkit.errors import BatchTypeError, ConfigError

__all__ = ["DataLoaderIter", "TrainDataLoaderIter", "ValDataLoaderIter"]


class DataLoaderIter:
    """Batches of a ``DataLoader`` as ``(inputs, labels)`` pairs.

    Args:
        data_loader: The ``torch.utils.data.DataLoader`` to read, or any other iterable of
            batches (a list, another library's loader), as torch-lr-finder takes.

    Raises:
        ConfigError: ``data_loader`` cannot be iterated.
    """

    def __init__(self, data_loader: Iterable[Any]) -> None:
        try:
            self._iterator: Iterator[Any] = iter(data_loader)
        except TypeError:
            raise ConfigError(
                "data_loader must be a torch DataLoader or another iterable of batches, got a "
                f"{type(data_loader).__name__}, which cannot be iterated."
            ) from None
        self.data_loader = data_loader

    @property
    def dataset(self) -> Any:
        """The loader's dataset (an AttributeError for a loader without one)."""
        return self.data_loader.dataset  # type: ignore[attr-defined]

    def inputs_labels_from_batch(self, batch_data: Any) -> tuple[Any, Any]:
        """``(inputs, labels)`` of one batch: the first two items of a tuple or list (any after
        them are left out). Override it for batches of another shape.

        Raises:
            BatchTypeError: The batch is not a tuple or list of at least two items (a
                ``TypeError``, and a ``ValueError`` as torch-lr-finder's).
        """
        if not isinstance(batch_data, (list, tuple)) or len(batch_data) < 2:
            raise BatchTypeError(
                f"{type(self).__name__} reads (inputs, labels) from tuples or lists, got a "
                f"batch of type {type(batch_data).__name__}; subclass it and override "
                "inputs_labels_from_batch, or pass the loader itself with step_fn=lambda "
                "model, batch: loss."
            )
        return batch_data[0], batch_data[1]

    def __iter__(self) -> DataLoaderIter:
        return self

    def __next__(self) -> tuple[Any, Any]:
        return self.inputs_labels_from_batch(next(self._iterator))


class TrainDataLoaderIter(DataLoaderIter):
    """Training batches; with ``auto_reset`` (the default), the loader starts again when it runs
    out, so a range test can take more steps than an epoch has batches."""

    def __init__(self, data_loader: Iterable[Any], auto_reset: bool = True) -> None:
        super().__init__(data_loader)
        self.auto_reset = auto_reset

    def __next__(self) -> tuple[Any, Any]:
        try:
            batch = next(self._iterator)
        except StopIteration:
            if not self.auto_reset:
                raise
            self._iterator = iter(self.data_loader)
            batch = next(self._iterator)
        return self.inputs_labels_from_batch(batch)


class ValDataLoaderIter(DataLoaderIter):
    """Validation batches: each ``for`` loop over it reads the loader once, from its start.

    Raises:
        ConfigError: ``data_loader`` has no ``len()``: it says when a loop is done.
    """

    def __init__(self, data_loader: Iterable[Any]) -> None:
        if not isinstance(data_loader, Sized):
            raise ConfigError(
                "data_loader must have a len() for ValDataLoaderIter, which reads that many "
                f"batches a loop, got a {type(data_loader).__name__} without one."
            )
        super().__init__(data_loader)
        self.run_limit = len(data_loader)
        self.run_counter = 0

    def __iter__(self) -> ValDataLoaderIter:
        if self.run_counter >= self.run_limit:
            self._iterator = iter(self.data_loader)
            self.run_counter = 0
        return self

    def __next__(self) -> tuple[Any, Any]:
        self.run_counter += 1
        return super().__next__()
