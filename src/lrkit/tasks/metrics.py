"""Task metrics, all higher-is-better, tallied exactly over the batches of a split.

- ``"accuracy"``: the fraction of correct predictions (classification).
- ``"r2"``: the coefficient of determination, 1 - SSE/SST over the whole split, all outputs pooled
  (regression). 1 is perfect, 0 is no better than predicting the mean.
- ``"neg_loss"``: minus the mean validation loss, for tasks where neither fits.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from torch import Tensor, nn

from lrkit.errors import TaskError, UnknownNameError

METRICS: tuple[str, ...] = ("accuracy", "r2", "neg_loss")
"""The metric names a task may report; all are higher-is-better."""


class MetricTally:
    """Accumulates a task metric over batches exactly (not as a mean of per-batch values).

    Example:
        >>> import torch
        >>> tally = MetricTally("accuracy")
        >>> tally.update(torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0]))
        >>> tally.compute(mean_loss=0.7)
        0.5
        >>> one_hot = MetricTally("accuracy", torch.nn.CrossEntropyLoss())
        >>> one_hot.update(torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([[1.0, 0], [1, 0]]))
        >>> one_hot.compute(mean_loss=0.7)
        0.5
    """

    def __init__(self, name: str, criterion: object = None) -> None:
        """``criterion``: the task's loss; with CrossEntropyLoss (or ``F.cross_entropy``, or a
        ``partial`` of it), targets shaped like the output are class probabilities (one-hot,
        soft), read by their argmax as the output is. A loss of your own that wraps it is read
        as one logit per target: give its class probabilities to CrossEntropyLoss instead."""
        if name not in METRICS:
            raise UnknownNameError(f"Unknown metric {name!r}; valid metrics: {', '.join(METRICS)}.")
        self.name = name
        self._probabilities = is_cross_entropy(criterion)
        self._count = 0
        self._correct = 0
        self._sse = 0.0
        self._sum = 0.0
        self._sum_sq = 0.0

    def update(self, output: Tensor, target: Tensor) -> None:
        """Adds one batch.

        Raises:
            TaskError: The output or the targets are not tensors, or their shapes do not fit
                the metric.
        """
        if self.name == "neg_loss":  # the loss alone ranks: nothing of the batch to tally
            return
        for what, value in (("the model output", output), ("the targets", target)):
            if not isinstance(value, Tensor):  # strings, say: collated into a tuple of them
                raise TaskError(
                    f"Metric {self.name!r} needs the model output and the targets as tensors "
                    f"({_EXPECTED[self.name]}); got {what} as a {value_kind(value)}."
                    + (_STRING_FIX if _holds_text(value) else "")
                )
        output, target = output.detach(), target.detach()
        if self.name == "accuracy":
            if output.dim() == target.dim() + 1:  # class scores along dim 1, as CrossEntropyLoss
                predicted = output.argmax(dim=1)
                truth = target
            elif self._probabilities and output.shape == target.shape and output.dim() >= 2:
                # CrossEntropyLoss's other targets: class probabilities along dim 1
                predicted, truth = output.argmax(dim=1), target.argmax(dim=1)
            elif output.shape == target.shape:  # one logit per target, as BCEWithLogitsLoss
                outside = (target < 0) | (target > 1)  # soft labels (0.05, 0.95) are fine
                if outside.any():
                    odd = target[outside].flatten()[0].item()
                    raise TaskError(
                        "Metric 'accuracy' with one output per target needs targets in [0, 1] "
                        f"(one logit each, as BCEWithLogitsLoss); got a target of {odd:.4g}. For "
                        "regression use metric='r2' (or 'neg_loss')."
                    )
                predicted, truth = output > 0, target > 0.5
            else:
                raise TaskError(
                    "Metric 'accuracy' needs class scores of shape (N, C, ...) with class-index "
                    "targets (N, ...), or one logit per 0/1 target; got output of shape "
                    f"{tuple(output.shape)} and targets of shape {tuple(target.shape)}."
                )
            self._correct += int((predicted == truth).sum().item())
            self._count += truth.numel()
        elif self.name == "r2":
            if output.shape != target.shape:
                raise TaskError(
                    "Metric 'r2' needs outputs shaped like the targets; got output of shape "
                    f"{tuple(output.shape)} and targets of shape {tuple(target.shape)}."
                )
            out64, tgt64 = output.double(), target.double()
            self._sse += float(((out64 - tgt64) ** 2).sum())
            self._sum += float(tgt64.sum())
            self._sum_sq += float((tgt64**2).sum())
            self._count += target.numel()

    def compute(self, mean_loss: float) -> float:
        """The metric over every batch added; ``mean_loss`` is used only by ``"neg_loss"``."""
        if self.name == "neg_loss":
            return -mean_loss
        if self._count == 0:
            return math.nan
        if self.name == "accuracy":
            return self._correct / self._count
        sst = self._sum_sq - self._sum**2 / self._count
        return 1.0 - self._sse / sst if sst > 0 else math.nan


_EXPECTED = {
    "accuracy": "class indices, class probabilities, or one 0/1 target per output",
    "r2": "numbers shaped like the output",
}
_STRING_FIX = (
    " Map the labels to class indices in the dataset, e.g. "
    "torch.tensor(classes.index(label)) with classes = sorted(set(labels))."
)


def value_kind(value: object) -> str:
    """``value``'s type, with its items' where it is a tuple or list: ``"tuple of str"``."""
    name = type(value).__name__
    if isinstance(value, (tuple, list)) and value:
        items = sorted({type(item).__name__ for item in value})
        return f"{name} of {' and '.join(items)}"
    return name


def _holds_text(value: object) -> bool:
    return isinstance(value, str) or (
        isinstance(value, (tuple, list)) and any(isinstance(item, str) for item in value)
    )


def _unwrapped(criterion: object) -> tuple[object, dict[str, Any]]:
    """The function under ``partial(...)`` layers, and the keywords they give it."""
    keywords: dict[str, Any] = {}
    while isinstance(criterion, functools.partial):
        keywords = {**criterion.keywords, **keywords}  # an outer layer's keywords win
        criterion = criterion.func
    return criterion, keywords


def is_cross_entropy(criterion: object) -> bool:
    """Whether ``criterion`` is CrossEntropyLoss or ``F.cross_entropy`` (through partials)."""
    loss, _ = _unwrapped(criterion)
    return isinstance(loss, nn.CrossEntropyLoss) or loss is nn.functional.cross_entropy


def ignore_index(criterion: object) -> int:
    """The target value a cross-entropy criterion skips (torch's default: -100)."""
    loss, keywords = _unwrapped(criterion)
    return int(getattr(loss, "ignore_index", keywords.get("ignore_index", -100)))
