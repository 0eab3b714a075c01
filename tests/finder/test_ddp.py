"""A range test of a DistributedDataParallel model: every rank records the loss averaged over the
process group, so all ranks stop together and read the same suggestion.

Each test runs a real 2-rank job (gloo, on the CPU) in two processes: this file run as a script,
``python test_ddp.py SCENARIO RANK INIT OUT``. A rank that stops alone leaves the other inside
DDP's gradient all-reduce, where gloo waits 30 minutes by default: the job is killed after
``TIMEOUT_S`` and the test fails instead.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler

WORLD = 2
TIMEOUT_S = 90
ROOT = Path(__file__).parents[2]

pytestmark = pytest.mark.skipif(
    not dist.is_available() or not dist.is_gloo_available(), reason="needs torch.distributed gloo"
)


# -- the parent: runs one job and reads what each rank wrote --------------------------------------


def _job(scenario: str, tmp_path: Path) -> list[dict[str, Any]]:
    """Runs ``scenario`` on ``WORLD`` ranks; what each rank returned (after a final barrier)."""
    init = "file://" + str(tmp_path / "rendezvous")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    logs = [tmp_path / f"rank{rank}.log" for rank in range(WORLD)]
    outs = [tmp_path / f"rank{rank}.json" for rank in range(WORLD)]
    procs = []
    for rank in range(WORLD):
        with logs[rank].open("w") as log:
            command = [sys.executable, __file__, scenario, str(rank), init, str(outs[rank])]
            procs.append(
                subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            )
    deadline = time.monotonic() + TIMEOUT_S
    try:
        for proc in procs:
            proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
    except subprocess.TimeoutExpired:
        pytest.fail(f"the {WORLD}-rank job hung (killed after {TIMEOUT_S} s):\n{_tails(logs)}")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if any(proc.returncode != 0 for proc in procs):
        pytest.fail(f"a rank failed:\n{_tails(logs)}")
    return [json.loads(out.read_text()) for out in outs]


def _tails(logs: list[Path]) -> str:
    return "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for log in logs)


def _mean_of(locals_: list[list[float]]) -> list[float]:
    """The ranks' losses averaged as gloo does it: a float32 sum, then a division."""
    total = sum(torch.tensor(values, dtype=torch.float32) for values in locals_)
    return (total / len(locals_)).double().tolist()  # type: ignore[union-attr]


def _local_stop(losses: list[float], check_every: int = 10) -> int | None:
    """The step after which a rank would have stopped on its own losses (before the fix)."""
    from lrkit.finder.curve import LossCurve

    stop = LossCurve(0.05, 5.0).extend(losses)
    return None if stop is None else min((stop[0] // check_every + 1) * check_every, len(losses))


# -- the tests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("validation", [False, True], ids=["train_loss", "val_loss"])
def test_ranks_with_different_data_record_the_mean_loss_and_agree(
    validation: bool, tmp_path: Path
) -> None:
    ranks = _job("agree_val" if validation else "agree", tmp_path)
    first, second = ranks
    kind = "val" if validation else "train"
    assert first["local"][kind] != second["local"][kind]  # different data, different losses
    expected = _mean_of([r["local"][kind] for r in ranks])
    for r in ranks:
        assert r["losses"] == expected  # the group's mean, bit for bit, at every step
        assert r["loss_kind"] == kind
        assert r["restored"] == {"model": True, "optimizer": True, "grads": True}
        # per step one for the loss and one for the validation loss; before the first step,
        # one after the checks and one after the first batch, so that all ranks start or none
        assert r["all_reduces"] == r["steps"] * (2 if validation else 1) + 2
    for key in ("losses", "steps", "stop_reason", "diverged_lr", "suggestion", "range"):
        assert first[key] == second[key], key
    assert first["suggestion"] is not None


def test_a_rank_whose_own_loss_diverges_first_does_not_leave_the_other_hanging(
    tmp_path: Path,
) -> None:
    """QA's hang: rank 1's noisy shard made its own loss diverge steps before rank 0's."""
    ranks = _job("diverge", tmp_path)
    first, second = ranks
    # the premise: on its own losses, each rank would have stopped at a different step
    alone = [_local_stop(r["local"]["train"]) for r in ranks]
    assert alone[0] != alone[1], alone
    assert first["stop_reason"] == second["stop_reason"] == "diverged"
    for key in ("losses", "steps", "diverged_lr", "suggestion", "forwards"):
        assert first[key] == second[key], key
    assert first["steps"] <= first["forwards"] < first["steps"] + 10  # stopped at a check
    assert all(r["past_barrier"] for r in ranks)


@pytest.mark.parametrize("step", [0, 9], ids=["first_step", "end_of_a_check"])
def test_a_non_finite_loss_on_one_rank_stops_every_rank(step: int, tmp_path: Path) -> None:
    """Rank 1's loss alone is NaN at ``step`` (the last step before a check, for 9): the mean
    is NaN on both ranks, which raise together (the first loss) or stop together."""
    ranks = _job(f"nan{step}", tmp_path)
    for r in ranks:
        assert r["past_barrier"]
        if step == 0:
            assert r["error"].startswith("ConfigError: train_loader must give a finite loss")
        else:
            assert r["stop_reason"] == "non_finite_loss"
            assert r["steps"] == step  # the NaN step is not recorded
            assert r["forwards"] == step + 1
        assert r["restored"] == {"model": True, "optimizer": True, "grads": True}
    if step:
        assert ranks[0]["losses"] == ranks[1]["losses"]


EMPTY = {  # rank 1's own error, rank 0's, and the training steps each rank ran
    "no_val": ("val_loader must yield at least one batch", "failed its checks before the sweep", 0),
    "no_train": ("train_loader must yield at least one batch", "failed its checks before", 0),
    "no_train_iter": (
        "train_loader must yield at least one",
        "to give its first training batch",
        0,
    ),
    "val_once": ("val_loader gave no batches the second time", "rank stops here rather than", 2),
}


@pytest.mark.parametrize("scenario", list(EMPTY))
def test_a_loader_empty_on_one_rank_stops_every_rank(scenario: str, tmp_path: Path) -> None:
    """Rank 1's shard gives no validation batch (``no_val``), no training batch (``no_train``;
    ``no_train_iter`` as an iterator, which has no length to check first), or a validation
    iterator that runs out after the first step (``val_once``): rank 1 raises its own error,
    rank 0 one that names the other rank, both at the same point. Rank 0 used to wait for rank
    1 in the next collective (gloo's timeout: 30 minutes)."""
    waiting, failing = _job(scenario, tmp_path)
    own, other, forwards = EMPTY[scenario]
    assert failing["error"].startswith(f"ConfigError: {own}")
    assert "1 of its 2 ranks" in waiting["error"] and other in waiting["error"]
    for r in (waiting, failing):
        assert r["past_barrier"]
        assert r["forwards"] == forwards
        assert r["restored"] == {"model": True, "optimizer": True, "grads": True}


def test_a_model_evaluated_inside_its_ddp_wrapper_is_swept_in_train_mode(tmp_path: Path) -> None:
    """``ddp.module.eval()`` leaves the wrapper's own flag at train: the sweep judged the model
    by that flag and ran every step in eval mode (review 116), dropout off, BatchNorm frozen."""
    for r in _job("inner_eval", tmp_path):
        assert r["modes"] and all(r["modes"]) and len(r["modes"]) == r["forwards"]
        assert r["restored"] == {"model": True, "optimizer": True, "grads": True}


def test_a_compiled_ddp_model_is_averaged_too(tmp_path: Path) -> None:
    """torch.compile(DDP(model)), torch's order, wraps the DDP model: it is seen through."""
    ranks = _job("compiled", tmp_path)
    expected = _mean_of([r["local"]["train"] for r in ranks])
    assert ranks[0]["local"]["train"] != ranks[1]["local"]["train"]
    for r in ranks:
        assert r["losses"] == expected
        assert r["restored"] == {"model": True, "optimizer": True, "grads": True}
    assert ranks[0]["suggestion"] == ranks[1]["suggestion"] is not None


def test_accumulated_micro_batches_sync_gradients_once_per_optimizer_step(
    tmp_path: Path,
) -> None:
    """With ``accumulation_steps=2`` DDP all-reduces the gradients on the last micro-batch of
    each step only (``no_sync`` on the others), as a DDP training loop accumulates."""
    ranks = _job("accumulate", tmp_path)
    for r in ranks:
        assert r["steps"] > 10 and r["forwards"] == 2 * r["steps"]
        assert r["gradient_syncs"] == r["steps"]  # one per optimizer step, not per micro-batch
        assert r["restored"] == {"model": True, "optimizer": True, "grads": True}
    assert ranks[0]["losses"] == ranks[1]["losses"]


def test_a_plain_model_on_one_rank_makes_no_collective(tmp_path: Path) -> None:
    """Rank 0 range-tests a model that is not DDP while rank 1 waits at a barrier."""
    tested, waiting = _job("plain", tmp_path)
    assert tested["all_reduces"] == 0
    assert tested["losses"] == tested["local"]["train"]  # its own losses, not averaged
    assert tested["restored"] == {"model": True, "optimizer": True, "grads": True}
    assert tested["past_barrier"] and waiting["past_barrier"]
    assert "losses" not in waiting


# -- a rank of the job ----------------------------------------------------------------------------


def _shard(rank: int, noisy: bool, n: int = 1024) -> TensorDataset:
    """The same inputs on every rank, the labels noisy on rank 1 when ``noisy``."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 20, generator=g)
    y = (x[:, :2].sum(dim=1) > 0).long()
    if noisy and rank == 1:
        y = torch.randint(0, 2, y.shape, generator=g)
    return TensorDataset(x, y)


def _model(norm: bool) -> nn.Module:
    """A small MLP; with ``norm``, QA's (a BatchNorm, 64 hidden units)."""
    torch.manual_seed(1)
    hidden = 64 if norm else 32
    layers: list[nn.Module] = [nn.Linear(20, hidden)]
    if norm:
        layers.append(nn.BatchNorm1d(hidden))
    return nn.Sequential(*layers, nn.ReLU(), nn.Linear(hidden, 2))


class _Recording:
    """Cross-entropy that records each rank's own losses (train with gradients, val without),
    and makes rank 1's ``nan_at``-th training loss NaN."""

    def __init__(self, rank: int, nan_at: int | None = None) -> None:
        self.rank, self.nan_at = rank, nan_at
        self.local: dict[str, list[float]] = {"train": [], "val": []}

    def __call__(self, output: Tensor, labels: Tensor) -> Tensor:
        loss = nn.functional.cross_entropy(output, labels)
        kind = "train" if torch.is_grad_enabled() else "val"
        if kind == "train" and self.rank == 1 and len(self.local["train"]) == self.nan_at:
            loss = loss * math.nan
        self.local[kind].append(float(loss))
        return loss


def _state(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    return {
        "model": {k: v.clone() for k, v in model.state_dict().items()},
        "optimizer": repr(optimizer.state_dict()),
    }


def _restored(before: dict[str, Any], model: nn.Module, optimizer: torch.optim.Optimizer) -> Any:
    after = model.state_dict()
    return {
        "model": before["model"].keys() == after.keys()
        and all(torch.equal(v, after[k]) for k, v in before["model"].items()),
        "optimizer": before["optimizer"] == repr(optimizer.state_dict()),
        "grads": all(p.grad is None for p in model.parameters()),
    }


def _run(rank: int, scenario: str) -> dict[str, Any]:
    """One rank's part of ``scenario``: a range test and what the parent checks."""
    from lrkit import LRFinder

    if scenario == "plain" and rank == 1:
        return {}  # straight to the barrier, while rank 0 tests its own model
    noisy = scenario in ("agree", "agree_val", "diverge", "compiled")
    data = _shard(rank, noisy)
    model = _model(norm=scenario == "diverge")
    if scenario != "plain":
        model = DistributedDataParallel(model)
    if scenario == "compiled":
        model = torch.compile(model, backend="eager")  # type: ignore[assignment]
    forwards, syncs = [0], [0]
    model.register_forward_pre_hook(lambda *_: forwards.__setitem__(0, forwards[0] + 1))
    modes: list[bool] = []  # the inner model's mode at each training forward
    if scenario == "inner_eval":  # evaluated as DDP code does: the wrapper's flag stays train
        inner = model.module  # type: ignore[union-attr]
        inner.eval()
        inner.register_forward_pre_hook(
            lambda m, _: modes.append(m.training) if torch.is_grad_enabled() else None
        )
    if scenario == "accumulate":  # (the hook's own all_reduce would count in all_reduces)
        from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook

        def sync(state: Any, bucket: Any) -> Any:  # DDP's gradient all-reduce, counted
            syncs[0] += 1
            return allreduce_hook(state, bucket)

        sync.__annotations__.clear()  # DDP checks them: these are strings here, not its types
        model.register_comm_hook(None, sync)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-5, momentum=0.9)
    criterion = _Recording(rank, int(scenario[3:]) if scenario.startswith("nan") else None)
    sampler = DistributedSampler(data, WORLD, rank, seed=0) if scenario != "plain" else None
    loader = DataLoader(data, batch_size=32, sampler=sampler)
    val_loader: Any = None
    if scenario in ("agree_val", "no_val", "val_once"):  # each rank's own 64 held-out points
        x, y = _shard(rank, noisy=True, n=2048).tensors
        val_loader = DataLoader(TensorDataset(x[-64:], y[-64:]), batch_size=64)
    if rank == 1 and scenario == "no_val":
        val_loader = []
    if rank == 1 and scenario == "val_once":
        val_loader = iter(list(val_loader))  # read once: empty at the second step
    if rank == 1 and scenario == "no_train":
        loader = DataLoader(TensorDataset(*(t[:0] for t in data.tensors)), batch_size=32)
    if rank == 1 and scenario == "no_train_iter":
        loader = iter(())  # type: ignore[assignment]
    end_lr, num_iter = (1000.0, 100) if scenario == "diverge" else (3.0, 40)
    accumulation = 2 if scenario == "accumulate" else 1
    calls = [0]
    reduce = dist.all_reduce

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return reduce(*args, **kwargs)

    dist.all_reduce = counted  # type: ignore[assignment]
    before = _state(model, optimizer)
    out: dict[str, Any] = {}
    try:
        result = LRFinder(model, optimizer, criterion).range_test(
            loader,
            val_loader,
            end_lr=end_lr,
            num_iter=num_iter,
            accumulation_steps=accumulation,
            progress=False,
        )
    except Exception as error:
        out["error"] = f"{type(error).__name__}: {error}"
    else:
        out.update(
            losses=list(result.losses),
            steps=result.steps,
            stop_reason=result.stop_reason,
            diverged_lr=result.diverged_lr,
            suggestion=result.suggestion,
            range=result.range,
            loss_kind=result.loss_kind,
        )
    finally:
        dist.all_reduce = reduce
    out.update(
        modes=modes,
        local=criterion.local,
        forwards=forwards[0] - len(criterion.local["val"]),  # training forward passes
        all_reduces=calls[0],
        gradient_syncs=syncs[0],
        restored=_restored(before, model, optimizer),
    )
    return out


def _worker(scenario: str, rank_text: str, init: str, out_path: str) -> None:
    rank = int(rank_text)
    torch.set_num_threads(1)
    timeout = datetime.timedelta(seconds=TIMEOUT_S)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=WORLD, timeout=timeout)
    try:
        import warnings

        warnings.simplefilter("ignore")  # the readings' warnings: not what is tested here
        out = _run(rank, scenario)
        dist.barrier()
        out["past_barrier"] = True
        Path(out_path).write_text(json.dumps(out))
    finally:
        dist.destroy_process_group()
    # torch's own teardown may abort ("terminate called without an active exception") after a
    # DDP backward that no optimizer step followed, with lrkit or without it (2 in 25 runs of
    # plain DDP: forward, backward, barrier, destroy): this rank's work is done and written,
    # so it leaves without that teardown
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


SCENARIOS = (
    *("agree", "agree_val", "diverge", "nan0", "nan9", "plain", "accumulate", "compiled"),
    "inner_eval",
    *EMPTY,
)

if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] not in SCENARIOS:
        sys.exit(f"usage: {sys.argv[0]} {{{','.join(SCENARIOS)}}} RANK INIT OUT")
    _worker(*sys.argv[1:])
