"""What a range test sees of imbalanced data: undersampled, or drawn class-balanced.

On a 40:1 data set nearly every batch holds only the majority class, so the sweep measures how
fast the model learns to say "majority" and its curve says little about the LR that learns the
rest (seed 001, example 3). Two remedies, each a new DataLoader over the same dataset with the
same batch size and collate function:

- ``"undersample"``: imbalanced-learn's ``RandomUnderSampler``, as the seed does, keeps every
  minority sample and as many of each other class; the loader shuffles what is left. Fast and
  exact, but it throws data away (on 40:1, all but 2/41 of it).
- ``"sampler"``: torch's ``WeightedRandomSampler`` with weights ``1 / count(class)`` draws every
  class equally often, with replacement, from all the data.

Only the sweep sees the balanced loader; the user's own loader is not changed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import (
    DataLoader,
    IterableDataset,
    Subset,
    TensorDataset,
    WeightedRandomSampler,
)

from lrkit.errors import ConfigError
from lrkit.finder.batch import LABEL_KEYS
from lrkit.finder_settings import check_balance
from lrkit.tasks.base import last_batch_of_one


def balanced_loader(
    loader: DataLoader[Any], mode: str, *, seed: int | None = None
) -> DataLoader[Any]:
    """A loader over ``loader``'s dataset whose batches hold the classes in about equal numbers.

    Args:
        loader: A ``DataLoader`` over a map-style dataset with class labels (see
            :func:`class_labels`).
        mode: ``"undersample"`` or ``"sampler"`` (see the module docstring).
        seed: Seeds the undersampling and the order; ``None`` draws from the global RNGs.

    Raises:
        ConfigError: ``mode`` is unknown, the loader is not a DataLoader over a map-style
            dataset, or its labels are not class labels.
        ImportError: ``"undersample"`` without imbalanced-learn installed.

    Example:
        >>> x, y = torch.randn(82, 3), torch.tensor([0] * 80 + [1] * 2)
        >>> loader = DataLoader(TensorDataset(x, y), batch_size=4)
        >>> sorted(int(label) for _, labels in balanced_loader(loader, "undersample", seed=0)
        ...        for label in labels)
        [0, 0, 1, 1]
    """
    check_balance(mode)
    if not isinstance(loader, DataLoader):
        raise _cannot_balance("a torch DataLoader over a map-style dataset", repr(type(loader)))
    if isinstance(loader.dataset, IterableDataset) or not hasattr(loader.dataset, "__len__"):
        iterable = isinstance(loader.dataset, IterableDataset)
        kind = "an iterable dataset" if iterable else "a dataset without a length"
        raise _cannot_balance(
            "a torch DataLoader over a map-style dataset (one that can be indexed)",
            f"a DataLoader over {type(loader.dataset).__name__}, {kind}",
        )
    dataset = loader.dataset
    labels = class_labels(dataset)
    generator = None if seed is None else torch.Generator().manual_seed(seed)
    batch_size = loader.batch_size or getattr(loader.batch_sampler, "batch_size", None)
    if batch_size is None:
        raise ConfigError(
            "balance needs a DataLoader with a batch_size (or a batch_sampler that has one), "
            "got a loader with neither."
        )
    options: dict[str, Any] = {
        "batch_size": batch_size,
        "collate_fn": loader.collate_fn,
        "num_workers": loader.num_workers,
        "pin_memory": loader.pin_memory,
        "drop_last": loader.drop_last,
        "worker_init_fn": loader.worker_init_fn,
        "generator": generator,
    }
    if mode == "undersample":
        keep = _undersample(labels, seed)
        if loader.drop_last == last_batch_of_one(len(labels), batch_size):  # a task's rule, or
            options["drop_last"] = last_batch_of_one(len(keep), batch_size)  # none: as its size
        return DataLoader(Subset(dataset, keep.tolist()), shuffle=True, **options)
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    weights = (1.0 / counts[inverse]).tolist()
    sampler = WeightedRandomSampler(weights, len(labels), replacement=True, generator=generator)
    return DataLoader(dataset, sampler=sampler, **options)


def _undersample(labels: np.ndarray, seed: int | None) -> np.ndarray:
    try:
        from imblearn.under_sampling import RandomUnderSampler
    except ImportError as exc:
        raise ImportError(
            "balance='undersample' needs imbalanced-learn, which is not installed. Install it by "
            "running `pip install -U imbalanced-learn`, or use balance='sampler'."
        ) from exc
    # Resample the row indices rather than the data: works for any dataset, copies nothing.
    rows = np.arange(len(labels)).reshape(-1, 1)
    kept, _ = RandomUnderSampler(random_state=seed).fit_resample(rows, labels)
    return np.sort(np.asarray(kept).ravel())


def class_labels(dataset: Any) -> np.ndarray:
    """The class label of every sample of a map-style dataset, as a 1-D integer array.

    Looks, in order, at a ``TensorDataset``'s second tensor (through ``Subset`` wrappers), at a
    ``targets`` or ``labels`` attribute (torchvision's datasets have one), and otherwise at every
    sample: the second element of a tuple (as the range test reads its batches: an
    ``(input, label, weight)`` sample's label is its second item; samples of several inputs
    and then a label, read by a ``step_fn``, need the ``targets`` attribute), or the ``"label"`` /
    ``"labels"`` / ``"target"`` / ``"targets"`` / ``"y"`` value of a dict.

    Raises:
        ConfigError: No labels found, or they are not class labels (one integer per sample).

    Example:
        >>> class_labels(TensorDataset(torch.zeros(3, 2), torch.tensor([2, 0, 2]))).tolist()
        [2, 0, 2]
    """
    raw = _find_labels(dataset)
    labels = np.asarray(raw.numpy() if isinstance(raw, torch.Tensor) else raw)
    if labels.ndim != 1 or len(labels) != len(dataset):
        raise _cannot_balance(
            "one class label per sample (a classification dataset)",
            f"labels of shape {labels.shape} for {len(dataset)} samples",
        )
    if labels.dtype.kind == "f" and np.all(np.isfinite(labels)) and np.all(labels % 1 == 0):
        labels = labels.astype(np.int64)
    if labels.dtype.kind not in "iub":
        raise _cannot_balance(
            "integer class labels (a classification dataset)", f"labels of dtype {labels.dtype}"
        )
    return labels


def _find_labels(dataset: Any) -> Any:
    if isinstance(dataset, TensorDataset):
        if len(dataset.tensors) < 2:
            raise _cannot_balance(
                "samples of an input and a class label", "a TensorDataset of one tensor"
            )
        return dataset.tensors[1]
    if isinstance(dataset, Subset):
        inner = np.asarray(_as_array(_find_labels(dataset.dataset)))
        return inner[np.asarray(dataset.indices, dtype=np.int64)]
    for attr in ("targets", "labels"):
        value = getattr(dataset, attr, None)
        if isinstance(value, (torch.Tensor, np.ndarray, list)):
            return value
    return [_label_of(dataset[i]) for i in range(len(dataset))]


def _as_array(value: Any) -> Any:
    return value.numpy() if isinstance(value, torch.Tensor) else value


def _label_of(sample: Any) -> Any:
    if isinstance(sample, Mapping):
        for key in LABEL_KEYS:
            if key in sample:
                return _scalar(sample[key])
    elif isinstance(sample, Sequence) and not isinstance(sample, str) and len(sample) >= 2:
        return _scalar(sample[1])
    raise _cannot_balance(
        "samples that carry a class label (an (input, label) pair or a dict with a 'label' key)",
        repr(type(sample).__name__),
    )


def _scalar(value: Any) -> Any:
    if not isinstance(value, (torch.Tensor, np.ndarray)):
        return value
    if np.prod(value.shape, dtype=np.int64) != 1:
        raise _cannot_balance(
            "one class label per sample", f"a label of shape {tuple(value.shape)}"
        )
    return value.item()


def _cannot_balance(needs: str, got: str) -> ConfigError:
    return ConfigError(f"balance: class-balanced batches need {needs}, got {got}.")
