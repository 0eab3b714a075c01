"""The suggested learning rate, and a (low, high) range, read from a range-test curve.

lrkit's rule (``"lrkit"``, the default) reads two landmarks from the curve, after zero-lag,
noise-robust smoothing in log-LR space (a centred Gaussian kernel, no EMA: an EMA lags the curve by
an amount that depends on the sweep's length, which is what pushes the anchors' steepest points
too high):

1. ``low``, the middle of the *stable* descent: the LR where the smoothed loss has made half of its
   drop, read on the curve up to its first *catapult*, the first step that throws the loss back by
   half of the improvement made so far (by more than 5 standard deviations of its step-to-step
   noise). Past a catapult the loss jumps up and down, and the low values it still reaches there
   come from that chaos, not from stable training: counted into the drop, they moved the middle
   of the descent up to the cliff (lrkit find's own ``digits`` task: 0.2 instead of 0.1).
2. ``high``, the smoothed minimum of the whole curve up to divergence: where the loss stops
   improving, the edge past which a constant LR is no longer stable. Everything after the
   spike-filtered loss has given back half of its improvement is cut first, so a diverging tail
   cannot hold the minimum; the catapult region before that stays in (a schedule may pass
   through it, and with adaptive optimizers good constant LRs often lie there).

The suggestion is 15% of the way from ``low`` to ``high`` in log space,
``low * (high / low) ** 0.15``; ``(low, high)`` is the range (Leslie Smith's base and max LR:
where the loss is clearly falling, and where it stops falling).

Why there: on the regret suite (``benchmarks/finder_regret.py``, docs/finder.md) the best
constant LR of an exhaustive sweep lay within 0.81 decades of ``low`` on every task (0.29 above it
on average) and below ``high`` on 10 tasks of 11, and held-out scores collapse within half a
decade above ``high`` while they fall gently below ``low``. So the suggestion starts at ``low``
and leans a little towards ``high``. How far is the rule's one fitted number: leave-one-task-out
picks 0.15 on 8 folds of 11, and regret is flat from 0.10 to 0.20.

The reading is corrected for the sweep's speed: the loss at step ``t`` reflects the LR accumulated
so far, ``sum(lrs[:t+1])``, which for an exponential sweep is ``lrs[t]`` times a factor that grows
with the number of steps per decade. LRs read are shifted to what the standard sweep (100 steps
from 1e-7 to 10) would show, so that 200 steps or a narrower range give the same answer.

A curve whose drop does not stand 3 standard errors clear of its own step-to-step noise shows no
descent: every rule, the anchors' included, then returns ``lr=None`` with a warning.

Example:
    >>> import numpy as np
    >>> lrs = np.logspace(-6, 1, 80)
    >>> losses = 2.0 - 1.5 / (1 + (1e-2 / lrs) ** 2) + (lrs / 2) ** 2  # descent, then blow-up
    >>> s = suggest(lrs, losses)
    >>> s.range[0] < s.lr <= s.range[1]
    True
    >>> suggest(lrs, np.full(80, 1.0)).lr is None
    True
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from lrkit.errors import ConfigError, UnknownNameError
from lrkit.finder import rules
from lrkit.plaintext import lr_text, range_text

__all__ = [
    "ALIASES",
    "FRACTION",
    "MIN_POINTS",
    "CurveReading",
    "Suggestion",
    "read_curve",
    "resolve_rule",
    "rule_names",
    "suggest",
]

MIN_POINTS = 10
LOW_START_LR = 1e-5  # a loss that diverges within a few steps from here: the numbers, not the LR
FRACTION = 0.15  # where the suggestion sits between low (0) and high (1), in log-LR
BANDWIDTHS = (0.3, 0.45, 0.6, 0.9)  # Gaussian smoothing widths tried, in decades of LR
CLEAR = 5.0  # a drop of CLEAR standard errors needs no wider smoothing
DESCENT = 3.0  # a drop of fewer standard errors is not a descent
MEDIAN_HALF_WIDTH = 0.2  # spike filter before the divergence cut, in decades (>= 2 points)
KERNEL_REACH = 7.8  # kernel widths past which the smoothing leaves points out (exp(-30.4))
FFT_RANGE = 1e4  # the largest loss over the median one up to which a long sweep uses an FFT
GIVE_BACK = 0.5  # diverged once the loss has given back this share of its improvement
# steps' worth of LR accumulated at any point of the standard sweep (100 steps, 1e-7 -> 10)
REFERENCE_STEPS = 1.0 / (1.0 - 10.0 ** (-8.0 / 99.0))


SWEEP_FURTHER = "; sweep further (end_lr)."
"""The advice a warning ends with where a longer sweep could tell more (left out where the
sweep could not go on: it diverged, or the optimizer applies no higher LR)."""


@dataclass(frozen=True)
class Suggestion:
    """What a rule reads from a range-test curve.

    Attributes:
        lr: The suggested constant learning rate, or ``None`` when the curve shows no descent.
        range: ``(low, high)``: Leslie Smith's base and max LR, for cyclic and one-cycle
            schedules; ``None`` for rules that give a point only, or when ``lr`` is ``None``.
        rule: Name of the rule that produced it.
        warning: Why there is no suggestion, or why it is doubtful; ``None`` when all is well.
    """

    lr: float | None
    range: tuple[float, float] | None
    rule: str
    warning: str | None = None


@dataclass(frozen=True)
class CurveReading:
    """What lrkit's rule reads from a curve; ``lrs`` and ``smoothed`` are data for plots.

    Attributes:
        lrs: The LRs of the points kept (up to the divergence cut).
        smoothed: The smoothed loss at each of those LRs.
        start_level: The loss before training bites: the median of the plateau before the
            descent (of the first tenth of the points when the curve falls from the start).
        low: The LR where the smoothed loss has made half of its stable drop (uncorrected).
        minimum: The LR of the smoothed minimum (uncorrected).
        catapult: The LR of the first step that threw the loss back by half of the improvement
            made so far, or ``None``; ``low`` is read on the curve before it.
        diverged_at: The first LR where the loss had given back half of its improvement, or
            ``None`` when it never did within the sweep.
        drop: ``start_level`` minus the smoothed minimum.
        noise: Standard error of that drop, from the curve's own step-to-step noise.
        speed_shift: Decades added to every LR read, to match the standard sweep's speed.
    """

    lrs: tuple[float, ...]
    smoothed: tuple[float, ...]
    start_level: float
    low: float
    minimum: float
    catapult: float | None
    diverged_at: float | None
    drop: float
    noise: float
    speed_shift: float

    @property
    def descends(self) -> bool:
        """Whether the loss fell clearly (by more than 3 standard errors) before its minimum."""
        return self.minimum > self.lrs[0] and self.drop > DESCENT * self.noise


def _median(values: list[float]) -> float:
    """The median of a short list (np.median costs ~10x more on arrays this small)."""
    return _sorted_median(sorted(values))


def _sorted_median(ordered: list[float]) -> float:
    """The median of a sorted list."""
    c = len(ordered)
    return 0.5 * (ordered[(c - 1) // 2] + ordered[c // 2])


def _running_median(x: np.ndarray, y: np.ndarray, half_width: float) -> np.ndarray:
    """Median over a window of ``±half_width`` in x (and at least ±2 points): removes spikes.

    The windows' ends only move right as x grows (``x`` is sorted), so one sorted list slides
    along: each point is inserted once and removed once (a bisection and a memmove). Sorting
    every window instead cost minutes on a long linear sweep, whose windows each hold a third
    of its points. ``y`` holds no NaN (a curve ends at its first non-finite loss): bisection
    could not find one to remove it.
    """
    n = len(x)
    idx = np.arange(n)
    lo = np.searchsorted(x, x - half_width, side="left")
    hi = np.searchsorted(x, x + half_width, side="right")
    np.maximum(np.minimum(lo, idx - 2, out=lo), 0, out=lo)
    np.minimum(np.maximum(hi, idx + 3, out=hi), n, out=hi)
    values, out = y.tolist(), [0.0] * n
    window: list[float] = []
    first = last = 0  # the window holds values[first:last], sorted
    for i, (a, b) in enumerate(zip(lo.tolist(), hi.tolist(), strict=True)):
        for value in values[last:b]:
            bisect.insort(window, value)
        for value in values[first:a]:
            del window[bisect.bisect_left(window, value)]
        first, last = a, b
        out[i] = _sorted_median(window)
    return np.array(out)


def _smooth(
    x: np.ndarray, y: np.ndarray, width: float, d2: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Gaussian kernel average in ``x`` (centred, so no lag), and the kernel's weights when
    ``d2``, the squared distances between the points of ``x`` (see :func:`_distances`), is given:
    the weights give the effective number of points averaged (:func:`_samples`)."""
    scale = -0.5 / width**2
    if d2 is not None:
        w = np.exp(d2 * scale)
        return (w @ y) / w.sum(1), w
    reach = KERNEL_REACH * width  # beyond it a weight is below 1e-13 of the centre's
    step = _even_step(x)
    magnitude = np.abs(y)
    # an exponential sweep: one kernel for every point, convolved by FFT; its rounding error is
    # a share of the largest loss spread over every point, so a curve whose spikes dwarf it is
    # averaged point by point instead
    if step is not None and magnitude.max() <= FFT_RANGE * np.median(magnitude):
        offsets = np.arange(1, int(min(reach / step, len(x) - 1)) + 1) * step
        half = np.exp(scale * offsets**2)
        kernel = np.concatenate((half[::-1], [1.0], half))
        return _convolve(y, kernel) / _convolve(np.ones(len(y)), kernel), None
    out = np.empty(len(x))
    for a in range(0, len(x), 512):  # in blocks: memory stays small for long sweeps
        block = x[a : a + 512]
        # only the points within reach of the block: about half of them at the narrowest width
        # on an exponential sweep (a linear one crowds its points where every block reaches)
        lo, hi = np.searchsorted(x, (block[0] - reach, block[-1] + reach), side="left")
        w = np.exp(scale * (block[:, None] - x[None, lo:hi]) ** 2)
        out[a : a + 512] = (w @ y[lo:hi]) / w.sum(1)
    return out, None


def _even_step(x: np.ndarray) -> float | None:
    """The spacing of ``x`` when its points lie evenly spaced (each within 1e-9 of a step of its
    place, as an exponential sweep's LRs do in log space), else ``None``."""
    step = float(x[-1] - x[0]) / (len(x) - 1)
    even = x[0] + step * np.arange(len(x))
    return step if step > 0 and np.all(np.abs(x - even) <= 1e-9 * step) else None


def _convolve(y: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """The ``len(y)`` points of the full convolution of ``y`` and an odd-length ``kernel`` that
    are centred on ``y``'s (``np.convolve(y, kernel, "same")`` when the kernel is the shorter),
    by FFT."""
    size = 1 << (len(y) + len(kernel) - 2).bit_length()
    full = np.fft.irfft(np.fft.rfft(y, size) * np.fft.rfft(kernel, size), size)
    first = len(kernel) // 2
    return full[first : first + len(y)]


def _distances(x: np.ndarray) -> np.ndarray | None:
    """Squared distances between the points, computed once for every bandwidth tried (up to
    1024 points: 8 MiB); ``None`` for longer sweeps, smoothed in blocks instead."""
    if len(x) > 1024:
        return None
    d = np.subtract.outer(x, x)
    return np.multiply(d, d, out=d)


def _samples(x: np.ndarray, i: int, width: float, w: np.ndarray | None) -> float:
    """The effective number of points the Gaussian kernel averages at ``x[i]``."""
    row = np.exp(-0.5 / width**2 * (x - x[i]) ** 2) if w is None else w[i]
    return float(row.sum() ** 2 / (row @ row))


def _crossing(x: list[float], s: list[float], level: float) -> float:
    """First x where the decreasing part of ``s`` reaches ``level``, interpolated linearly."""
    i = next((i for i, v in enumerate(s) if v <= level), 0)
    if i == 0:
        return x[0]
    a, b = s[i - 1], s[i]
    return x[i - 1] + (x[i] - x[i - 1]) * (a - level) / (a - b)


def read_curve(lrs: Sequence[float], losses: Sequence[float]) -> CurveReading:
    """Smooths a range-test curve and reads its landmarks (see the module docstring).

    Args:
        lrs: The LR of each step, strictly increasing.
        losses: The raw loss of each step; the curve ends at the first non-finite one.

    Raises:
        ConfigError: fewer than ``MIN_POINTS`` finite points, or bad LRs (as :func:`suggest`).

    Example:
        >>> lrs = np.logspace(-6, 1, 80)
        >>> r = read_curve(lrs, 2.0 - 1.5 / (1 + (1e-2 / lrs) ** 2) + (lrs / 2) ** 2)
        >>> r.descends, round(r.low, 3), r.minimum > r.low, r.catapult
        (True, 0.01, True, None)
    """
    x, y = _check(lrs, losses)
    if len(y) < MIN_POINTS:
        raise ConfigError(f"read_curve needs at least {MIN_POINTS} finite points, got {len(y)}.")
    return _read(x, y)


def _divergence(x: np.ndarray, losses: np.ndarray, start: float) -> int:
    """Where the curve is cut: the first point past the (spike-filtered) minimum where the loss
    has given back half of its improvement; what follows says nothing about good LRs."""
    med = _running_median(x, losses, MEDIAN_HALF_WIDTH)
    i_min = int(np.argmin(med))
    if start <= med[i_min]:  # never below the start: no improvement to give back
        return max(i_min, 3)
    back = med[i_min] + GIVE_BACK * (start - med[i_min])
    rising = np.flatnonzero(med[i_min:] >= back)
    return max(i_min + int(rising[0]) if len(rising) else len(losses), 3)


def _catapult(losses: list[float], start: float, sigma: float) -> int | None:
    """The first step that threw the loss back by half of the improvement made so far (and by
    more than CLEAR standard deviations of the step noise, once the improvement itself is that
    clear), or ``None``. Raw losses: a median filter would hide a jump of a step or two."""
    clear, best = CLEAR * sigma, losses[0]
    for i, loss in enumerate(losses):
        gained = start - best
        if gained > clear and loss - best > max(GIVE_BACK * gained, clear):
            return i
        best = min(best, loss)
    return None


def _read(lrs: np.ndarray, losses: np.ndarray) -> CurveReading:
    # Plain lists for the O(n) work (a few Python loops over 100 floats cost less than as many
    # NumPy calls, most of all right after a sweep, when NumPy's code is out of the caches).
    x = np.log10(lrs)
    n0 = max(5, len(losses) // 10)
    values = losses.tolist()
    start = _median(values[:n0])
    # 1) the divergence cut, and the step noise of what is left
    cut = _divergence(x, losses, start)
    xs, ys, values = x[:cut], losses[:cut], values[:cut]
    sigma = _step_sigma(values) if cut > 2 else 0.0
    # 2) the stable part: up to the first catapult (if it leaves enough points to read)
    jump = _catapult(values, start, sigma)
    stable = jump if jump is not None and jump >= MIN_POINTS else cut
    # 3) smooth; find the minimum and the middle of the stable descent
    d2 = _distances(xs)
    plateau = _Plateau(xs.tolist(), values, start, n0, sigma)

    def at(width: float) -> _Smoothing:
        s, w = _smooth(xs, ys, width, d2)
        i_m = int(np.argmin(s))
        if stable < cut:
            part = None if d2 is None else d2[:stable, :stable]
            s_stable = _smooth(xs[:stable], ys[:stable], width, part)[0]
        low, level, n_level = plateau.middle(s if stable == cut else s_stable, width)
        noise = sigma * math.sqrt(1.0 / _samples(xs, i_m, width, w) + (math.pi / 2) / n_level)
        return _Smoothing(s, i_m, low, level, level - float(s[i_m]), noise)

    r = _choose(at)
    # 4) the sweep's speed at the middle of the descent, against the standard sweep's
    k = min(bisect.bisect_left(plateau.x, r.low), cut - 1)
    accumulated = float(np.sum(lrs[: k + 1])) / float(lrs[k])
    shift = min(max(math.log10(accumulated / REFERENCE_STEPS), -1.0), 1.0)
    return CurveReading(
        lrs=tuple(lrs[:cut].tolist()),
        smoothed=tuple(r.smoothed.tolist()),
        start_level=r.level,
        low=10.0**r.low,
        minimum=10.0 ** float(xs[r.i_min]),
        catapult=float(lrs[stable]) if stable < cut else None,
        diverged_at=float(lrs[cut]) if cut < len(lrs) else None,
        drop=r.drop,
        noise=r.noise,
        speed_shift=shift,
    )


class _Smoothing(NamedTuple):
    """The curve read at one smoothing width."""

    smoothed: np.ndarray
    i_min: int  # where the smoothed loss is lowest
    low: float  # log10 LR of the middle of the stable descent
    level: float  # the start level the drop is measured from
    drop: float
    noise: float  # standard error of the drop

    @property
    def clear(self) -> bool:
        return self.i_min > 0 and self.drop > CLEAR * self.noise


def _choose(at: Callable[[float], _Smoothing]) -> _Smoothing:
    """The curve read at the narrowest smoothing width at which its drop stands CLEAR standard
    errors clear of its noise, or at the widest.

    The narrowest is tried first (most curves stand clear there), then the widest: a curve that
    is not clear even there shows no descent, and is read there without the widths in between
    (a flat curve costs two smoothings instead of four).
    """
    narrowest = at(BANDWIDTHS[0])
    if narrowest.clear:
        return narrowest
    widest = at(BANDWIDTHS[-1])
    if not widest.clear:
        return widest
    for width in BANDWIDTHS[1:-1]:
        r = at(width)
        if r.clear:
            return r
    return widest


class _Plateau:
    """The loss before training bites, and the middle of the descent measured from it."""

    def __init__(self, x: list[float], y: list[float], start: float, n0: int, sigma: float) -> None:
        self.x, self.y, self.start, self.n0, self.sigma = x, y, start, n0, sigma
        self._medians: dict[int, float] = {}

    def middle(self, s: np.ndarray, width: float) -> tuple[float, float, int]:
        """``(low, level, n)``: the log-LR where the smoothed ``s`` has made half of its drop
        from ``level``, the start level (the median of the ``n`` points of the plateau before
        the descent, once the descent is known: twice refined), and ``n``."""
        smoothed = s.tolist()
        floor = min(smoothed)
        head = smoothed[: smoothed.index(floor) + 1]

        def halfway(level: float) -> float:
            half = 0.5 * (level - floor)
            return _crossing(self.x, head, level - half) if half > 0 else self.x[0]

        level, n = self.start, self.n0
        for _ in range(2):
            # all of the plateau: more points, less noise. Unless the curve falls from its first
            # steps (no plateau): its first points are then the best estimate, and lie higher
            k = bisect.bisect_left(self.x, halfway(level) - width)  # the points below that
            falls = 2.5 * self.sigma * math.sqrt(1 / self.n0 + 1 / max(k, 1))
            if k > self.n0 and (median := self._median(k)) > self.start - falls:
                level, n = median, k
        return halfway(level), level, n

    def _median(self, k: int) -> float:
        if k not in self._medians:
            self._medians[k] = _median(self.y[:k])
        return self._medians[k]


def _lrkit(lrs: np.ndarray, losses: np.ndarray, r: CurveReading) -> Suggestion:
    scale = 10.0**r.speed_shift
    if r.minimum <= r.low:  # the whole curve's minimum before its stable descent's middle
        point = (
            "the loss's minimum came before the middle of its descent: too few steps to tell "
            "them apart, so the range is a point; sweep with more steps (num_iter)."
        )
        return Suggestion(r.low * scale, (r.low * scale, r.low * scale), "lrkit", point)
    lo, hi = math.log10(r.low), math.log10(r.minimum)
    lr = 10.0 ** (lo + FRACTION * (hi - lo)) * scale
    warning: str | None = None
    if r.diverged_at is None and r.minimum >= r.lrs[-1]:
        warning = (
            "the loss was still falling at the end of the sweep: the range's high end may "
            f"be too low{SWEEP_FURTHER}"
        )
    elif r.low <= r.lrs[min(len(r.lrs), max(5, len(losses) // 10)) - 1]:
        warning = (
            "the loss was already falling at the start of the sweep: start it lower "
            "(start_lr) for a reliable reading."
        )
    return Suggestion(lr, (r.low * scale, r.minimum * scale), "lrkit", warning)


Rule = Callable[[np.ndarray, np.ndarray, CurveReading], Suggestion]


def _point(name: str, fn: Callable[[np.ndarray, np.ndarray], float | None]) -> Rule:
    """Wraps an anchor rule that gives a point only."""

    def rule(lrs: np.ndarray, losses: np.ndarray, _: CurveReading) -> Suggestion:
        lr = fn(lrs, losses)
        warning = None if lr is not None else f"too few points left after {name}'s own cuts"
        return Suggestion(lr, None, name, warning)

    return rule


_RULES: dict[str, Rule] = {
    "lrkit": _lrkit,
    "steepest": _point("steepest", rules.steepest),
    "valley": _point("valley", rules.valley),
    "minimum/10": _point("minimum/10", rules.minimum_over_10),
    "lightning": _point("lightning", rules.lightning),
}
ALIASES = {"torch-lr-finder": "steepest", "fastai": "valley", "minimum": "minimum/10"}


def resolve_rule(rule: str) -> str:
    """The registered name of ``rule`` (an alias resolved).

    Raises:
        UnknownNameError: ``rule`` is neither a rule nor an alias (the message lists them).
    """
    name = ALIASES.get(rule, rule)
    if name not in _RULES:
        valid = ", ".join(repr(n) for n in rule_names() + sorted(ALIASES))
        raise UnknownNameError(f"Unknown suggestion rule {rule!r}; valid rules: {valid}.")
    return name


def rule_names() -> list[str]:
    """The registered rule names (aliases not included), sorted."""
    return sorted(_RULES)


def _check(lrs: Sequence[float], losses: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(lrs, dtype=float).ravel()
    y = np.asarray(losses, dtype=float).ravel()
    if len(x) != len(y):
        raise ConfigError(f"lrs and losses must have the same length, got {len(x)} and {len(y)}.")
    # The usual case in a few calls (this runs at the end of every range test): increasing
    # steps from a positive first LR to a finite last one leave no LR to reject.
    steps = np.diff(x)
    if len(x) and not (x[0] > 0 and math.isfinite(x[-1]) and (len(x) == 1 or steps.min() > 0)):
        if not (np.isfinite(x).all() and (x > 0).all()):
            raise ConfigError(
                "lrs must be finite and positive, got "
                f"{x[~(np.isfinite(x) & (x > 0))][:3].tolist()} among them."
            )
        i = int(np.argmax(steps <= 0))
        raise ConfigError(
            f"lrs must increase strictly along the sweep, got {x[i]!r} then "
            f"{x[i + 1]!r} at step {i + 1}."
        )
    if not math.isfinite(y.sum()):  # NaN / inf ends the curve: the sweep diverged there
        bad = ~np.isfinite(y)
        if bad.any():  # (not just an overflowing sum)
            stop = int(np.argmax(bad))
            x, y = x[:stop], y[:stop]
    return x, y


def suggest(
    lrs: Sequence[float],
    losses: Sequence[float],
    *,
    rule: str = "lrkit",
    stopped_early: bool = False,
) -> Suggestion:
    """Reads a suggested LR (and, for lrkit's rule, a range) from a range test.

    Args:
        lrs: The LR of each sweep step, in sweep order (strictly increasing, positive).
        losses: The raw (unsmoothed) training loss at each step. A NaN or infinite loss ends the
            curve: it and everything after it are ignored. Losses may be negative.
        rule: ``"lrkit"`` (default), or an anchor tool's rule for comparison: ``"steepest"``
            (torch-lr-finder), ``"valley"`` (fastai's default), ``"minimum/10"`` (fastai),
            ``"lightning"``.
        stopped_early: The sweep stopped before ``end_lr`` (the loss diverged, or the
            optimizer applies no higher LR), so a warning does not advise sweeping further.

    Returns:
        A :class:`Suggestion`; its ``lr`` is ``None`` (with a ``warning``) when the curve has
        fewer than ``MIN_POINTS`` finite points or shows no clear descent.

    Raises:
        UnknownNameError: ``rule`` is not registered (the message lists the valid names).
        ConfigError: lengths differ, or an LR is not positive, finite and increasing.

    Example:
        >>> print(suggest([1e-3, 1e-2], [1.0, 0.5]).warning)
        only 2 finite points: at least 10 are needed; sweep with more steps (num_iter).
    """
    name = resolve_rule(rule)
    x, y = _check(lrs, losses)
    if len(y) < MIN_POINTS:
        return Suggestion(
            None,
            None,
            name,
            _too_few(len(y), len(lrs), float(min(lrs, default=math.inf)), stopped_early),
        )
    swept = (float(np.min(lrs)), float(np.max(lrs)))  # NaN losses cut x, not the LRs tried
    reading = _read(x, y)
    if not reading.descends:  # for every rule: no made-up suggestion from a curve like this
        never = f"the loss never decreased clearly (drop {reading.drop:.3g}, noise "
        never += f"{reading.noise:.3g})"
        if len(y) < len(lrs) and not _rose(y):  # a NaN out of a level curve: not the LR's
            return Suggestion(None, None, name, _cut_short(never, len(y), float(lrs[len(y)])))
        further = "" if stopped_early else ", sweep further (end_lr)"  # it went far enough
        return Suggestion(
            None,
            None,
            name,
            f"{never}: no suggestion. Start the sweep lower (start_lr){further} or in more steps "
            "(num_iter), or check the model and the loss.",
        )
    read = _within(_RULES[name](x, y, reading), *swept, further=not stopped_early)
    if stopped_early and read.warning is not None and SWEEP_FURTHER in read.warning:
        return dataclasses.replace(read, warning=read.warning.replace(SWEEP_FURTHER, "."))
    return read


def _rose(y: np.ndarray) -> bool:
    """Whether a curve's last few losses stand clearly (3 standard errors of its step noise)
    above its first few: a loss on its way up, as one that diverges is."""
    k = min(5, len(y) // 2)
    if k == 0:
        return False
    return float(np.mean(y[-k:]) - np.mean(y[:k])) > 3 * _step_sigma(y.tolist()) / math.sqrt(k)


def _step_sigma(values: list[float]) -> float:
    """The standard deviation of one loss's noise, from the curve's step-to-step differences:
    their median absolute size (robust to the jumps of a catapult or a divergence), as an sd,
    over sqrt(2) for the two noisy losses in each difference."""
    steps = [abs(b - a) for a, b in itertools.pairwise(values)]
    return 1.4826 * _median(steps) / math.sqrt(2)


def _cut_short(never: str, finite: int, lr: float) -> str:
    """Why a curve that a non-finite loss cut short, with no rise before it, has no suggestion.

    Example:
        >>> print(_cut_short("the loss never decreased clearly", 29, 9.5e-5))
        ... # doctest: +NORMALIZE_WHITESPACE
        the loss never decreased clearly before a non-finite loss (NaN or inf) at lr 9.5e-05
        ended the sweep after 29 steps, with no rise before it: no suggestion. A loss that jumps
        from a level curve to NaN points to one batch or to the numbers (NaN or inf in the data,
        a float16 overflow) rather than to the LR; find that, or else start the sweep lower
        (start_lr).
    """
    return (
        f"{never} before a non-finite loss (NaN or inf) at lr {lr_text(lr)} ended the sweep "
        f"after {finite} steps, with no rise before it: no suggestion. A loss that jumps from a "
        "level curve to NaN points to one batch or to the numbers (NaN or inf in the data, a "
        "float16 overflow) rather than to the LR; find that, or else start the sweep lower "
        "(start_lr)."
    )


def _too_few(finite: int, steps: int, first_lr: float, stopped_early: bool) -> str:
    """Why a curve of ``finite`` finite losses (of ``steps``) has no suggestion.

    Example:
        >>> print(_too_few(1, 2, 1e-7, True))  # doctest: +NORMALIZE_WHITESPACE
        only 1 finite point: at least 10 are needed. The loss diverged after 1 step from lr
        1e-07: at LRs this low that points to the numbers rather than the LR (a float16 model,
        where Adam's eps=1e-8 is 0; NaN in the data); else sweep from a lower start_lr.
    """
    told = f"only {finite} finite point{'' if finite == 1 else 's'}: at least {MIN_POINTS} are "
    told += "needed"
    if finite == steps and not stopped_early:  # a short sweep: nothing diverged
        return f"{told}; sweep with more steps (num_iter)."
    after = f"{finite} step{'' if finite == 1 else 's'}"
    if finite < steps and first_lr <= LOW_START_LR:  # NaN or inf, not a loss that rose
        return (
            f"{told}. The loss diverged after {after} from lr {lr_text(first_lr)}: at LRs this "
            "low that points to the numbers rather than the LR (a float16 model, where Adam's "
            "eps=1e-8 is 0; NaN in the data); else sweep from a lower start_lr."
        )
    return f"{told}. The loss diverged after {after}: sweep from a lower start_lr."


def _within(s: Suggestion, first: float, last: float, *, further: bool = True) -> Suggestion:
    """``s`` kept to the LRs the sweep tried: the speed correction can carry a reading of a
    short or slow sweep past its ends, where no loss was measured (0.13 from a sweep to 0.1)."""
    if s.lr is None:
        return s
    lr = min(max(s.lr, first), last)
    span = None if s.range is None else tuple(min(max(v, first), last) for v in s.range)
    if lr == s.lr and span == s.range:
        return s
    below = s.lr < first or (s.range is not None and s.range[0] < first)
    above = s.lr > last or (s.range is not None and s.range[1] > last)
    advice = [a for a, past in (("start_lr", below), ("end_lr", above and further)) if past]
    wider = f": sweep a wider range ({', '.join(advice)})" if advice else ""
    note = (
        f"corrected for the sweep's speed, the reading lay past the LRs swept "
        f"({range_text(first, last)}); it is kept to them{wider}."
    )
    warning = note if s.warning is None else f"{s.warning} And {note}"
    return Suggestion(lr, span, s.rule, warning)  # type: ignore[arg-type]
