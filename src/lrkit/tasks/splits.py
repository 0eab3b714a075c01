"""Seeded, stratified-where-possible train/validation/test splits of a data set."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import TensorDataset

from lrkit.errors import bad_value


def split_indices(
    labels: np.ndarray, fractions: tuple[float, float, float], *, seed: int, stratify: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Splits ``range(len(labels))`` into train/validation/test index arrays, reproducibly.

    Used by the built-in tasks so that every run sees the same split. scikit-learn is imported
    here, not at module level, to keep ``import lrkit`` light.

    Example:
        >>> tr, va, te = split_indices(np.arange(10) % 2, (0.6, 0.2, 0.2), seed=0, stratify=True)
        >>> len(tr), len(va), len(te)
        (6, 2, 2)
    """
    from sklearn.model_selection import train_test_split

    if len(fractions) != 3 or not math.isclose(sum(fractions), 1.0) or min(fractions) <= 0:
        raise bad_value("fractions", "three positive numbers summing to 1", fractions)
    index = np.arange(len(labels))
    held_out = fractions[1] + fractions[2]
    train, rest = train_test_split(
        index, test_size=held_out, random_state=seed, stratify=labels if stratify else None
    )
    val, test = train_test_split(
        rest,
        test_size=fractions[2] / held_out,
        random_state=seed,
        stratify=labels[rest] if stratify else None,
    )
    return np.sort(train), np.sort(val), np.sort(test)


def split_datasets(
    inputs: Tensor, targets: Tensor, splits: tuple[np.ndarray, ...]
) -> tuple[TensorDataset, ...]:
    """One ``TensorDataset`` per index array of ``splits`` (e.g. from :func:`split_indices`).

    Example:
        >>> x, y = torch.arange(10.0)[:, None], torch.arange(10)
        >>> [len(d) for d in split_datasets(x, y, (np.arange(6), np.arange(6, 10)))]
        [6, 4]
    """
    parts = []
    for index in splits:
        rows = torch.from_numpy(np.asarray(index))
        parts.append(TensorDataset(inputs[rows], targets[rows]))
    return tuple(parts)
