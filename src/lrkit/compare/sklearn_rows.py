"""scikit-learn's MLPClassifier under its three learning-rate options, on the task's own split.

Seed 002 sets scikit-learn's ``learning_rate`` options beside torch's schedulers. Here each runs
as ``MLPClassifier(solver="sgd", learning_rate=..., learning_rate_init=lr, momentum=0.9)`` on the
task's training split, flattened to one feature vector per example, with one hidden layer sized
so that the MLP has about as many parameters as the task's model. It trains one ``partial_fit``
(one epoch) at a time so that validation and test can be measured after every epoch, as the
torch rows are. Its random state is a ``RandomState(seed)`` that ``partial_fit`` keeps drawing
from, so initial weights and shuffles follow the same sequence as one ``fit(max_iter=epochs)``.

What the options do (scikit-learn's rules, per epoch):

- ``constant``: ``learning_rate_init`` throughout.
- ``invscaling``: ``learning_rate_init / (t + 1) ** 0.5`` where ``t`` counts the *samples* seen,
  so after one epoch of 1078 digits the LR is already 33x lower.
- ``adaptive``: divided by 5 whenever the training loss fails to improve by ``tol`` for more than
  ``n_iter_no_change`` (10) epochs.

Where ``fit`` would stop (the training loss stalled), the row stops too; where it would warn
``ConvergenceWarning`` (the budget ran out first), the row says so in its note instead.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from lrkit.compare.result import ScheduleRun
from lrkit.errors import ConfigError
from lrkit.history import EpochRecord, History
from lrkit.tasks.base import Task

SKLEARN_OPTIONS: tuple[str, ...] = ("constant", "invscaling", "adaptive")
"""scikit-learn's ``MLPClassifier(learning_rate=...)`` options, in seed 002's order."""


def check_sklearn_task(task: Task) -> None:
    """Raises a ConfigError unless ``task`` is a classification task scikit-learn can fit.

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
            f"MLPClassifier; got task {task.name!r} with metric {task.metric!r}. Leave the "
            "sklearn rows out for this task (the --sklearn option, the sklearn argument)."
        )


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
) -> tuple[ScheduleRun, ...]:
    """One :class:`~lrkit.compare.result.ScheduleRun` per option, each trained on every seed.

    Args:
        task: A classification task (see :func:`check_sklearn_task`).
        lr: ``learning_rate_init`` of every option.
        epochs: ``max_iter``: the epoch budget.
        seeds: ``random_state`` of each run.
        options: Which ``learning_rate`` options.
        on_epoch: Called after every epoch trained (a progress bar).

    Raises:
        ConfigError: The task is not classification, or its targets are not class indices.
    """
    check_sklearn_task(task)
    x_train, y_train = _arrays(task.train_data, "train_data")
    x_val, y_val = _arrays(task.val_data, "val_data")
    test = None if task.test_data is None else _arrays(task.test_data, "test_data")
    classes = np.unique(np.concatenate([y_train, y_val, *([] if test is None else [test[1]])]))
    width = hidden_units(task, x_train.shape[1], len(classes), seeds[0] if seeds else 0)
    steps_per_epoch = math.ceil(len(y_train) / min(task.batch_size, len(y_train)))
    runs = []
    for option in options:
        histories, notes = [], set()
        for seed in seeds:
            history, note = _fit(
                task, option, lr, epochs, seed, width, classes, (x_train, y_train),
                (x_val, y_val), test, steps_per_epoch, on_epoch,
            )  # fmt: skip
            histories.append(history)
            if note:
                notes.add(note)
        head = f"MLPClassifier(hidden_layer_sizes=({width},), solver='sgd', momentum=0.9)"
        runs.append(
            ScheduleRun(
                label=f"sklearn:{option}",
                spec=f"sklearn:{option}",
                lr=float(lr),
                unit="epoch",
                source="sklearn",
                histories=tuple(histories),
                steps_per_epoch=steps_per_epoch,
                note="; ".join([head, *sorted(notes)]),
            )
        )
    return tuple(runs)


def _fit(
    task: Task,
    option: str,
    lr: float,
    epochs: int,
    seed: int,
    width: int,
    classes: np.ndarray,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray] | None,
    steps_per_epoch: int,
    on_epoch: Callable[[], None] | None,
) -> tuple[History, str]:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    started = time.perf_counter()
    clf = MLPClassifier(
        hidden_layer_sizes=(width,),
        solver="sgd",
        learning_rate=option,
        learning_rate_init=lr,
        momentum=0.9,
        batch_size=task.batch_size,
        max_iter=epochs,
        shuffle=True,
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
    """A dataset as ``(X, y)``: inputs flattened to ``(N, features)``, targets to class indices."""
    inputs, targets = [], []
    for x, y in DataLoader(data, batch_size=1024, shuffle=False):
        inputs.append(torch.as_tensor(x).reshape(len(x), -1).double())
        targets.append(torch.as_tensor(y))
    if not inputs:
        raise ConfigError(f"sklearn rows need examples in the task's {name}, got none.")
    y_all = torch.cat(targets)
    if y_all.dim() != 1 or y_all.is_floating_point():
        raise ConfigError(
            f"sklearn rows need integer class indices as targets, one per example; the task's "
            f"{name} has targets of dtype {y_all.dtype} and shape {tuple(y_all.shape)}."
        )
    return torch.cat(inputs).numpy(), y_all.numpy()
