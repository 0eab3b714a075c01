"""On CUDA: workers forked by the search's fork server train on the GPU, one GPU per worker
slot, even when the search's own process has initialised CUDA (skipped without a GPU)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lrkit.search import search
from lrkit.search.runner import _gpu_ids
from tests.search import objectives

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_forked_workers_train_on_their_own_gpu(tmp_path: Path) -> None:
    torch.zeros(1, device="cuda")  # CUDA initialised here: a fork of this process could not
    result = search(
        objectives.on_cuda,
        1e-4,
        0.1,
        4,
        n_workers=2,
        storage=str(tmp_path / "s.journal"),
        progress=False,
    )
    assert result.count("complete") == 4, [t.error for t in result.trials]
    gpus = set(_gpu_ids())
    assert all(t.attrs["visible"] in gpus and t.attrs["devices"] == 1 for t in result.trials)
