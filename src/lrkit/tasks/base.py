"""The task protocol: everything lrkit needs to train one model at one learning rate.

A :class:`Task` bundles a model builder, a loss, an optimizer builder, three data splits, an epoch
budget and the name of the metric to report. Every lrkit command (``find``, ``search``,
``compare``, ``tune``) takes a task, so a user writes one small file and gets all of them.

Metrics are always *higher is better*, so that every command can rank runs the same way:

- ``"accuracy"``: the fraction of correct predictions (classification).
- ``"r2"``: the coefficient of determination, 1 - SSE/SST over the whole split, all outputs pooled
  (regression). 1 is perfect, 0 is no better than predicting the mean.
- ``"neg_loss"``: minus the mean validation loss, for tasks where neither fits.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from lrkit.devices import check_device
from lrkit.errors import (
    MAX_EPOCHS,
    ConfigError,
    TaskError,
    UnknownNameError,
    bad_value,
    positive_lr,
    whole_number,
)

METRICS: tuple[str, ...] = ("accuracy", "r2", "neg_loss")
"""The metric names a task may report; all are higher-is-better."""


def sgd_momentum(params: Iterable[Any], lr: float) -> torch.optim.SGD:
    """The default optimizer: SGD with momentum 0.9.

    Chosen as the default because its good LR range is narrow, so the learning rate matters.
    """
    return torch.optim.SGD(params, lr=lr, momentum=0.9)


@dataclass(frozen=True)
class Task:
    """A model, its loss, its optimizer and its data: one unit of training.

    Args:
        name: Short name shown in logs and reports, e.g. ``"digits"``.
        model: Builds a fresh, untrained ``nn.Module``; called with no arguments. lrkit seeds the
            global torch RNG around the call, so use torch's default initialisation freely.
        train_data: Map-style dataset of ``(inputs, targets)`` pairs used for training.
        val_data: Dataset used to pick learning rates and schedules (never trained on).
        test_data: Optional dataset evaluated once, after training.
        criterion: Loss ``criterion(output, targets) -> scalar tensor`` with mean reduction.
        optimizer: Builds the optimizer, called as ``optimizer(params, lr)``; any
            ``torch.optim`` class fits, e.g. ``partial(torch.optim.Adam, weight_decay=1e-4)``.
        metric: One of ``"accuracy"``, ``"r2"`` or ``"neg_loss"`` (see the module docstring).
        epochs: Default epoch budget for one training run.
        batch_size: Batch size of every loader (training and evaluation).
        lr: A learning rate known to train well, used when a command is given none; ``None`` if
            the task has no such default.
        description: One line shown by ``lrkit`` when listing tasks.

    Example:
        >>> import torch
        >>> from torch.utils.data import TensorDataset
        >>> data = TensorDataset(torch.randn(32, 4), torch.randint(0, 3, (32,)))
        >>> task = Task(name="toy", model=lambda: torch.nn.Linear(4, 3),
        ...             train_data=data, val_data=data, epochs=2, batch_size=8, lr=0.1)
        >>> len(task.train_loader(seed=0))
        4
        >>> type(task.make_optimizer(task.make_model(seed=0), 0.1)).__name__
        'SGD'
    """

    name: str
    model: Callable[[], nn.Module]
    train_data: Dataset[Any]
    val_data: Dataset[Any]
    test_data: Dataset[Any] | None = None
    criterion: Callable[[Tensor, Tensor], Tensor] = field(default_factory=nn.CrossEntropyLoss)
    optimizer: Callable[..., torch.optim.Optimizer] = field(default=sgd_momentum)
    metric: str = "accuracy"
    epochs: int = 10
    batch_size: int = 64
    lr: float | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise bad_value("Task.name", "a non-empty string", self.name)
        try:  # it is printed, drawn and written: a lone surrogate failed each, after the work
            self.name.encode("utf-8")
        except UnicodeEncodeError:
            raise bad_value(
                "Task.name", "text that can be written as UTF-8 (no lone surrogate)", self.name
            ) from None
        if isinstance(self.criterion, type) and issubclass(self.criterion, nn.Module):
            raise ConfigError(  # the class is callable, and fails later in a confusing way
                f"Task.criterion must be a loss, such as {self.criterion.__name__}(), got the "
                f"class {self.criterion.__name__}; call it: criterion={self.criterion.__name__}()."
            )
        if isinstance(self.optimizer, torch.optim.Optimizer):
            raise ConfigError(
                "Task.optimizer must make an optimizer from (params, lr), such as "
                "torch.optim.Adam or functools.partial(torch.optim.SGD, momentum=0.9), got an "
                f"optimizer object ({type(self.optimizer).__name__}): every trial needs its own."
            )
        for attr in ("model", "criterion", "optimizer"):
            if not callable(getattr(self, attr)):
                raise bad_value(f"Task.{attr}", "callable", getattr(self, attr))
        if isinstance(self.model, nn.Module):  # callable too, but it is the model, not a maker
            raise ConfigError(
                "Task.model must build a fresh model each time it is called (a class such as "
                f"MyNet, or a function), got a {type(self.model).__name__} instance: every trial "
                "trains a model of its own; pass its class, or lambda: MyNet(...)."
            )
        for attr in ("train_data", "val_data", "test_data"):
            data = getattr(self, attr)
            if data is None and attr == "test_data":
                continue
            if isinstance(data, DataLoader):
                raise ConfigError(
                    f"Task.{attr} must be a dataset, got a DataLoader; pass its dataset "
                    "(loader.dataset), and its batch size as Task(batch_size=...)."
                )
            if isinstance(data, tuple) and len(data) == 2 and all(map(_is_array, data)):
                raise ConfigError(  # scikit-learn's (X, y): its items would be X, then y
                    f"Task.{attr} must be a dataset of (inputs, targets) items, got a pair of "
                    "arrays (X, y); wrap them: TensorDataset(torch.as_tensor(X), "
                    "torch.as_tensor(y))."
                )
            if attr == "train_data" and isinstance(data, torch.utils.data.IterableDataset):
                raise ConfigError(  # torch's Dataset has __getitem__: the check below passes it
                    f"Task.train_data must be a map-style dataset (with __getitem__ and "
                    f"__len__), which lrkit shuffles each epoch, got an IterableDataset "
                    f"({type(data).__name__}), which cannot be shuffled; load it into a "
                    "TensorDataset, or index it (one with a __len__ works as val_data)."
                )
            text = isinstance(data, (str, bytes))  # a path, say: its items would be characters
            if text or not (hasattr(data, "__getitem__") and hasattr(data, "__len__")):
                raise bad_value(
                    f"Task.{attr}", "a map-style dataset (with __getitem__ and __len__)", data
                )
        if self.metric not in METRICS:
            custom = " (a function of your own is not one; 'neg_loss' ranks by the loss)"
            raise UnknownNameError(
                f"Unknown metric {self.metric!r}; valid metrics: {', '.join(METRICS)}"
                f"{custom if callable(self.metric) else ''}."
            )
        # a NumPy integer or a 0-d tensor is kept as the Python number it holds
        epochs = whole_number("Task.epochs", self.epochs, most=MAX_EPOCHS)
        object.__setattr__(self, "epochs", epochs)
        object.__setattr__(self, "batch_size", whole_number("Task.batch_size", self.batch_size))
        if self.lr is not None:
            lr = positive_lr("Task.lr", self.lr, "a positive finite number or None")
            object.__setattr__(self, "lr", lr)

    def make_model(self, seed: int = 0) -> nn.Module:
        """Builds a fresh model whose initial weights depend only on ``seed``.

        The global torch RNG is restored afterwards, so building a model never shifts the random
        stream of the caller.

        Raises:
            TaskError: The builder raised (the message names the error and where in the user's
                code; the original is chained) or did not return an ``nn.Module``.
        """
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            try:
                model = self.model()
            except Exception as exc:
                raise TaskError(
                    f"Task {self.name!r}: model() raised {type(exc).__name__}: {exc}{_where(exc)}"
                ) from exc
        if not isinstance(model, nn.Module):
            raise TaskError(
                f"Task {self.name!r}: model() must return a torch.nn.Module, "
                f"got {type(model).__name__}."
            )
        return model

    def make_optimizer(
        self, model_or_params: nn.Module | Iterable[Any], lr: float
    ) -> torch.optim.Optimizer:
        """Builds the task's optimizer at learning rate ``lr``.

        Args:
            model_or_params: A model (all its parameters are optimised) or anything
                ``torch.optim`` accepts: an iterable of tensors or of param-group dicts.
            lr: The learning rate of every param group without an ``"lr"`` of its own.

        Raises:
            TaskError: The builder did not return a ``torch.optim.Optimizer``.
        """
        if isinstance(model_or_params, nn.Module):
            params: Iterable[Any] = model_or_params.parameters()
        else:
            params = model_or_params
        optimizer = self.optimizer(params, lr)
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TaskError(
                f"Task {self.name!r}: optimizer(params, lr) must return a torch.optim.Optimizer, "
                f"got {type(optimizer).__name__}."
            )
        return optimizer

    def train_loader(self, seed: int = 0) -> DataLoader[Any]:
        """A shuffling loader; each pass over it draws a new order, the same for the same seed.

        A last batch of a single sample is left out: BatchNorm cannot train on it (no batch
        statistics, a raw error mid-epoch), and one sample's gradient is mostly noise.
        """
        generator = torch.Generator().manual_seed(seed)
        n = len(self.train_data)  # type: ignore[arg-type]  # checked to have one
        return DataLoader(
            self.train_data,
            batch_size=self.batch_size,
            shuffle=True,
            generator=generator,
            drop_last=last_batch_of_one(n, self.batch_size),
        )

    def val_loader(self) -> DataLoader[Any]:
        """The validation split in its stored order."""
        return DataLoader(self.val_data, batch_size=self.batch_size, shuffle=False)

    def test_loader(self) -> DataLoader[Any] | None:
        """The test split in its stored order, or ``None`` when the task has no test data."""
        if self.test_data is None:
            return None
        return DataLoader(self.test_data, batch_size=self.batch_size, shuffle=False)


def _raised_in_collate(error: BaseException) -> bool:
    """Whether ``error`` came from the DataLoader's stacking of items into a batch."""
    frame = error.__traceback__
    while frame is not None:
        if frame.tb_frame.f_code.co_filename.endswith("collate.py"):
            return True
        frame = frame.tb_next
    return False


def last_batch_of_one(n: int, batch_size: int) -> bool:
    """Whether ``n`` samples in batches of ``batch_size`` end in a batch of a single sample
    (after at least one full batch), which training leaves out.

    Example:
        >>> last_batch_of_one(17, 8), last_batch_of_one(18, 8), last_batch_of_one(1, 8)
        (True, False, False)
    """
    return n > batch_size and n % batch_size == 1


def _is_array(value: object) -> bool:
    """A tensor or an array of at least one dimension (NumPy's, or anything with a shape)."""
    return len(getattr(value, "shape", ())) >= 1


class MetricTally:
    """Accumulates a task metric over batches exactly (not as a mean of per-batch values).

    Example:
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
        self._probabilities = _cross_entropy(criterion)
        self._count = 0
        self._correct = 0
        self._sse = 0.0
        self._sum = 0.0
        self._sum_sq = 0.0

    def update(self, output: Tensor, target: Tensor) -> None:
        """Adds one batch.

        Raises:
            TaskError: The output and target shapes do not fit the metric.
        """
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


def _where(exc: BaseException) -> str:
    """`` (at file.py:12)``: the innermost place the error passed through outside the standard
    library and installed packages (the user's code), or ``""``."""
    import site
    import sysconfig
    import traceback
    from pathlib import Path

    skip = [Path(torch.__file__).parent, Path(__file__).parents[1]]  # torch, lrkit
    paths = sysconfig.get_paths()
    skip += [Path(paths[key]) for key in ("stdlib", "platstdlib", "purelib", "platlib")]
    skip += [Path(p) for p in (*site.getsitepackages(), site.getusersitepackages())]
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        path = Path(frame.filename)
        frozen = frame.filename.startswith("<frozen ")  # the standard library's frozen modules
        if not frozen and not any(path.is_relative_to(folder) for folder in skip):
            return f" (at {path.name}:{frame.lineno})"
    return ""


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
        MetricTally(task.metric, task.criterion).update(output, targets)
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
    if one and _cross_entropy(task.criterion):  # softmax over one output is 1: a loss of 0
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


def _unwrapped(criterion: object) -> tuple[object, dict[str, Any]]:
    """The function under ``partial(...)`` layers, and the keywords they give it."""
    keywords: dict[str, Any] = {}
    while isinstance(criterion, functools.partial):
        keywords = {**criterion.keywords, **keywords}  # an outer layer's keywords win
        criterion = criterion.func
    return criterion, keywords


def _cross_entropy(criterion: object) -> bool:
    """Whether ``criterion`` is CrossEntropyLoss or ``F.cross_entropy`` (through partials)."""
    loss, _ = _unwrapped(criterion)
    return isinstance(loss, nn.CrossEntropyLoss) or loss is nn.functional.cross_entropy


def _ignore_index(criterion: object) -> int:
    """The target value a cross-entropy criterion skips (torch's default: -100)."""
    loss, keywords = _unwrapped(criterion)
    return int(getattr(loss, "ignore_index", keywords.get("ignore_index", -100)))


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
    if not (_cross_entropy(task.criterion) and isinstance(output, Tensor) and output.ndim == 2):
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
        labels = labels[labels != _ignore_index(task.criterion)]  # padding, unlabelled items
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
