"""Tests of the ``lrkit`` command line."""

from __future__ import annotations

import warnings

import pytest


def in_process(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``lrkit ARGS`` in this process, for refusals that come before any work and for reruns
    that read a finished run back (a process each costs 3-5 s of imports: torch, and the
    torch._dynamo that building an optimizer imports); its status, stdout and stderr. Every
    warning is shown, as in a fresh process (a warning said once already in this one is not
    left out)."""
    from lrkit.cli.main import main

    with warnings.catch_warnings():
        warnings.simplefilter("always", append=True)  # after the suite's own filters
        status = main(args)
    out, err = capsys.readouterr()
    return status, out, err


def files_up_to(limit: int) -> None:
    """For ``preexec_fn``: in the child, a write past ``limit`` bytes of one file fails
    (EFBIG), as on a full disk (Python ignores the SIGXFSZ that comes with it)."""
    import resource

    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
