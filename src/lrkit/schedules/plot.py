"""Schedule curves: the data a plot shows, computed apart from the drawing.

:func:`schedule_curves` turns specs (or schedules) into :class:`Curve` objects, plain arrays that
tests and other tools can use without a display; :func:`plot_schedules` draws them with
matplotlib, which is imported only there so that ``import lrkit.schedules`` stays light.

Example:
    >>> curves = schedule_curves(["step:30,gamma=0.1", "cosine:100"], steps=100, base_lr=0.1)
    >>> [c.label for c in curves]
    ['step:30,gamma=0.1', 'cosine:100']
    >>> round(float(curves[0].lrs[30]), 6), round(float(curves[1].lrs[50]), 6)
    (0.01, 0.05)
"""

from __future__ import annotations

import math
from collections.abc import Sequence as SequenceOf
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from lrkit.axes import figure_and_axes
from lrkit.checks import whole_number
from lrkit.errors import ConfigError
from lrkit.plaintext import lr_text
from lrkit.rounding import tidy
from lrkit.schedules.base import Array, Schedule, check_positive
from lrkit.schedules.compose import Limited, Product, Sequence
from lrkit.schedules.plateau import Plateau, finite_metric, simulate
from lrkit.schedules.spec import parse

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

FLAT_PLATEAU_NOTE = "plateau flat: no metrics"
"""Appended to a curve's label when a plateau phase had no metric series to drive it."""

DEFAULT_STEPS = 100
"""Horizon used when no schedule has a finite length."""

MAX_STEPS = 5_000_000
"""The most steps :func:`schedule_curves` traces: each curve holds a float per step, and a plot
of more points than this takes seconds to draw and gigabytes to hold for no visible gain."""

MAX_LEGEND_ENTRIES = 12
"""The most entries a plot's legend lists; past it, the last entry says how many are left out."""

MAX_LEGEND_CHARS = 80
"""A longer label is cut in the legend, which says how many parts the whole spec has; labels of
up to half this length share a row, two to a row."""

_MIN_LEGEND_CHARS = 20  # labels are cut no shorter to make a legend of wide letters fit


@dataclass(frozen=True, eq=False)
class Curve:
    """One schedule traced over a horizon: what one line of a plot shows.

    Attributes:
        label: The spec as given (a schedule object is labelled by its canonical spec), with a
            note in parentheses when a plateau phase was left flat for lack of metrics.
        steps: The steps ``0 .. n - 1`` (integers).
        lrs: The learning rate at each step.
    """

    label: str
    steps: Array
    lrs: Array

    def __repr__(self) -> str:
        """One line (the dataclass's repr printed both arrays whole: 23,000 characters for a
        curve of 1,000 steps).

        Example:
            >>> schedule_curves("cosine:100", 101, base_lr=0.1)[0]
            Curve(label='cosine:100', steps=101, lr 0.1 to 0)
        """
        ends = f", lr {self.lrs[0]:.4g} to {self.lrs[-1]:.4g}" if len(self.lrs) else ""
        return f"Curve(label={self.label!r}, steps={len(self.steps)}{ends})"


def has_plateau(schedule: Schedule) -> bool:
    """Whether a reduce-on-plateau phase appears anywhere in ``schedule``.

    Example:
        >>> has_plateau(parse("warmup:5 > plateau:patience=3")), has_plateau(parse("cosine:10"))
        (True, False)
    """
    if isinstance(schedule, Plateau):
        return True
    if isinstance(schedule, Sequence):
        return any(has_plateau(p) for p in schedule.phases)
    if isinstance(schedule, Product):
        return any(has_plateau(f) for f in schedule.factors)
    if isinstance(schedule, Limited):
        return has_plateau(schedule.schedule)
    return False


def default_steps(schedules: SequenceOf[Schedule]) -> int:
    """A horizon that shows every schedule end: the longest finite length times 1.1.

    Falls back to ``DEFAULT_STEPS`` (100) when no schedule has a finite length. The horizon may
    exceed ``MAX_STEPS`` (``cosine:1e30``); :func:`schedule_curves` refuses to trace it whole.

    Example:
        >>> default_steps([parse("cosine:1000"), parse("warmup:100 > cosine:900")])
        1100
        >>> default_steps([parse("exponential:0.99")])
        100
    """
    lengths = [s.length for s in schedules if s.length is not None and math.isfinite(s.length)]
    if not lengths:
        return DEFAULT_STEPS
    longest = max(lengths)
    horizon = longest * 1.1
    return max(1, math.ceil(round(horizon, 6) if math.isfinite(horizon) else longest))


def schedule_curves(
    specs_or_schedules: SequenceOf[str | Schedule] | str | Schedule,
    steps: int,
    base_lr: float = 1.0,
    metrics: SequenceOf[float] | None = None,
) -> list[Curve]:
    """Traces each schedule over steps ``0 .. steps - 1``.

    Args:
        specs_or_schedules: Spec strings such as ``"warmup:10 > cosine:90"``, schedule objects,
            or one of either.
        steps: How many steps to trace (a positive integer, at most ``MAX_STEPS``).
        base_lr: The base learning rate every schedule scales.
        metrics: One metric value per step (metric ``i`` ends step ``i``) that drives plateau
            phases, as :func:`lrkit.schedules.simulate` does. A shorter series holds the LR after
            it ends; a longer one is cut. Without it a plateau phase never reduces, and its curve's
            label says so.

    Returns:
        One :class:`Curve` per schedule, in order.

    Raises:
        ConfigError: ``steps``, ``base_lr`` or a metric value is invalid, or a schedule's
            learning rate is not finite at some step (``exponential:2`` overflows at step 1025).
        SpecError: a spec string is malformed or names an unknown schedule.

    Example:
        >>> [c] = schedule_curves("plateau:factor=0.5,patience=1", 5, metrics=[1, 1, 1, 1, 1])
        >>> c.lrs.tolist()
        [1.0, 1.0, 1.0, 0.5, 0.5]
    """
    items = (
        [specs_or_schedules]
        if isinstance(specs_or_schedules, (str, Schedule))
        else list(specs_or_schedules)
    )
    if not items:
        raise ConfigError("specs_or_schedules must hold at least one schedule, got none.")
    _check_steps(steps)
    if steps > MAX_STEPS:
        raise ConfigError(
            f"steps must be at most {MAX_STEPS:,} (a float per step is held and drawn), "
            f"got {steps!r}; trace a part of a longer schedule."
        )
    check_positive("base_lr", base_lr)
    series = None if metrics is None else [finite_metric(m, i) for i, m in enumerate(metrics)]
    return [_curve(item, steps, float(base_lr), series) for item in items]


def _curve(item: str | Schedule, steps: int, base_lr: float, metrics: list[float] | None) -> Curve:
    schedule = parse(item)
    name = item.strip() if isinstance(item, str) else schedule.to_spec()
    label = name
    reductions = None
    if has_plateau(schedule):
        if metrics:
            reductions = _reductions(schedule, metrics, steps)
        else:
            label = f"{label} ({FLAT_PLATEAU_NOTE})"
    with np.errstate(over="ignore", invalid="ignore"):  # reported below, not as a warning
        lrs = schedule.trace(steps, base_lr, reductions=reductions)
    _check_finite(name, lrs, base_lr)
    return Curve(label=label, steps=np.arange(steps), lrs=lrs)


def _check_finite(name: str, lrs: Array, base_lr: float) -> None:
    """Raises ConfigError at the first step whose LR overflowed (``exponential:2``) or is NaN."""
    bad = np.flatnonzero(~np.isfinite(lrs))
    if bad.size:
        raise _not_finite(name, float(lrs[int(bad[0])]), int(bad[0]), base_lr)


def _not_finite(name: str, lr: float, step: int, base_lr: float) -> ConfigError:
    # past step 0 the schedule's own factor overflowed (exponential:2): base_lr cannot help
    advice = (
        f"trace at most {step} steps, or use parameters that keep the learning rate finite"
        if step
        else "use a lower base_lr or parameters that keep the learning rate finite"
    )
    return ConfigError(
        f"schedule {name!r} must give a finite learning rate, got {lr} at step {step} "
        f"(base_lr={lr_text(base_lr)}); {advice}."
    )


def _reductions(schedule: Schedule, metrics: list[float], steps: int) -> Array:
    used = metrics[:steps]
    # One extra report of the last value: simulate records the count in force *before* each
    # report, so its last entry is the count after every real metric (the extra one never acts).
    counts = simulate(schedule, [*used, used[-1]])
    out = np.full(steps, counts[-1], dtype=np.float64)
    out[: len(used)] = counts[: len(used)]
    return out


def lrs_at(
    schedule: Schedule | str,
    steps: SequenceOf[int],
    base_lr: float = 1.0,
    metrics: SequenceOf[float] | None = None,
) -> list[float]:
    """The LR at each of ``steps``, without tracing the steps between them: what
    :func:`schedule_curves` gives there, for a horizon of any length. ``metrics`` drive a
    plateau phase as they do there (the last one's reductions hold after the series ends).

    Only the steps read are checked: an LR that overflows between two of them and is finite
    again at both (a phase that grows, then another) is not seen; ``lrkit schedule show`` reads
    the step before each key step too, each phase's last.

    Raises:
        ConfigError: The LR is not finite at one of ``steps`` (``exponential:2`` overflows);
            the step said is the first one that is, after the last finite step read before
            it, found by bisection.

    Example:
        >>> lrs_at("cosine:1e12", [0, 500_000_000_000, 999_999_999_999], base_lr=0.1)
        [0.1, 0.05, 0.0]
        >>> lrs_at("plateau:factor=0.5,patience=1", [0, 3, 10**9], metrics=[1, 1, 1, 1, 1])
        [1.0, 0.5, 0.25]
    """
    parsed = parse(schedule)
    check_positive("base_lr", base_lr)
    counts = None
    if metrics and has_plateau(parsed):
        used = [finite_metric(m, i) for i, m in enumerate(metrics)]
        counts = simulate(parsed, [*used, used[-1]])  # as _reductions: the count before each
    name = schedule.strip() if isinstance(schedule, str) else parsed.to_spec()

    def at(step: int) -> float:
        reductions = 0 if counts is None else int(counts[min(step, len(counts) - 1)])
        with np.errstate(over="ignore", invalid="ignore"):
            return parsed(step, base_lr, reductions=reductions)

    out: list[float] = []
    finite = -1  # the last step seen with a finite LR
    for step in steps:
        lr = at(step)
        if not math.isfinite(lr):  # the first such step after the last finite one seen
            bad = step
            while bad - finite > 1:
                middle = (finite + bad) // 2
                finite, bad = (middle, bad) if math.isfinite(at(middle)) else (finite, middle)
            raise _not_finite(name, at(bad), bad, base_lr)
        finite = step
        out.append(lr)
    return out


def _check_steps(steps: int) -> None:
    whole_number("steps", steps)


def log_limits(curves: SequenceOf[Curve], decades: float = 5.0) -> tuple[float, float] | None:
    """Y limits for a log axis: the curves' positive range, at most ``decades`` deep.

    A schedule that ends at exactly 0 (``cosine:100``) would otherwise stretch the axis down
    without bound; its line leaves the bottom of the plot instead. The bottom is rounded down to
    a whole decade, the top left a little above the highest LR. ``None`` if nothing is > 0.

    Example:
        >>> log_limits(schedule_curves(["cosine:100", "constant"], 101, base_lr=0.1))
        (1e-05, 0.15)
    """
    positive = [c.lrs[(c.lrs > 0) & np.isfinite(c.lrs)] for c in curves]
    values = np.concatenate([p for p in positive if p.size] or [np.empty(0)])
    if values.size == 0:
        return None
    top = float(values.max())
    bottom = max(float(values.min()), top * 10.0**-decades)
    low = float(f"{10.0 ** math.floor(math.log10(bottom) + 1e-9):.0e}")
    if low >= top:  # one flat line exactly on a decade
        low /= 10.0
    return low, tidy(top * 1.5)


@dataclass(frozen=True)
class KeyStep:
    """A step worth looking at in a schedule, and why (``"milestone"``, ``"warmup ends"``...)."""

    step: int
    note: str


_MAX_REPEATS = 6  # periodic landmarks (step decays, restarts) listed at most this many times


def key_steps(schedule: Schedule | str, n_steps: int) -> list[KeyStep]:
    """The steps a table of the schedule should show, in order, each with a short note.

    Steps 0 and 1; where the schedule's shape changes (phase ends, milestones, peaks, the start
    of a decay) when that is known from its parameters, at the first whole step at or after it
    (a peak or trough between two steps: at the one where the LR is highest or lowest); the
    quarters of the horizon; and the last step, ``n_steps - 1``. Notes of one step are joined
    with ``"; "``.

    Example:
        >>> keys = key_steps("warmup:10 > cosine:90", 110)
        >>> [k.step for k in keys]
        [0, 1, 10, 28, 55, 82, 100, 109]
        >>> [k.note for k in keys][2:]
        ['warmup ends', '25%', '50%', '75%', 'cosine ends', 'last step']
    """
    _check_steps(n_steps)
    notes: dict[int, list[str]] = {0: ["start"], n_steps - 1: ["last step"]}
    notes.setdefault(1, [])
    for fraction, label in ((0.25, "25%"), (0.5, "50%"), (0.75, "75%")):
        notes.setdefault(round(n_steps * fraction), []).append(label)
    parsed = parse(schedule)
    for t, note in _landmarks(parsed, float(n_steps)):
        if not math.isfinite(t):  # cyclic:up=1e308 ends its first cycle past the float range
            continue
        step = math.ceil(round(t, 9))  # the first whole step at or after the change
        if note.endswith(("peak", "trough")) and step > 0:
            # between two steps: the one of the higher LR (peak) or the lower (trough)
            before, at = parsed(step - 1, base_lr=1.0), parsed(step, base_lr=1.0)
            step -= before > at if note.endswith("peak") else before < at
        if 0 <= step < n_steps and note not in notes.setdefault(step, []):
            notes[step].append(note)
    return [KeyStep(step, "; ".join(notes[step])) for step in sorted(notes) if step < n_steps]


def _landmarks(s: Schedule, horizon: float) -> list[tuple[float, str]]:
    """Where ``s`` changes shape, from its parameters: (step, note) pairs, maybe unsorted."""
    from lrkit.schedules.cosine import CosineRestarts
    from lrkit.schedules.cyclic import Cyclic, OneCycle
    from lrkit.schedules.step import MultiStep, Step
    from lrkit.schedules.wsd import WSD

    out: list[tuple[float, str]] = []
    if isinstance(s, Sequence):
        start = 0.0
        for p in s.phases:
            length = p.length
            end = horizon if length is None else min(float(length), horizon - start)
            out += [(start + t, n) for t, n in _landmarks(p, horizon - start) if t <= end]
            if length is None:
                break
            start += float(length)
        return out
    if isinstance(s, Product):
        return [m for f in s.factors for m in _landmarks(f, horizon)]
    if isinstance(s, Limited):
        inner = [m for m in _landmarks(s.schedule, horizon) if m[0] < s.steps]
        return [*inner, (float(s.steps), f"{s.schedule.name} ends")]
    if isinstance(s, MultiStep):
        out = [(float(m), "milestone") for m in s.milestones]
    elif isinstance(s, Step):
        count = min(_MAX_REPEATS, int(horizon // s.step_size))
        out = [(k * float(s.step_size), "step decay") for k in range(1, count + 1)]
    elif isinstance(s, OneCycle):  # it reaches its end value on its last step, not after it
        ends = s.phase_ends()
        notes = ["onecycle peak", "onecycle back to start"][: len(ends) - 1]
        return [*zip(ends, [*notes, "onecycle ends"])]
    elif isinstance(s, WSD):
        out = [(s.steps * (1.0 - s.decay), "wsd decay starts")]
    elif isinstance(s, Cyclic):
        period = float(s.up) + float(s.down if s.down is not None else s.up)
        out = [(float(s.up), "cyclic peak"), (period, "cyclic trough")]
    elif isinstance(s, CosineRestarts):
        start, length = 0.0, float(s.period)
        for _ in range(_MAX_REPEATS):
            start += length
            length *= s.mult
            if start >= horizon:
                break
            out.append((start, "restart"))
    if s.length is not None:
        out.append((float(s.length), f"{s.name} ends"))
    return out


# -- drawing -----------------------------------------------------------------------------------


def plot_schedules(
    curves_or_specs: SequenceOf[Curve | str | Schedule] | str | Schedule,
    *,
    steps: int | None = None,
    base_lr: float = 1.0,
    metrics: SequenceOf[float] | None = None,
    log: bool = True,
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """Draws schedules on one axes, one line each, with a legend below the plot.

    No window is opened and nothing blocks: with ``ax=None`` a new figure is created without
    pyplot (it renders with Agg when saved), so it works on a headless server.

    Args:
        curves_or_specs: Curves from :func:`schedule_curves`, or specs / schedules to trace.
        steps: Horizon for specs; default: the longest finite length times 1.1 (see
            :func:`default_steps`). Ignored for curves, which carry their own steps.
        base_lr: Base learning rate for specs.
        metrics: Metric series driving plateau phases of specs (see :func:`schedule_curves`).
        log: Log-scale y axis (the default: decays span decades); ``False`` for linear.
        ax: Axes to draw on; ``None`` creates a new figure.
        title: Axes title.

    Returns:
        The figure holding the axes.

    Example:
        >>> fig = plot_schedules(["warmup:10 > cosine:90", "onecycle:100"], base_lr=0.1)
        >>> len(fig.axes[0].get_lines())
        2
    """
    curves = _as_curves(curves_or_specs, steps, base_lr, metrics)

    fig, ax = figure_and_axes(ax, (8.0, 5.0))
    # Lines carry their legend text: a label of thousands of characters (a spec of 2000 parts)
    # upsets the constrained layout even where the legend does not show it.
    lines = [
        ax.plot(
            *thinned(curve.steps, curve.lrs),
            label=legend_label(curve.label),
            linewidth=1.8,
            marker="o" if len(curve.steps) == 1 else None,  # one step: a dot, not nothing
        )[0]
        for curve in curves
    ]
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate")
    ax.set_xlim(0, max(1, *(int(c.steps[-1]) for c in curves)))
    if log:
        ax.set_yscale("log")
        limits = log_limits(curves)
        if limits is not None:
            ax.set_ylim(*limits)
    else:
        ax.set_ylim(bottom=0.0)
    ax.grid(True, which="major", alpha=0.35)
    if log:
        ax.grid(True, which="minor", alpha=0.12)
    if title:
        ax.set_title(title)
    _draw_legend(ax, lines, [c.label for c in curves])
    return fig


DRAWN_BUCKETS = 4000
"""A curve of more steps is drawn as this many buckets' lowest and highest LR: a plot is a few
thousand pixels wide, and a line of 5 million points took 4 s and a gigabyte to draw."""


def thinned(steps: Array, lrs: Array, buckets: int = DRAWN_BUCKETS) -> tuple[Array, Array]:
    """The points of a curve to draw: all of them up to ``2 * buckets``; past that, in each of
    ``buckets`` runs of steps its lowest and highest LR (in the order the run meets them: a
    decay's highest first), so that a drawn line has every peak and trough a full line has.

    Example:
        >>> steps = np.arange(10_000)
        >>> lrs = np.where(steps % 2 == 0, 1.0, 0.5)  # an LR that alternates at every step
        >>> xs, ys = thinned(steps, lrs, buckets=100)
        >>> len(xs), float(ys.min()), float(ys.max()), int(xs[0]), int(xs[-1])
        (200, 0.5, 1.0, 0, 9999)
    """
    n = len(steps)
    if n <= 2 * buckets:
        return steps, lrs
    starts = np.linspace(0, n, buckets + 1).astype(np.int64)[:-1]
    ends = np.append(starts[1:], n) - 1  # each run's last step
    low, high = np.minimum.reduceat(lrs, starts), np.maximum.reduceat(lrs, starts)
    falling = lrs[starts] > lrs[ends]
    first = np.where(falling, high, low)
    second = np.where(falling, low, high)
    xs = np.column_stack([steps[starts], steps[ends]]).ravel()
    ys = np.column_stack([first, second]).ravel()
    return xs, ys


def _draw_legend(ax: Axes, lines: SequenceOf[Any], labels: SequenceOf[str]) -> None:
    """The legend below the axes, never over the lines, made to fit the figure's width.

    Long labels are cut and many curves summed up in a last entry; if the legend is still wider
    than the figure (wide letters), labels are cut shorter. A legend wider or taller than the
    figure would leave the constrained layout no room for the axes: it would warn, and drop the
    legend.
    """
    limit = MAX_LEGEND_CHARS
    while True:
        handles, texts = legend_entries(lines, labels, limit)
        legend = ax.legend(
            handles,
            texts,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.13),
            ncol=2 if len(texts) >= 3 and max(map(len, texts)) <= limit // 2 else 1,
            frameon=False,
            fontsize="small",
        )
        fits = legend.get_window_extent().width <= 0.9 * ax.figure.bbox.width
        if fits or limit <= _MIN_LEGEND_CHARS:
            break
        limit = max(_MIN_LEGEND_CHARS, limit * 2 // 3)
    if not fits:  # left out of the layout: cut at the figure's edges rather than squash the axes
        legend.set_in_layout(False)


def legend_label(label: str, limit: int = MAX_LEGEND_CHARS) -> str:
    """``label`` as a legend shows it: at most about ``limit`` characters, saying how many parts
    (phases and factors) the whole spec has when it is cut.

    Example:
        >>> legend_label("cosine:10")
        'cosine:10'
        >>> legend_label(" > ".join(["cosine:10"] * 2000))
        'cosine:10 > cosine:10 > cosine:10 > cosine:10 > cosine:10 > … (2,000 parts)'
    """
    if len(label) <= limit:
        return label
    note = f" ({FLAT_PLATEAU_NOTE})"
    spec, note = (label[: -len(note)], note) if label.endswith(note) else (label, "")
    # In a spec, every '>' joins two phases and every '*' two factors.
    parts = spec.count(">") + spec.count("*") + 1
    suffix = " …" + (f" ({parts:,} parts)" if parts > 1 else "") + note
    room = max(limit - len(suffix), 16)
    head = spec[:room]
    if head.rfind(" ") > room // 2:  # cut between two parts, not inside one
        head = head[: head.rfind(" ")]
    return head.rstrip() + suffix


def legend_entries(
    lines: SequenceOf[Any], labels: SequenceOf[str], limit: int = MAX_LEGEND_CHARS
) -> tuple[list[Any], list[str]]:
    """The legend's handles and texts: at most ``MAX_LEGEND_ENTRIES``, each label cut to fit.

    Past the limit, the first entries are listed and the last one says how many curves are not.

    Example:
        >>> _, texts = legend_entries(range(20), [f"cosine:{n}" for n in range(1, 21)])
        >>> len(texts), texts[-1]
        (12, '… and 9 more schedules')
    """
    texts = [legend_label(label, limit) for label in labels]
    if len(texts) <= MAX_LEGEND_ENTRIES:
        return list(lines), texts
    from matplotlib.lines import Line2D

    shown = MAX_LEGEND_ENTRIES - 1
    rest = Line2D([], [], linestyle="none")  # a text-only entry
    more = f"… and {len(texts) - shown:,} more schedules"
    return [*list(lines)[:shown], rest], [*texts[:shown], more]


def _as_curves(
    items: Any, steps: int | None, base_lr: float, metrics: SequenceOf[float] | None
) -> list[Curve]:
    items = [items] if isinstance(items, (str, Schedule, Curve)) else list(items)
    if not items:
        raise ConfigError("curves_or_specs must hold at least one curve or spec, got none.")
    to_trace = [i for i in items if not isinstance(i, Curve)]
    if not to_trace:
        return items
    horizon = steps if steps is not None else default_steps([parse(i) for i in to_trace])
    traced = iter(schedule_curves(to_trace, horizon, base_lr, metrics))
    return [i if isinstance(i, Curve) else next(traced) for i in items]
