"""Typos of a few more zeros, and devices nothing can train on, are usage errors: not runs that
never end, fill the disk, or end in a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from lrkit.errors import ConfigError
from tests.cli import in_process

CASES = {
    "trials": (
        ["search", "--trials", "1e9"],
        "argument --trials: must be a positive integer at most 10,000",
    ),
    "search_epochs": (["search", "--epochs", "1e9"], "argument --epochs: must be a positive"),
    "train_epochs": (["train", "--epochs", "1e9"], "argument --epochs: must be a positive"),
    "seeds": (["compare", "--seeds", "1e7"], "argument --seeds: must be a positive integer at"),
    "train_lr": (
        ["train", "--lr", "1e300"],
        "--lr must be a learning rate of at most 1e+06, got 1e+300.",
    ),
    "compare_lr": (
        ["compare", "--lr", "1e39", "--schedules", "constant"],
        "--lr must be a learning rate of at most 1e+06, got 1e+39.",
    ),
    "meta_device": (
        ["train", "--device", "meta"],
        "argument --device: must be a device that holds data ('meta' tensors have none",
    ),
    "xla_device": (
        ["find", "--device", "xla"],
        "argument --device: must be a device this machine has (this torch cannot use 'xla')",
    ),
    "hpu_device": (
        ["train", "--device", "hpu"],
        "argument --device: must be a device this machine has (this torch cannot use 'hpu')",
    ),
    "option_before_command": (
        ["--bogus", "schedule", "show", "cosine:3"],
        "unrecognized arguments: --bogus (see 'lrkit --help')",
    ),
    "task_with_schedule": (
        ["train", "nosuchtask", "--schedule", "cosine:3"],
        "lrkit: error: TASK: Unknown task 'nosuchtask'",
    ),
    "tune_budget": (
        ["tune", "--budget", "1e9"],
        "argument --budget: must be a positive integer at most 100,000 (epochs), got '1e9'",
    ),
    "search_high": (
        ["search", "--low", "1e-300", "--high", "1e300"],
        "--high must be a learning rate of at most 1e+06, got 1e+300.",
    ),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_a_huge_value_is_one_line_and_exit_2_before_any_work(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args, message = CASES[case]
    out = ["--out", str(tmp_path / "out")] if args[0] in ("find", "search", "compare") else []
    status, _, err = in_process([*args, *out], capsys)
    assert status == 2, err
    assert len(err.strip().splitlines()) == 1 and message in err
    assert not (tmp_path / "out").exists()


def test_the_library_caps_trials_too_and_the_cli_says_the_same_number() -> None:
    from lrkit.cli.search import MAX_TRIALS as CLI_MAX
    from lrkit.search import search
    from lrkit.search.engine import MAX_TRIALS

    assert CLI_MAX == MAX_TRIALS
    with pytest.raises(ConfigError, match="n_trials must be at most 10,000"):
        search(lambda lr: lr, 1e-5, 1.0, MAX_TRIALS + 1, storage=":memory:", progress=False)


OUTPUTS = {
    "find_proc": (
        ["find", "--out", "/proc/lrkit-out"],
        "--out must be a folder that can be made and written, got '/proc/lrkit-out': No such",
    ),
    "compare_proc": (
        ["compare", "--epochs", "1", "--out", "/proc/lrkit-out"],
        "--out must be a folder that can be made and written",
    ),
    "search_proc": (["search", "--out", "/proc/lrkit-out"], "--out must be a folder that can"),
    "compare_long": (  # a name longer than the system takes
        ["compare", "--epochs", "1", "--out", "x" * 300],
        "--out must be a folder that can be made and written, got 'xxx",
    ),
    "find_empty": (["find", "--out", ""], "argument --out: must be a folder path, got ''"),
    "tune_empty": (["tune", "--out", " "], "argument --out: must be a folder path, got ' '"),
    "plot_proc": (
        ["schedule", "plot", "cosine:10", "-o", "/proc/lrkit.png"],
        "argument -o/--output must be a file that can be written, got '/proc/lrkit.png'",
    ),
}


@pytest.mark.parametrize("case", list(OUTPUTS), ids=list(OUTPUTS))
def test_an_output_that_cannot_be_written_is_a_usage_error_before_any_work(
    case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # /proc takes no new files, even from root (chmod would not stop root)
    args, message = OUTPUTS[case]
    status, out, err = in_process(args, capsys)
    assert status == 2, err
    assert len(err.strip().splitlines()) == 1 and message in err
    assert out == ""  # nothing ran


def test_checking_an_out_folder_leaves_nothing_behind(tmp_path: Path) -> None:
    from lrkit.cli.out_folder import check_out

    check_out(tmp_path / "a" / "b")
    assert list(tmp_path.iterdir()) == []


def test_main_puts_back_the_warning_display_it_borrowed() -> None:
    import warnings

    from lrkit.cli.main import main

    before = warnings.showwarning
    assert main(["schedule", "show", "cosine:3"]) == 0
    assert warnings.showwarning is before
