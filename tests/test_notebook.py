"""lrkit's plots in a real Jupyter kernel (ipykernel, run by nbclient): each shows once, as an
image, whether or not the notebook imported pyplot."""

from __future__ import annotations

from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

SEARCH = """\
import math, lrkit
result = lrkit.search(lambda lr: (math.log10(lr) + 2) ** 2, 1e-4, 1.0, n_trials=4,
                      storage=":memory:", progress=False)"""
FINDER = """\
import torch
from lrkit import LRFinder
torch.manual_seed(0)
x = torch.randn(256, 4)
data = torch.utils.data.TensorDataset(x, (x[:, 0] > 0).long())
model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
finder = LRFinder(model, torch.optim.SGD(model.parameters(), lr=1e-3),
                  torch.nn.CrossEntropyLoss())
_ = finder.range_test(torch.utils.data.DataLoader(data, batch_size=16), end_lr=10,
                      num_iter=40, progress=False)"""


def _images(cell: Any) -> int:
    return sum("image/png" in out.get("data", {}) for out in cell.outputs)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # jupyter_client's, on its own
def test_each_plot_shows_once_as_an_image_in_a_notebook(monkeypatch: pytest.MonkeyPatch) -> None:
    """A plot drawn without pyplot showed as '<Figure size 700x420 with 1 Axes>' in a notebook
    that had not imported pyplot; finder.plot(), drawn through pyplot there, showed twice as a
    cell's value (the inline backend's image, then the value's)."""
    cells = [
        SEARCH,
        "result.plot()",  # no pyplot yet: the figure shows itself
        "from lrkit.schedules.plot import plot_schedules\nplot_schedules(['cosine:10'])",
        FINDER,
        "finder.plot()",  # through pyplot: the inline backend shows it, the value does not
        "fig = finder.plot()\nfig",  # the same figure, named: still once
        "finder.plot()\nprint('drawn')",  # not the cell's value: the inline backend's, once
        "result.plot()",  # pyplot imported by now: matplotlib's own formatter, once
    ]
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's own: Jupyter's inline backend
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(notebook, timeout=300, kernel_name="python3").execute()
    ran = notebook.cells
    errors = [out for cell in ran for out in cell.outputs if out.output_type == "error"]
    assert errors == []
    assert [_images(cell) for cell in ran] == [0, 1, 1, 0, 1, 1, 1, 1]
    shown_as_text = [
        out["data"]["text/plain"]
        for cell in ran
        for out in cell.outputs
        if "text/plain" in out.get("data", {}) and "image/png" not in out["data"]
    ]
    assert not any(text.startswith("<") and "Figure" in text for text in shown_as_text)
