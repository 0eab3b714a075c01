"""SequentialLR and ChainedScheduler as drop-ins for torch's, resuming exactly.

torch's composites load each child's state, and each child's state holds the LR that child set
last, which for an idle child is stale. Loading therefore ends by writing the composite's own
last LRs into the optimizer: that is the LR an uninterrupted run has there.
"""

from __future__ import annotations

from typing import Any

from torch.optim import lr_scheduler

from lrkit.errors import ConfigError
from lrkit.schedules.dropin_resume import ExactResume


class SequentialLR(ExactResume, lr_scheduler.SequentialLR):
    """Runs ``schedulers[i]`` from ``milestones[i - 1]`` on; torch's ``SequentialLR``, exact resume.

    Each child restarts from its own epoch 0 at its milestone. Resume is exact across milestones
    and without the optimizer's state; use lrkit children (or torch's) built on the same optimizer.

    Example:
        >>> import torch
        >>> from lrkit.schedules.dropin import ConstantLR, ExponentialLR
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.05)
        >>> warm = ConstantLR(opt, factor=0.1, total_iters=2)
        >>> decay = ExponentialLR(opt, gamma=0.9)
        >>> sched = SequentialLR(opt, schedulers=[warm, decay], milestones=[2])
        >>> lrs = []
        >>> for _ in range(4):
        ...     lrs.append(round(sched.get_last_lr()[0], 10))
        ...     opt.step()
        ...     sched.step()
        >>> lrs  # lr = 0.005 if epoch < 2, then 0.05 * 0.9 ** (epoch - 2)
        [0.005, 0.005, 0.05, 0.045]
    """


class ChainedScheduler(ExactResume, lr_scheduler.ChainedScheduler):
    """Steps every child on each step, their factors multiplying; torch's, with exact resume.

    Example:
        >>> import torch
        >>> from lrkit.schedules.dropin import ConstantLR, ExponentialLR
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        >>> warm = ConstantLR(opt, factor=0.1, total_iters=2)
        >>> decay = ExponentialLR(opt, gamma=0.9)
        >>> sched = ChainedScheduler([warm, decay], optimizer=opt)
        >>> lrs = []
        >>> for _ in range(4):
        ...     lrs.append(round(sched.get_last_lr()[0], 10))
        ...     opt.step()
        ...     sched.step()
        >>> lrs  # 0.1 * 0.9 ** epoch until epoch 2, then 0.9 ** epoch
        [0.1, 0.09, 0.81, 0.729]

    Raises:
        ConfigError: A child is a bound lrkit schedule (``ScheduledLR``): it sets the LR
            outright each step instead of multiplying, so the product would be wrong; write
            the product in its spec instead (``"cosine:100 * exponential:0.99"``).
    """

    def __init__(self, schedulers: Any, optimizer: Any = None) -> None:
        from lrkit.schedules.bound import ScheduledLR

        children = list(schedulers)

        def bound_in(scheduler: Any) -> Any:
            """A bound lrkit schedule in ``scheduler``, or inside a SequentialLR of it."""
            if isinstance(scheduler, ScheduledLR):
                return scheduler
            inner = getattr(scheduler, "_schedulers", None)
            if isinstance(scheduler, lr_scheduler.SequentialLR) and inner is not None:
                return next((b for b in map(bound_in, inner) if b is not None), None)
            return None

        for i, child in enumerate(children):
            found = bound_in(child)
            if found is not None:
                where = "" if found is child else ", inside a SequentialLR"
                raise ConfigError(
                    f"schedulers[{i}] must be a torch scheduler that multiplies the LR, got a "
                    f"bound lrkit schedule ({found.schedule.to_spec()!r}{where}), which sets "
                    "it outright; write the product in one spec instead, such as "
                    "'cosine:100 * exponential:0.99'."
                )
        if optimizer is None:  # torch before 2.2 takes no optimizer argument
            super().__init__(children)
        else:
            super().__init__(children, optimizer=optimizer)
