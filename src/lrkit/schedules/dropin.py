"""Exact drop-in replacements for every scheduler in ``torch.optim.lr_scheduler``.

Each class subclasses torch's own, so it takes the same constructor arguments, gives bit-identical
LRs in an uninterrupted run, and stays an ``isinstance`` of ``LRScheduler`` (which Lightning and
the Hugging Face Trainer check). Only what breaks on resume is changed (see
:mod:`lrkit.schedules.dropin_resume`):

- ``load_state_dict`` writes the saved LRs back into the optimizer, so a checkpoint resumes
  exactly without the optimizer's state, and in either construction order (torch: pytorch#29697);
- the cycling schedulers also restore the momentum / beta1 they cycle;
- ``SequentialLR`` and ``ChainedScheduler`` restore their children, then the LR they set last;
- no false "``lr_scheduler.step()`` before ``optimizer.step()``" warning after a GradScaler skip;
- ``ReduceLROnPlateau`` takes ``verbose=True`` again and rejects NaN / inf / text metrics;
- arguments torch accepts and then mishandles (``step_size=0``, a negative ``gamma``,
  ``T_max=0``, ``factor=0``...) are refused when the scheduler is built, with a ConfigError
  naming them (:mod:`lrkit.schedules.dropin_checks`);
- a NumPy number or a one-element tensor where torch checks for an ``int`` or ``float``
  (``T_0=np.int64(10)``, ``total_steps``, ``pct_start=1``) is handed to torch as that Python
  number, with the LRs torch gives for it.

Switching is a one-line change::

    from lrkit.schedules.dropin import StepLR  # was: from torch.optim.lr_scheduler import StepLR
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torch.optim import lr_scheduler

from lrkit.errors import add_note
from lrkit.schedules.dropin_composite import ChainedScheduler, SequentialLR
from lrkit.schedules.dropin_plateau import ReduceLROnPlateau
from lrkit.schedules.dropin_resume import (
    ExactResume,
    ResumableSchedule,
    rewrite_cycled_momentum,
)

if TYPE_CHECKING:
    from torch import Tensor

__all__ = [
    "ChainedScheduler",
    "ConstantLR",
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "CyclicLR",
    "ExponentialLR",
    "LambdaLR",
    "LinearLR",
    "MultiStepLR",
    "MultiplicativeLR",
    "OneCycleLR",
    "PolynomialLR",
    "ReduceLROnPlateau",
    "SequentialLR",
    "StepLR",
]


class LambdaLR(ResumableSchedule, lr_scheduler.LambdaLR):
    """``lr = base_lr * lr_lambda(epoch)``; torch's ``LambdaLR`` with exact resume.

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.01)
        >>> sched = LambdaLR(opt, lr_lambda=lambda epoch: 1.0 if epoch < 50 else 0.1)
        >>> for _ in range(50):
        ...     opt.step()
        ...     sched.step()
        >>> sched.get_last_lr()  # lr = 0.01 if epoch < 50, 0.001 after
        [0.001]
    """


class MultiplicativeLR(ResumableSchedule, lr_scheduler.MultiplicativeLR):
    """``lr *= lr_lambda(epoch)`` each step; torch's ``MultiplicativeLR`` with exact resume.

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        >>> sched = MultiplicativeLR(opt, lr_lambda=lambda epoch: 0.5)
        >>> for _ in range(2):
        ...     opt.step()
        ...     sched.step()
        >>> sched.get_last_lr()  # 0.1 * 0.5 * 0.5
        [0.025]
    """


class StepLR(ResumableSchedule, lr_scheduler.StepLR):
    """``lr = base_lr * gamma ** (epoch // step_size)``; torch's ``StepLR`` with exact resume.

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.05)
        >>> sched = StepLR(opt, step_size=30, gamma=0.1)
        >>> for _ in range(30):
        ...     opt.step()
        ...     sched.step()
        >>> [round(lr, 10) for lr in sched.get_last_lr()]  # lr = 0.005 if 30 <= epoch < 60
        [0.005]
    """


class MultiStepLR(ResumableSchedule, lr_scheduler.MultiStepLR):
    """``lr`` times ``gamma`` at each milestone (repeats count twice, 0 counts at once).

    torch's ``MultiStepLR`` with exact resume.

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.05)
        >>> sched = MultiStepLR(opt, milestones=[30, 80], gamma=0.1)
        >>> for _ in range(80):
        ...     opt.step()
        ...     sched.step()
        >>> [round(lr, 10) for lr in sched.get_last_lr()]  # lr = 0.0005 if epoch >= 80
        [0.0005]
    """


class ConstantLR(ResumableSchedule, lr_scheduler.ConstantLR):
    """``lr = base_lr * factor`` until ``total_iters``, then ``base_lr``; with exact resume.

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.05)
        >>> sched = ConstantLR(opt, factor=0.5, total_iters=4)
        >>> sched.get_last_lr()  # lr = 0.025 if epoch < 4, 0.05 after
        [0.025]
    """


class LinearLR(ResumableSchedule, lr_scheduler.LinearLR):
    """LR factor moves linearly from ``start_factor`` to ``end_factor``; with exact resume.

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.05)
        >>> sched = LinearLR(opt, start_factor=0.5, total_iters=4)
        >>> for _ in range(2):
        ...     opt.step()
        ...     sched.step()
        >>> [round(lr, 10) for lr in sched.get_last_lr()]  # 0.025, 0.03125, 0.0375, ...
        [0.0375]
    """


class ExponentialLR(ResumableSchedule, lr_scheduler.ExponentialLR):
    """``lr = base_lr * gamma ** epoch``; torch's ``ExponentialLR`` with exact resume.

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        >>> sched = ExponentialLR(opt, gamma=0.5)
        >>> for _ in range(3):
        ...     opt.step()
        ...     sched.step()
        >>> sched.get_last_lr()
        [0.0125]
    """


class PolynomialLR(ResumableSchedule, lr_scheduler.PolynomialLR):
    """``lr = base_lr * (1 - epoch / total_iters) ** power``, then 0; with exact resume.

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        >>> sched = PolynomialLR(opt, total_iters=4, power=2.0)
        >>> for _ in range(2):
        ...     opt.step()
        ...     sched.step()
        >>> [round(lr, 10) for lr in sched.get_last_lr()]  # 0.1 * (1 - 2 / 4) ** 2
        [0.025]
    """


class CosineAnnealingLR(ResumableSchedule, lr_scheduler.CosineAnnealingLR):
    """Cosine from ``base_lr`` down to ``eta_min`` over ``T_max`` steps; with exact resume.

    Past ``T_max`` it climbs back up, as torch's does.

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        >>> sched = CosineAnnealingLR(opt, T_max=10, eta_min=0.001)
        >>> for _ in range(5):
        ...     opt.step()
        ...     sched.step()
        >>> [round(lr, 10) for lr in sched.get_last_lr()]  # half way: (0.1 + 0.001) / 2
        [0.0505]
    """


class CosineAnnealingWarmRestarts(ExactResume, lr_scheduler.CosineAnnealingWarmRestarts):
    """Cosine from ``base_lr`` to ``eta_min``, restarting after ``T_0``, ``T_0 * T_mult``, ...

    torch's ``CosineAnnealingWarmRestarts`` with exact resume (its ``step`` never warns).

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        >>> sched = CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=2)
        >>> lrs = []
        >>> for _ in range(6):
        ...     opt.step()
        ...     sched.step()
        ...     lrs.append(round(sched.get_last_lr()[0], 10))
        >>> lrs  # restarts at steps 2 and 6
        [0.05, 0.1, 0.0853553391, 0.05, 0.0146446609, 0.1]
    """


class _CycledMomentumResume(ResumableSchedule):
    """Also restores the momentum (or Adam's beta1) that a cycling scheduler sets each step."""

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Loads the state, the LRs and the momentum the saved run had at this step."""
        super().load_state_dict(state_dict)
        rewrite_cycled_momentum(self)


class CyclicLR(_CycledMomentumResume, lr_scheduler.CyclicLR):
    """Triangular cycles between ``base_lr`` and ``max_lr`` (Smith, 2015); with exact resume.

    Modes ``triangular``, ``triangular2`` (amplitude halves each cycle) and ``exp_range``;
    momentum is cycled inversely and restored on resume too.

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
        >>> sched = CyclicLR(opt, base_lr=0.01, max_lr=0.1, step_size_up=2)
        >>> lrs = []
        >>> for _ in range(4):
        ...     opt.step()
        ...     sched.step()
        ...     lrs.append(round(sched.get_last_lr()[0], 10))
        >>> lrs
        [0.055, 0.1, 0.055, 0.01]
    """


class OneCycleLR(_CycledMomentumResume, lr_scheduler.OneCycleLR):
    """The 1cycle policy: warm up to ``max_lr``, anneal far below the start; exact resume.

    Supports ``three_phase`` and both ``anneal_strategy`` values (``'cos'``, ``'linear'``);
    momentum (or Adam's beta1) is cycled inversely and restored on resume too.

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
        >>> sched = OneCycleLR(opt, max_lr=0.1, total_steps=10, anneal_strategy="linear")
        >>> sched.get_last_lr()  # starts at max_lr / div_factor = 0.1 / 25
        [0.004]
        >>> for _ in range(2):
        ...     opt.step()
        ...     sched.step()
        >>> [round(lr, 10) for lr in sched.get_last_lr()]  # peak at step pct_start * 10 - 1
        [0.1]

    Stepped past ``total_steps`` it raises torch's ``ValueError``, as torch's does, with a note
    on lrkit's schedule that holds its last LR there instead (pytorch #38170).
    """

    def get_lr(self) -> list[float | Tensor]:
        try:
            return super().get_lr()
        except ValueError as error:
            if "Tried to step" in str(error):
                add_note(error, ONE_CYCLE_PAST_END)
            raise


ONE_CYCLE_PAST_END = (
    "lrkit: its own one-cycle schedule holds its last LR past the end instead (pytorch #38170): "
    "lrkit.schedules.bind(optimizer, 'onecycle:TOTAL_STEPS'), the optimizer's lr being the "
    "peak (max_lr); or give OneCycleLR the total_steps the run takes."
)
