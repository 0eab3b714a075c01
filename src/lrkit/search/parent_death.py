"""Worker processes that end with their search even while stuck: Linux's parent-death signal.

A worker watches its search through a pipe, in a thread (``workers._exit_with_parent``). A
worker stuck in native code that holds the GIL (a regex that backtracks for hours) cannot run
that thread; and a fork server lives on while any of its workers does (each holds the search's
end of the server's "alive" pipe). After a ``kill -9`` of the search such a worker ran on, and
kept its server, for as long as it was stuck (QA 120). So on Linux the search's fork server
and each worker ask the kernel for SIGKILL when their parent dies: the search's death ends its
server, whose death ends its workers, and their trials stay RUNNING for ``--resume`` to
recover, as the watching thread leaves them.

The server takes the signal when it imports this module (it is the first module the server
preloads), which it does only where :data:`SERVER_OF` names its parent. Imported anywhere else,
the module does nothing.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>

SERVER_OF = "LRKIT_FORK_SERVER_OF"
"""Set, while a search starts its fork server, to the search's pid."""


def die_with_parent() -> bool:
    """Asks the kernel to SIGKILL this process when its parent thread ends (Linux); whether it
    took. Elsewhere, or where ``prctl`` cannot be called, nothing happens.

    A parent that died before the call is not signalled, and needs no signal: a worker's
    watching thread sees the search's pipe end as it starts, before its trial runs; a server
    whose search died before this has no workers, and ends at the end of its "alive" pipe."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return False
    return bool(prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0)


if os.environ.get(SERVER_OF) == str(os.getppid()):  # a search's fork server, preloading
    die_with_parent()
