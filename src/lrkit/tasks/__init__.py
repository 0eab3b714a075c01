"""Tasks: what lrkit trains. The protocol, the built-in tasks and loading a user's task file.

Example:
    >>> from lrkit.tasks import load_task
    >>> task = load_task("digits")
    >>> task.metric, task.lr
    ('accuracy', 0.05)
"""

from __future__ import annotations

from lrkit.tasks.base import Task
from lrkit.tasks.checks import check_task
from lrkit.tasks.digits import digits_task
from lrkit.tasks.friedman import friedman_task
from lrkit.tasks.metrics import METRICS, MetricTally
from lrkit.tasks.registry import (
    ALIASES,
    BUILTIN_TASKS,
    DEFAULT_TASK,
    load_task,
    load_task_file,
    task_fingerprint,
    task_identity,
    task_names,
)
from lrkit.tasks.splits import split_datasets, split_indices

__all__ = [
    "ALIASES",
    "BUILTIN_TASKS",
    "DEFAULT_TASK",
    "METRICS",
    "MetricTally",
    "Task",
    "check_task",
    "digits_task",
    "friedman_task",
    "load_task",
    "load_task_file",
    "split_datasets",
    "split_indices",
    "task_fingerprint",
    "task_identity",
    "task_names",
]
