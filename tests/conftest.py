"""Shared test setup."""

from __future__ import annotations

import os

import torch

# Tiny models train up to 10x slower with torch's default thread pool on a busy 2-core machine
# (threads fight each other and other processes); one thread is steady and just as fast.
torch.set_num_threads(1)
os.environ.setdefault("MPLBACKEND", "Agg")
