"""The suggested learning rate, and a (low, high) range, read from a range-test curve.

lrkit's rule (``"lrkit"``, the default) reads two landmarks from the curve, after zero-lag,
noise-robust smoothing in log-LR space (a centred Gaussian kernel, no EMA: an EMA lags the curve by
an amount that depends on the sweep's length, which is what pushes the anchors' steepest points
too high):

1. ``low``, the middle of the descent: the LR where the smoothed loss has made half of its total
   drop. The LR has become large enough to make fast progress there. For an S-shaped descent it is
   the steepest point, but found by a level crossing rather than by differentiating noise.
2. ``high``, the smoothed minimum: where the loss stops improving, the edge past which a constant
   LR is no longer stable. Everything after the loss has given back half of its improvement is cut
   first, so a noisy, chaotic tail cannot hold the minimum.

The suggestion is 15% of the way from ``low`` to ``high`` in log space,
``low * (high / low) ** 0.15``; ``(low, high)`` is the range (Leslie Smith's base and max LR:
where the loss is clearly falling, and where it stops falling).

Why there: on the regret suite (``benchmarks/finder_regret.py``, docs/finder.md) the best
constant LR of an exhaustive sweep lay within 0.8 decades of ``low`` on every task (0.24 above it
on average) and below ``high`` on 9 tasks of 10, and held-out scores collapse within half a decade
above ``high`` while they fall gently below ``low``. So the suggestion starts at ``low`` and leans
a little towards ``high``. How far is the rule's one fitted number: leave-one-task-out picks 0.15
on 9 folds of 10 (0.10 on the last), and regret is flat from 0.10 to 0.25.

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

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from lrkit.errors import ConfigError, UnknownNameError
from lrkit.finder import rules

__all__ = [
    "ALIASES",
    "FRACTION",
    "MIN_POINTS",
    "CurveReading",
    "Suggestion",
    "read_curve",
    "rule_names",
    "suggest",
]

MIN_POINTS = 10
FRACTION = 0.15  # where the suggestion sits between low (0) and high (1), in log-LR
BANDWIDTHS = (0.3, 0.45, 0.6, 0.9)  # Gaussian smoothing widths tried, in decades of LR
CLEAR = 5.0  # a drop of CLEAR standard errors needs no wider smoothing
DESCENT = 3.0  # a drop of fewer standard errors is not a descent
MEDIAN_HALF_WIDTH = 0.2  # spike filter before the divergence cut, in decades (>= 2 points)
GIVE_BACK = 0.5  # diverged once the loss has given back this share of its improvement
# steps' worth of LR accumulated at any point of the standard sweep (100 steps, 1e-7 -> 10)
REFERENCE_STEPS = 1.0 / (1.0 - 10.0 ** (-8.0 / 99.0))


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
    """What lrkit's rule reads from a curve; ``smoothed`` is data for plots.

    Attributes:
        lrs: The LRs of the points kept (up to the divergence cut).
        smoothed: The smoothed loss at each of those LRs.
        start_level: The loss before training bites: the median of the plateau before the
            descent (of the first tenth of the points when the curve falls from the start).
        low: The LR where the smoothed loss has made half of its drop (uncorrected).
        minimum: The LR of the smoothed minimum (uncorrected).
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
    diverged_at: float | None
    drop: float
    noise: float
    speed_shift: float

    @property
    def descends(self) -> bool:
        """Whether the loss fell clearly (by more than 3 standard errors) before its minimum."""
        return self.minimum > self.lrs[0] and self.drop > DESCENT * self.noise


def _running_median(x: np.ndarray, y: np.ndarray, half_width: float) -> np.ndarray:
    """Median over a window of ``±half_width`` in x (and at least ±2 points): removes spikes."""
    lo = np.searchsorted(x, x - half_width, side="left")
    hi = np.searchsorted(x, x + half_width, side="right")
    idx = np.arange(len(x))
    lo, hi = np.minimum(lo, np.maximum(idx - 2, 0)), np.maximum(hi, idx + 3)
    hi = np.minimum(hi, len(y))
    # One vectorised nanmedian over NaN-padded windows: a per-point np.median loop cost ~1.7 ms
    # per call, a visible share of a small model's range test.
    offsets = np.arange(int((hi - lo).max()))
    cols = lo[:, None] + offsets[None, :]
    windows = np.where(cols < hi[:, None], y[np.minimum(cols, len(y) - 1)], np.nan)
    return np.nanmedian(windows, axis=1)


def _smooth(x: np.ndarray, y: np.ndarray, width: float) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian kernel average (centred, so no lag) and each point's effective sample size."""
    out, n_eff = np.empty(len(x)), np.empty(len(x))
    for a in range(0, len(x), 512):  # in blocks: memory stays small for long sweeps
        w = np.exp(-0.5 * ((x[a : a + 512, None] - x[None, :]) / width) ** 2)
        total = w.sum(1)
        out[a : a + 512] = (w @ y) / total
        n_eff[a : a + 512] = total**2 / (w**2).sum(1)
    return out, n_eff


def _crossing(x: np.ndarray, s: np.ndarray, level: float) -> float:
    """First x where the decreasing part of ``s`` reaches ``level``, interpolated linearly."""
    i = int(np.argmax(s <= level))
    if i == 0:
        return float(x[0])
    return float(x[i - 1] + (x[i] - x[i - 1]) * (s[i - 1] - level) / (s[i - 1] - s[i]))


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
        >>> r.descends, round(r.low, 3), r.minimum > r.low
        (True, 0.01, True)
    """
    x, y = _check(lrs, losses)
    if len(y) < MIN_POINTS:
        raise ConfigError(f"read_curve needs at least {MIN_POINTS} finite points, got {len(y)}.")
    return _read(x, y)


def _read(lrs: np.ndarray, losses: np.ndarray) -> CurveReading:
    x = np.log10(lrs)
    n0 = max(5, len(losses) // 10)
    start = float(np.median(losses[:n0]))
    # 1) the divergence cut: first point past the (spike-filtered) minimum where the loss has
    #    given back half of its improvement; what follows says nothing about good LRs
    med = _running_median(x, losses, MEDIAN_HALF_WIDTH)
    i_min = int(np.argmin(med))
    back = med[i_min] + GIVE_BACK * max(start - med[i_min], 0.0)
    rising = np.nonzero(med[i_min:] >= back)[0] if start > med[i_min] else np.array([0])
    cut = i_min + int(rising[0]) if len(rising) else len(losses)
    cut = max(cut, 3)
    # 2) smooth what is left; find the minimum and the middle of the descent. A noisy curve is
    #    smoothed wider, until its drop stands clear of the noise (or the widest is reached)
    xs, ys = x[:cut], losses[:cut]
    sigma = 1.4826 * float(np.median(np.abs(np.diff(ys)))) / math.sqrt(2) if cut > 2 else 0.0
    for width in BANDWIDTHS:
        s, n_eff = _smooth(xs, ys, width)
        i_m = int(np.argmin(s))
        level, n_level = start, n0
        for _ in range(2):  # the start level: the plateau before the descent, once it is known
            drop = level - float(s[i_m])
            low = _crossing(xs[: i_m + 1], s[: i_m + 1], level - drop / 2) if drop > 0 else xs[0]
            # all of the plateau: more points, less noise. Unless the curve falls from its first
            # steps (no plateau): its first points are then the best estimate, and lie higher
            plateau = ys[xs < low - width]
            falls = 2.5 * sigma * math.sqrt(1 / n0 + 1 / max(len(plateau), 1))
            if len(plateau) > n0 and float(np.median(plateau)) > start - falls:
                level, n_level = float(np.median(plateau)), len(plateau)
        drop = level - float(s[i_m])
        low = _crossing(xs[: i_m + 1], s[: i_m + 1], level - drop / 2) if drop > 0 else xs[0]
        noise = sigma * math.sqrt(1.0 / n_eff[i_m] + (math.pi / 2) / n_level)
        if i_m > 0 and drop > CLEAR * noise:
            break
    # 3) the sweep's speed at the middle of the descent, against the standard sweep's
    k = int(np.searchsorted(xs, low))
    k = min(k, len(xs) - 1)
    accumulated = float(np.sum(lrs[: k + 1])) / float(lrs[k])
    shift = float(np.clip(math.log10(accumulated / REFERENCE_STEPS), -1.0, 1.0))
    return CurveReading(
        lrs=tuple(float(v) for v in lrs[:cut]),
        smoothed=tuple(float(v) for v in s),
        start_level=level,
        low=10.0 ** float(low),
        minimum=10.0 ** float(xs[i_m]),
        diverged_at=float(lrs[cut]) if cut < len(lrs) else None,
        drop=drop,
        noise=noise,
        speed_shift=shift,
    )


def _lrkit(lrs: np.ndarray, losses: np.ndarray, r: CurveReading) -> Suggestion:
    lo, hi = math.log10(r.low), math.log10(r.minimum)
    scale = 10.0**r.speed_shift
    lr = 10.0 ** (lo + FRACTION * (hi - lo)) * scale
    warning = None
    if r.diverged_at is None and r.minimum >= r.lrs[-1]:
        warning = (
            "the loss was still falling at the end of the sweep: the range's high end may "
            "be too low; sweep further (end_lr)."
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


def rule_names() -> list[str]:
    """The registered rule names (aliases not included), sorted."""
    return sorted(_RULES)


def _check(lrs: Sequence[float], losses: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(lrs, dtype=float).ravel()
    y = np.asarray(losses, dtype=float).ravel()
    if len(x) != len(y):
        raise ConfigError(f"lrs and losses must have the same length, got {len(x)} and {len(y)}.")
    if not (np.isfinite(x).all() and (x > 0).all()):
        raise ConfigError(
            "lrs must be finite and positive, got "
            f"{x[~(np.isfinite(x) & (x > 0))][:3].tolist()} among them."
        )
    if len(x) > 1 and not (np.diff(x) > 0).all():
        i = int(np.argmax(np.diff(x) <= 0))
        raise ConfigError(
            f"lrs must increase strictly along the sweep, got {x[i]!r} then "
            f"{x[i + 1]!r} at step {i + 1}."
        )
    bad = ~np.isfinite(y)
    if bad.any():  # NaN / inf ends the curve: the sweep diverged there
        stop = int(np.argmax(bad))
        x, y = x[:stop], y[:stop]
    return x, y


def suggest(lrs: Sequence[float], losses: Sequence[float], *, rule: str = "lrkit") -> Suggestion:
    """Reads a suggested LR (and, for lrkit's rule, a range) from a range test.

    Args:
        lrs: The LR of each sweep step, in sweep order (strictly increasing, positive).
        losses: The raw (unsmoothed) training loss at each step. A NaN or infinite loss ends the
            curve: it and everything after it are ignored. Losses may be negative.
        rule: ``"lrkit"`` (default), or an anchor tool's rule for comparison: ``"steepest"``
            (torch-lr-finder), ``"valley"`` (fastai's default), ``"minimum/10"`` (fastai),
            ``"lightning"``.

    Returns:
        A :class:`Suggestion`; its ``lr`` is ``None`` (with a ``warning``) when the curve has
        fewer than ``MIN_POINTS`` finite points or shows no clear descent.

    Raises:
        UnknownNameError: ``rule`` is not registered (the message lists the valid names).
        ConfigError: lengths differ, or an LR is not positive, finite and increasing.

    Example:
        >>> suggest([1e-3, 1e-2], [1.0, 0.5]).warning
        'only 2 finite points: at least 10 are needed; sweep with more steps (num_iter).'
    """
    name = ALIASES.get(rule, rule)
    if name not in _RULES:
        valid = ", ".join(repr(n) for n in rule_names() + sorted(ALIASES))
        raise UnknownNameError(f"Unknown suggestion rule {rule!r}; valid rules: {valid}.")
    x, y = _check(lrs, losses)
    if len(y) < MIN_POINTS:
        return Suggestion(
            None,
            None,
            name,
            f"only {len(y)} finite points: at least {MIN_POINTS} "
            "are needed; sweep with more steps (num_iter).",
        )
    reading = _read(x, y)
    if not reading.descends:  # for every rule: no made-up suggestion from a curve like this
        return Suggestion(
            None,
            None,
            name,
            f"the loss never decreased clearly (drop {reading.drop:.3g}, noise "
            f"{reading.noise:.3g}): no suggestion. Start the sweep lower (start_lr), sweep further "
            "(end_lr), or check the model and the loss.",
        )
    return _RULES[name](x, y, reading)
