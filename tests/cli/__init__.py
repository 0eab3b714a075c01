"""Tests of the ``lrkit`` command line."""

from __future__ import annotations

import pytest


def in_process(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``lrkit ARGS`` in this process, for refusals that come before any work (a process each
    costs 2-4 s of imports); its status, stdout and stderr."""
    from lrkit.cli.main import main

    status = main(args)
    out, err = capsys.readouterr()
    return status, out, err


def files_up_to(limit: int) -> None:
    """For ``preexec_fn``: in the child, a write past ``limit`` bytes of one file fails
    (EFBIG), as on a full disk (Python ignores the SIGXFSZ that comes with it)."""
    import resource

    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
