"""``check_task``: one forward pass and one loss on a batch of each split, before any training.

It catches the usual mistakes of a task of the user's own with a message that names them, and
says where in the user's code an error was raised.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from lrkit.devices import check_device
from lrkit.errors import TaskError
from lrkit.tasks.base import Task
from lrkit.tasks.metrics import MetricTally, ignore_index, is_cross_entropy


def _raised_in_collate(error: BaseException) -> bool:
    """Whether ``error`` came from the DataLoader's stacking of items into a batch."""
    frame = error.__traceback__
    while frame is not None:
        if frame.tb_frame.f_code.co_filename.endswith("collate.py"):
            return True
        frame = frame.tb_next
    return False


def check_task(task: Task, *, device: str | torch.device = "cpu") -> None:
    """Checks cheaply that a task can train: one forward pass and one loss on one batch.

    Catches the usual mistakes with a message that names them: empty splits, batches that are
    not ``(inputs, targets)`` pairs, a model that fails on the inputs, a model output that does
    not fit the loss or the metric, and a loss that is not a differentiable scalar. The global
    RNG is left as it was.

    Raises:
        TaskError: Something in the task does not fit; the message says what.
        ConfigError: ``device`` is not a device this machine can train on.

    Example:
        >>> from torch.utils.data import TensorDataset
        >>> data = TensorDataset(torch.randn(8, 4), torch.randint(0, 3, (8,)))
        >>> bad = Task(name="bad", model=lambda: torch.nn.Linear(4, 1),
        ...            train_data=data, val_data=data, criterion=torch.nn.MSELoss())
        >>> check_task(bad)
        Traceback (most recent call last):
        ...
        lrkit.errors.TaskError: Task 'bad': the model output does not fit the loss MSELoss: ...
    """
    check_device(device)  # a device this machine has, before the model is moved there
    where = f"Task {task.name!r}"
    for split in ("train_data", "val_data", "test_data"):
        data = getattr(task, split)
        if data is not None and len(data) == 0:
            raise TaskError(f"{where}: {split} is empty.")
    with torch.random.fork_rng(devices=[]):
        model = _moved(task.make_model(seed=0), device, where)
        try:
            optimizer = task.make_optimizer(model, task.lr or 1e-3)
        except TaskError:
            raise
        except Exception as exc:  # e.g. torch's "optimizer got an empty parameter list"
            raise TaskError(
                f"{where}: building the optimizer failed: {type(exc).__name__}: {exc}"
            ) from exc
        if isinstance(optimizer, torch.optim.LBFGS):  # its step() needs a closure
            raise TaskError(
                f"{where}: LBFGS re-evaluates the loss within each step through a closure, and "
                "lrkit trains (and sweeps the LR) one step per batch, as the other optimizers "
                "do; use one of those (SGD, Adam, ...)."
            )
        inputs, targets = _first_batch(task, task.train_loader(seed=0), "training", device)
        try:
            output = model(inputs)
        except Exception as exc:
            failed = (
                f"{where}: the model failed on a training batch with inputs of shape "
                f"{_shape(inputs)}: {type(exc).__name__}: {exc}"
            )
            raise TaskError(_with_fix(failed, exc, _MODEL_FIXES)) from exc
        _check_classes(task, output)
        _check_loss(task, output, targets)
        try:
            MetricTally(task.metric, task.criterion).update(output, targets)
        except TaskError as exc:  # the metric's own message: say where
            raise TaskError(f"{where}: a training batch: {exc}") from exc
        model.eval()
        with torch.no_grad():
            for split, loader in (("validation", task.val_loader()), ("test", task.test_loader())):
                if loader is not None:
                    _check_evaluation(task, model, loader, split, device)


def _moved(model: nn.Module, device: str | torch.device, where: str) -> nn.Module:
    """``model`` on ``device``; a TaskError where it cannot go (a model built on 'meta')."""
    try:
        return model.to(device)
    except Exception as exc:
        said = _first_line(exc)
        fix = (
            "; build it on the CPU, with its weights (not on 'meta'), and lrkit moves it there"
            if "meta tensor" in str(exc)
            else ""
        )
        raise TaskError(
            f"{where}: the model could not be moved to {str(device)!r}: "
            f"{type(exc).__name__}: {said}{fix}."
        ) from exc


def _first_batch(task: Task, loader: DataLoader[Any], split: str, device: Any) -> tuple[Any, Any]:
    """The first batch of ``loader`` (the ``split`` split: "training", "validation", "test")
    as ``(inputs, targets)`` on ``device``; a TaskError where it cannot be made or is no pair."""
    where = f"Task {task.name!r}"
    data = {"training": "train_data", "validation": "val_data"}.get(split, f"{split}_data")
    try:
        batch = next(iter(loader))
    except StopIteration:  # its length promised items (an empty one is refused before)
        raise TaskError(
            f"{where}: {data} yielded no {split} batch, though its length says it has items; "
            "make it yield them on every pass."
        ) from None
    except Exception as exc:
        if not _raised_in_collate(exc):  # the dataset's own error: its traceback says where
            raise
        raise TaskError(
            f"{where}: the first {split} batch could not be made from its items: "
            f"{type(exc).__name__}: {exc}; each item of {data} must be an (inputs, "
            "targets) pair of the same shapes as the others."
        ) from exc
    if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
        items = f" of {len(batch)} items" if isinstance(batch, (tuple, list)) else ""
        raise TaskError(
            f"{where}: each {split} batch must be an (inputs, targets) pair, got a "
            f"{type(batch).__name__}{items}; make the dataset return (inputs, targets) per "
            "item."
        )
    inputs, targets = (t.to(device) if isinstance(t, Tensor) else t for t in batch)
    return inputs, targets


def _first_line(error: BaseException) -> str:
    """The first line of ``error``'s message (torch's run on with advice over many)."""
    lines = str(error).splitlines()
    return lines[0] if lines else ""


def _check_evaluation(
    task: Task, model: nn.Module, loader: DataLoader[Any], split: str, device: Any
) -> None:
    """One batch of an evaluation split through the model, the loss and the metric: a split
    that does not fit (float64 inputs, float targets for a classifier, other shapes) is said
    now, not after a training epoch or the whole run."""
    where = f"Task {task.name!r}"
    inputs, targets = _first_batch(task, loader, split, device)
    try:
        output = model(inputs)
        loss = task.criterion(output, targets)
        float(loss)
        MetricTally(task.metric, task.criterion).update(output, targets)
    except TaskError as exc:  # the metric's own message: say where
        raise TaskError(f"{where}: a {split} batch: {exc}") from exc
    except Exception as exc:
        failed = (
            f"{where}: a {split} batch (inputs of shape {_shape(inputs)}) does not fit the "
            f"model, the loss or the metric, as the training batches do: "
            f"{type(exc).__name__}: {_first_line(exc)}"
        )
        raise TaskError(_with_fix(failed, exc, (*_MODEL_FIXES, *_LOSS_FIXES))) from exc


def _check_loss(task: Task, output: Any, targets: Any) -> None:
    name = type(task.criterion).__name__
    misfit = (
        f"Task {task.name!r}: the model output does not fit the loss {name}: output of shape "
        f"{_shape(output)}, targets of shape {_shape(targets)} ({_dtype(targets)})"
    )
    one = isinstance(output, Tensor) and output.ndim == 2 and output.shape[1] == 1
    if one and is_cross_entropy(task.criterion):  # softmax over one output is 1: a loss of 0
        raise TaskError(
            f"{misfit}: cross-entropy over 1 output is always 0, so nothing would train. "
            "For regression give criterion=torch.nn.MSELoss() (and metric='r2'); for two "
            "classes give the model 2 outputs."
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            loss = task.criterion(output, targets)
        except Exception as exc:
            misfit = f"{misfit}: {type(exc).__name__}: {exc}"
            raise TaskError(_with_fix(misfit, exc, _LOSS_FIXES)) from exc
    # MSELoss and friends only *warn* when they broadcast (N, 1) against (N,): a silent bug.
    for warning in caught:
        if "size" in str(warning.message):
            raise TaskError(f"{misfit}: {warning.message}")
    if not isinstance(loss, Tensor) or loss.numel() != 1:
        raise TaskError(
            f"Task {task.name!r}: the loss must return a scalar tensor (use mean reduction), "
            f"got {type(loss).__name__} of shape {_shape(loss)}."
        )
    if not loss.requires_grad:
        raise TaskError(
            f"Task {task.name!r}: the loss does not depend on any trainable parameter; "
            "does the model detach its output or freeze every weight?"
        )


_MODEL_FIXES = (  # what torch says, and what to do about it
    (
        "must have the same dtype, but got Double and Float",
        "the inputs are float64 (NumPy's default): torch.as_tensor(X, dtype=torch.float32)",
    ),
)
_LOSS_FIXES = (
    *_MODEL_FIXES,
    ("expected target dtype to be Long", "class-index targets must be integers: y.long()"),
    ("expected scalar type Long", "class-index targets must be integers: y.long()"),
    (
        "multi-target not supported",
        "class-index targets must have shape (N,), not (N, 1): y.view(-1)",
    ),
    ("out of bounds", "a class index is not below the model's number of outputs"),
    (  # torch's words for targets that are no tensor: strings, collated into a tuple
        "'target' (position 2) must be Tensor",
        "the targets must be tensors: map string labels to class indices in the dataset",
    ),
)


def _with_fix(message: str, exc: BaseException, fixes: tuple[tuple[str, str], ...]) -> str:
    """``message`` (which quotes ``exc``), then what to do about it where the error is a common
    one: ``"... but got Float. Fix: class-index targets must be integers: y.long()."``"""
    for said, fix in fixes:
        if said in str(exc):
            return f"{message.rstrip('.')}. Fix: {fix}."
    return message


def _check_classes(task: Task, output: Any) -> None:
    """With cross-entropy and class-index targets held in tensors (``TensorDataset``), every
    split's labels are below the model's number of outputs: one out of range elsewhere than
    the first batch fails deep in a training run otherwise."""
    if not (is_cross_entropy(task.criterion) and isinstance(output, Tensor) and output.ndim == 2):
        return
    classes = output.shape[1]
    if classes < 2:  # the loss's check says what is wrong with that
        return
    for split in ("train_data", "val_data", "test_data"):
        data = getattr(task, split)
        tensors = getattr(data, "tensors", None)  # TensorDataset: read without iterating
        if not (isinstance(tensors, tuple) and len(tensors) == 2):
            continue
        labels = tensors[1]
        if labels.dtype.is_floating_point or labels.dtype == torch.bool:
            continue  # class probabilities, or not class indices
        labels = labels[labels != ignore_index(task.criterion)]  # padding, unlabelled items
        if labels.numel() == 0:
            continue
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= classes:
            raise TaskError(
                f"Task {task.name!r}: {split} has class index {high if high >= classes else low}, "
                f"but the model has {classes} outputs (classes 0 to {classes - 1}); give its "
                f"last layer {max(high + 1, classes)} outputs, or fix the labels."
            )


def _shape(value: Any) -> str:
    return str(tuple(value.shape)) if isinstance(value, Tensor) else type(value).__name__


def _dtype(value: Any) -> str:
    return str(value.dtype).replace("torch.", "") if isinstance(value, Tensor) else "not a tensor"
