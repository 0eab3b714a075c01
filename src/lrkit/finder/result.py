"""What a range test returns: the curve, the suggestion, the range, and why the sweep stopped."""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from lrkit.errors import ConfigError, UnknownNameError
from lrkit.plaintext import lr_text

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from lrkit.finder.to_schedule import RangeSchedule
    from lrkit.schedules.base import Schedule

StopReason = Literal["completed", "diverged", "non_finite_loss", "non_finite_grads"]
"""Why a sweep ended:

- ``"completed"``: it reached ``end_lr`` (``num_iter`` optimizer steps).
- ``"diverged"``: the smoothed loss rose too far above its best (see :mod:`lrkit.finder.curve`);
  the diverging step is the curve's last point.
- ``"non_finite_loss"``: a loss was NaN or infinite; that step is not part of the curve.
- ``"non_finite_grads"``: a GradScaler skipped so many steps in a row (inf or NaN gradients at
  every scale) that the sweep could not go on.
"""

STOP_REASONS: tuple[str, ...] = ("completed", "diverged", "non_finite_loss", "non_finite_grads")


class FinderWarning(UserWarning):
    """The range test gave no suggestion (or a doubtful one); the message says why.

    Filter it like any warning, e.g. ``warnings.simplefilter("error", FinderWarning)``.
    """


@dataclass(frozen=True)
class RangeTestResult:
    """One range test: the LRs it used, the losses it saw and what they suggest.

    The curve holds one point per optimizer step that counts: steps a GradScaler skipped are
    left out (the LR did not advance), and so is a step whose loss was not finite.

    Attributes:
        lrs: The learning rate of each step, in the first param group whose LR is not 0 (the
            reference group, whose LR runs from ``start_lr`` to ``end_lr``).
        losses: The raw loss of each step: the mean over its ``accumulation_steps`` micro-batches,
            or the validation loss after the step when the test ran with a validation loader.
        smoothed: The losses smoothed as the sweep saw them (see
            :class:`~lrkit.finder.curve.LossCurve`).
        group_lrs: ``group_lrs[g][i]``: the LR of param group ``g`` at step ``i``; the groups keep
            the ratios their LRs had before the test.
        suggestion: The suggested constant learning rate, or ``None`` when the curve shows no
            descent (``warning`` says why): never a made-up value.
        range: ``(low, high)``: Leslie Smith's base and max LR, for cyclic and one-cycle
            schedules (see :meth:`to_schedule`), or ``None``.
        rule: The suggestion rule that read the curve.
        stop_reason: Why the sweep ended (see :data:`StopReason`).
        diverged_lr: The reference LR of the step that diverged or gave a non-finite loss;
            ``None`` if the sweep completed.
        warning: Why there is no suggestion, or why it is doubtful; ``None`` if all is well.
        loss_kind: ``"train"``, or ``"val"`` when the losses are validation losses.
        skipped_steps: Optimizer steps a GradScaler skipped (run again at the same LR).
        start_lr: The reference group's first LR.
        end_lr: The reference group's LR at the last planned step.
        num_iter: Optimizer steps planned.
        step_mode: ``"exp"`` or ``"linear"``: how the LR went from ``start_lr`` to ``end_lr``.
        smooth_f: The smoothing weight of each new loss.
        diverge_th: The divergence threshold.
        accumulation_steps: Micro-batches per optimizer step.
        seconds: Wall time of the test, restoring included (of both sweeps when one was
            redone: see ``note``).
        note: How the test came to be run as it was, when not as asked: the whole-task range
            test (:func:`~lrkit.finder.task.range_test_task`) sweeps a curve too noisy to read
            again with twice the steps, and says so here; ``None`` otherwise.
        redone_steps: Optimizer steps of a first sweep that was redone as this one (see
            ``note``): training spent, though not in the curve; 0 otherwise.

    Example:
        >>> r = RangeTestResult(lrs=(0.01, 0.1), losses=(2.0, 1.5), smoothed=(2.0, 1.7),
        ...                     group_lrs=((0.01, 0.1),), suggestion=0.03, range=(0.01, 0.1))
        >>> r.history
        {'lr': [0.01, 0.1], 'loss': [2.0, 1.7]}
        >>> r
        RangeTestResult(suggestion=0.03, range=(0.01, 0.1), stop_reason='completed', steps=2)
    """

    lrs: tuple[float, ...] = field(repr=False)
    losses: tuple[float, ...] = field(repr=False)
    smoothed: tuple[float, ...] = field(repr=False)
    group_lrs: tuple[tuple[float, ...], ...] = field(repr=False)
    suggestion: float | None
    range: tuple[float, float] | None
    rule: str = field(default="lrkit", repr=False)
    stop_reason: StopReason = "completed"
    diverged_lr: float | None = field(default=None, repr=False)
    warning: str | None = field(default=None, repr=False)
    loss_kind: Literal["train", "val"] = field(default="train", repr=False)
    skipped_steps: int = field(default=0, repr=False)
    start_lr: float = field(default=math.nan, repr=False)
    end_lr: float = field(default=math.nan, repr=False)
    num_iter: int = field(default=0, repr=False)
    step_mode: str = field(default="exp", repr=False)
    smooth_f: float = field(default=0.05, repr=False)
    diverge_th: float = field(default=5.0, repr=False)
    accumulation_steps: int = field(default=1, repr=False)
    seconds: float = field(default=math.nan, repr=False)
    note: str | None = field(default=None, repr=False)
    redone_steps: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        n = len(self.lrs)
        if len(self.losses) != n or len(self.smoothed) != n:
            raise ConfigError(
                "lrs, losses and smoothed must have one value per step, got lengths "
                f"{n}, {len(self.losses)} and {len(self.smoothed)}."
            )
        if any(len(group) != n for group in self.group_lrs):
            raise ConfigError(f"group_lrs must hold {n} LRs per param group.")
        if self.stop_reason not in STOP_REASONS:
            raise ConfigError(
                f"stop_reason must be one of {', '.join(map(repr, STOP_REASONS))}, "
                f"got {self.stop_reason!r}."
            )

    def __repr__(self) -> str:
        """One line, LRs to four figures as lrkit prints them (the attributes hold them whole)."""
        suggestion = "None" if self.suggestion is None else f"{self.suggestion:.4g}"
        found = "None" if self.range is None else f"({self.range[0]:.4g}, {self.range[1]:.4g})"
        return (
            f"RangeTestResult(suggestion={suggestion}, range={found}, "
            f"stop_reason={self.stop_reason!r}, steps={self.steps})"
        )

    @property
    def steps(self) -> int:
        """How many points the curve has."""
        return len(self.lrs)

    @property
    def history(self) -> dict[str, list[float]]:
        """torch-lr-finder's ``history``: ``{"lr": [...], "loss": [...]}``, smoothed losses.

        A new dict each time: changing it does not change the result.
        """
        return {"lr": list(self.lrs), "loss": list(self.smoothed)}

    @functools.cached_property
    def curve_diverged_lr(self) -> float | None:
        """Where the loss diverged: where the sweep stopped on it (``diverged_lr``) or, where
        its stop rule never fired, where lrkit's reading of the curve cut it (the end of the
        curve the plot draws); ``None`` where neither found it."""
        if self.diverged_lr is not None:
            return self.diverged_lr
        from lrkit.finder.suggest import read_curve

        try:
            return read_curve(self.lrs, self.losses).diverged_at
        except ConfigError:  # too few finite points to read
            return None

    def divergence_text(self) -> str:
        """``curve_diverged_lr`` for people, saying where it came from.

        Example:
            >>> r = RangeTestResult(lrs=(0.1, 1.0), losses=(1.0, 9.0), smoothed=(1.0, 5.0),
            ...                     group_lrs=((0.1, 1.0),), suggestion=None, range=None,
            ...                     stop_reason="diverged", diverged_lr=1.0)
            >>> r.divergence_text()
            '1'
        """
        lr = self.curve_diverged_lr
        last = lr_text(self.lrs[-1]) if self.lrs else "its start"
        if lr is None:
            return f"not detected (swept up to {last})"
        if self.diverged_lr is None:
            return f"{lr_text(lr)} (read from the curve; the sweep went on to {last})"
        return lr_text(lr)

    def to_dict(self) -> dict[str, Any]:
        """Every field as JSON-able data (tuples become lists), and ``read_curve``: the
        ``lrs`` and ``losses`` of the curve lrkit's rule reads, which the plot draws.

        Example:
            >>> r = RangeTestResult(lrs=(0.1,), losses=(1.0,), smoothed=(1.0,),
            ...                     group_lrs=((0.1,),), suggestion=None, range=None)
            >>> r.to_dict()["stop_reason"], r.to_dict()["group_lrs"]
            ('completed', [[0.1]])
        """
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = [list(v) if isinstance(v, tuple) else v for v in value]
        out["read_curve"] = self._read_curve()
        out["read_curve"]["diverged_at"] = self.curve_diverged_lr  # what find and the report say
        return out

    def _read_curve(self) -> dict[str, list[float]]:
        """The curve lrkit's rule reads and the plot draws (``smoothed`` is the running average
        the sweep's stop rule saw): a zero-lag smoothing up to where the loss diverged."""
        from lrkit.finder.plot import plot_data

        try:
            data = plot_data(self)
        except ConfigError:  # no steps, or LRs that do not rise (a result built by hand)
            return {"lrs": [], "losses": []}
        return {"lrs": data.smoothed_lrs.tolist(), "losses": data.smoothed.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RangeTestResult:
        """The result that :meth:`to_dict` wrote (as read back from JSON), from
        ``range_test.json`` too (whose ``task`` and ``seed`` it leaves out)."""
        values = dict(data)
        for key in ("read_curve", "task", "seed"):  # read_curve: derived from the losses
            values.pop(key, None)
        for key in ("lrs", "losses", "smoothed"):
            values[key] = tuple(float(v) for v in values[key])
        values["group_lrs"] = tuple(tuple(float(v) for v in g) for g in values["group_lrs"])
        if values.get("range") is not None:
            low, high = values["range"]
            values["range"] = (float(low), float(high))
        return cls(**values)

    def plot(
        self,
        ax: Axes | None = None,
        *,
        skip_start: int = 0,
        skip_end: int = 0,
        log_lr: bool = True,
        show_raw: bool = True,
        title: str | None = None,
    ) -> Figure:
        """Draws loss against LR (log axis) with the suggestion, range and divergence marked.

        See :func:`lrkit.finder.plot.plot_result`; never opens a window, never blocks.
        """
        from lrkit.finder.plot import plot_result

        return plot_result(
            self,
            ax,
            skip_start=skip_start,
            skip_end=skip_end,
            log_lr=log_lr,
            show_raw=show_raw,
            title=title,
        )

    def to_schedule(
        self, kind: str | Schedule, steps: int | None = None, **options: Any
    ) -> RangeSchedule:
        """A native schedule from the test: one of the range's kinds, whose peak is ``range[1]``
        and floor ``range[0]`` (see :func:`lrkit.finder.to_schedule.schedule_from_range` for
        the kinds and options), or any schedule (a spec such as ``"warmup:10 > cosine:90"``,
        or a ``Schedule``) at the suggestion: its base LR is ``suggestion``.

        Either way its :meth:`~lrkit.finder.RangeSchedule.bind` sets the optimizer's LR to the
        base LR, the other param groups keeping their ratios, and binds the schedule.

        Example:
            >>> found = RangeTestResult(lrs=(1e-3, 1e-2, 1e-1), losses=(2.0, 1.0, 3.0),
            ...     smoothed=(2.0, 1.5, 2.0), group_lrs=((1e-3, 1e-2, 1e-1),),
            ...     suggestion=0.02, range=(0.005, 0.05))
            >>> at = found.to_schedule("warmup:10 > cosine:90")
            >>> at.base_lr, at.steps, round(at.lr(10), 4)
            (0.02, 100, 0.02)

        Raises:
            ConfigError: The test gave no range (a kind), or no suggestion (a spec) (``warning``
                says why); an option is invalid; a spec was given options or a ``steps`` other
                than its length.
            SpecError: A spec string is malformed.
        """
        from lrkit.finder.to_schedule import (
            KIND_ALIASES,
            SCHEDULE_KINDS,
            schedule_at,
            schedule_from_range,
        )

        text = kind.strip() if isinstance(kind, str) else None
        if text is None or text not in (*SCHEDULE_KINDS, *KIND_ALIASES):  # a spec, or a bare
            # name that no kind has ("constant"); a kind's name alone is the kind ("cosine")
            if self.suggestion is None:
                raise ConfigError(
                    "to_schedule at the suggestion needs a range test that gave one, got none"
                    + (f" ({self.warning})" if self.warning else "")
                    + "; pick the LR yourself and bind the schedule with lrkit.schedules.bind."
                )
            floor = self.range[0] if self.range is not None else self.suggestion
            try:
                return schedule_at(kind, self.suggestion, floor, steps, **options)
            except UnknownNameError as error:
                if text is None or any(mark in text for mark in ":>*"):
                    raise
                raise UnknownNameError(  # a kind misspelt, as likely as a schedule's name
                    f"Unknown schedule kind {kind!r}; valid kinds: {', '.join(SCHEDULE_KINDS)}; "
                    f"or a schedule spec at the suggestion, such as 'cosine:1000' ({error})"
                ) from None
        if self.range is None:
            raise ConfigError(
                "to_schedule needs a range test that found a range, got none"
                + (f" ({self.warning})" if self.warning else "")
                + "; pick the peak LR yourself and build the schedule with lrkit.schedules."
            )
        if steps is None:
            raise ConfigError(f"to_schedule({kind!r}) needs steps, the schedule's length.")
        low, high = self.range
        return schedule_from_range(low, high, text, steps, **options)
