"""One schedule to compare, before it is trained: a spec, and optionally its own LR and unit."""

from __future__ import annotations

from dataclasses import dataclass

from lrkit.checks import positive_lr
from lrkit.errors import bad_value
from lrkit.history import Unit

RANGE_ONE_CYCLE = "range-onecycle"
"""The word that asks for a one-cycle built from a range test among the schedules
(see :func:`lrkit.compare.defaults.range_one_cycle`)."""


@dataclass(frozen=True)
class Candidate:
    """A schedule for :func:`~lrkit.compare.compare`, checked when it is made.

    Attributes:
        spec: An lrkit schedule spec (``"cosine:12"``, ``"StepLR:step_size=4,gamma=0.1"``); the
            table names the row by it, as written.
        lr: The base LR of this row (a one-cycle's peak); ``None`` takes the comparison's.
        unit: What the spec's lengths count: ``"epoch"`` (the default) or ``"step"``.
        note: One line on where the row comes from, shown under the table.

    Raises:
        SpecError: ``spec`` does not parse (an unknown name lists the valid names).
        ConfigError: ``lr`` or ``unit`` is invalid.

    Example:
        >>> Candidate("CosineAnnealingLR:12").canonical
        'cosine:steps=12'
        >>> Candidate("cosinus:12")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        lrkit.errors.UnknownNameError: Unknown schedule name 'cosinus'. Did you mean 'cosine'? ...
    """

    spec: str
    lr: float | None = None
    unit: Unit = "epoch"
    note: str = ""

    def __post_init__(self) -> None:
        from lrkit.schedules import parse

        parse(self.spec)  # raises SpecError with the valid names
        if self.lr is not None:
            positive_lr("lr", self.lr, "a positive finite number or None")
        if self.unit not in ("epoch", "step"):
            raise bad_value("unit", "'epoch' or 'step'", self.unit)

    @property
    def canonical(self) -> str:
        """The spec in lrkit's own form (torch aliases resolved, defaults left out)."""
        from lrkit.schedules import parse

        return parse(self.spec).to_spec()
