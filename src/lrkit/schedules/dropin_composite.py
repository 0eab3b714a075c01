"""SequentialLR and ChainedScheduler as drop-ins for torch's, resuming exactly.

torch's composites load each child's state, and each child's state holds the LR that child set
last, which for an idle child is stale. Loading therefore ends by writing the composite's own
last LRs into the optimizer: that is the LR an uninterrupted run has there. The same goes for the
momentum (or Adam's beta1) a cycling child sets: a child that finished its part of a
``SequentialLR`` would write back the momentum of its last step, not the one another child set
since. So a composite with a cycling child keeps the optimizer's momenta in its state and writes
them back last. From a state without them (torch's own composite saved it), each cycling child
writes its own, those its last step stepped (every child of a ChainedScheduler, the current one
of a SequentialLR) last.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from typing import Any

from torch.optim import lr_scheduler

from lrkit.errors import ConfigError, add_note
from lrkit.schedules.dropin_resume import ExactResume, rewrite_cycled_momentum

MOMENTA = "_lrkit_momenta"
"""The key of a composite's state that holds each param group's momentum and betas."""

_CYCLED = ("momentum", "betas")  # what CyclicLR and OneCycleLR write, by optimizer


class _CompositeResume(ExactResume):
    """Mixin: the composite's state also holds the momenta its cycling children set."""

    def state_dict(self) -> dict[str, Any]:
        """torch's state, with each param group's momentum and betas where a child cycles them."""
        state = super().state_dict()
        state.pop(MOMENTA, None)  # an attribute a loaded state left: stale now
        if any(getattr(leaf, "cycle_momentum", False) for leaf in _leaves(self)):
            state[MOMENTA] = {"steps": _steps(self), "groups": _momenta(self.optimizer)}
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Loads the children's states, then writes back the LRs and momenta the saved run had.

        Args:
            state_dict: A dict returned by :meth:`state_dict`, lrkit's or torch's.
        """
        state = _copied(state_dict)  # torch's CyclicLR child pops a key from its own state
        momenta = state.pop(MOMENTA, None)
        self.__dict__.pop(MOMENTA, None)
        built = _momenta(self.optimizer)  # what constructing the children set
        super().load_state_dict(state)
        # torch's composite saved it (none), or saved what it was given once and has stepped
        # since (lrkit's, then torch's, then lrkit's): each cycling child says its own
        if not isinstance(momenta, dict) or momenta.get("steps") != _steps(self):
            if all(step <= 0 for step in _steps(self)):
                # saved before any step: the children's construction set it, in an order the
                # list need not follow, and built as the saved run was, this one has it
                _write_momenta(self.optimizer, built)
                return
            # the leaves that stepped last (every child of a ChainedScheduler, the current one of
            # a SequentialLR) write theirs last
            last = _current(self)
            for leaf in sorted(_leaves(self), key=lambda leaf: id(leaf) in last):
                rewrite_cycled_momentum(leaf)
            return
        groups = self.optimizer.param_groups
        if len(momenta["groups"]) != len(groups):
            raise ConfigError(
                f"the saved scheduler state must hold one momentum per param group "
                f"({len(groups)}), got {len(momenta['groups'])}; build the optimizer with the "
                "same param groups as the saved run."
            )
        _write_momenta(self.optimizer, momenta["groups"])


def _momenta(optimizer: Any) -> list[dict[str, Any]]:
    """Each param group's momentum and betas, those it has."""
    return [
        {key: group[key] for key in _CYCLED if key in group} for group in optimizer.param_groups
    ]


def _write_momenta(optimizer: Any, momenta: list[dict[str, Any]]) -> None:
    """Writes :func:`_momenta`'s values back into the param groups."""
    for group, saved in zip(optimizer.param_groups, momenta, strict=True):
        for key, value in saved.items():
            if key in group:
                group[key] = tuple(value) if key == "betas" else value


def _copied(state: dict[str, Any]) -> dict[str, Any]:
    """``state`` with its children's states copied too, so that loading leaves it as it was."""
    copy = dict(state)
    if isinstance(copy.get("_schedulers"), list):
        copy["_schedulers"] = [
            _copied(child) if isinstance(child, dict) else child for child in copy["_schedulers"]
        ]
    return copy


def _current(scheduler: Any) -> set[int]:
    """The ids of the leaves inside ``scheduler`` that its last step stepped."""
    children = list(getattr(scheduler, "_schedulers", ()))
    if isinstance(scheduler, lr_scheduler.SequentialLR):
        children = [children[bisect.bisect_right(scheduler._milestones, scheduler.last_epoch)]]
    found: set[int] = set()
    for child in children:
        if isinstance(child, (lr_scheduler.SequentialLR, lr_scheduler.ChainedScheduler)):
            found |= _current(child)
        else:
            found.add(id(child))
    return found


def _steps(scheduler: Any) -> list[int]:
    """Where each scheduler inside ``scheduler`` stands (a ChainedScheduler has no
    ``last_epoch`` of its own): the mark that saved momenta belong to this state."""
    return [int(getattr(leaf, "last_epoch", -1)) for leaf in _leaves(scheduler)]


def _leaves(scheduler: Any) -> Iterator[Any]:
    """The schedulers inside ``scheduler``, depth first in the order a composite loads them."""
    for child in getattr(scheduler, "_schedulers", ()):
        if isinstance(child, (lr_scheduler.SequentialLR, lr_scheduler.ChainedScheduler)):
            yield from _leaves(child)
        else:
            yield child


class SequentialLR(_CompositeResume, lr_scheduler.SequentialLR):
    """Runs ``schedulers[i]`` from ``milestones[i - 1]`` on; torch's ``SequentialLR``, exact resume.

    Each child restarts from its own epoch 0 at its milestone. Resume is exact across milestones
    and without the optimizer's state, the LRs and any momentum a cycling child sets; use lrkit
    children (or torch's) built on the same optimizer.

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

    A ``ReduceLROnPlateau`` child is refused with torch's ``ValueError``, as torch's is, with a
    note on lrkit's schedules that run a plateau phase after others (pytorch #82859).

    ``last_epoch=N`` replays from the children's bases, which a child takes from each group's
    ``initial_lr``. A ``OneCycleLR`` child overwrites that (with ``max_lr / div_factor``), and
    an optimizer loaded from a checkpoint brings the overwritten value back, so children built
    on it start from the wrong base, in torch's and here. Resume such a sequence with
    ``load_state_dict``: exact, the children's bases are in it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        try:
            super().__init__(*args, **kwargs)
        except ValueError as error:
            if "ReduceLROnPlateau" in str(error):
                add_note(error, PLATEAU_IN_SEQUENCE)
            raise


SequentialLR.__init__.__wrapped__ = lr_scheduler.SequentialLR.__init__  # type: ignore[attr-defined]
# (help() and inspect show torch's signature)

PLATEAU_IN_SEQUENCE = (
    "lrkit: its own schedules run a plateau phase after others, stepped with the metric "
    "(pytorch #82859): lrkit.schedules.bind(optimizer, 'warmup:5 > plateau:patience=3'), then "
    "scheduler.step(metrics=val_loss) once per epoch."
)


class ChainedScheduler(_CompositeResume, lr_scheduler.ChainedScheduler):
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
