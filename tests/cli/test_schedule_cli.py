"""``lrkit schedule`` through a real subprocess, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lrkit.schedules import parse
from tests.cli import in_process

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def lrkit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lrkit.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_plot_writes_a_png(tmp_path: Path) -> None:
    out = tmp_path / "schedules.png"
    specs = ["step:30,gamma=0.1", "warmup:10 > cosine:90", "onecycle:100"]
    result = lrkit("schedule", "plot", *specs, "-o", str(out), "--steps", "100", "--lr", "0.1")
    assert result.returncode == 0, result.stderr
    assert str(out) in result.stdout
    data = out.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 1000
    import matplotlib.image

    image = matplotlib.image.imread(str(out))
    height, width = image.shape[:2]
    assert width > 400 and height > 300 and image.shape[2] in (3, 4)


def test_plot_writes_postscript_without_a_line_on_stderr(tmp_path: Path) -> None:
    """matplotlib logged that the plot's translucent bands are drawn opaque in PostScript."""
    out = tmp_path / "schedule.eps"
    result = lrkit("schedule", "plot", "cosine:10", "-o", str(out))
    assert result.returncode == 0 and result.stderr == ""
    assert out.read_bytes().startswith(b"%!PS-Adobe")


def test_plot_with_metrics_file_drives_a_plateau(tmp_path: Path) -> None:
    metrics = tmp_path / "val_loss.json"
    metrics.write_text(json.dumps([1.0] * 30))
    out = tmp_path / "plateau.svg"
    result = lrkit(
        "schedule", "plot", "warmup:5 > plateau:patience=2", "-o", str(out), "--metrics",
        str(metrics), "--steps", "30", "--linear",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert out.read_text().lstrip().startswith("<?xml")


def test_show_prints_the_lrs_of_the_schedule() -> None:
    spec, base = "warmup:10 > cosine:90,min_lr=1e-4", 0.1
    result = lrkit("schedule", "show", spec, "--lr", str(base), "--steps", "120")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    schedule = parse(spec)
    assert f"spec: {schedule.to_spec()}" in lines
    rows = {}
    for line in lines:
        cells = line.split()
        if cells and cells[0].isdigit():
            rows[int(cells[0])] = float(cells[1])
    assert {0, 1, 10, 30, 60, 90, 100, 119} <= set(rows)
    for step, lr in rows.items():
        assert lr == pytest.approx(schedule(step, base), rel=1e-5, abs=1e-12), step


def test_list_names_every_schedule_and_its_aliases() -> None:
    result = lrkit("schedule", "list")
    assert result.returncode == 0, result.stderr
    for name in ("cosine", "onecycle", "wsd", "plateau", "warmup"):
        assert any(line.startswith(name) for line in result.stdout.splitlines()), name
    assert "CosineAnnealingLR" in result.stdout  # torch's name, as an alias
    assert "Cosine from base_lr down to min_lr" in result.stdout


def test_version() -> None:
    result = lrkit("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("lrkit ")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        pytest.param(["show", "cosine:10??"], "spec", id="malformed-spec"),
        pytest.param(["show", "cosine_annealing_lr_typo:10"], "Unknown schedule", id="unknown"),
        pytest.param(["show", "cosine:10", "--lr", "0"], "--lr", id="zero-lr"),
        pytest.param(["show", "cosine:10", "--lr=-0.1"], "--lr", id="negative-lr"),
        pytest.param(["show", "cosine:10", "--steps", "0"], "--steps", id="zero-steps"),
        pytest.param(
            ["plot", "plateau", "-o", "x.png", "--metrics", "1,nan,2"], "finite", id="nan-metric"
        ),
        pytest.param(
            ["plot", "plateau", "-o", "x.png", "--metrics="],
            "numbers or an existing file, got ''",
            id="empty-metrics",
        ),
        pytest.param(["plot", "cosine:10", "-o", "x.notanimage"], "suffix", id="bad-suffix"),
        pytest.param(["plot", "cosine:10"], "-o/--output", id="missing-output"),
        pytest.param(["explode"], "invalid choice", id="unknown-action"),
        pytest.param(["show", "warmup:0"], "steps", id="invalid-parameter"),
        pytest.param(
            ["show", "cosine:1e30"],
            "--steps is needed: schedule 'cosine:1e30' lasts 1e+30 steps",
            id="huge-spec-show",
        ),
        pytest.param(
            ["plot", "warmup:5 > cosine:1e30", "-o", "x.png"],
            "--steps is needed: schedule 'warmup:5 > cosine:1e30'",
            id="huge-spec-plot",
        ),
        pytest.param(
            ["show", "cosine:10", "--steps", "1e16"],
            "--steps: must be a positive integer at most 1e+15 (the horizon shown)",
            id="huge-steps-show",
        ),
        pytest.param(
            ["plot", "cosine:10", "-o", "x.png", "--steps", "5000001"],
            "--steps: must be a positive integer at most 5,000,000",
            id="huge-steps-plot",
        ),
        pytest.param(
            ["plot", "exponential:2", "--steps", "2000", "-o", "x.png"],
            "'exponential:2' must give a finite learning rate, got inf at step 1025 (base_lr=1)",
            id="overflow-plot",
        ),
        pytest.param(
            ["show", "exponential:2", "--steps", "2000"],
            "schedule 'exponential:2' must give a finite learning rate, got inf at step 1025",
            id="overflow-show",
        ),
        pytest.param(  # between the key steps, where a longer horizon reads no more
            ["show", "exponential:2,steps=1100 > constant", "--steps", "3e7"],
            "schedule 'exponential:2,steps=1100 > constant' must give a finite learning rate, "
            "got inf at step 1025",
            id="overflow-in-a-phase-of-a-long-show",
        ),
        pytest.param(
            ["show", "exponential:2,steps=1100 > constant", "--steps", "3000"],
            "got inf at step 1025",
            id="overflow-in-a-phase-show",
        ),
        pytest.param(
            ["show", "constant:factor=10", "--lr", "1e308"],
            "finite learning rate, got inf at step 0 (base_lr=1e+308); use a lower base_lr",
            id="overflow-at-0",
        ),
        pytest.param(
            ["show", "onecycle:100,three_phase=maybe"],
            "three_phase must be true or false, got 'maybe'",
            id="bool-option",
        ),
        pytest.param(
            ["show", "linear:100,warmup=-1"],
            "warmup must be a positive finite number, got -1",
            id="negative-warmup",
        ),
        pytest.param(
            ["show", "linear:100,warmup=abc"],
            "warmup must be a positive finite number, got 'abc'",
            id="word-warmup",
        ),
        pytest.param(
            ["plot", "cosine:10", "-o", ""],
            "argument -o/--output must be an image file name, got ''",
            id="empty-output",
        ),
    ],
)
def test_errors_are_one_line_with_status_2(args: list[str], needle: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lrkit.cli.main", "schedule", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("lrkit: error: ")
    assert needle in lines[0]
    assert not list(tmp_path.iterdir())  # nothing written


def test_a_schedule_too_long_to_trace_whole_is_traced_over_the_given_steps(
    tmp_path: Path,
) -> None:
    shown = lrkit("schedule", "show", "cosine:1e30", "--steps", "100")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[-2].split() == ["99", "1", "1", "last", "step"]
    out = tmp_path / "huge.png"
    plotted = lrkit("schedule", "plot", "cosine:1e30", "cosine:10", "-o", str(out), "--steps", "50")
    assert plotted.returncode == 0, plotted.stderr
    assert out.read_bytes()[:8] == PNG_MAGIC


def test_the_steps_limit_is_the_library_limit() -> None:
    from lrkit.cli.schedule import MAX_STEPS, trace_steps
    from lrkit.schedules import plot

    assert MAX_STEPS == plot.MAX_STEPS
    assert trace_steps("5M") == MAX_STEPS


def test_an_overflowing_schedule_is_shown_up_to_its_last_finite_step() -> None:
    result = lrkit("schedule", "show", "exponential:2", "--steps", "1025")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.splitlines()[-2].split()[:2] == ["1024", "1.79769e+308"]


def test_output_folder_is_created(tmp_path: Path) -> None:
    out = tmp_path / "new" / "x.png"
    result = lrkit("schedule", "plot", "cosine:10", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_bytes().startswith(b"\x89PNG")


def test_output_folder_that_cannot_be_made_is_one_line_with_status_2(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    result = lrkit("schedule", "plot", "cosine:10", "-o", str(tmp_path / "file" / "x.png"))
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert "must be a file that can be written" in result.stderr
    assert "/file' is a file, not a folder" in result.stderr
    assert "Traceback" not in result.stderr


# -- in-process: the helpers and the rich (terminal) rendering ---------------------------------


def test_read_metrics_from_a_list_and_from_files(tmp_path: Path) -> None:
    import argparse

    from lrkit.cli.schedule import read_metrics

    assert read_metrics("1, 0.5,2e-1") == [1.0, 0.5, 0.2]
    text = tmp_path / "m.txt"
    text.write_text("1.0\n0.9  # a comment\n\n0.8\n")
    assert read_metrics(str(text)) == [1.0, 0.9, 0.8]
    csv = tmp_path / "m.csv"
    csv.write_text("val_loss\n1.0\n0.5\n")
    assert read_metrics(str(csv)) == [1.0, 0.5]
    js = tmp_path / "m.json"
    js.write_text("[1, 0.5]")
    assert read_metrics(str(js)) == [1.0, 0.5]
    one_line = tmp_path / "one_line.txt"
    one_line.write_text("1.0, 0.9,0.8\n")
    assert read_metrics(str(one_line)) == [1.0, 0.9, 0.8]
    long = ",".join(["1.0"] * 100)  # too long a name for a file: a list all the same
    assert read_metrics(long) == [1.0] * 100
    for bad in ("", "1,,2", "a,b", "1,inf", str(tmp_path / "nope.txt"), "x" * 300):
        with pytest.raises(argparse.ArgumentTypeError):
            read_metrics(bad)


def test_show_on_a_terminal_renders_a_rich_table(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from lrkit.cli import schedule as schedule_cli
    from lrkit.cli.main import main

    monkeypatch.setattr(schedule_cli, "_is_terminal", lambda: True)
    monkeypatch.setenv("COLUMNS", "100")
    assert main(["schedule", "show", "step:30,gamma=0.1", "--lr", "0.1", "--steps", "40"]) == 0
    out = capsys.readouterr().out
    assert "┃" in out or "│" in out  # a rich box
    assert "0.01" in out and "step decay" in out


def test_interrupt_exits_130_quietly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from lrkit.cli import schedule as schedule_cli
    from lrkit.cli.main import main

    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(schedule_cli, "run_list", interrupted)
    assert main(["schedule", "list"]) == 130
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_a_floor_above_the_base_lr_is_a_warning_line(capsys: pytest.CaptureFixture[str]) -> None:
    done = lrkit("schedule", "show", "cosine:10,min_lr=5", "--lr", "1")
    assert done.returncode == 0
    assert done.stderr == (
        "warning: 'cosine:10,min_lr=5': cosine's min_lr (5) is above the base LR (1), so it holds "
        "the base LR instead of decaying; a floor is an LR, not a fraction of the base LR.\n"
    )
    status, _, err = in_process(
        ["train", "--epochs", "2", "--schedule", "cosine:2,min_lr=0.5"], capsys
    )
    assert status == 0, err
    warned = [line for line in err.splitlines() if "min_lr" in line]
    assert warned == [
        "warning: cosine's min_lr (0.5) is above the base LR (0.05), so it holds the base LR "
        "instead of decaying; a floor is an LR, not a fraction of the base LR."
    ]


def test_metrics_without_a_plateau_phase_are_a_warning() -> None:
    done = lrkit("schedule", "show", "cosine:10", "--metrics", "1,2,3")
    assert done.returncode == 0
    assert done.stderr == (
        "warning: --metrics is read only by a plateau phase, and no spec has one; it was ignored.\n"
    )
    used = lrkit("schedule", "show", "warmup:2 > plateau:patience=1", "--metrics", "1,2,3")
    assert used.returncode == 0 and used.stderr == ""


def test_python_m_lrkit_on_an_ascii_only_stdout(tmp_path: Path) -> None:
    """``python -m lrkit`` runs the command; a non-ASCII path on a stdout that takes ASCII only
    is printed escaped, not a UnicodeEncodeError after the work is done."""
    import os

    out = tmp_path / "ü-schedules.png"
    result = subprocess.run(
        [sys.executable, "-m", "lrkit", "schedule", "plot", "cosine:10", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONIOENCODING": "ascii"},
    )
    assert result.returncode == 0, result.stderr
    assert out.read_bytes().startswith(PNG_MAGIC)
    assert "\\xfc-schedules.png" in result.stdout and "Traceback" not in result.stderr


def test_plots_whatever_the_users_matplotlib_settings_say(tmp_path: Path) -> None:
    """A matplotlibrc with ``text.usetex: True`` (and no LaTeX on this machine) and a bogus
    ``MPLBACKEND`` (left over from another environment) do not fail the command's PNG."""
    import os

    config = tmp_path / "mplconfig"
    config.mkdir()
    (config / "matplotlibrc").write_text("text.usetex: True\n")
    for name, setting in (
        ("usetex", {"MPLCONFIGDIR": str(config)}),
        ("bogus", {"MPLBACKEND": "bogus"}),
    ):
        out = tmp_path / f"{name}.png"
        result = subprocess.run(
            [sys.executable, "-m", "lrkit", "schedule", "plot", "cosine:10", "-o", str(out)],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, **setting},
        )
        assert result.returncode == 0, result.stderr
        assert out.read_bytes().startswith(PNG_MAGIC)


def test_plots_in_matplotlibs_own_style_whatever_the_users_style(tmp_path: Path) -> None:
    """A dark matplotlibrc gave the report's PNGs light text on white; a one-colour cycle drew
    every schedule in the same colour."""
    import os

    import matplotlib.image
    import numpy as np

    config = tmp_path / "mplconfig"
    config.mkdir()
    (config / "matplotlibrc").write_text(
        "figure.facecolor: black\naxes.facecolor: black\ntext.color: white\n"
        "axes.prop_cycle: cycler('color', ['k'])\n"
    )
    out = tmp_path / "two.png"
    result = subprocess.run(
        [sys.executable, "-m", "lrkit", "schedule", "plot", "cosine:10", "step:5", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "MPLCONFIGDIR": str(config)},
    )
    assert result.returncode == 0, result.stderr
    image = matplotlib.image.imread(str(out))[..., :3]
    assert np.allclose(image[0, 0], 1.0)  # matplotlib's white figure, not the rc's black
    colours = {tuple(np.round(p, 1)) for p in image.reshape(-1, 3)}
    assert any(c[2] > c[0] + 0.3 for c in colours)  # tab:blue: the first schedule's
    assert any(c[0] > c[2] + 0.3 for c in colours)  # tab:orange: the second schedule's


def test_the_plot_replaces_its_file_whole(tmp_path: Path) -> None:
    """The file was written in place: two plots to one path at once left an SVG of both, not
    well-formed, and a reader of the old file saw it change under it. Now it is written next to
    it and renamed over it: one open on the old file still reads all of the old file."""
    import xml.etree.ElementTree as ET

    out = tmp_path / "same.svg"
    out.write_text("<svg>old</svg>")
    with out.open() as reader:
        result = lrkit("schedule", "plot", "cosine:100", "-o", str(out))
        assert result.returncode == 0, result.stderr
        assert reader.read() == "<svg>old</svg>"
    ET.parse(out)
    assert [p.name for p in tmp_path.iterdir()] == ["same.svg"]


def test_show_reads_a_schedule_of_any_length_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    """show traced every step, so a schedule of 10 million needed --steps (then at most 5
    million): it reads its key steps alone."""
    status, out, err = in_process(["schedule", "show", "warmup:500 > cosine:10M"], capsys)
    assert (status, err) == (0, "")
    rows = {line.split()[-2]: line.split() for line in out.splitlines() if "ends" in line}
    assert rows["cosine"][:2] == ["10000500", "0"] and rows["warmup"][:2] == ["500", "1"]
    assert out.splitlines()[-1] == "base lr 1, 11000550 steps"
