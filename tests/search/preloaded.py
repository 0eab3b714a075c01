"""A module that records which process imported it (a fork server's preload, or a worker)."""

import os

IMPORTED_BY = os.getpid()
