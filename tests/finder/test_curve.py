"""The online curve: smoothing, and a divergence rule that works for any loss scale and sign."""

from __future__ import annotations

import math
import random

import pytest

from lrkit.finder import LossCurve


def _feed(values: list[float], smooth_f: float = 0.0, th: float = 5.0) -> tuple[LossCurve, object]:
    curve = LossCurve(smooth_f, th)
    return curve, curve.extend(values)


def test_smoothing_is_a_debiased_ema_and_zero_turns_it_off() -> None:
    curve, stop = _feed([1.0, 3.0, 3.0], smooth_f=0.5)
    assert stop is None
    # weights 1/2, then (1/4, 1/2) / (3/4), then (1/8, 1/4, 1/2) / (7/8)
    assert curve.smoothed == pytest.approx([1.0, 7 / 3, 19 / 7])
    assert _feed([1.0, 3.0], smooth_f=0.0)[0].smoothed == [1.0, 3.0]


def test_positive_losses_stop_exactly_as_the_classic_ratio_rule() -> None:
    assert _feed([2.3, 1.0, 0.5, 2.4, 2.6])[1] == (4, "diverged")  # 2.6 > 5 * 0.5
    assert _feed([2.3, 1.0, 0.5, 2.4, 2.5])[1] is None  # 2.5 is not above 5 * 0.5


def test_losses_near_zero_are_measured_against_the_span_not_the_tiny_best() -> None:
    # MSE from 1.0 down to 1e-4: a 5x ratio rule would stop at 5e-4 (noise); this one waits
    # for a rise of a whole span (back to about the start).
    values = [1.0, 0.1, 1e-3, 1e-4, 3e-4, 0.02, 0.5]
    assert _feed(values)[1] is None
    assert _feed([*values, 1.2])[1] == (7, "diverged")


def test_negative_losses_and_losses_through_zero_work() -> None:
    assert _feed([-1.0, -2.0, -3.0, -2.5, -2.0])[1] is None  # a ratio would be meaningless
    assert _feed([-1.0, -2.0, -3.0, 10.0])[1] == (3, "diverged")  # 13 > 4 * 3
    assert _feed([2.0, 0.5, -0.01, 0.2, 0.6])[1] is None
    assert _feed([2.0, 0.5, -0.01, 2.2])[1] == (3, "diverged")  # a rise of over one span


def test_a_flat_curve_never_diverges_on_noise() -> None:
    noise = [1.0 + 0.01 * math.sin(7 * i) for i in range(200)]
    assert _feed(noise, smooth_f=0.05)[1] is None


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_loss_stops_the_sweep_unrecorded(bad: float) -> None:
    curve, stop = _feed([1.0, 0.9, bad, 0.5])
    assert stop == (2, "non_finite_loss") and curve.raw == [1.0, 0.9]
    assert all(math.isfinite(v) for v in curve.smoothed)


def test_chunks_continue_one_curve() -> None:
    whole, _ = _feed([3.0, 2.0, 1.0, 1.5, 2.0], smooth_f=0.3)
    parts = LossCurve(0.3, 5.0)
    assert parts.extend([3.0, 2.0]) is None and parts.extend([1.0, 1.5, 2.0]) is None
    assert parts.smoothed == whole.smoothed and parts.best == whole.best
    assert parts.extend([99.0]) == (5, "diverged")  # positions count over the whole curve


def _reference(losses: list[float], smooth_f: float, th: float) -> tuple[object, list, list]:
    """The rule of the module docstring, one loss at a time, as plainly as it can be written."""
    raw: list[float] = []
    smoothed: list[float] = []
    avg = total = 0.0
    for value in losses:
        if not math.isfinite(value):
            return (len(raw), "non_finite_loss"), raw, smoothed
        avg, total = (1 - smooth_f) * avg + smooth_f * value, (1 - smooth_f) * total + smooth_f
        raw.append(value)
        smoothed.append(avg / total if smooth_f else value)
        first, best = smoothed[0], min(smoothed)
        scale = max(abs(best), (first - best) / 4, 1e-12 * max(1.0, abs(first)))
        if smoothed[-1] - best > (th - 1) * scale:
            return (len(raw) - 1, "diverged"), raw, smoothed
    return None, raw, smoothed


@pytest.mark.parametrize("seed", range(20))
def test_queued_losses_stop_exactly_where_checking_each_one_stops(seed: int) -> None:
    """Losses that cannot end the sweep are only queued (smoothed later, in one pass); the
    curve and where it stops must not depend on that, nor on how the losses are chunked."""
    rng = random.Random(seed)
    for _ in range(50):
        n = rng.randint(1, 60)
        base, noise = rng.choice([2.3, 0.01, -1.0, 0.0, 100.0]), rng.choice([1e-3, 0.1, 1.0])
        losses = [
            base + rng.gauss(0.0, noise) * (1 + (i > 0.7 * n) * rng.choice([0, 10, 1000]))
            for i in range(n)
        ]
        if rng.random() < 0.1:
            losses[rng.randrange(n)] = rng.choice([math.nan, math.inf, -math.inf])
        smooth_f, diverge_th = rng.choice([0.0, 0.05, 0.3]), rng.choice([1.5, 5.0])
        stop, raw, smoothed = _reference(losses, smooth_f, diverge_th)
        curve, got, i = LossCurve(smooth_f, diverge_th), None, 0
        while i < n and got is None:
            k = rng.randint(1, 12)
            got, i = curve.extend(losses[i : i + k]), i + k
        assert got == stop
        assert curve.raw == raw and curve.smoothed == pytest.approx(smoothed, rel=1e-12)
