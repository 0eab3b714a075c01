"""The task protocol: everything lrkit needs to train one model at one learning rate.

A :class:`Task` bundles a model builder, a loss, an optimizer builder, three data splits, an epoch
budget and the name of the metric to report. Every lrkit command (``find``, ``search``,
``compare``, ``tune``) takes a task, so a user writes one small file and gets all of them.

Its metric is always *higher is better* (``"accuracy"``, ``"r2"`` or ``"neg_loss"``, see
:mod:`lrkit.tasks.metrics`), so that every command can rank runs the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from lrkit.checks import MAX_EPOCHS, positive_lr, whole_number
from lrkit.errors import ConfigError, TaskError, UnknownNameError, bad_value, where_raised
from lrkit.tasks.metrics import METRICS


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
        description: One line that says what the task is (its data, model and optimizer),
            shown in ``lrkit tune``'s report and ``summary.json``.

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
                    f"Task {self.name!r}: model() raised {type(exc).__name__}: {exc}"
                    f"{where_raised(exc)}"
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
