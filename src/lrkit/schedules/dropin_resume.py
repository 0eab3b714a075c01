"""Exact resume for torch's LR schedulers: the two mixins every drop-in class is built from.

torch keeps a scheduler's position in two places: its own ``state_dict`` and the optimizer's
``param_groups[i]["lr"]``. Most of its ``get_lr`` formulas are recursive (``lr * gamma``) and read
the second place, so a checkpoint resumes exactly only when the optimizer state was restored too,
and in the right order. :class:`ExactResume` makes the scheduler's own state sufficient: after
``load_state_dict`` it writes the saved LRs back into the optimizer, which is exactly the value
an uninterrupted run has there, so the recursion continues bit for bit.

:class:`ResumableSchedule` also drops torch's "``lr_scheduler.step()`` before
``optimizer.step()``" warning, which a ``GradScaler`` that skipped the first step triggers falsely.
"""

from __future__ import annotations

import inspect
import re
import warnings
from collections.abc import Sequence
from typing import Any

from torch import Tensor
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from lrkit.errors import ConfigError
from lrkit.schedules.dropin_checks import check_arguments, torch_values, whole

# The start of torch's message; warnings.filterwarnings matches it as a regex from the start.
_ORDER_WARNING = re.escape("Detected call of `lr_scheduler.step()` before `optimizer.step()`")


def restore_lrs(optimizer: Optimizer, lrs: Sequence[float | Tensor]) -> None:
    """Writes one saved LR into each of the optimizer's param groups.

    A tensor LR (used by capturable / compiled optimizers) is filled in place so that graphs
    holding it see the new value; a float LR stays a float.

    Args:
        optimizer: The optimizer whose ``param_groups[i]["lr"]`` are overwritten.
        lrs: One LR per param group, e.g. a scheduler's saved ``_last_lr``.

    Raises:
        ConfigError: If the number of LRs differs from the number of param groups.

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        >>> restore_lrs(opt, [0.025])
        >>> opt.param_groups[0]["lr"]
        0.025
    """
    groups = optimizer.param_groups
    if len(lrs) != len(groups):
        raise ConfigError(
            f"the saved scheduler state must hold one LR per param group ({len(groups)}), "
            f"got {len(lrs)}; build the optimizer with the same param groups as the saved run."
        )
    for group, lr in zip(groups, lrs, strict=True):
        if isinstance(group["lr"], Tensor):
            group["lr"].fill_(float(lr))
        else:
            group["lr"] = float(lr) if isinstance(lr, Tensor) else lr


def rewrite_cycled_momentum(scheduler: LRScheduler) -> None:
    """Writes into the optimizer the momentum (or Adam's beta1) that a cycling scheduler
    (``CyclicLR``, ``OneCycleLR``, torch's or lrkit's) set at its current step; nothing for any
    other scheduler, one that does not cycle momentum, or one that has not stepped yet.

    Example:
        >>> import torch
        >>> from torch.optim import lr_scheduler
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
        >>> sched = lr_scheduler.CyclicLR(opt, base_lr=0.01, max_lr=0.1, step_size_up=4)
        >>> for _ in range(2):
        ...     opt.step()
        ...     sched.step()
        >>> opt.param_groups[0]["momentum"] = 0.9  # as a fresh optimizer has it
        >>> rewrite_cycled_momentum(sched)
        >>> round(opt.param_groups[0]["momentum"], 6)
        0.85
    """
    if not getattr(scheduler, "cycle_momentum", False) or scheduler.last_epoch < 0:
        # last_epoch -1: a SequentialLR child before its milestone, which has set nothing yet
        return
    # get_lr() is a closed form of last_epoch in both cycling schedulers and writes the
    # momentum as a side effect; the flag stops torch warning that it was called outside step()
    scheduler._get_lr_called_within_step = True
    try:
        scheduler.get_lr()
    finally:
        scheduler._get_lr_called_within_step = False


def _torch_scheduler(cls: type) -> type | None:
    """The torch scheduler a drop-in class derives from (``None`` for a mixin)."""
    return next(
        (c for c in cls.__mro__ if c.__module__ == LRScheduler.__module__ and c is not LRScheduler),
        None,
    )


class ExactResume(LRScheduler):
    """Mixin: ``load_state_dict`` also restores the optimizer's LRs, so resuming is exact.

    After loading, ``optimizer.param_groups[i]["lr"]`` equals the LR the saved run had at that
    point, whether or not the optimizer's own state was restored, and whether the scheduler was
    built before or after ``optimizer.load_state_dict``. Place it first among the bases so that
    its ``load_state_dict`` wraps torch's.

    Example:
        >>> import torch
        >>> from torch.optim import lr_scheduler
        >>> class StepLR(ExactResume, lr_scheduler.StepLR):
        ...     pass
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        >>> sched = StepLR(opt, step_size=1, gamma=0.5)
        >>> for _ in range(2):
        ...     opt.step()
        ...     sched.step()
        >>> fresh = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        >>> StepLR(fresh, step_size=1, gamma=0.5).load_state_dict(sched.state_dict())
        >>> fresh.param_groups[0]["lr"]  # torch's own StepLR leaves 0.1 here
        0.025
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A drop-in shows torch's constructor signature (``help()``, IDEs, and tools that build
        a scheduler from its arguments, such as LightningCLI), not ``(*args, **kwargs)``."""
        super().__init_subclass__(**kwargs)
        parent = _torch_scheduler(cls)
        if parent is not None and "__init__" not in vars(cls):
            cls.__signature__ = inspect.signature(parent)  # type: ignore[attr-defined]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """torch's constructor; ``last_epoch=N`` resumes exactly instead of failing or drifting.

        torch raises ``KeyError: 'initial_lr'`` for ``last_epoch >= 0`` on an optimizer whose
        state was not restored (pytorch #65342), and its recursive formulas (and SequentialLR,
        #162591) continue from whatever LR the optimizer holds (#60265). Here the scheduler is
        built at epoch 0 from each group's ``initial_lr`` (or its ``lr`` when there is none) and
        stepped ``N + 1`` times: the state of an uninterrupted run whose ``last_epoch`` is
        ``N + 1``, as torch's constructor defines it, to the last bit of the recursive formulas
        (a closed form would differ there). That takes some seconds per million steps (4 to
        10 on a CPU core, by the scheduler); ``load_state_dict`` resumes at once.
        """
        parent = _torch_scheduler(type(self))
        assert parent is not None, "a drop-in derives from one of torch's schedulers"
        signature = inspect.signature(parent)
        bound = signature.bind(*args, **kwargs)  # as given: torch warns on some defaults passed
        every = signature.bind(*args, **kwargs)
        every.apply_defaults()
        check_arguments(parent.__name__, every.arguments)
        bound.arguments.update(torch_values(parent.__name__, bound.arguments))
        last_epoch = bound.arguments.get("last_epoch", -1)
        if last_epoch == -1:
            super().__init__(*bound.args, **bound.kwargs)
            return
        if not whole(last_epoch) or float(last_epoch) < -1:
            raise ConfigError(f"last_epoch must be an integer >= -1, got {last_epoch!r}.")
        last_epoch = int(float(last_epoch))
        optimizer = bound.arguments["optimizer"]
        for group in optimizer.param_groups:
            lr = group["lr"]
            group.setdefault("initial_lr", lr.clone() if isinstance(lr, Tensor) else lr)
        restore_lrs(optimizer, [group["initial_lr"] for group in optimizer.param_groups])
        bound.arguments["last_epoch"] = -1
        super().__init__(*bound.args, **bound.kwargs)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_ORDER_WARNING, category=UserWarning)
            for _ in range(last_epoch + 1):
                self.step()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Loads the scheduler's state, then writes its last LRs into the optimizer.

        Args:
            state_dict: A dict returned by :meth:`state_dict`, possibly from another process.
        """
        # a copy: torch's CyclicLR pops a key from the dict it is given, so that loading the
        # same checkpoint twice (two schedulers, a retry) failed with a KeyError
        super().load_state_dict(dict(state_dict))
        # A state saved by a torch older than 1.4 has no _last_lr: nothing to write back.
        last_lr = getattr(self, "_last_lr", None)
        if last_lr is not None:
            restore_lrs(self.optimizer, last_lr)


class ResumableSchedule(ExactResume):
    """Mixin for schedulers stepped by ``LRScheduler.step``: exact resume, no false order warning.

    torch warns "Detected call of ``lr_scheduler.step()`` before ``optimizer.step()``" on the
    first step when the optimizer has not stepped yet. With mixed precision that is the normal
    case, not a mistake: ``GradScaler`` skips ``optimizer.step()`` while it calibrates its scale
    (the default scale of 65536 overflows on the first steps), and the schedule must advance
    anyway. The scheduler cannot tell a skipped step from a wrong call order, so the warning is
    dropped; nothing else about ``step`` changes.

    Example:
        >>> import torch
        >>> from torch.optim import lr_scheduler
        >>> class ExponentialLR(ResumableSchedule, lr_scheduler.ExponentialLR):
        ...     pass
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        >>> sched = ExponentialLR(opt, gamma=0.5)
        >>> sched.step()  # the optimizer step was skipped: no warning
        >>> sched.get_last_lr()
        [0.05]
    """

    def step(self, epoch: int | None = None) -> None:
        """Advances the schedule by one step, as torch's ``step`` does.

        Args:
            epoch: Deprecated in torch; passed through unchanged.
        """
        if self._step_count != 1:
            super().step(epoch)
            return
        # Only the first call can warn, so only it pays for the filter (and its global state).
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_ORDER_WARNING, category=UserWarning)
            super().step(epoch)
