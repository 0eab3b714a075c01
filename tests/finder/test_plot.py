"""The range-test plot: its data apart from the drawing, and a figure that never blocks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lrkit import ConfigError
from lrkit.finder import RangeTestResult
from lrkit.finder.plot import plot_data, plot_result

LRS = tuple(float(v) for v in np.geomspace(1e-4, 1.0, 9))
RESULT = RangeTestResult(
    lrs=LRS,
    losses=(2.3, 2.3, 2.2, 1.9, 1.2, 0.8, 0.9, 2.5, 40.0),
    smoothed=(2.3, 2.3, 2.25, 2.1, 1.7, 1.3, 1.1, 1.6, 12.0),
    group_lrs=(LRS,),
    suggestion=LRS[4],
    range=(LRS[3], LRS[6]),
    stop_reason="diverged",
    diverged_lr=1.0,
)


def test_plot_data_marks_the_suggestion_on_the_smoothed_curve_and_zooms_on_the_descent() -> None:
    data = plot_data(RESULT)
    assert data.suggestion == (LRS[4], 1.7)
    assert data.range == (LRS[3], LRS[6]) and data.diverged_lr == 1.0 and data.log_lr
    low, high = data.ylim  # type: ignore[misc]
    assert low < 1.1 and 2.3 < high < 12.0  # the diverging tail does not squash the plot
    cut = plot_data(RESULT, skip_start=2, skip_end=1)
    assert len(cut.lrs) == 6 and cut.lrs[0] == LRS[2]
    with pytest.raises(ConfigError, match="skip_start \\+ skip_end must be less than the 9 steps"):
        plot_data(RESULT, skip_start=5, skip_end=4)


def test_the_figure_has_a_log_lr_axis_and_marks(tmp_path: Path) -> None:
    fig = RESULT.plot(title="t")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_title() == "t"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(s.startswith("suggestion") for s in labels)
    assert any(s.startswith("range") for s in labels)
    assert any("diverged" in s for s in labels)
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
    assert out.stdout.split() == ["0", "Figure"]  # no pyplot figure, nothing to show
