"""ReduceLROnPlateau as a drop-in for torch's: exact resume, ``verbose=True``, finite metrics."""

from __future__ import annotations

import math
from typing import Any, Literal, SupportsFloat

from torch.optim import Optimizer, lr_scheduler

from lrkit.errors import ConfigError, bad_value
from lrkit.schedules.dropin_resume import ExactResume


class ReduceLROnPlateau(ExactResume, lr_scheduler.ReduceLROnPlateau):
    """Multiplies the LR by ``factor`` when a metric stops improving for ``patience`` epochs.

    torch's ``ReduceLROnPlateau`` (same arguments, same LRs) with three changes:

    - resume is exact: ``best``, ``num_bad_epochs``, ``cooldown_counter`` and the reduced LRs all
      come back from ``state_dict``, even into a freshly built optimizer;
    - ``verbose=True`` prints torch's old message on each reduction (torch 2.13 rejects the
      argument): ``Epoch 00012: reducing learning rate of group 0 to 1.0000e-03.``;
    - a NaN or infinite metric raises :class:`~lrkit.errors.ConfigError` instead of silently
      counting as "no improvement" and, after ``patience`` such steps, cutting the LR.

    Args:
        optimizer: The wrapped optimizer.
        mode: ``"min"`` when lower metrics are better, ``"max"`` otherwise.
        factor: Multiplier applied on a reduction, < 1.
        patience: Epochs without improvement tolerated before reducing.
        threshold: Minimum change that counts as an improvement.
        threshold_mode: ``"rel"`` (relative to the best) or ``"abs"``.
        cooldown: Epochs to wait after a reduction before counting bad epochs again.
        min_lr: Lower bound on the LR, one value or one per param group.
        eps: Reductions smaller than this are skipped.
        verbose: Print a message on each reduction.

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.01)
        >>> sched = ReduceLROnPlateau(opt, mode="min", factor=0.1, patience=1, verbose=True)
        >>> for val_loss in [1.0, 1.0, 1.0]:
        ...     sched.step(val_loss)
        Epoch 00003: reducing learning rate of group 0 to 1.0000e-03.
        >>> sched.get_last_lr()
        [0.001]
    """

    def __init__(
        self,
        optimizer: Optimizer,
        mode: Literal["min", "max"] = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: Literal["rel", "abs"] = "rel",
        cooldown: int = 0,
        min_lr: list[float] | float = 0,
        eps: float = 1e-8,
        verbose: bool = False,
    ) -> None:
        super().__init__(
            optimizer,
            mode=mode,
            factor=factor,
            patience=patience,
            threshold=threshold,
            threshold_mode=threshold_mode,
            cooldown=cooldown,
            min_lr=min_lr,
            eps=eps,
        )
        if not isinstance(verbose, bool):
            raise bad_value("verbose", "True or False", verbose)
        # Not `self.verbose`: torch versions that still took the argument read that attribute in
        # _reduce_lr and would print every message twice.
        self.print_reductions = verbose

    def state_dict(self) -> dict[str, Any]:
        """The scheduler's state, with the same keys as torch's (so either can load it)."""
        state = super().state_dict()
        # Printing is a choice of the process that runs, not training state to resume.
        state.pop("print_reductions", None)
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Loads the state and writes the (possibly reduced) LRs back into the optimizer."""
        print_reductions = self.print_reductions
        super().load_state_dict(state_dict)
        self.print_reductions = print_reductions

    def step(self, metrics: SupportsFloat, epoch: int | None = None) -> None:  # type: ignore[override]
        """Records one value of the monitored metric and reduces the LR if it has plateaued.

        Args:
            metrics: The monitored value, e.g. the validation loss (a float or 1-element tensor).
            epoch: Deprecated in torch; passed through unchanged.

        Raises:
            ConfigError: If ``metrics`` is NaN or infinite, or a tensor of more than one element
                (a ValueError, as torch raises there).
            TypeError: If ``metrics`` cannot be converted to a float, or is text.
        """
        try:
            if isinstance(metrics, (str, bytes)):  # float() would read "0.5" without a word
                raise TypeError
            current = float(metrics)
        except (TypeError, ValueError) as exc:
            # the kind torch raises (code around torch's catches it), in lrkit's words
            kind = ConfigError if isinstance(exc, ValueError) else TypeError
            shape = getattr(metrics, "shape", None)
            got = type(metrics).__name__ + (f" of shape {tuple(shape)}" if shape else "")
            raise kind(f"metrics must be a number or a one-element tensor, got {got}.") from exc
        if not math.isfinite(current):
            raise bad_value(
                "metrics",
                "a finite number (a NaN/inf loss means training diverged: "
                "restore a checkpoint or lower the LR rather than stepping the scheduler)",
                metrics,
            )
        super().step(current, epoch)

    def _reduce_lr(self, epoch: int) -> None:
        before = [float(group["lr"]) for group in self.optimizer.param_groups]
        super()._reduce_lr(epoch)
        if not self.print_reductions:
            return
        for i, (group, old_lr) in enumerate(zip(self.optimizer.param_groups, before, strict=True)):
            new_lr = float(group["lr"])
            # torch skips reductions smaller than eps (or below min_lr): say nothing for those.
            if new_lr != old_lr:
                epoch_str = f"{epoch:05d}" if isinstance(epoch, int) else f"{epoch:.2f}"
                print(f"Epoch {epoch_str}: reducing learning rate of group {i} to {new_lr:.4e}.")
