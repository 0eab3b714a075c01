"""The range-test plot: its data apart from the drawing, and a figure that never blocks."""

from __future__ import annotations

import dataclasses
import html
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lrkit import ConfigError
from lrkit.finder import RangeTestResult
from lrkit.finder.plot import plot_data, plot_result
from lrkit.finder.suggest import read_curve, suggest

LRS = np.logspace(-7, 1, 100)  # the standard sweep


def _curve() -> np.ndarray:
    """A plateau at 2.3, a descent around 1e-2 to 0.5 with noise, then an exploding tail."""
    x = np.log10(LRS)
    noise = np.random.default_rng(0).normal(0.0, 0.02, len(LRS))
    descent = 1.8 / (1 + np.exp(-(x + 2) / 0.25))
    return 2.3 - descent + noise + np.exp((x + 0.3) / 0.12)


def _result(losses: np.ndarray) -> RangeTestResult:
    lrs, raw = tuple(LRS[: len(losses)].tolist()), tuple(losses.tolist())
    s = suggest(lrs, raw)
    return RangeTestResult(
        lrs=lrs,
        losses=raw,
        smoothed=raw,  # the sweep's EMA: not what the plot draws
        group_lrs=(lrs,),
        suggestion=s.lr,
        range=s.range,
        stop_reason="diverged",
        diverged_lr=lrs[-1],
    )


RESULT = _result(_curve()[:95])


def test_the_smoothed_curve_is_the_one_the_suggestion_is_read_from() -> None:
    data = plot_data(RESULT)
    reading = read_curve(RESULT.lrs, RESULT.losses)
    assert data.smoothed.tolist() == list(reading.smoothed)
    assert data.smoothed_lrs.tolist() == list(reading.lrs)
    assert len(data.smoothed) < len(data.lrs) == RESULT.steps  # cut where the loss diverged
    assert data.losses.tolist() == list(RESULT.losses)  # the raw curve, all of it
    lr, loss = data.suggestion  # type: ignore[misc]
    assert lr == RESULT.suggestion
    on_curve = np.interp(math.log(lr), np.log(reading.lrs), reading.smoothed)
    assert loss == pytest.approx(on_curve)


def test_the_y_range_shows_the_whole_dip_and_clips_the_exploding_tail() -> None:
    data = plot_data(RESULT)
    bottom, top = data.ylim  # type: ignore[misc]
    read = len(data.smoothed)
    raw = np.asarray(RESULT.losses)
    assert bottom < raw[:read].min()  # the dip of the raw losses, fully visible
    assert top > np.median(raw[:10])  # the start of the curve, and some room above it
    assert top < raw.max() / 10  # the diverging tail does not squash the plot
    assert top - bottom < 1.5 * (np.median(raw[:10]) - raw[:read].min())


def test_skipping_steps_cuts_what_is_drawn_not_what_is_read() -> None:
    whole, part = plot_data(RESULT), plot_data(RESULT, skip_start=10, skip_end=30)
    assert len(part.lrs) == RESULT.steps - 40 and part.lrs[0] == RESULT.lrs[10]
    assert part.smoothed_lrs[0] == RESULT.lrs[10]
    assert part.smoothed.tolist() == whole.smoothed[10 : 10 + len(part.smoothed)].tolist()
    assert part.suggestion == whole.suggestion
    numpy = plot_data(RESULT, skip_start=np.int64(10), skip_end=np.int32(30))  # were refused
    assert numpy.lrs.tolist() == part.lrs.tolist()
    with pytest.raises(ConfigError, match="skip_start \\+ skip_end must be less than the 95"):
        plot_data(RESULT, skip_start=50, skip_end=45)


def test_the_first_jump_is_marked_where_the_rule_found_it() -> None:
    from tests.finder.test_suggest import _catapult_curve

    losses, jump = _catapult_curve()
    jumpy = _result(losses)
    data = plot_data(jumpy)
    assert data.first_jump == read_curve(jumpy.lrs, jumpy.losses).catapult == LRS[jump]
    assert plot_data(RESULT).first_jump is None
    labels = [t.get_text() for t in jumpy.plot().axes[0].get_legend().get_texts()]
    assert f"first jump {LRS[jump]:.4g}" in labels


def test_a_curve_too_short_to_read_is_drawn_raw() -> None:
    lrs = (1e-3, 1e-2, 1e-1, 1.0)
    short = RangeTestResult(
        lrs=lrs,
        losses=(2.0, 1.0, 0.5, 9.0),
        smoothed=(2.0, 1.5, 1.0, 4.0),
        group_lrs=(lrs,),
        suggestion=None,
        range=None,
    )
    data = plot_data(short)
    assert len(data.smoothed) == 0 and data.suggestion is None
    assert data.ylim == (0.5, 9.0)


def test_the_figure_has_a_log_lr_axis_and_marks(tmp_path: Path) -> None:
    fig = RESULT.plot(title="t")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_title() == "t"
    assert ax.get_ylim() == pytest.approx(plot_data(RESULT).ylim)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(s.startswith("suggestion") for s in labels)
    assert any(s.startswith("range") for s in labels)
    assert any("diverged" in s for s in labels)
    lines = {line.get_label(): line for line in ax.get_lines()}
    read = lines["smoothed loss (as lrkit reads it)"]
    assert list(read.get_ydata()) == list(read_curve(RESULT.lrs, RESULT.losses).smoothed)
    # the curve drawn is the one range_test.json holds, not the sweep's running average
    saved = json.loads(json.dumps(RESULT.to_dict()))["read_curve"]
    assert saved == {
        "lrs": list(read.get_xdata()),
        "losses": list(read.get_ydata()),
        "diverged_at": RESULT.curve_diverged_lr,
    }
    back = RangeTestResult.from_dict(json.loads(json.dumps(RESULT.to_dict())))
    assert (back.lrs, back.losses, back.suggestion) == (
        RESULT.lrs,
        RESULT.losses,
        RESULT.suggestion,
    )
    raw = lines["raw loss"]
    assert raw.get_alpha() < 1 and raw.get_linewidth() < read.get_linewidth()
    fig.savefig(tmp_path / "lr.png")
    assert (tmp_path / "lr.png").stat().st_size > 1000
    from matplotlib.figure import Figure

    outer = Figure()
    axes = outer.subplots(1, 2)
    assert plot_result(RESULT, axes[1], log_lr=False, show_raw=False) is outer
    assert axes[1].get_xscale() == "linear"
    assert "raw loss" not in [line.get_label() for line in axes[1].get_lines()]


def test_plotting_never_blocks_or_opens_a_window_headless() -> None:
    code = (
        "import matplotlib.pyplot as plt\n"
        "from tests.finder.test_plot import RESULT\n"
        "fig = RESULT.plot()\n"
        "print(len(plt.get_fignums()), type(fig).__name__)\n"
    )
    root = Path(__file__).parents[2]
    env = {"MPLBACKEND": "Agg", "PATH": ""}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60, env=env
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0", "NotebookFigure"]  # no pyplot figure, nothing to show


def test_a_curve_of_tiny_losses_is_drawn_at_its_own_scale() -> None:
    """Losses near 1e-14 (an MSE on targets of 1e-7): the limits were rounded to 12 decimal
    places, so the curve lay flat on an axis from 0 to 0 with the marker at 0."""
    tiny = _result(_curve()[:95] * 1e-14)
    data = plot_data(tiny)
    assert data.ylim is not None and data.suggestion is not None
    low, high = data.ylim
    assert 0 < low < float(np.min(tiny.losses)) and float(np.max(data.smoothed)) < high < 1e-12
    normal = plot_data(RESULT).suggestion
    assert normal is not None and data.suggestion[1] == pytest.approx(normal[1] * 1e-14, rel=1e-6)


def test_find_its_json_and_the_report_say_the_same_divergence() -> None:
    """A sweep whose stop rule never fired: the terminal said 'diverged at 1.29 (read from the
    curve)', range_test.json null, the report 'did not diverge'."""
    from lrkit.report import range_test_section

    went_on = dataclasses.replace(RESULT, stop_reason="completed", diverged_lr=None)
    read = went_on.curve_diverged_lr
    assert read is not None and read == read_curve(RESULT.lrs, RESULT.losses).diverged_at
    said = went_on.divergence_text()
    assert said == f"{read:.4g} (read from the curve; the sweep went on to {RESULT.lrs[-1]:.4g})"
    assert json.loads(json.dumps(went_on.to_dict()))["read_curve"]["diverged_at"] == read
    section = range_test_section(went_on, task="digits").html
    assert went_on.divergence_text() in html.unescape(section)
    assert "did not diverge" not in section
