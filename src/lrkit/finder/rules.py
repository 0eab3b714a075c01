"""The anchor tools' suggestion rules, re-implemented from their documented behaviour.

Each function takes the LRs and *raw* losses of a range test in sweep order (finite values) and
returns the suggested LR, or ``None``. Each one first applies its tool's own smoothing and
divergence stop to the raw curve, so that all rules can be compared on the same recorded curves
(``benchmarks/finder_regret.py``). They are kept for comparison and for users who want a familiar
number; lrkit's own rule lives in ``lrkit.finder.suggest``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ema", "ema_debiased", "lightning", "minimum_over_10", "steepest", "valley"]


def ema(losses: np.ndarray, w: float = 0.05) -> np.ndarray:
    """torch-lr-finder's smoothing: ``s[0] = x[0]``, then ``s[i] = w * x[i] + (1 - w) * s[i-1]``.

    Example:
        >>> ema(np.array([1.0, 0.0, 0.0]), 0.5).tolist()
        [1.0, 0.5, 0.25]
    """
    out = np.empty(len(losses))
    acc = 0.0
    for i, x in enumerate(losses):
        acc = x if i == 0 else w * x + (1 - w) * acc
        out[i] = acc
    return out


def ema_debiased(losses: np.ndarray, beta: float = 0.98, offset: int = 1) -> np.ndarray:
    """fastai's / Lightning's smoothing: EMA from 0, divided by ``1 - beta ** (i + offset)``.

    Lightning counts from its global step, which is already 1 at the first loss: ``offset=2``.

    Example:
        >>> ema_debiased(np.array([2.0, 2.0, 2.0])).round(12).tolist()
        [2.0, 2.0, 2.0]
    """
    out = np.empty(len(losses))
    acc = 0.0
    for i, x in enumerate(losses):
        acc = beta * acc + (1 - beta) * x
        out[i] = acc / (1 - beta ** (i + offset))
    return out


def _stop(smooth: np.ndarray, threshold: float, first_check: int = 1) -> int:
    """Length of the curve the tool keeps: up to and including the first smoothed loss above
    ``threshold`` times the best smoothed loss before it (the point that triggers the stop is
    recorded by every anchor)."""
    best = smooth[0]
    for i in range(1, len(smooth)):
        if i >= first_check and smooth[i] > threshold * best:
            return i + 1
        best = min(best, smooth[i])
    return len(smooth)


def steepest(lrs: np.ndarray, losses: np.ndarray) -> float | None:
    """torch-lr-finder 0.2: EMA 0.05 (not debiased), stop above 5x the best, then the steepest
    ``np.gradient`` (per step, not per LR) over the points ``[10:-5]``."""
    smooth = ema(losses, 0.05)
    n = _stop(smooth, 5.0)
    x, s = lrs[:n][10:-5], smooth[:n][10:-5]
    if len(s) < 2:
        return None
    return float(x[int(np.argmin(np.gradient(s)))])


def _fastai_curve(lrs: np.ndarray, losses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """fastai's recorded curve: debiased EMA 0.98, stop above 4x the best, keep ``[n//10:-5]``
    where ``n`` is the requested number of iterations (taken as the curve's length here)."""
    smooth = ema_debiased(losses, 0.98)
    n = _stop(smooth, 4.0)
    skip = len(losses) // 10
    return lrs[:n][skip:-5], smooth[:n][skip:-5]


def valley(lrs: np.ndarray, losses: np.ndarray) -> float | None:
    """fastai's default: in the longest decreasing sequence of the smoothed loss, the point about
    half-way along (``start + int(d/3) + int(d/6)`` for a sequence spanning ``d`` steps)."""
    x, s = _fastai_curve(lrs, losses)
    if len(s) < 2:
        return None
    # length of the longest strictly decreasing subsequence ending at each point
    length = np.ones(len(s), dtype=int)
    end = 0
    for i in range(1, len(s)):
        earlier = length[:i][s[:i] > s[i]]
        if len(earlier):
            length[i] = earlier.max() + 1
        if length[i] > length[end]:
            end = i
    start = end - int(length[end])
    third = (end - start) / 3
    return float(x[start + int(third) + int(third / 2)])


def minimum_over_10(lrs: np.ndarray, losses: np.ndarray) -> float | None:
    """fastai's ``minimum``: the LR of the lowest smoothed loss, divided by 10."""
    x, s = _fastai_curve(lrs, losses)
    if len(s) < 1:
        return None
    return float(x[int(np.argmin(s))]) / 10


def lightning(lrs: np.ndarray, losses: np.ndarray) -> float | None:
    """Lightning's ``suggestion()``: debiased EMA 0.98 (counted from step 1), stop above 4x the
    best (checked from the third loss), then the steepest gradient *with respect to the LR* (not
    its log) over the points ``[10:-1]``."""
    smooth = ema_debiased(losses, 0.98, offset=2)
    n = _stop(smooth, 4.0, first_check=1)
    x, s = lrs[:n][10:-1], smooth[:n][10:-1]
    if len(s) < 2:
        return None
    return float(x[int(np.argmin(np.gradient(s, x)))])
