"""Schedule curves (the data) and their drawing."""

from __future__ import annotations

import io
import subprocess
import sys
import warnings

import numpy as np
import pytest

from lrkit.errors import ConfigError, SpecError
from lrkit.schedules import parse
from lrkit.schedules.plot import (
    FLAT_PLATEAU_NOTE,
    MAX_STEPS,
    Curve,
    default_steps,
    has_plateau,
    key_steps,
    log_limits,
    plot_schedules,
    schedule_curves,
)

SPECS = [
    "step:30,gamma=0.1",
    "cosine:100,min_lr=1e-4",
    "warmup:10 > cosine:90",
    "onecycle:100",
    "wsd:100,decay=0.2,cooldown=1-sqrt",
    "cyclic:up=10,max_factor=4 * exponential:0.98",
]


# -- data --------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", SPECS)
def test_curve_equals_trace(spec: str) -> None:
    [curve] = schedule_curves([spec], 120, base_lr=0.1)
    assert curve.label == spec
    assert curve.steps.tolist() == list(range(120))
    np.testing.assert_array_equal(curve.lrs, parse(spec).trace(120, 0.1))


def test_schedule_objects_are_labelled_by_their_canonical_spec() -> None:
    schedule = parse("warmup:5 > cosine:20")
    [curve] = schedule_curves(schedule, 30)
    assert curve.label == schedule.to_spec()


def test_plateau_without_metrics_is_flat_and_says_so() -> None:
    [curve] = schedule_curves(["warmup:2 > plateau:patience=1"], 10, base_lr=0.1)
    assert FLAT_PLATEAU_NOTE in curve.label
    assert curve.lrs[2:].tolist() == [0.1] * 8


def test_plateau_with_metrics_drops_the_lr() -> None:
    spec = "warmup:2 > plateau:factor=0.5,patience=1"
    metrics = [3.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    [curve] = schedule_curves([spec], 10, base_lr=0.1, metrics=metrics)
    assert FLAT_PLATEAU_NOTE not in curve.label
    assert curve.lrs[2] == pytest.approx(0.1)
    assert curve.lrs[-1] < 0.1
    assert np.all(np.diff(curve.lrs[2:]) <= 0)  # a plateau only ever reduces
    # The steps past the metric series hold the LR reached with its last value.
    assert curve.lrs[8] == curve.lrs[9]


def test_metrics_drive_the_same_lrs_as_simulate() -> None:
    from lrkit.schedules import simulate

    schedule = parse("plateau:factor=0.5,patience=0")
    metrics = [1.0, 1.0, 0.5, 0.5, 0.5]
    [curve] = schedule_curves(schedule, 5, metrics=metrics)
    expected = schedule.trace(5, reductions=simulate(schedule, metrics))
    np.testing.assert_array_equal(curve.lrs, expected)


@pytest.mark.parametrize("bad", [[1.0, float("nan")], [float("inf")], ["x"]])
def test_non_finite_metrics_are_refused(bad: list[object]) -> None:
    with pytest.raises(ConfigError, match="metrics"):
        schedule_curves("plateau", 5, metrics=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"steps": 0}, ConfigError),
        ({"steps": 10, "base_lr": 0.0}, ConfigError),
        ({"steps": 10, "base_lr": float("nan")}, ConfigError),
    ],
)
def test_invalid_arguments(kwargs: dict[str, float], error: type[Exception]) -> None:
    with pytest.raises(error):
        schedule_curves("cosine:10", **kwargs)  # type: ignore[arg-type]


def test_malformed_spec_raises_spec_error() -> None:
    with pytest.raises(SpecError):
        schedule_curves(["cosine:10??"], 10)


def test_more_steps_than_the_limit_are_refused_before_tracing() -> None:
    with pytest.raises(ConfigError, match=r"^steps must be at most 5,000,000 .*got 5000001"):
        schedule_curves("cosine:10", MAX_STEPS + 1)
    with pytest.raises(ConfigError, match="steps must be at most 5,000,000"):
        plot_schedules(["cosine:1e30"])  # its default horizon, 1.1e30 steps


@pytest.mark.parametrize(
    ("spec", "base_lr", "first_bad", "message"),
    [
        ("exponential:2", 1.0, 1025, "got inf at step 1025 (base_lr=1); trace at most 1025 steps"),
        ("step:1,gamma=1e10", 1.0, 31, "got inf at step 31 (base_lr=1); trace at most 31 steps"),
        ("constant:factor=10", 1e308, 0, "got inf at step 0 (base_lr=1e+308); use a lower"),
    ],
)
def test_a_learning_rate_that_overflows_names_the_spec_and_the_step(
    spec: str, base_lr: float, first_bad: int, message: str
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NumPy overflow warning: the error says it
        with pytest.raises(ConfigError, match=f"^schedule '{spec}' must give a finite learning"):
            schedule_curves([spec], 2000, base_lr)
        with pytest.raises(ConfigError) as info:
            plot_schedules([spec], steps=2000, base_lr=base_lr)  # was an OverflowError
    assert message in str(info.value)
    if first_bad:  # the steps before it are fine
        [curve] = schedule_curves([spec], first_bad, base_lr)
        assert np.isfinite(curve.lrs).all()


def test_default_steps_of_a_length_near_the_float_limit() -> None:
    assert default_steps([parse("cosine:1.7e308")]) == int(1.7e308)  # x 1.1 overflows


def test_default_steps_and_has_plateau() -> None:
    assert default_steps([parse("cosine:1000"), parse("step:30")]) == 1100
    assert default_steps([parse("exponential:0.9")]) == 100
    assert has_plateau(parse("cosine:10 * plateau"))
    assert not has_plateau(parse("warmup:5 > cosine:10"))


def test_key_steps_include_boundaries_quarters_and_the_end() -> None:
    steps = {k.step: k.note for k in key_steps("warmup:10 > multistep:[30,60]", 100)}
    assert {0, 1, 10, 25, 50, 75, 99} <= set(steps)
    assert steps[10] == "warmup ends"
    assert steps[40] == "milestone" and steps[70] == "milestone"  # offset by the warmup
    assert steps[99] == "last step"


@pytest.mark.parametrize(
    "spec", ["onecycle:steps=101", "warmup:5 > onecycle:steps=77,pct_start=0.33"]
)
def test_a_peak_between_two_steps_is_shown_at_the_higher_one(spec: str) -> None:
    """onecycle:steps=101 peaks at t = 30.3: step 30 is higher than 31, so the note is there."""
    schedule = parse(spec)
    [peak] = [k.step for k in key_steps(spec, 130) if k.note == "onecycle peak"]
    lrs = [schedule(t, base_lr=1.0) for t in range(130)]
    assert lrs[peak] == max(lrs)


def test_a_flat_trough_is_noted_where_it_is() -> None:
    """Equal LRs on both sides: the note stays on the step the trough is at, as a peak's does."""
    notes = {k.step: k.note for k in key_steps("cyclic:up=10,max_factor=1", 40)}
    assert "cyclic trough" in notes[20] and "cyclic peak" in notes[10]


def test_log_limits_ignore_zeros_and_stay_a_few_decades_deep() -> None:
    curves = schedule_curves(["cosine:100", "constant"], 101, base_lr=0.1)
    low, high = log_limits(curves) or (0.0, 0.0)
    assert 1e-7 <= low < 1e-4 and high > 0.1


def test_log_limits_ignore_non_finite_values_of_given_curves() -> None:
    curve = Curve("x", np.arange(4), np.array([1.0, 10.0, np.inf, np.nan]))
    assert log_limits([curve]) == (1.0, 15.0)


# -- drawing -----------------------------------------------------------------------------------


def test_plot_returns_a_figure_with_one_line_per_schedule() -> None:
    from matplotlib.figure import Figure

    fig = plot_schedules(SPECS, steps=100, base_lr=0.1, title="six")
    assert isinstance(fig, Figure)
    [ax] = fig.axes
    assert len(ax.get_lines()) == len(SPECS)
    assert ax.get_yscale() == "log"
    assert ax.get_xlabel() == "step" and ax.get_ylabel() == "learning rate"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == SPECS
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), parse(SPECS[0]).trace(100, 0.1))


def test_plot_draws_on_a_given_axes_and_accepts_curves() -> None:
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot()
    curves = schedule_curves(["cosine:50", "linear:50"], 60)
    assert plot_schedules(curves, ax=ax, log=False) is fig
    assert len(ax.get_lines()) == 2
    assert ax.get_yscale() == "linear"


def test_plot_default_horizon_shows_the_longest_schedule() -> None:
    fig = plot_schedules(["cosine:200", "warmup:10 > cosine:90"])
    assert len(fig.axes[0].get_lines()[0].get_xdata()) == 220


def test_curve_is_frozen() -> None:
    curve = Curve("x", np.arange(2), np.ones(2))
    with pytest.raises(AttributeError):
        curve.label = "y"  # type: ignore[misc]


@pytest.mark.parametrize("module", ["lrkit.schedules.plot", "lrkit.cli.main"])
def test_importing_does_not_import_matplotlib(module: str) -> None:
    code = f"import sys, {module}; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- huge specs and many schedules -------------------------------------------------------------


def _save_without_warnings(fig: object) -> None:
    """Renders at a few resolutions: the constrained layout warned when the legend did not fit."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for dpi in (72, 100, 150):
            fig.savefig(io.BytesIO(), format="png", dpi=dpi)  # type: ignore[attr-defined]


def test_a_spec_of_thousands_of_parts_gets_a_short_legend_entry() -> None:
    from lrkit.schedules.plot import MAX_LEGEND_CHARS

    spec = " > ".join(["cosine:10"] * 2000)
    fig = plot_schedules([spec, "cosine:100"], steps=500)
    _save_without_warnings(fig)  # "constrained_layout not applied", and no legend
    [ax] = fig.axes
    legend = ax.get_legend()
    assert legend is not None and legend.get_in_layout()
    first, second = (t.get_text() for t in legend.get_texts())
    assert first.startswith("cosine:10 > cosine:10 > ") and first.endswith(" … (2,000 parts)")
    assert len(first) <= MAX_LEGEND_CHARS and second == "cosine:100"
    [curve] = schedule_curves([spec], 5)
    assert curve.label == spec  # the data keeps the whole spec


def test_many_schedules_list_the_first_in_the_legend_and_count_the_rest() -> None:
    from lrkit.schedules.plot import MAX_LEGEND_ENTRIES

    specs = [f"cosine:{n}" for n in range(10, 210)]
    fig = plot_schedules(specs, steps=100)
    _save_without_warnings(fig)
    [ax] = fig.axes
    assert len(ax.get_lines()) == 200  # every schedule is drawn
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(texts) == MAX_LEGEND_ENTRIES
    assert texts == [*specs[: MAX_LEGEND_ENTRIES - 1], "… and 189 more schedules"]


def test_a_legend_of_wide_labels_is_cut_until_it_fits() -> None:
    curves = [Curve(c * 300, np.arange(10), np.linspace(1.0, 0.1, 10)) for c in "WMQ"]
    fig = plot_schedules(curves, title="wide")
    _save_without_warnings(fig)
    legend = fig.axes[0].get_legend()
    assert legend.get_in_layout()
    assert all(20 <= len(t.get_text()) < 300 for t in legend.get_texts())


def test_a_cut_label_keeps_its_plateau_note() -> None:
    from lrkit.schedules.plot import MAX_LEGEND_CHARS, legend_label

    label = " > ".join(["warmup:5"] * 30) + f" > plateau ({FLAT_PLATEAU_NOTE})"
    short = legend_label(label)
    assert short.startswith("warmup:5 > ")
    assert short.endswith(f" … (31 parts) ({FLAT_PLATEAU_NOTE})")
    assert len(short) <= MAX_LEGEND_CHARS
    assert legend_label("cosine:10") == "cosine:10"


def test_a_schedule_of_one_step_is_a_dot_on_a_unit_axis() -> None:
    """It was an empty axes from -0.05 to 0.05, and matplotlib's warning of identical limits."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plot_schedules(["cosine:1"], steps=1, base_lr=0.1)
    ax = fig.axes[0]
    [line] = ax.get_lines()
    assert line.get_marker() == "o" and list(line.get_xdata()) == [0]
    assert ax.get_xlim() == (0.0, 1.0)


@pytest.mark.parametrize(
    ("spec", "metrics"),
    [
        ("warmup:10 > cosine:90,min_lr=0.01", None),
        ("onecycle:100", None),
        ("cyclic:up=7,mode=triangular2", None),
        ("multistep:[30,60],gamma=0.3", None),
        ("warmup:5 > plateau:factor=0.5,patience=2", [1.0, 0.9, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8]),
        ("cosine_restarts:17,mult=2 * exponential:0.99", None),
    ],
)
def test_the_lr_at_key_steps_is_the_traced_curve_s(spec: str, metrics: list[float] | None) -> None:
    """``lrkit schedule show`` reads the LR at its key steps alone (it traced every step, and
    refused a schedule of over 5 million): the same numbers as the whole trace."""
    from lrkit.schedules.plot import key_steps, lrs_at

    steps = [k.step for k in key_steps(spec, 150)] + list(range(0, 150, 7))
    [curve] = schedule_curves(spec, 150, 0.3, metrics)
    assert lrs_at(spec, steps, 0.3, metrics) == [float(curve.lrs[s]) for s in steps]


def test_an_overflow_is_placed_at_its_first_step_between_the_steps_read() -> None:
    from lrkit.schedules.plot import lrs_at

    with pytest.raises(ConfigError, match=r"got inf at step 1025 \(base_lr=1\); trace at most"):
        lrs_at("exponential:2", [0, 500, 1000, 1500, 1999])
    with pytest.raises(ConfigError, match=r"got inf at step 1025"):
        schedule_curves("exponential:2", 2000)


def test_a_curve_of_millions_of_steps_is_drawn_from_its_buckets_lows_and_highs() -> None:
    """A plot of 5 million steps drew every one: 4 s and a gigabyte for a few thousand pixels."""
    from lrkit.schedules.plot import DRAWN_BUCKETS

    [curve] = schedule_curves("cosine_restarts:1000,min_lr=0.1", 2_000_000, 0.5)
    fig = plot_schedules([curve])
    xs, ys = fig.axes[0].lines[0].get_data()
    assert len(xs) == 2 * DRAWN_BUCKETS and np.all(np.diff(xs) >= 0)
    assert (xs[0], xs[-1]) == (0, 1_999_999)
    # every restart's peak and trough is drawn: the band is as wide as the curve's
    assert (ys.min(), ys.max()) == (curve.lrs.min(), curve.lrs.max())
    [short] = schedule_curves("cosine:100", 101)
    assert len(plot_schedules([short]).axes[0].lines[0].get_xdata()) == 101  # all of it
