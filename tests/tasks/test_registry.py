"""Loading tasks by built-in name and from a user's task file."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lrkit.errors import TaskError, UnknownNameError
from lrkit.tasks import Task, check_task, load_task, task_fingerprint, task_names

TINY = """
import torch
from torch.utils.data import TensorDataset
from lrkit.tasks import Task

_x = torch.randn(40, 4, generator=torch.Generator().manual_seed(0))
_data = TensorDataset(_x, (_x[:, 0] > 0).long())
"""

MODULE_TASK = (
    TINY
    + """
task = Task(name="tiny", model=lambda: torch.nn.Linear(4, 2), train_data=_data,
            val_data=_data, epochs=2, batch_size=8, lr=0.1)
"""
)

FUNCTION_TASK = (
    TINY
    + """
def task() -> Task:
    return Task(name="tiny-fn", model=lambda: torch.nn.Linear(4, 2), train_data=_data,
                val_data=_data, epochs=2, batch_size=8, lr=0.1)

other = Task(name="other", model=lambda: torch.nn.Linear(4, 2), train_data=_data,
             val_data=_data)
"""
)


def _write(tmp_path: Path, text: str, name: str = "my_task.py") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_task_names_lists_the_builtins() -> None:
    assert task_names() == ("digits", "friedman")


@pytest.mark.parametrize("name", ["digits", "DIGITS", "default"])
def test_load_builtin_by_name_or_alias(name: str) -> None:
    task = load_task(name)
    assert isinstance(task, Task) and task.name == "digits"


def test_unknown_name_lists_the_builtin_names() -> None:
    with pytest.raises(UnknownNameError) as info:
        load_task("mnist")
    message = str(info.value)
    assert "'mnist'" in message and "digits" in message and "friedman" in message
    assert isinstance(info.value, KeyError)  # still catchable as a lookup failure


def test_load_task_passes_a_task_through() -> None:
    task = load_task("friedman")
    assert load_task(task) is task


def test_load_module_level_task_from_file(tmp_path: Path) -> None:
    task = load_task(str(_write(tmp_path, MODULE_TASK)))
    assert task.name == "tiny"
    check_task(task)


def test_load_function_task_from_path_object(tmp_path: Path) -> None:
    assert load_task(_write(tmp_path, FUNCTION_TASK)).name == "tiny-fn"


def test_pick_another_attribute_with_a_colon(tmp_path: Path) -> None:
    path = _write(tmp_path, FUNCTION_TASK)
    assert load_task(f"{path}:other").name == "other"


def test_task_file_can_import_its_neighbours(tmp_path: Path) -> None:
    (tmp_path / "my_model_for_lrkit.py").write_text(
        "import torch\ndef build():\n    return torch.nn.Linear(4, 2)\n"
    )
    text = MODULE_TASK.replace("model=lambda: torch.nn.Linear(4, 2)", "model=build")
    text = "from my_model_for_lrkit import build\n" + text
    assert load_task(str(_write(tmp_path, text))).make_model().out_features == 2


def test_a_neighbour_imported_later_by_the_task_s_functions_is_found(tmp_path: Path) -> None:
    (tmp_path / "lazy_model_for_lrkit.py").write_text(
        "import torch\ndef build():\n    return torch.nn.Linear(4, 3)\n"
    )
    text = MODULE_TASK.replace(
        "model=lambda: torch.nn.Linear(4, 2)",
        "model=lambda: __import__('lazy_model_for_lrkit').build()",  # imported when built
    )
    path = str(_write(tmp_path, text))
    assert load_task(path).make_model().out_features == 3
    load_task(path)  # again: its folder is on sys.path once
    assert sys.path.count(str(tmp_path.resolve())) == 1


UNSEEDED_SPLIT = """
import random
import numpy as np
import torch
from torch.utils.data import TensorDataset
from lrkit.tasks import Task

order = torch.randperm(40).tolist()  # a split drawn without a seed, as people write them
x = torch.arange(40.0).reshape(40, 1)
data = TensorDataset(x[order[:30]], torch.zeros(30, dtype=torch.long))
task = Task(name="unseeded", model=lambda: torch.nn.Linear(1, 2), train_data=data,
            val_data=TensorDataset(x[order[30:]], torch.zeros(10, dtype=torch.long)))
print(order, np.random.randint(1000), random.random())
"""


def test_an_unseeded_task_file_gives_the_same_data_in_every_process(tmp_path: Path) -> None:
    import random
    import subprocess
    import sys

    import numpy as np
    import torch

    path = _write(tmp_path, UNSEEDED_SPLIT)
    load = f"from lrkit.tasks import load_task; load_task({str(path)!r})"
    runs = [
        subprocess.run([sys.executable, "-c", load], capture_output=True, text=True, check=True)
        for _ in range(2)
    ]
    assert runs[0].stdout == runs[1].stdout != ""  # as each worker of a search loads it
    torch.manual_seed(123)
    np.random.seed(123)
    random.seed(123)
    expected = (torch.rand(1), np.random.rand(), random.random())
    torch.manual_seed(123)
    np.random.seed(123)
    random.seed(123)
    load_task(str(path))  # the caller's random state is its own again after
    assert (torch.rand(1), np.random.rand(), random.random()) == expected


def test_a_split_drawn_after_an_import_is_the_same_whether_it_was_imported_before(
    tmp_path: Path,
) -> None:
    """A search's workers have modules imported already (their fork server preloads
    sklearn.datasets, whose first import draws from ``random``), where the main process imports
    them while the task file runs: the split drawn after the import differed between the two,
    and so did every trial's value (QA 117). Imports now leave the random states alone."""
    import subprocess
    import sys

    (tmp_path / "drawing.py").write_text(  # a module whose first import draws from all three
        "import random, numpy, torch\nrandom.random(); numpy.random.rand(); torch.rand(1)\n"
    )
    path = _write(tmp_path, "import drawing\n" + UNSEEDED_SPLIT)
    load = f"from lrkit.tasks import load_task; load_task({str(path)!r})"
    imported_first = f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import drawing; {load}"
    runs = [
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        for code in (load, imported_first)
    ]
    assert runs[0].stdout == runs[1].stdout != ""


def test_missing_file_says_it_does_not_exist(tmp_path: Path) -> None:
    missing = tmp_path / "nope.py"
    with pytest.raises(TaskError, match="does not exist") as info:
        load_task(str(missing))
    assert "nope.py" in str(info.value)


def test_file_without_task_says_what_to_define(tmp_path: Path) -> None:
    path = _write(tmp_path, TINY)
    with pytest.raises(TaskError, match="defines no `task`") as info:
        load_task(str(path))
    assert "task = Task(...)" in str(info.value) and "def task() -> Task" in str(info.value)


def test_task_of_the_wrong_type(tmp_path: Path) -> None:
    with pytest.raises(
        TaskError, match=r"`task` in task file .* must be a lrkit.tasks.Task, got an int"
    ):
        load_task(str(_write(tmp_path, "task = 3\n")))


def test_task_function_returning_the_wrong_type(tmp_path: Path) -> None:
    path = _write(tmp_path, "def task():\n    return 'digits'\n")
    with pytest.raises(
        TaskError, match=r"`task\(\)` in task file .* must return a lrkit.tasks.Task, got a str"
    ):
        load_task(str(path))


def test_errors_while_running_the_file_are_wrapped(tmp_path: Path) -> None:
    path = _write(tmp_path, "raise RuntimeError('no data here')\n")
    with pytest.raises(TaskError, match="raised RuntimeError while loading: no data here") as info:
        load_task(str(path))
    assert isinstance(info.value.__cause__, RuntimeError)


def test_invalid_task_fields_in_a_file_are_wrapped(tmp_path: Path) -> None:
    path = _write(tmp_path, MODULE_TASK.replace("epochs=2", "epochs=0"))
    with pytest.raises(
        TaskError, match=r"Task.epochs must be a positive integer up to 100,000, got 0"
    ):
        load_task(str(path))


def test_a_task_file_fingerprint_follows_its_content(tmp_path: Path) -> None:
    path = _write(tmp_path, MODULE_TASK)
    first = task_fingerprint(path)
    assert first is not None and len(first) == 16
    assert task_fingerprint(f"{path}:task") == first == task_fingerprint(str(path))
    path.write_text(MODULE_TASK + "# edited\n")
    assert task_fingerprint(path) not in (None, first)
    assert task_fingerprint("digits") is None and task_fingerprint(load_task("digits")) is None
    assert task_fingerprint(tmp_path / "missing.py") is None  # loading it says what is wrong


def test_a_near_miss_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A typo after ':' or a task under another name, and a file named without its .py."""
    path = _write(tmp_path, FUNCTION_TASK.replace("def task()", "def my_task()"))
    with pytest.raises(TaskError, match=r"defines no `my_tsak` \(did you mean `my_task`\?\)"):
        load_task(f"{path}:my_tsak")
    named = _write(tmp_path, MODULE_TASK.replace("task = Task", "cancer = Task") + MASK, "n.py")
    with pytest.raises(TaskError, match=rf"defines no `task` \(it defines `cancer`: give '{named}"):
        load_task(str(named))  # the Task object, not the helper function close to 'task'
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UnknownNameError, match=r"Unknown task 'my_task' \('my_task.py' is here"):
        load_task("my_task")


MASK = """
def mask(x):
    return x
"""


def test_a_file_of_several_tasks_and_none_named_task_lists_them(tmp_path: Path) -> None:
    text = MODULE_TASK.replace("task = Task(", "small = Task(") + "big = small\n"
    path = _write(tmp_path, text)
    with pytest.raises(TaskError, match=r"it defines `small`, `big`: give one, as '.*:small'"):
        load_task(str(path))


@pytest.mark.parametrize("folder", ["", "sub/"])
@pytest.mark.parametrize("after", ["", "1x"])
def test_a_file_with_no_name_after_its_colon_is_said_as_such(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, after: str, folder: str
) -> None:
    # it was "Unknown task 'my_task.py:'; built-in tasks: ...", as if the file were not there
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    _write(tmp_path / folder, MODULE_TASK)
    with pytest.raises(TaskError, match=rf"after the file '{folder}my_task\.py', ':' must be"):
        load_task(f"{folder}my_task.py:{after}")


def test_a_path_without_py_keeps_its_dot_slash_and_is_pointed_at_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, MODULE_TASK)
    with pytest.raises(TaskError, match=r"'./my_task' does not exist \('./my_task.py' is here"):
        load_task("./my_task")


def test_a_misspelt_task_name_says_which_was_meant() -> None:
    with pytest.raises(UnknownNameError, match=r"Unknown task 'digit'\. Did you mean 'digits'\?"):
        load_task("digit")
    with pytest.raises(UnknownNameError, match=r"Unknown task 'mnist'\. Built-in tasks"):
        load_task("mnist")  # nothing near: no guess
