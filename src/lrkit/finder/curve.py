"""The loss curve of a range test, built online: smoothing and the decision to stop.

The sweep hands losses over in chunks (the finder reads them back from the device every few
steps, so that a GPU never waits on the host after each step); :class:`LossCurve` smooths them,
tracks the best smoothed loss and says, for each new loss, whether the sweep must stop.

Two reasons stop a sweep:

- ``"non_finite_loss"``: a raw loss is NaN or infinite. That step is not recorded, so a NaN can
  never reach the smoothed curve or the suggestion.
- ``"diverged"``: the smoothed loss rose too far above the best smoothed loss so far. "Too far"
  is not a bare ratio to the best loss (torch-lr-finder's ``smoothed > 5 * best``), which breaks
  when the best loss is near zero (any noise is a 5x rise) or negative (a ratio means nothing):
  the rise is measured against a *scale*,

      smoothed - best > (diverge_th - 1) * scale,   scale = max(|best|, span / 4, tiny)

  where ``span = first - best`` is how far the smoothed loss has come down. For a loss that stays
  well above zero (cross-entropy from 2.3 down to 0.5: ``|best| = 0.5 > span / 4``) this is
  exactly the classic ``smoothed > diverge_th * best``; for a loss that fell close to zero (or
  through it) the span keeps the threshold at the height of the curve itself: with the default
  ``diverge_th=5``, a rise of one full span, back to where the curve started. A negative best
  loss is measured by its size, like a positive one, so a curve below zero stops only on a rise
  several times its own height.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Literal

Stop = Literal["diverged", "non_finite_loss"]

_TINY = 1e-12  # times the first loss: only a curve exactly flat at 0 ever needs it


class LossCurve:
    """Raw and smoothed losses of one sweep, and whether it must stop.

    Smoothing is an exponential moving average in which each new loss has weight ``smooth_f``,
    debiased as fastai does so that the first values are not pulled towards zero or towards the
    first loss; ``smooth_f=0`` turns smoothing off (the smoothed curve is the raw one).

    Args:
        smooth_f: Weight of each new loss, in ``[0, 1)``.
        diverge_th: How far the smoothed loss may rise above its best, in units of the curve's
            scale (see the module docstring); ``> 1``.

    Example:
        >>> curve = LossCurve(smooth_f=0.0, diverge_th=5.0)
        >>> curve.extend([2.0, 1.0, 0.5, 0.6, 3.0])  # 3.0 > 5 * 0.5: stop there
        (4, 'diverged')
        >>> curve.raw, curve.best
        ([2.0, 1.0, 0.5, 0.6, 3.0], 0.5)
        >>> LossCurve(0.0, 5.0).extend([-1.0, -2.0, float("nan")])  # the NaN is not recorded
        (2, 'non_finite_loss')
    """

    def __init__(self, smooth_f: float, diverge_th: float) -> None:
        self.smooth_f = float(smooth_f)
        self.diverge_th = float(diverge_th)
        self._raw: list[float] = []
        self._smoothed: list[float] = []
        self._best = math.inf
        self._first = math.nan
        self._avg = 0.0
        self._weight = 0.0  # 1 - (1 - smooth_f) ** n: the debiasing divisor after n losses
        # Losses added but not smoothed yet, and the range of every raw loss added so far.
        self._queue: list[float] = []
        self._low, self._high = math.inf, -math.inf

    @property
    def raw(self) -> list[float]:
        """The losses recorded, in order (a diverging one included, a non-finite one not)."""
        self._drain()
        return self._raw

    @property
    def smoothed(self) -> list[float]:
        """The smoothed loss at each recorded step."""
        self._drain()
        return self._smoothed

    @property
    def best(self) -> float:
        """The lowest smoothed loss so far."""
        self._drain()
        return self._best

    def __len__(self) -> int:
        return len(self.raw)

    def extend(self, losses: Iterable[float]) -> tuple[int, Stop] | None:
        """Adds losses in order; stops at the first one that ends the sweep.

        Losses that cannot end the sweep are only queued, and smoothed later in one pass (when
        the curve is read, or when a later loss might end the sweep): this runs every few steps
        of every sweep, where the work between two training steps is worth keeping small.

        Returns:
            ``None`` if every loss was added and the sweep may go on; else ``(index, reason)``:
            the position (counted over the whole curve) of the loss that ended it. A diverging
            loss is recorded (it is the last point of the curve); a non-finite one is not.
        """
        chunk = list(losses)
        if not chunk:
            return None
        self._queue += chunk
        self._low, self._high = min(self._low, *chunk), max(self._high, *chunk)
        if self._quiet(sum(chunk)):
            return None
        return self._drain()

    def _quiet(self, total: float) -> bool:
        """Whether no loss added so far can end the sweep: all are finite, and their whole range
        is within the rise that ends it (every smoothed loss lies in that range, and the scale
        a rise is measured against is at least the distance of the range from zero)."""
        if not math.isfinite(total):  # a NaN or inf among the new losses (or an overflow)
            return False
        low, high = self._low, self._high
        first = self._raw[0] if self._raw else self._queue[0]
        floor = low if low > 0.0 else (-high if high < 0.0 else 0.0)
        scale = max(floor, _TINY * max(1.0, abs(first)))
        return high - low <= (self.diverge_th - 1.0) * scale

    def _drain(self) -> tuple[int, Stop] | None:
        """Smooths the queued losses and checks each one (see the module docstring)."""
        if not self._queue:
            return None
        queue, self._queue = self._queue, []
        raw, smoothed = self._raw, self._smoothed
        keep, weight, rise = 1.0 - self.smooth_f, self.smooth_f, self.diverge_th - 1.0
        avg, total, best, first = self._avg, self._weight, self._best, self._first
        stop: tuple[int, Stop] | None = None
        for value in queue:  # plain locals: this runs for every step of every sweep
            if value - value != 0.0:  # NaN or infinite, without a function call
                stop = (len(raw), "non_finite_loss")
                break
            if weight:
                avg = keep * avg + weight * value
                total = keep * total + weight
                current = avg / total
            else:
                current = value
            if not raw:
                first = current
            raw.append(value)
            smoothed.append(current)
            if current < best:
                best = current
            span = (first - best) / 4.0
            scale = -best if best < 0.0 else best
            if current - best > rise * max(scale, span, _TINY * max(1.0, abs(first))):
                stop = (len(raw) - 1, "diverged")
                break
        self._avg, self._weight, self._best, self._first = avg, total, best, first
        return stop
