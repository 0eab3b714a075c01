"""The online curve: smoothing, and a divergence rule that works for any loss scale and sign."""

from __future__ import annotations

import math

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
