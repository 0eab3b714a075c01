"""Binding a native schedule to a torch optimizer, as a real torch ``LRScheduler``.

The bound scheduler keeps one counter (``last_epoch``: how many times ``step()`` was called) and
the plateau counts; every LR is recomputed from the pure schedule, so a resumed run gets exactly
the LRs of an uninterrupted one, whatever state the optimizer was restored to.
"""

from __future__ import annotations

import copy
import functools
import math
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar

import torch
from torch.optim.lr_scheduler import LRScheduler

from lrkit.checks import check_flag, plain, whole_number
from lrkit.errors import ConfigError, bad_value
from lrkit.plaintext import lr_text
from lrkit.schedules.base import TICK, Schedule
from lrkit.schedules.plateau import PlateauTracker, finite_metric
from lrkit.schedules.spec import parse
from lrkit.stacklevel import caller_level

if TYPE_CHECKING:
    from lrkit.checks import Whole

FLOAT32_MAX = float(torch.finfo(torch.float32).max)

Unit = Literal["step", "epoch"]
P = ParamSpec("P")
R = TypeVar("R")


def _not_traced(method: Callable[P, R]) -> Callable[P, R]:
    """``method`` run as it is inside a ``torch.compile``'d function (torch's recipe for a
    compiled optimizer with a scheduler), not traced: traced, a schedule's position is a
    constant, and every call compiled a graph again. Outside one it is called straight, after
    one check (0.1-0.3 us; ``torch.compiler.disable`` would import torch._dynamo with lrkit,
    a second, and cost 4 us a call)."""

    @functools.wraps(method)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        if not torch.compiler.is_compiling():
            return method(*args, **kwargs)
        return torch.compiler.disable(method)(*args, **kwargs)

    return run


class ScheduledLR(LRScheduler):
    """A native schedule driving an optimizer; works wherever torch schedulers work.

    Each param group follows the schedule from its own base LR (its ``initial_lr``), so the
    ratios between groups are kept. Call ``step()`` once per unit: after each optimizer step
    (``unit="step"``), or once per epoch (``unit="epoch"``). With ``unit="epoch"`` and
    ``steps_per_epoch=N``, call ``step()`` after every optimizer step and the schedule moves by
    ``1 / N`` epoch each time (lengths stay in epochs, the LR changes smoothly). Plateau phases
    take a metric through ``report(value)`` or ``step(value)``.

    Unlike torch's schedulers it never warns "lr_scheduler.step() before optimizer.step()":
    that warning is false when a GradScaler skipped a step because of inf gradients.

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
        >>> sched = bind(opt, "warmup:2 > cosine:4", unit="step")
        >>> lrs = []
        >>> for _ in range(6):
        ...     lrs.append(round(sched.get_last_lr()[0], 4))
        ...     opt.step()
        ...     sched.step()
        >>> lrs
        [0.0333, 0.0667, 0.1, 0.0854, 0.05, 0.0146]
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        schedule: Schedule | str,
        *,
        unit: Unit = "step",
        steps_per_epoch: Whole | None = None,
        verbose: bool = True,
    ) -> None:
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(
                f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}."
            )
        if unit not in ("step", "epoch"):
            raise ConfigError(f"unit must be 'step' or 'epoch', got {unit!r}.")
        check_flag("verbose", verbose)
        steps_per_epoch = None if steps_per_epoch is None else plain(steps_per_epoch)
        if steps_per_epoch is not None:
            if unit != "epoch":
                raise ConfigError(
                    f"steps_per_epoch only applies with unit='epoch', got unit={unit!r} and "
                    f"steps_per_epoch={steps_per_epoch!r}."
                )
            steps_per_epoch = whole_number("steps_per_epoch", steps_per_epoch)
        self.optimizer = optimizer
        self.schedule = parse(schedule) if isinstance(schedule, str) else schedule
        if not isinstance(self.schedule, Schedule):
            raise TypeError(
                "schedule must be an lrkit Schedule or a spec string, "
                f"got {type(schedule).__name__}."
            )
        self.unit: Unit = unit
        self.steps_per_epoch = steps_per_epoch
        self.verbose = verbose
        self.plateau = PlateauTracker()
        # whether a plateau phase stepped without any metric is watched (_watch_unfed): no more
        # once a metric came or the warning was given; and where it was first stepped so
        self._watching = True
        self._unfed_from: float | None = None
        self.base_lrs: list[float | torch.Tensor] = []
        self.last_epoch = 0
        self._step_count = 1
        _warn_of_a_set_lr(optimizer)
        self._apply()
        from lrkit.schedules.floors import floor_warnings

        bases = {float(b) for b in self.base_lrs if float(b) > 0}
        for message in dict.fromkeys(
            m for b in sorted(bases) for m in floor_warnings(self.schedule, b)
        ):
            warnings.warn(message, UserWarning, stacklevel=caller_level())
        if isinstance(optimizer, torch.optim.Rprop):  # as the range test refuses it
            warnings.warn(
                "Rprop reads lr only to start each parameter's step size, then adapts the step "
                "sizes itself: a schedule bound to it changes nothing after the first step. "
                "Schedule an optimizer that applies its lr at every step (SGD, Adam), or leave "
                "Rprop unscheduled.",
                UserWarning,
                stacklevel=caller_level(),
            )

    def __repr__(self) -> str:
        """The schedule's spec, its unit and how many times it was stepped.

        Example:
            >>> import torch
            >>> opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
            >>> bind(opt, "cosine:50", unit="epoch")
            ScheduledLR('cosine:steps=50', unit='epoch', last_epoch=0)
        """
        per_epoch = f", steps_per_epoch={self.steps_per_epoch}" if self.steps_per_epoch else ""
        return (
            f"{type(self).__name__}({self.schedule.to_spec()!r}, unit={self.unit!r}{per_epoch}, "
            f"last_epoch={self.last_epoch})"
        )

    @property
    def position(self) -> float:
        """Where the schedule stands, in its own unit (fractional with ``steps_per_epoch``)."""
        if self.steps_per_epoch:
            return self.last_epoch / self.steps_per_epoch
        return float(self.last_epoch)

    def get_lr(self) -> list[float | torch.Tensor]:
        """The LRs for the current position, one per param group."""
        for group in self.optimizer.param_groups[len(self.base_lrs) :]:
            # Groups added after binding (transformers #20029) join from their own LR.
            lr = group["lr"]  # a tensor LR is set in place: its start must be a copy
            group.setdefault("initial_lr", lr.clone() if isinstance(lr, torch.Tensor) else lr)
            self.base_lrs.append(float(group["initial_lr"]))
        t, red = self.position, self.plateau.reductions
        # one step() is a batch: a warmup's first step is one batch in, not one epoch
        tick = TICK.set(1.0 / self.steps_per_epoch if self.steps_per_epoch else 1.0)
        try:  # a group at LR 0 is frozen on purpose: keep it there
            return [
                self.schedule(t, float(base), reductions=red) if float(base) > 0 else 0.0
                for base in self.base_lrs
            ]
        finally:
            TICK.reset(tick)

    @_not_traced
    def step(self, metrics: Any = None, epoch: None = None) -> None:  # type: ignore[override]
        """Advances one unit; a given metric is reported first (as ReduceLROnPlateau does)."""
        if epoch is not None:
            raise ConfigError("epoch must not be given: lrkit schedules count their own steps.")
        if metrics is not None:
            self.report(metrics)
        elif self.unit == "epoch" and self._watching:
            self._watch_unfed()
        self.last_epoch += 1
        self._step_count += 1
        self._apply()

    def __copy__(self) -> ScheduledLR:
        """A shallow copy, on the same optimizer, with plateau counts of its own (as a copy of
        torch's ReduceLROnPlateau has): stepping it does not move this one's."""
        copied = type(self).__new__(type(self))
        copied.__dict__.update(self.__dict__)
        copied.plateau = copy.copy(self.plateau)
        return copied

    def report(self, metric: Any) -> bool:
        """Feeds one metric value to the active plateau phase; returns True if the LR dropped.

        Reports made while no plateau phase is active (during a warmup, say) are ignored.

        Raises:
            ConfigError: the metric is NaN or infinite.
        """
        value = finite_metric(metric)
        plateau = self.schedule.plateau_at(self.position)
        if plateau is None:
            return False
        self._watching = False  # fed: the plateau phase is watched no longer
        before = list(self._last_lr)
        if not self.plateau.update(value, plateau):
            return False
        self._apply()
        if self.verbose:
            # numbered as torch's message: the 1-based count of this step() call, in its unit
            count = self.last_epoch + 1
            if self.unit == "step":
                when = f"Step {count:05d}"
            elif self.steps_per_epoch:  # step() is called per optimizer step
                when = f"Epoch {count / self.steps_per_epoch:.2f}"
            else:
                when = f"Epoch {count:05d}"
            for i, (old, new) in enumerate(zip(before, self._last_lr)):
                if float(old) - float(new) > 1e-12 * max(abs(float(old)), 1e-300):
                    print(f"{when}: reducing learning rate of group {i} to {float(new):.4e}.")
        return True

    def _watch_unfed(self) -> None:
        """Warns, once, when a plateau phase has run past its patience in epochs and no metric
        ever came: its LR cannot drop. Lightning and the Hugging Face Trainer step a scheduler
        without one unless it is torch's ReduceLROnPlateau (QA 110), where torch's own step()
        would raise. Epochs only: with ``unit="step"`` the metric may come every 500 steps."""
        plateau = self.schedule.plateau_at(self.position)
        if plateau is None:
            return
        if self._unfed_from is None:
            self._unfed_from = self.position
        if self.position - self._unfed_from < plateau.patience + 1:
            return
        self._watching = False
        warnings.warn(
            f"{type(self).__name__}.step() was called for {plateau.patience + 1} epochs of the "
            f"plateau phase of {self.schedule.to_spec()!r} and no metric has come yet: without "
            "one its LR cannot drop. Pass the metric (scheduler.step(val_loss)) or call "
            "scheduler.report(val_loss) before step(); in Lightning, return the scheduler with "
            '"reduce_on_plateau": True and "monitor": "val_loss" in its config. (A metric '
            "that comes less often than that is taken when it comes.)",
            UserWarning,
            stacklevel=3,
        )

    def _apply(self) -> None:
        values = self.get_lr()
        for i, lr in enumerate(values):  # an overflow (exponential:1.5) must not train at inf
            if not abs(float(lr)) <= FLOAT32_MAX:  # past it, torch's optimizers overflow too
                base = lr_text(float(self.base_lrs[i]))
                raise ConfigError(
                    f"schedule {self.schedule.to_spec()!r} must give a finite learning rate (one "
                    f"a float32 holds), got {float(lr)} for param group {i} (base lr {base}) at "
                    f"{self.unit} {self.position:g}; use parameters that keep it finite over "
                    "the run."
                )
        for group, lr in zip(self.optimizer.param_groups, values):
            if isinstance(group["lr"], torch.Tensor):
                group["lr"].fill_(lr)
            else:
                group["lr"] = lr
        written = [float(v) for v in values]
        self._last_lr = list(written)
        _record_written(self.optimizer, written)

    def state_dict(self) -> dict[str, Any]:
        """Plain data: the schedule's config, the counter, base LRs and plateau counts."""
        return {
            "schedule": self.schedule.to_dict(),
            "unit": self.unit,
            "steps_per_epoch": self.steps_per_epoch,
            "last_epoch": self.last_epoch,
            "base_lrs": [float(b) for b in self.base_lrs],
            "plateau": self.plateau.state_dict(),
            "_step_count": self._step_count,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores the position and writes the matching LRs into the optimizer right away."""
        _check_state(state_dict)
        saved = state_dict.get("schedule")
        if saved is None:  # a torch scheduler's state_dict, say (QA 110): taken, with a word
            warnings.warn(
                f"Resuming from a state_dict that holds no schedule (a torch scheduler's, not a "
                f"bound schedule's?): this scheduler takes its step ({state_dict['last_epoch']}) "
                f"and base LRs, and runs {self.schedule.to_spec()!r} from there.",
                UserWarning,
                stacklevel=2,
            )
        elif saved != self.schedule.to_dict():
            warnings.warn(
                f"Resuming a different schedule: the checkpoint holds {saved!r}, this scheduler "
                f"runs {self.schedule.to_dict()!r}. Its LRs follow the new schedule.",
                UserWarning,
                stacklevel=2,
            )
        if (
            state_dict.get("unit", self.unit) != self.unit
            or state_dict.get("steps_per_epoch", self.steps_per_epoch) != self.steps_per_epoch
        ):
            raise ConfigError(
                f"unit/steps_per_epoch must match the checkpoint's "
                f"({state_dict.get('unit')!r}, {state_dict.get('steps_per_epoch')!r}), got "
                f"({self.unit!r}, {self.steps_per_epoch!r})."
            )
        groups, saved_bases = len(self.optimizer.param_groups), state_dict["base_lrs"]
        if len(saved_bases) != groups:
            raise ConfigError(
                f"the saved scheduler state must hold one base LR per param group ({groups}), "
                f"got {len(saved_bases)}; build the optimizer with the same param groups as the "
                "saved run."
            )
        self.last_epoch = int(state_dict["last_epoch"])
        self._step_count = int(state_dict.get("_step_count", self.last_epoch + 1))
        self.base_lrs = [float(b) for b in saved_bases]
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["initial_lr"] = base
        self.plateau.load_state_dict(state_dict.get("plateau", {}))
        # a checkpoint whose plateau has a best was fed before: not watched; else from here
        self._watching, self._unfed_from = self.plateau.best is None, None
        self._apply()


WRITTEN = "_lrkit_written_lrs"
"""The optimizer's attribute that holds the LRs a bound schedule last set, one per group."""


def _record_written(optimizer: torch.optim.Optimizer, lrs: list[float]) -> None:
    """Keeps ``lrs`` (as computed: no read of a tensor LR, no host sync) for the next bind's
    check; an ``optimizer.load_state_dict`` keeps the LRs it loaded instead, as a checkpoint's
    LRs are no hand's (one read per load), and an LR set by hand after it is still seen."""
    if not hasattr(optimizer, WRITTEN):  # the first write: the hook once per optimizer
        optimizer.register_load_state_dict_post_hook(_record_loaded)
    setattr(optimizer, WRITTEN, lrs)


def _record_loaded(optimizer: torch.optim.Optimizer) -> None:
    setattr(optimizer, WRITTEN, [float(group["lr"]) for group in optimizer.param_groups])


def _warn_of_a_set_lr(optimizer: torch.optim.Optimizer) -> None:
    """Warns where a group's LR changed since a schedule bound before set it (by hand or by
    another scheduler; not by loading the optimizer's state, as resuming does): a new schedule
    scales the group's ``initial_lr`` (the earlier one's base), as torch's do, and an LR just
    set would be lost without a word (QA 137)."""
    written = getattr(optimizer, WRITTEN, None)
    if not isinstance(written, list):
        return
    for i, (group, before) in enumerate(zip(optimizer.param_groups, written)):  # groups added
        now = float(group["lr"])  # since are not compared
        # a tensor LR holds what was written rounded (float32): not a change
        moved = not math.isclose(now, before, rel_tol=1e-6)
        if "initial_lr" in group and moved and now != float(group["initial_lr"]):
            warnings.warn(
                f"param group {i}'s lr is {lr_text(now)}, not the {lr_text(before)} an earlier "
                f"lrkit schedule set; this schedule scales the group's initial_lr, "
                f"{lr_text(float(group['initial_lr']))}, as torch's schedulers do. If the lr was "
                "set to start from it, set group['initial_lr'] to it too before binding.",
                UserWarning,
                stacklevel=caller_level(),
            )
            return


def bind(
    optimizer: torch.optim.Optimizer,
    schedule: Schedule | str,
    *,
    unit: Unit = "step",
    steps_per_epoch: Whole | None = None,
    verbose: bool = True,
) -> ScheduledLR:
    """Attaches a native schedule (or a spec string) to an optimizer. See :class:`ScheduledLR`.

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
        >>> sched = bind(opt, "step:30,gamma=0.1", unit="epoch")
        >>> sched.get_last_lr()
        [0.1]
    """
    return ScheduledLR(
        optimizer, schedule, unit=unit, steps_per_epoch=steps_per_epoch, verbose=verbose
    )


def _check_state(state: Any) -> None:
    """Raises a ConfigError unless ``state`` is a scheduler's ``state_dict()``: a dict with
    ``last_epoch`` (a whole number >= -1) and ``base_lrs`` (finite LRs >= 0)."""
    what = "a scheduler's state_dict() (with last_epoch and base_lrs)"
    if not isinstance(state, dict) or "base_lrs" not in state or "last_epoch" not in state:
        keys = sorted(state)[:6] if isinstance(state, dict) else None
        got = f"a dict with keys {keys}" if keys is not None else repr(state)
        if keys is not None and "param_groups" in keys:
            got += " (an optimizer's state_dict, not its scheduler's)"
        raise ConfigError(f"state_dict must be {what}, got {got}.")
    last = state["last_epoch"]
    if isinstance(last, bool) or not isinstance(last, int) or last < -1:
        raise bad_value("state_dict['last_epoch']", "a whole number of steps >= -1", last)
    bases = state["base_lrs"]
    if not isinstance(bases, (list, tuple)) or not all(_rate(b) for b in bases):
        raise bad_value("state_dict['base_lrs']", "a list of finite learning rates >= 0", bases)
    if "_step_count" in state and not _count(state["_step_count"]):
        raise bad_value("state_dict['_step_count']", "a whole number >= 0", state["_step_count"])
    if "plateau" in state and not _plateau_counts(state["plateau"]):
        raise bad_value(
            "state_dict['plateau']",
            "the plateau counts a bound schedule saves (a dict of best, num_bad_epochs, "
            "cooldown_counter and reductions); load a state_dict() this scheduler saved",
            state["plateau"],
        )


def _count(value: Any) -> bool:
    """Whether ``value`` is a whole number >= 0 (an int, or a float such as ``3.0``)."""
    value = plain(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value) and value >= 0 and value == int(value)


def _plateau_counts(plateau: Any) -> bool:
    """Whether ``plateau`` reads as :meth:`PlateauTracker.state_dict`: a dict whose ``best`` is
    None or a finite number, and whose counts are None or whole numbers >= 0."""
    if not isinstance(plateau, dict):
        return False
    best = plateau.get("best")
    if best is not None and (isinstance(best, (bool, str)) or not _finite(best)):
        return False
    counts = ("num_bad_epochs", "cooldown_counter", "reductions")
    return all(plateau.get(key) is None or _count(plateau.get(key)) for key in counts)


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError, RuntimeError, OverflowError):
        return False


def _rate(value: Any) -> bool:
    """Whether ``value`` reads as a finite LR >= 0: a number, a NumPy scalar or a 0-d tensor
    (torch's schedulers keep an optimizer's tensor LR as one)."""
    if isinstance(value, (bool, str)):
        return False
    try:
        rate = float(value)
    except (TypeError, ValueError, RuntimeError):  # RuntimeError: a tensor of many values
        return False
    return math.isfinite(rate) and rate >= 0
