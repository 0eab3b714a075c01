"""Floors above the base LR: a likely mistake that the schedule itself cannot see.

A floor (``min_lr``, ``end_lr``) is an absolute LR, not a fraction of the base LR. One above the
base LR it is traced or bound with turns the decay into a constant (see
:func:`lrkit.schedules.base.floor_lr`): ``cosine:10,min_lr=0.5`` at a base LR of 0.05 holds
0.05 throughout. Only the base LR says whether a floor is too high, so the check runs where a
schedule meets one: :func:`lrkit.schedules.bind` warns, and ``lrkit schedule`` / ``train`` /
``compare`` print a ``warning:`` line.

Example:
    >>> from lrkit.schedules import parse
    >>> floor_warnings(parse("warmup:2 > cosine:10,min_lr=0.5"), base_lr=0.05)
    ["cosine's min_lr (0.5) is above the base LR (0.05), so it holds the base LR instead of \
decaying; a floor is an LR, not a fraction of the base LR."]
    >>> floor_warnings(parse("cosine:10,min_lr=1e-4"), base_lr=0.05)
    []
"""

from __future__ import annotations

from lrkit.plaintext import lr_text
from lrkit.schedules.base import Schedule

FLOORS = ("min_lr", "end_lr")


def floor_warnings(schedule: Schedule, base_lr: float) -> list[str]:
    """One message per part of ``schedule`` whose floor is above ``base_lr``."""
    from lrkit.schedules.compose import Limited, Product, Sequence

    if isinstance(schedule, Sequence):
        return [m for p in schedule.phases for m in floor_warnings(p, base_lr)]
    if isinstance(schedule, Product):
        return [m for f in schedule.factors for m in floor_warnings(f, base_lr)]
    if isinstance(schedule, Limited):
        return floor_warnings(schedule.schedule, base_lr)
    out = []
    for name in FLOORS:
        floor = getattr(schedule, name, None)
        if isinstance(floor, (int, float)) and floor > base_lr:
            out.append(
                f"{schedule.name}'s {name} ({lr_text(floor)}) is above the base LR "
                f"({lr_text(base_lr)}), so it holds the base LR instead of decaying; a floor is "
                "an LR, not a fraction of the base LR."
            )
    return out
