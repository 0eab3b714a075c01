"""On CUDA: no host sync per step, and the snapshot takes no GPU memory (skipped without a GPU)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lrkit import LRFinder
from lrkit.finder.snapshot import Snapshot
from tests.finder.helpers import loader, mlp, train_steps

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
    pytest.mark.filterwarnings("ignore::lrkit.finder.FinderWarning"),
]


def test_the_sweep_never_makes_the_host_wait_for_a_step() -> None:
    model = mlp().cuda()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    batches = [(x.cuda(), y.cuda()) for x, y in loader()]
    train_steps(model, optimizer, batches, 2)  # CUDA warmed up
    reads = []
    finder = LRFinder(model, optimizer, nn.CrossEntropyLoss())
    torch.cuda.set_sync_debug_mode("error")  # any sync the finder did not allow raises
    try:
        result = finder.range_test(
            batches, end_lr=1, num_iter=60, check_every=20, on_step=reads.append
        )
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert result.steps == 60 and reads == list(range(1, 61))


def test_the_snapshot_takes_no_gpu_memory_and_device_moves_back() -> None:
    model = nn.Sequential(nn.Linear(1024, 1024), nn.Linear(1024, 2)).cuda()
    optimizer = torch.optim.Adam(model.parameters())
    batch = (torch.randn(8, 1024).cuda(), torch.zeros(8, dtype=torch.long).cuda())
    train_steps(model, optimizer, [batch], 1)
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    snapshot = Snapshot(model, optimizer)
    assert torch.cuda.memory_allocated() == before
    del snapshot

    cpu_model = mlp()
    cpu_opt = torch.optim.SGD(cpu_model.parameters(), lr=1e-4, momentum=0.9)
    train_steps(cpu_model, cpu_opt, loader(), 2)
    weights = [p.clone() for p in cpu_model.parameters()]
    LRFinder(cpu_model, cpu_opt, nn.CrossEntropyLoss(), device="cuda").range_test(
        loader(), end_lr=1, num_iter=20
    )
    assert all(p.device.type == "cpu" for p in cpu_model.parameters())
    assert all(torch.equal(a, b) for a, b in zip(weights, cpu_model.parameters()))
    assert all(v.device.type == "cpu" for s in cpu_opt.state.values() for v in s.values())
