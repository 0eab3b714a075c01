"""What ``lrkit compare`` compares when given no schedules: seed 002's five, and a one-cycle.

Seed 002 trains one model under torch's StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR and
ReduceLROnPlateau. Their usual settings assume a budget (``step_size=30`` for 90 epochs), so here
each is scaled to the task's epoch budget ``E``:

1. ``StepLR``: ``step_size = ceil(E / 3)``, ``gamma = 0.1`` (two drops at most, the last third
   at 1/100; ``E // 3`` dropped four times in 5 epochs).
2. ``MultiStepLR``: milestones at half and three quarters of ``E``, ``gamma = 0.1``.
3. ``ExponentialLR``: ``gamma = 0.01 ** (1 / E)``, so the LR falls 100x over the budget.
4. ``CosineAnnealingLR``: ``T_max = E``.
5. ``ReduceLROnPlateau``: ``factor = 0.1``, ``patience = E // 6`` (at least 1): torch's default
   patience of 10 would never fire in a 12-epoch budget.

The sixth is a one-cycle built from a range test on the same task (:func:`range_one_cycle`),
stepped per optimizer step as one-cycle is meant to be.
"""

from __future__ import annotations

from dataclasses import replace

from lrkit.checks import whole_number
from lrkit.compare.candidate import Candidate
from lrkit.errors import ConfigError, bad_value
from lrkit.finder.result import RangeTestResult
from lrkit.finder.to_schedule import schedule_from_range
from lrkit.plaintext import lr_text, range_text
from lrkit.schedules import OneCycle

ONE_CYCLE_DIV = 25.0
ONE_CYCLE_FINAL_DIV = 1e4
"""torch ``OneCycleLR``'s defaults: start at peak / 25, end at peak / 25 / 1e4."""


def default_schedules(epochs: int) -> tuple[str, ...]:
    """Seed 002's five torch schedulers as lrkit specs, scaled to ``epochs``.

    Raises:
        ConfigError: ``epochs`` is not a positive integer.

    Example:
        >>> for spec in default_schedules(12):
        ...     print(spec)
        StepLR:step_size=4,gamma=0.1
        MultiStepLR:milestones=[6,9],gamma=0.1
        ExponentialLR:gamma=0.6813
        CosineAnnealingLR:12
        ReduceLROnPlateau:factor=0.1,patience=2
    """
    epochs = whole_number("epochs", epochs)
    milestones = sorted({max(1, epochs // 2), max(1, (3 * epochs) // 4)})
    return (
        f"StepLR:step_size={-(-epochs // 3)},gamma=0.1",  # ceil: never a third drop
        f"MultiStepLR:milestones=[{','.join(map(str, milestones))}],gamma=0.1",
        f"ExponentialLR:gamma={0.01 ** (1 / epochs):.4g}",
        f"CosineAnnealingLR:{epochs}",
        f"ReduceLROnPlateau:factor=0.1,patience={max(1, epochs // 6)}",
    )


def range_one_cycle(result: RangeTestResult, steps: int, *, peak: str = "suggestion") -> Candidate:
    """A one-cycle over ``steps`` optimizer steps whose peak is read from a range test.

    The schedule is :func:`~lrkit.finder.to_schedule.schedule_from_range`'s ``"onecycle"`` with
    torch ``OneCycleLR``'s shape: from peak / 25 up to the peak over 30% of the steps, then a
    cosine down to peak / 25 / 1e4.

    Which peak: ``"suggestion"`` (the default) is the range test's suggested LR, which lies
    inside its range, just above the low end; ``"high"`` is the range's high end, Leslie Smith's
    maximum LR. On ``digits`` (SGD, momentum 0.9) the range is about 0.2 - 1.07 and a one-cycle
    peaking at 1.07 ends at chance (10% accuracy) while one peaking at the suggestion (0.25)
    reaches 98% validation accuracy: with momentum, the 100-step sweep's "still improving" edge
    is far above what a full run can sustain.

    Args:
        result: A range test of the task.
        steps: Length of the cycle: the run's optimizer steps (epochs x batches per epoch).
        peak: ``"suggestion"`` or ``"high"``.

    Raises:
        ConfigError: The range test found no suggestion or range, or ``peak`` is invalid.

    Example:
        >>> r = RangeTestResult(lrs=(1e-3, 1.0), losses=(2.0, 9.0), smoothed=(2.0, 9.0),
        ...                     group_lrs=((1e-3, 1.0),), suggestion=0.25, range=(0.2, 1.0))
        >>> c = range_one_cycle(r, 204)
        >>> c.spec, c.lr, c.unit
        ('onecycle:steps=204', 0.25, 'step')
    """
    if peak not in ("suggestion", "high"):
        raise bad_value("peak", "'suggestion' or 'high'", peak)
    if result.range is None or result.suggestion is None:
        raise ConfigError(
            "The range test found no LR range"
            + (f" ({result.warning})" if result.warning else "")
            + ", so no one-cycle can be built from it; give a one-cycle spec with --lr instead, "
            "e.g. 'onecycle:steps=1000'."
        )
    low, high = result.range
    top = result.suggestion if peak == "suggestion" else high
    built = schedule_from_range(
        top / ONE_CYCLE_DIV, top, "onecycle", steps, final_div_factor=ONE_CYCLE_FINAL_DIV
    )
    # schedule_from_range derives div_factor as high / low, which float division leaves at
    # 24.999999999999996; rounding it back keeps the spec short ("onecycle:steps=204").
    schedule = built.schedule
    if isinstance(schedule, OneCycle):
        schedule = replace(schedule, div_factor=float(f"{schedule.div_factor:.10g}"))
    return Candidate(
        spec=schedule.to_spec(),
        lr=built.base_lr,
        unit="step",
        note=(
            f"one-cycle per optimizer step, peak {lr_text(top)} = the range test's {peak} "
            f"(range {range_text(low, high)})"
        ),
    )
