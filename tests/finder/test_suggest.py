"""The suggestion rules on synthetic curves whose answer is known."""

from __future__ import annotations

import math
from dataclasses import FrozenInstanceError

import numpy as np
import pytest

from lrkit.errors import ConfigError, UnknownNameError
from lrkit.finder.suggest import (
    ALIASES,
    FRACTION,
    MIN_POINTS,
    Suggestion,
    read_curve,
    rule_names,
    suggest,
)

RULES = [pytest.param(name, id=name) for name in rule_names()]
LRS = np.logspace(-7, 1, 100)  # the standard sweep: 100 steps from 1e-7 to 10


def valley(lrs: np.ndarray, center: float = 1e-3, edge: float = 1.0) -> np.ndarray:
    """A clean range-test shape: a plateau at 2, an S-shaped descent to 0.5 around ``center``,
    then a blow-up past ``edge``."""
    x = np.log10(lrs)
    descent = 1.5 / (1 + np.exp(-(x - math.log10(center)) / 0.25))
    return 2.0 - descent + np.exp((x - math.log10(edge)) / 0.15)


def true_minimum(lrs: np.ndarray, losses: np.ndarray) -> float:
    return float(lrs[int(np.argmin(losses))])


@pytest.mark.parametrize("rule", RULES)
def test_clean_valley_suggests_an_lr_in_the_descent_below_the_minimum(rule: str) -> None:
    losses = valley(LRS)
    s = suggest(LRS, losses, rule=rule)
    assert s.lr is not None and s.warning is None and s.rule == rule
    assert s.lr < true_minimum(LRS, losses)
    at = np.interp(math.log10(s.lr), np.log10(LRS), losses)
    assert losses.min() < at < 2.0 - 1e-3  # on the way down, not on the plateau


@pytest.mark.parametrize("rule", RULES)
def test_noisy_valley_still_suggests_an_lr_in_the_descent(rule: str) -> None:
    noise = np.random.default_rng(0).normal(0.0, 0.05, len(LRS))
    s = suggest(LRS, valley(LRS) + noise, rule=rule)
    assert s.lr is not None
    assert 1e-5 < s.lr < true_minimum(LRS, valley(LRS))


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize(
    "curve",
    [
        pytest.param(np.full(100, 1.0), id="flat"),
        pytest.param(1.0 + np.random.default_rng(1).normal(0.0, 0.1, 100), id="flat-noisy"),
        pytest.param(np.linspace(1.0, 3.0, 100), id="rising"),
        pytest.param(1.0 + np.exp(np.linspace(-5, 5, 100)), id="blowing-up"),
    ],
)
def test_a_curve_without_descent_gives_no_suggestion_and_says_why(
    rule: str, curve: np.ndarray
) -> None:
    s = suggest(LRS, curve, rule=rule)
    assert s.lr is None and s.range is None
    assert s.warning is not None and "never decreased" in s.warning


@pytest.mark.parametrize("rule", RULES)
def test_short_curves_give_no_suggestion(rule: str) -> None:
    s = suggest(LRS[: MIN_POINTS - 1], valley(LRS)[: MIN_POINTS - 1], rule=rule)
    assert s.lr is None and s.warning is not None and "at least 10" in s.warning
    assert suggest([], [], rule=rule).lr is None


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_loss_ends_the_curve(rule: str, bad: float) -> None:
    losses = valley(LRS)
    cut = 80
    spoiled = losses.copy()
    spoiled[cut] = bad
    spoiled[cut + 1 :] = 1.0  # whatever follows a NaN is never read
    assert suggest(LRS, spoiled, rule=rule) == suggest(LRS[:cut], losses[:cut], rule=rule)


def test_a_nan_at_the_start_leaves_too_few_points() -> None:
    losses = valley(LRS)
    losses[3] = math.nan
    s = suggest(LRS, losses)
    assert s.lr is None and s.warning is not None and "only 3 finite points" in s.warning
    assert "diverged after 3 steps from lr 1e-07: at LRs this low that points to the " in s.warning


def test_too_few_points_says_whether_the_sweep_was_short_or_diverged() -> None:
    """QA 119: a float16 Adam (eps=1e-8 is 0) whose loss was NaN after one step at lr 1e-7 was
    told "only 1 finite points", and to sweep from a lower start_lr."""
    losses = valley(LRS)
    short = suggest(LRS[:5], losses[:5]).warning
    assert (
        short == "only 5 finite points: at least 10 are needed; sweep with more steps (num_iter)."
    )
    one = suggest(LRS[:2], [losses[0], math.nan]).warning
    assert one is not None and one.startswith("only 1 finite point: ")
    higher = suggest(LRS[50:56], [*losses[50:55], math.inf]).warning
    assert higher is not None and higher.endswith(
        "diverged after 5 steps: sweep from a lower start_lr."
    )
    stopped = suggest(LRS[50:55], losses[50:55], stopped_early=True).warning  # a finite blow-up
    assert stopped is not None and stopped.endswith(
        "diverged after 5 steps: sweep from a lower start_lr."
    )
    # QA 123: a finite jump at a low LR (a model overfit to its first batch) is no sign of
    # float16 or NaN in the data
    low = suggest(LRS[:2], losses[:2], stopped_early=True).warning
    assert low is not None and "numbers" not in low and "diverged after 2 steps" in low


def test_a_nan_out_of_a_level_curve_points_to_the_data_not_the_lr() -> None:
    """QA 125: one bad batch's NaN at step 30 of a curve that had not fallen yet was told to
    start the sweep lower; a curve on its way up to a NaN still is."""
    level = 1.0 + np.random.default_rng(0).normal(0.0, 0.01, 30)
    cut = suggest(LRS[:31], [*level, math.nan]).warning
    assert cut is not None and "Start the sweep lower" not in cut
    assert f"before a non-finite loss (NaN or inf) at lr {LRS[30]:.4g} ended the sweep" in cut
    assert "after 30 steps, with no rise before it: no suggestion. A loss that jumps" in cut
    rising = suggest(LRS[:31], [*np.linspace(1.0, 3.0, 30), math.nan]).warning
    assert rising is not None and "non-finite" not in rising
    assert "no suggestion. Start the sweep lower (start_lr)" in rising


def test_lrkit_reads_shifted_and_scaled_losses_the_same() -> None:
    """No ratio-to-best logic: negative losses (an ELBO, a reward) and units do not matter."""
    losses = valley(LRS) + np.random.default_rng(2).normal(0.0, 0.03, len(LRS))
    base = suggest(LRS, losses)
    for other in (losses - 10.0, 3.0 * losses - 7.0):
        s = suggest(LRS, other)
        assert s.lr == pytest.approx(base.lr, rel=1e-9)
        assert s.range == pytest.approx(base.range, rel=1e-9)


def test_lrkit_range_brackets_the_suggestion() -> None:
    losses = valley(LRS)
    s = suggest(LRS, losses)
    assert s.range is not None and s.lr is not None
    low, high = s.range
    assert low < s.lr <= high
    # low: the middle of the descent; high: where the loss stops improving
    assert abs(math.log10(low / 1e-3)) < 0.1
    assert abs(math.log10(high / true_minimum(LRS, losses))) < 0.25  # smoothing: a little lower
    # the suggestion: 15% of the way from low to high, in log space
    assert math.log10(s.lr) == pytest.approx(
        (1 - FRACTION) * math.log10(low) + FRACTION * math.log10(high), abs=1e-9
    )


def _simulated_sweep(num_iter: int, start: float = 1e-7, end: float = 10.0) -> tuple:
    """A toy model of a real sweep: progress depends on the LR *accumulated* so far (so a slower
    sweep descends at lower LRs), and the loss blows up past an LR of 0.3."""
    lrs = start * (end / start) ** (np.arange(num_iter) / (num_iter - 1))
    accumulated = np.cumsum(lrs)
    losses = 0.5 + 1.5 * np.exp(-accumulated / 1e-2) + np.exp((np.log10(lrs) + 0.5) / 0.1)
    return lrs, losses


def test_lrkit_suggestion_does_not_depend_on_the_sweep_length_or_range() -> None:
    base = suggest(*_simulated_sweep(100))
    assert base.lr is not None
    for other in (_simulated_sweep(200), _simulated_sweep(400), _simulated_sweep(100, 1e-8, 1.0)):
        s = suggest(*other)
        assert s.lr is not None
        assert abs(math.log10(s.lr / base.lr)) < 0.1  # within a quarter of a grid step


def test_lrkit_warns_when_the_loss_was_still_falling_at_the_end() -> None:
    losses = valley(LRS, center=1e-2, edge=1e3)  # never blows up within the sweep
    s = suggest(LRS, losses)
    assert s.lr is not None and s.warning is not None and "end_lr" in s.warning


def test_lrkit_keeps_its_reading_to_the_lrs_swept() -> None:
    # a decade in 100 steps is 8x slower than the standard sweep: the speed correction moves
    # the reading up, here past end_lr, where no loss was measured
    lrs = np.logspace(-2, -1, 100)
    losses = 2.0 - 1.5 / (1 + (0.03 / lrs) ** 2) + 0.01 * np.random.default_rng(0).random(100)
    s = suggest(lrs, losses)
    assert s.lr is not None and s.range is not None
    assert 0.01 <= s.range[0] <= s.lr <= s.range[1] <= 0.1
    assert s.warning is not None and "past the LRs swept (0.01 to 0.1)" in s.warning
    assert suggest(*_simulated_sweep(100)).warning is None  # the standard sweep: no such note


def test_read_curve_marks_the_divergence() -> None:
    r = read_curve(LRS, valley(LRS))
    assert r.descends and r.diverged_at is not None
    assert 1.0 < r.diverged_at < 10.0
    assert len(r.smoothed) == len(r.lrs) < len(LRS)


def _catapult_curve() -> tuple[np.ndarray, int]:
    """A descent cut short by instability: the loss falls from 2.3 from 1e-2 on, is thrown back
    above its start at 0.2 (a catapult), then jumps about, lower on average, until it diverges."""
    x = np.log10(LRS)
    losses = 2.3 - 1.5 / (1 + np.exp(-(x + 0.3) / 0.3))
    losses += np.random.default_rng(3).normal(0.0, 0.005, len(LRS))
    jump = int(np.searchsorted(LRS, 0.2))
    chaos = np.random.default_rng(4).uniform(0.3, 1.9, len(LRS) - jump)
    losses[jump:] = np.where(np.arange(len(LRS) - jump) % 3 == 0, 2.6, chaos)
    losses[int(np.searchsorted(LRS, 3.0)) :] = 50.0
    return losses, jump


def test_low_is_read_on_the_stable_descent_before_the_first_catapult() -> None:
    losses, jump = _catapult_curve()
    r = read_curve(LRS, losses)
    assert r.catapult == LRS[jump]
    stable = read_curve(LRS[:jump], losses[:jump])  # the same curve, stopped at the jump
    assert r.low == pytest.approx(stable.low, rel=0.05)
    assert r.low < r.catapult < r.minimum  # the chaotic region still holds the minimum
    s = suggest(LRS, losses)
    assert s.lr is not None and s.lr < r.catapult


def test_noise_alone_is_no_catapult() -> None:
    noisy = valley(LRS) + np.random.default_rng(0).normal(0.0, 0.05, len(LRS))
    assert read_curve(LRS, noisy).catapult is None
    assert read_curve(LRS, valley(LRS)).catapult is None


@pytest.mark.parametrize(
    ("lrs", "losses", "match"),
    [
        ([1e-3, 1e-2], [1.0], "same length"),
        ([1e-3, -1e-2, 1e-1], [1.0, 1.0, 1.0], "positive"),
        ([1e-3, math.nan, 1e-1], [1.0, 1.0, 1.0], "finite"),
        ([1e-3, 1e-3, 1e-1], [1.0, 1.0, 1.0], "increase strictly"),
    ],
)
def test_bad_lrs_are_config_errors(lrs: list, losses: list, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        suggest(lrs, losses)


def test_unknown_rule_lists_the_valid_names() -> None:
    with pytest.raises(UnknownNameError) as err:
        suggest(LRS, valley(LRS), rule="slide")
    for name in rule_names():
        assert repr(name) in str(err.value)


@pytest.mark.parametrize(("alias", "name"), sorted(ALIASES.items()))
def test_aliases_name_the_same_rule(alias: str, name: str) -> None:
    assert suggest(LRS, valley(LRS), rule=alias) == suggest(LRS, valley(LRS), rule=name)


def test_suggestion_is_frozen() -> None:
    s = Suggestion(1e-3, (1e-4, 1e-2), "lrkit")
    with pytest.raises(FrozenInstanceError):
        s.lr = 1.0  # type: ignore[misc]


def test_anchor_rules_give_a_point_only() -> None:
    for name in rule_names():
        s = suggest(LRS, valley(LRS), rule=name)
        assert (s.range is None) == (name != "lrkit")


def test_read_curve_needs_enough_points() -> None:
    with pytest.raises(ConfigError, match="at least 10"):
        read_curve(LRS[:5], valley(LRS)[:5])


def test_no_advice_to_sweep_further_after_a_sweep_that_stopped_early() -> None:
    lrs = np.logspace(-7, 1, 100).tolist()
    flat = (2.3 + 0.01 * np.sin(np.arange(100))).tolist()  # never falls
    went_on = suggest(lrs, flat)
    stopped = suggest(lrs, flat, stopped_early=True)
    assert went_on.lr is None and stopped.lr is None
    assert went_on.warning is not None and "sweep further (end_lr)" in went_on.warning
    assert stopped.warning is not None and "sweep further" not in stopped.warning
    assert "Start the sweep lower (start_lr) or in more steps (num_iter)" in stopped.warning


def test_a_long_sweep_is_smoothed_as_it_would_be_over_every_point(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """100,000 steps smoothed each point against every other (81 s); now the kernel leaves out
    points past 7.8 widths. The reading is the same, to the last digits."""
    from lrkit.finder import suggest as rule

    lrs = np.geomspace(1e-7, 10, 3000)
    x = np.log10(lrs)
    noise = np.random.default_rng(1).normal(0, 0.05, len(lrs))
    losses = 2 - 1.5 / (1 + np.exp(-(x + 2) * 3)) + np.where(lrs > 1, (lrs - 1) * 5, 0) + noise
    near = rule._smooth(x, losses, 0.3, None)[0]
    reading = read_curve(lrs, losses)
    monkeypatch.setattr(rule, "KERNEL_REACH", math.inf)  # every point in every average
    np.testing.assert_allclose(near, rule._smooth(x, losses, 0.3, None)[0], rtol=1e-12)
    before = read_curve(lrs, losses)  # as every point was read before
    assert (reading.diverged_at, reading.catapult) == (before.diverged_at, before.catapult)
    assert (reading.low, reading.minimum) == pytest.approx((before.low, before.minimum), rel=1e-12)
    np.testing.assert_allclose(reading.smoothed, before.smoothed, rtol=1e-12)


@pytest.mark.parametrize("sweep", ["exponential", "linear"])
def test_a_long_sweep_s_smoothing_is_the_kernel_average_over_every_point(sweep: str) -> None:
    """Past 1024 points an exponential sweep (evenly spaced in log-LR) is smoothed by one FFT
    convolution (100,000 steps: 0.25 s instead of 51 s), a linear one in blocks of points within
    reach; both equal the kernel average of every point over every other, at every width."""
    from lrkit.finder import suggest as rule

    n = 3000
    lrs = np.geomspace(1e-7, 10, n) if sweep == "exponential" else np.linspace(1e-4, 1, n)
    x = np.log10(lrs)
    losses = 2 - 1.5 / (1 + np.exp(-(x + 2) * 3)) + np.random.default_rng(2).normal(0, 0.05, n)
    assert (rule._even_step(x) is not None) == (sweep == "exponential")
    for width in rule.BANDWIDTHS:
        w = np.exp(-0.5 / width**2 * np.subtract.outer(x, x) ** 2)
        every = (w @ losses) / w.sum(1)
        np.testing.assert_allclose(rule._smooth(x, losses, width, None)[0], every, rtol=1e-12)


def test_a_spike_that_dwarfs_a_long_curve_is_averaged_point_by_point(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An FFT's rounding is a share of the largest loss, spread over every point: under a spike
    1e14 times the curve it moved the smoothed minimum from 5.0 to 5.5 (review 109). Such a
    curve is averaged in blocks, as a linear sweep's is."""
    from lrkit.finder import suggest as rule

    lrs = np.geomspace(1e-7, 10, 3000)
    x = np.log10(lrs)
    losses = 2 - 1.5 / (1 + np.exp(-(x + 2) * 3)) + np.random.default_rng(2).normal(0, 0.05, 3000)
    losses[1500] += 1e14
    got = [rule._smooth(x, losses, width, None)[0] for width in rule.BANDWIDTHS]
    monkeypatch.setattr(rule, "_even_step", lambda _: None)  # the block path, always
    for width, smoothed in zip(rule.BANDWIDTHS, got):
        np.testing.assert_allclose(smoothed, rule._smooth(x, losses, width, None)[0], rtol=1e-12)


def test_nearly_even_points_are_not_taken_for_an_exponential_sweep() -> None:
    from lrkit.finder import suggest as rule

    x = np.linspace(-7.0, 1.0, 2000)
    assert rule._even_step(x) == pytest.approx(8 / 1999, rel=1e-12)
    x[1000] += 1e-6  # a millionth of a decade off its place: the kernel would be misplaced
    assert rule._even_step(x) is None
    assert rule._even_step(np.log10(np.geomspace(1e-7, 10, 2000, dtype=np.float32))) is None


@pytest.mark.parametrize("sweep", ["exponential", "linear"])
def test_the_spike_filter_is_each_window_s_median(sweep: str) -> None:
    """The running median slides one sorted window along (sorting every window of a linear
    sweep of 100,000 steps, each a third of its points, took minutes): it equals each
    window's own median, ties, spikes, and windows of the two points on each side included."""
    from lrkit.finder import suggest as rule

    n = 2000
    lrs = np.geomspace(1e-7, 10, n) if sweep == "exponential" else np.linspace(1e-4, 1, n)
    x = np.log10(lrs)
    rng = np.random.default_rng(3)
    losses = np.round(rng.normal(1.0, 0.1, n), 2)  # many ties
    losses[rng.choice(n, 40, replace=False)] = 50.0  # spikes
    half = rule.MEDIAN_HALF_WIDTH
    expected = [
        np.median(losses[max(0, min(lo, i - 2)) : min(n, max(hi, i + 3))])
        for i, (lo, hi) in enumerate(
            zip(
                np.searchsorted(x, x - half, side="left"),
                np.searchsorted(x, x + half, side="right"),
                strict=True,
            )
        )
    ]
    got = rule._running_median(x, losses, half)
    assert np.array_equal(got, expected)
    assert got.max() < 2.0  # the spikes are gone
