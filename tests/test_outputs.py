"""``lrkit.outputs.write_file``: whole or not at all, and otherwise as ``open(path, "w")``."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from lrkit.outputs import write_file


@pytest.fixture
def umask_077() -> Iterator[None]:
    before = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(before)


def test_a_new_file_is_made_under_the_umask_and_a_replaced_one_keeps_its_mode(
    tmp_path: Path, umask_077: None
) -> None:
    new = tmp_path / "new.json"
    write_file(str(new), "{}")  # a str path, as open takes
    assert new.read_text() == "{}" and stat.S_IMODE(new.stat().st_mode) == 0o600
    shared = tmp_path / "shared.json"
    shared.write_text("old")
    shared.chmod(0o664)
    write_file(shared, b"new")
    assert shared.read_bytes() == b"new" and stat.S_IMODE(shared.stat().st_mode) == 0o664
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.json", "shared.json"]


def test_a_link_is_written_through_and_stays_a_link(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    write_file(link, "new")
    assert link.is_symlink() and real.read_text() == "new"
    to_null = tmp_path / "null.json"
    to_null.symlink_to(os.devnull)
    write_file(to_null, "gone")  # not a regular file: written into, never replaced
    assert to_null.is_symlink() and stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_errors_name_the_file_and_leave_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as missing:
        write_file(tmp_path / "nope" / "a.json", "{}")
    assert missing.value.filename == str(tmp_path / "nope" / "a.json")
    in_the_way = tmp_path / "a-folder"
    in_the_way.mkdir()
    with pytest.raises(IsADirectoryError) as folder:
        write_file(in_the_way, "{}")
    assert folder.value.filename == str(in_the_way)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-folder"]


def test_a_long_name_fits(tmp_path: Path) -> None:
    long = tmp_path / ("x" * 250)  # the temporary file's name does not grow with it
    write_file(long, "{}")
    assert long.read_text() == "{}"


def test_a_holder_removes_only_its_own_lock_file(tmp_path: Path) -> None:
    """Its lock file removed under it (by hand, or with the folder) and a second command holding
    a new one: the first's end left the second's file gone, so a third could start beside it."""
    import contextlib

    from lrkit.errors import RunError
    from lrkit.outputs import LOCK, held

    first = contextlib.ExitStack()
    first.enter_context(held(tmp_path, "lrkit find"))
    (tmp_path / LOCK).unlink()
    with held(tmp_path, "lrkit search"):
        first.close()
        assert (tmp_path / LOCK).is_file()
        with pytest.raises(RunError, match="in use by `lrkit search`"), held(tmp_path, "x"):
            pass
    assert not (tmp_path / LOCK).exists()


def test_the_folder_s_holder_removes_temporary_files_a_killed_command_left(
    tmp_path: Path,
) -> None:
    # kill -9 mid-write left .lrkit-XXXX.tmp in the folder, and no rerun removed it
    from lrkit.outputs import held

    stray = tmp_path / ".lrkit-hysbe7po.tmp"
    stray.write_text('{"half": ')
    theirs = tmp_path / "notes.tmp"  # not lrkit's
    theirs.write_text("keep")
    with held(tmp_path, "lrkit tune"):
        assert not stray.exists()
    assert theirs.read_text() == "keep"


def test_a_symbolic_link_to_no_folder_is_said_so(tmp_path: Path) -> None:
    """A link to nothing, or a loop of links, read as "File exists" (QA 152)."""
    from lrkit.outputs import unwritable

    (tmp_path / "dangling").symlink_to(tmp_path / "nothing")
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    said = unwritable(tmp_path / "dangling" / "deeper")
    assert said == f"{str(tmp_path / 'dangling')!r} is a symbolic link to " + (
        f"{str(tmp_path / 'nothing')!r}, which leads to no folder"
    )
    assert str(unwritable(tmp_path / "loop1")).endswith("loop2', which leads to no folder")
    assert not (tmp_path / "nothing").exists()
