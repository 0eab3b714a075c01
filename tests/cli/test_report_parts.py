"""One ``--out`` folder, several commands: their parts of ``report.html`` join only when they
are about the same task."""

from __future__ import annotations

from pathlib import Path

import pytest

from lrkit.report import Section, read_sections, section_commands, write_report
from lrkit.report.document import report_task
from tests.cli import in_process


def test_a_part_on_another_task_is_refused_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "run"
    write_report(folder, [Section("search", "Search", "<p>digits</p>")], title="t", task="digits")
    before = (folder / "report.html").read_bytes()

    status, out, err = in_process(["find", "friedman", "--out", str(folder)], capsys)

    assert status == 2 and out == ""
    assert err.count("\n") == 1 and "a search on 'digits'" in err and "'friedman'" in err
    assert (folder / "report.html").read_bytes() == before  # nothing written
    assert sorted(p.name for p in folder.iterdir()) == ["report.html"]


def test_an_alias_is_the_same_task(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "run"
    write_report(folder, [Section("search", "Search", "")], title="t", task="digits")
    # refused for another reason after the report check passes: --num-iter below 10
    status, _, err = in_process(
        ["find", "Default", "--out", str(folder), "--num-iter", "5"], capsys
    )
    assert status == 2 and "--num-iter" in err and "digits" not in err


def test_a_rerun_on_another_task_starts_a_new_report(tmp_path: Path) -> None:
    """``lrkit find digits`` then ``lrkit find friedman`` in one folder: the second replaces all
    that the first wrote, so it is not refused, and nothing of digits stays in the report."""
    from lrkit.cli.out_folder import write_report_part

    folder = tmp_path / "run"
    for task in ("digits", "friedman"):
        write_report_part(
            folder,
            [Section("range_test", "Range test", f"<p>{task}</p>")],
            title=f"{task}: range test",
            subtitle="lrkit find",
            task=task,
        )
    sections = {s.key: s for s in read_sections(folder)}
    assert report_task(folder) == "friedman"
    assert sorted(sections) == ["range_test", "reproduce"]
    assert "friedman" in sections["range_test"].html
    assert len(section_commands(sections["reproduce"])) == 1


def test_parts_on_one_task_still_join(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    write_report(folder, [Section("range_test", "Range test", "")], title="t", task="digits")
    write_report(folder, [Section("search", "Search", "")], title="t", task="digits", merge=True)
    assert [s.key for s in read_sections(folder)] == ["range_test", "search"]
    # a report that names no task (by hand, or an older lrkit's) joins any, as before
    other = tmp_path / "older"
    write_report(other, [Section("compare", "Compare", "")], title="t")
    write_report(other, [Section("notes", "Notes", "")], title="t", task="x", merge=True)
    assert [s.key for s in read_sections(other)] == ["compare", "notes"]
    assert report_task(other) == "x"


def test_a_part_written_without_a_task_keeps_the_report_s(tmp_path: Path) -> None:
    """compare_section's docs have Python users write_report(..., merge=True) with no task: the
    report must still say what it is about, or a later command on another task mixes in."""
    folder = tmp_path / "run"
    write_report(folder, [Section("search", "Search", "")], title="t", task="digits")
    write_report(folder, [Section("compare", "Compare", "")], title="t", merge=True)
    assert report_task(folder) == "digits"
    assert [s.key for s in read_sections(folder)] == ["search", "compare"]


def test_a_folder_another_command_holds_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`lrkit search digits` and `lrkit find friedman` started together both passed the checks
    and wrote one folder; the later one now stops before any work."""
    import os

    from lrkit.outputs import held

    folder = tmp_path / "run"
    with held(folder, "lrkit search"):
        status, out, err = in_process(["find", "friedman", "--out", str(folder)], capsys)
    assert status == 1 and out == ""
    assert f"is in use by `lrkit search` (pid {os.getpid()}), still running" in err
    assert err.count("\n") == 1 and not folder.exists()


@pytest.mark.parametrize("command", ["find", "search", "compare", "tune"])
def test_a_report_html_lrkit_did_not_write_is_never_replaced(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder's own report.html (notes of the user's) was silently replaced by the command's."""
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "report.html").write_text("<html><body>MY OWN NOTES</body></html>")

    status, out, err = in_process([command, "--out", str(folder)], capsys)

    assert status == 2 and out == ""
    assert err.count("\n") == 1 and "report.html" in err and "that lrkit did not write" in err
    assert err.startswith("lrkit: error: --out ")
    assert (folder / "report.html").read_text() == "<html><body>MY OWN NOTES</body></html>"
    assert sorted(p.name for p in folder.iterdir()) == ["report.html"]
