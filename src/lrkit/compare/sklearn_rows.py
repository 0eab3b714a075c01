"""scikit-learn's MLPClassifier under its three learning-rate options, on the task's own split.

Seed 002 sets scikit-learn's ``learning_rate`` options beside torch's schedulers. Here each runs
as ``MLPClassifier(solver="sgd", learning_rate=..., learning_rate_init=lr, ...)`` on the task's
training split, flattened to one feature vector per example, with one hidden layer sized so that
the MLP has about as many parameters as the task's model. Its SGD settings are the task's own
where MLPClassifier has them (:func:`sgd_settings`): the momentum, plain or Nesterov (scikit-learn
defaults to Nesterov, torch's SGD to plain), and the weight decay as ``alpha`` (scikit-learn
defaults to an L2 penalty of 1e-4; the built-in tasks have none). Each row's note gives every
argument that matters, so that the row can be rebuilt.

It trains one ``partial_fit`` (one epoch) at a time, because ``fit`` measures nothing between
epochs, and the rows show validation and test after every epoch, as the torch rows do. Its random
state is a ``RandomState(seed)`` that ``partial_fit`` keeps drawing from, so the initial weights
and the first epoch's batches are those of ``fit(max_iter=epochs)`` with the same random state.
Later epochs' batches are not: ``fit`` shuffles its previous epoch's order again, each
``partial_fit`` shuffles the examples' own order. Both orders are uniformly random and
independent of the epochs before, so the rows train as ``fit`` does in distribution, not batch
for batch.

What the options do (scikit-learn's rules, per epoch):

- ``constant``: ``learning_rate_init`` throughout.
- ``invscaling``: ``learning_rate_init / (t + 1) ** 0.5`` where ``t`` counts the *samples* seen,
  so after one epoch of 1078 digits the LR is already 33x lower.
- ``adaptive``: divided by 5 whenever the training loss fails to improve by ``tol`` for more than
  ``n_iter_no_change`` (10) epochs.

Where ``fit`` would stop (the training loss stalled), the row stops too; where it would warn
``ConvergenceWarning`` (the budget ran out first), the row says so in its note instead.

Every check that can fail is in :func:`sklearn_data`, which :func:`~lrkit.compare.compare` calls
before anything trains: a task scikit-learn cannot fit is refused before the torch rows' work.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from lrkit.compare.result import ScheduleRun
from lrkit.errors import ConfigError
from lrkit.history import EpochRecord, History
from lrkit.tasks.base import Task
from lrkit.tasks.metrics import value_kind

SKLEARN_OPTIONS: tuple[str, ...] = ("constant", "invscaling", "adaptive")
"""scikit-learn's ``MLPClassifier(learning_rate=...)`` options, in seed 002's order."""

_LEAVE_OUT = (
    "Leave the sklearn rows out for this task (the --sklearn option, the sklearn argument)."
)


@dataclass(frozen=True, eq=False)
class SklearnData:
    """What the rows train on and with, built and checked by :func:`sklearn_data`.

    ``train``, ``val`` and ``test`` are ``(X, y)``: inputs flattened to float64 ``(N, features)``,
    targets the class labels; ``test`` is ``None`` when the task has no test split. ``momentum``,
    ``nesterov`` and ``alpha`` are :func:`sgd_settings`'s, ``remarks`` what it could not match.
    """

    train: tuple[np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray] | None
    classes: np.ndarray
    width: int
    batch_size: int
    momentum: float
    nesterov: bool
    alpha: float
    remarks: tuple[str, ...] = ()

    def arguments(self, option: str, lr: float, epochs: int) -> dict[str, Any]:
        """One row's MLPClassifier arguments, but its random state: every one that differs
        from scikit-learn's default or matters to the comparison."""
        return {
            "hidden_layer_sizes": (self.width,),
            "solver": "sgd",
            "learning_rate": option,
            "learning_rate_init": float(lr),
            **({"power_t": 0.5} if option == "invscaling" else {}),  # the others do not read it
            "batch_size": self.batch_size,
            "momentum": self.momentum,
            "nesterovs_momentum": self.nesterov,
            "alpha": self.alpha,
            "max_iter": epochs,
            "shuffle": True,
        }

    def estimator(self, option: str, lr: float, epochs: int) -> str:
        """One row's MLPClassifier, as Python (for its note), from :meth:`arguments`.

        Example:
            >>> from lrkit.tasks import load_task
            >>> print(sklearn_data(load_task("digits")).estimator("invscaling", 0.05, 12))
            MLPClassifier(hidden_layer_sizes=(132,), solver='sgd', learning_rate='invscaling', \
learning_rate_init=0.05, power_t=0.5, batch_size=64, momentum=0.9, nesterovs_momentum=False, \
alpha=0.0, max_iter=12, shuffle=True, random_state=RandomState(seed))
        """
        given = self.arguments(option, lr, epochs).items()
        return f"MLPClassifier({', '.join(f'{k}={v!r}' for k, v in given)}, " + (
            "random_state=RandomState(seed))"
        )


def check_sklearn_task(task: Task) -> None:
    """Raises a ConfigError unless ``task`` is a classification task (the cheap check, without
    the data; :func:`sklearn_data` does the rest).

    Example:
        >>> from lrkit.tasks import load_task
        >>> check_sklearn_task(load_task("friedman"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        lrkit.errors.ConfigError: sklearn rows need a classification task (metric 'accuracy'), ...
    """
    if task.metric != "accuracy":
        raise ConfigError(
            "sklearn rows need a classification task (metric 'accuracy'), because they train "
            f"MLPClassifier; got task {task.name!r} with metric {task.metric!r}. {_LEAVE_OUT}"
        )


def sklearn_data(task: Task, seed: int = 0) -> SklearnData:
    """The task's splits as arrays and the MLP's settings, checked: everything that can refuse
    the sklearn rows, so that it refuses before anything trains.

    ``seed`` builds the task's model whose size the MLP matches (:func:`hidden_units`).

    Raises:
        ConfigError: The task is not classification; a split has no examples, inputs that are
            not arrays of numbers (dicts, say) or not finite, or targets that are not integer
            class indices; fewer than two classes; a momentum MLPClassifier does not take.

    Example:
        >>> from lrkit.tasks import load_task
        >>> data = sklearn_data(load_task("digits"))
        >>> data.train[0].shape, data.width, data.momentum, data.nesterov, data.alpha
        ((1078, 64), 132, 0.9, False, 0.0)
    """
    check_sklearn_task(task)
    train = _arrays(task.train_data, "train_data")
    val = _arrays(task.val_data, "val_data")
    test = None if task.test_data is None else _arrays(task.test_data, "test_data")
    others = {"val_data": val, **({} if test is None else {"test_data": test})}
    for name, (x, _) in others.items():
        if x.shape[1] != train[0].shape[1]:
            raise ConfigError(
                f"sklearn rows need the same number of input features in every split; the "
                f"task's train_data has {train[0].shape[1]}, its {name} {x.shape[1]}."
            )
    labels = [train[1], val[1], *([] if test is None else [test[1]])]
    classes = np.unique(np.concatenate(labels))
    if len(classes) < 2:
        raise ConfigError(
            "sklearn rows need at least 2 classes among the targets (MLPClassifier tells "
            f"classes apart), got only class {classes[0].item()!r} in the task's splits."
        )
    batch_size = min(task.batch_size, len(train[1]))  # scikit-learn clips it so, with a warning
    momentum, nesterov, alpha, remarks = sgd_settings(task, batch_size)
    return SklearnData(
        train=train,
        val=val,
        test=test,
        classes=classes,
        width=hidden_units(task, train[0].shape[1], len(classes), seed),
        batch_size=batch_size,
        momentum=momentum,
        nesterov=nesterov,
        alpha=alpha,
        remarks=remarks,
    )


def sgd_settings(task: Task, batch_size: int) -> tuple[float, bool, float, tuple[str, ...]]:
    """MLPClassifier's ``momentum``, ``nesterovs_momentum`` and ``alpha`` for the task's optimizer,
    and remarks on what could not be matched.

    A torch SGD's own momentum and Nesterov flag, and its weight decay as ``alpha = weight_decay
    * batch_size``: scikit-learn divides its L2 gradient by the batch's size, torch adds
    ``weight_decay * w`` to the mean loss's gradient as it is. Any other optimizer has no
    counterpart among the ``learning_rate`` options (they are the SGD solver's): then SGD with
    lrkit's default momentum 0.9, plain, and no penalty.

    Raises:
        ConfigError: The task's SGD momentum is above 1, which MLPClassifier refuses.

    Example:
        >>> from functools import partial
        >>> from lrkit.tasks import load_task
        >>> digits = load_task("digits")
        >>> sgd_settings(digits, 64)
        (0.9, False, 0.0, ())
        >>> import dataclasses, torch
        >>> decayed = partial(torch.optim.SGD, momentum=0.8, nesterov=True, weight_decay=1e-4)
        >>> sgd_settings(dataclasses.replace(digits, optimizer=decayed), 64)[:3]
        (0.8, True, 0.0064)
    """
    optimizer = task.make_optimizer(task.make_model(seed=0), task.lr or 1e-3)
    if not isinstance(optimizer, torch.optim.SGD):
        remark = (
            f"the task trains with {type(optimizer).__name__}, and scikit-learn's learning_rate "
            "options are its SGD solver's: these rows use SGD with plain momentum 0.9 (lrkit's "
            "default optimizer) and no L2 penalty"
        )
        return 0.9, False, 0.0, (remark,)
    keys = ("momentum", "nesterov", "weight_decay", "dampening")
    first = optimizer.param_groups[0]
    momentum, nesterov = float(first["momentum"]), bool(first["nesterov"])
    decay, dampening = float(first["weight_decay"]), float(first["dampening"])
    if not 0.0 <= momentum <= 1.0:
        raise ConfigError(
            "sklearn rows need the task's SGD momentum between 0 and 1, as MLPClassifier takes "
            f"it; got momentum={momentum!r}. {_LEAVE_OUT}"
        )
    remarks = []
    if decay:
        remarks.append(
            f"alpha = weight_decay {decay!r} x batch_size {batch_size} (scikit-learn divides its "
            "L2 gradient by the batch's size, and leaves the biases undecayed)"
        )
    if dampening:
        remarks.append(f"the task's SGD dampening={dampening!r} has no MLPClassifier counterpart")
    if any(group[k] != first[k] for group in optimizer.param_groups for k in keys):
        remarks.append("the task's param groups differ: the first group's settings are used")
    return momentum, nesterov, decay * batch_size, tuple(remarks)


def hidden_units(task: Task, n_features: int, n_classes: int, seed: int = 0) -> int:
    """One hidden layer's width giving the MLP about as many parameters as the task's model.

    Example:
        >>> from lrkit.tasks import load_task
        >>> hidden_units(load_task("digits"), 64, 10)
        132
    """
    params = sum(p.numel() for p in task.make_model(seed).parameters() if p.requires_grad)
    # an MLP with h hidden units has (n_features + 1) * h + (h + 1) * n_classes parameters
    width = (params - n_classes) / (n_features + 1 + n_classes)
    return int(min(1024, max(8, round(width))))


def sklearn_runs(
    task: Task,
    lr: float,
    *,
    epochs: int,
    seeds: Sequence[int],
    options: Sequence[str] = SKLEARN_OPTIONS,
    on_epoch: Callable[[], None] | None = None,
    data: SklearnData | None = None,
) -> tuple[ScheduleRun, ...]:
    """One :class:`~lrkit.compare.result.ScheduleRun` per option, each trained on every seed.

    Args:
        task: A classification task (see :func:`sklearn_data`).
        lr: ``learning_rate_init`` of every option.
        epochs: ``max_iter``: the epoch budget.
        seeds: ``random_state`` of each run.
        options: Which ``learning_rate`` options.
        on_epoch: Called after every epoch trained (a progress bar).
        data: ``sklearn_data(task, seeds[0])``, when already built (and so checked) before
            other work; by default it is built here.

    Raises:
        ConfigError: :func:`sklearn_data` refuses the task (only where ``data`` is not given).
    """
    if data is None:
        data = sklearn_data(task, seeds[0] if seeds else 0)
    steps_per_epoch = math.ceil(len(data.train[1]) / data.batch_size)
    runs = []
    for option in options:
        histories, notes = [], set()
        for seed in seeds:
            history, note = _fit(task, data, option, lr, epochs, seed, steps_per_epoch, on_epoch)
            histories.append(history)
            if note:
                notes.add(note)
        head = (
            f"{data.estimator(option, lr, epochs)}, one partial_fit per epoch on the training "
            f"split flattened to {data.train[0].shape[1]} features"
        )
        runs.append(
            ScheduleRun(
                label=f"sklearn:{option}",
                spec=f"sklearn:{option}",
                lr=float(lr),
                unit="epoch",
                source="sklearn",
                histories=tuple(histories),
                steps_per_epoch=steps_per_epoch,
                note="; ".join([head, *data.remarks, *sorted(notes)]),
            )
        )
    return tuple(runs)


def _fit(
    task: Task,
    data: SklearnData,
    option: str,
    lr: float,
    epochs: int,
    seed: int,
    steps_per_epoch: int,
    on_epoch: Callable[[], None] | None,
) -> tuple[History, str]:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    started = time.perf_counter()
    train, val, test, classes = data.train, data.val, data.test, data.classes
    clf = MLPClassifier(  # as the row's note writes it (data.estimator)
        **data.arguments(option, lr, epochs),
        # a RandomState, not the int: partial_fit re-reads random_state on every call, and an
        # int would replay the first epoch's shuffle every epoch
        random_state=np.random.RandomState(seed),
    )
    records: list[EpochRecord] = []
    step_lrs: list[float] = []
    diverged, stopped = False, False
    for epoch in range(1, epochs + 1):
        epoch_started = time.perf_counter()
        current = float(getattr(getattr(clf, "_optimizer", None), "learning_rate", lr))
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", RuntimeWarning)  # overflow on the way to NaN
            clf.partial_fit(*train, classes=classes)
        step_lrs += [current] * steps_per_epoch
        train_loss = float(clf.loss_)
        diverged = not math.isfinite(train_loss) or not _finite_weights(clf)
        val_loss, val_acc = (math.nan, math.nan) if diverged else _evaluate(clf, *val, classes)
        if diverged or test is None:
            test_loss, test_acc = math.nan, math.nan
        else:
            test_loss, test_acc = _evaluate(clf, *test, classes)
        records.append(
            EpochRecord(
                epoch=epoch,
                lr=current,
                lrs=(current,),
                train_loss=train_loss,
                val_loss=val_loss,
                val_metric=val_acc,
                seconds=time.perf_counter() - epoch_started,
                test_loss=None if test is None else test_loss,
                test_metric=None if test is None else test_acc,
            )
        )
        if on_epoch is not None:
            on_epoch()
        # fit() stops here: the training loss stalled (and, for adaptive, the LR hit 1e-6)
        stopped = getattr(clf, "_no_improvement_count", 0) > clf.n_iter_no_change
        if diverged or stopped:
            break
    last = records[-1]
    history = History(
        task=task.name,
        metric=task.metric,
        lr=float(lr),
        schedule=f"sklearn:{option}",
        seed=seed,
        unit="epoch",
        epochs=epochs,
        records=tuple(records),
        step_lrs=tuple(step_lrs),
        test_loss=None if test is None or diverged else last.test_loss,
        test_metric=None if test is None or diverged else last.test_metric,
        diverged=diverged,
        stopped_early=stopped and len(records) < epochs,
        wall_time=time.perf_counter() - started,
    )
    if diverged:
        note = "diverged"
    elif stopped:
        note = f"stopped by scikit-learn after {len(records)} epochs (training loss stalled)"
    else:
        note = f"not converged in {epochs} epochs (scikit-learn's ConvergenceWarning, silenced)"
    if option == "adaptive" and len(set(history.lrs)) == 1:
        note += "; never cut its LR (the training loss never stalled > 10 epochs): as constant"
    return history, note


def _evaluate(clf: Any, x: np.ndarray, y: np.ndarray, classes: np.ndarray) -> tuple[float, float]:
    """Mean cross-entropy (natural log, as torch's) and accuracy of ``clf`` on ``x``, ``y``."""
    from sklearn.metrics import log_loss

    proba = clf.predict_proba(x)
    if not np.all(np.isfinite(proba)):
        return math.nan, math.nan
    loss = float(log_loss(y, proba, labels=classes))
    accuracy = float(np.mean(clf.classes_[np.argmax(proba, axis=1)] == y))
    return loss, accuracy


def _finite_weights(clf: Any) -> bool:
    return all(np.all(np.isfinite(w)) for w in [*clf.coefs_, *clf.intercepts_])


def _arrays(data: Dataset[Any], name: str) -> tuple[np.ndarray, np.ndarray]:
    """A dataset as ``(X, y)``: inputs flattened to ``(N, features)``, targets to class indices;
    a ConfigError naming the split where scikit-learn could not fit them."""
    inputs: list[torch.Tensor] = []
    targets: list[torch.Tensor] = []
    for batch in DataLoader(data, batch_size=1024, shuffle=False):
        if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
            raise ConfigError(
                f"sklearn rows need (inputs, targets) pairs as the items of the task's {name}, "
                f"got batches of {value_kind(batch)}."
            )
        x, y = _tensor(batch[0], name, "inputs"), _tensor(batch[1], name, "targets")
        if x.is_complex():
            raise ConfigError(
                f"sklearn rows need real-valued inputs, one array per example; the task's {name} "
                f"has inputs of dtype {x.dtype} and shape {tuple(x.shape)}. {_LEAVE_OUT}"
            )
        flat = x.reshape(x.shape[0], -1).double()
        if inputs and flat.shape[1] != inputs[0].shape[1]:
            raise ConfigError(
                f"sklearn rows need the same number of input features in every example; the "
                f"task's {name} has {inputs[0].shape[1]} and {flat.shape[1]}. {_LEAVE_OUT}"
            )
        inputs.append(flat)
        targets.append(y)
    if not inputs:
        raise ConfigError(f"sklearn rows need examples in the task's {name}, got none.")
    y_all = torch.cat(targets)
    if y_all.dim() != 1 or y_all.is_floating_point() or y_all.is_complex():
        raise ConfigError(
            f"sklearn rows need integer class indices as targets, one per example; the task's "
            f"{name} has targets of dtype {y_all.dtype} and shape {tuple(y_all.shape)}."
        )
    x_all = torch.cat(inputs)
    bad = int((~torch.isfinite(x_all)).sum())
    if bad:  # scikit-learn's own check would say so only once the torch rows have trained
        raise ConfigError(
            f"sklearn rows need finite inputs (MLPClassifier refuses NaN and infinity); the "
            f"task's {name} has {bad} non-finite input values. {_LEAVE_OUT}"
        )
    return x_all.numpy(), y_all.numpy()


def _tensor(value: Any, name: str, what: str) -> torch.Tensor:
    """``value`` (a batch's inputs or targets) as one tensor, or a ConfigError saying why not."""
    try:
        return torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError) as exc:  # a dict, strings, ragged lists
        said = str(exc).splitlines()[0] if str(exc) else ""  # the CLI's error is one line
        expected = (
            "integer class indices as targets, one per example"
            if what == "targets"
            else "inputs that are arrays of numbers (tensors or NumPy arrays), one per example"
        )
        raise ConfigError(
            f"sklearn rows need {expected}: MLPClassifier fits NumPy arrays; the task's {name} "
            f"has {what} as a {value_kind(value)} ({type(exc).__name__}: {said}). {_LEAVE_OUT}"
        ) from exc
