"""Exact resume in a fresh process, for every scheduler and composition.

The test process runs each case for N steps and saves ``scheduler.state_dict()`` and
``optimizer.state_dict()`` with ``torch.save``. One new Python process (``dropin_cases.py``) then
loads every checkpoint into a new optimizer and scheduler, in each of three ways a training script
does it, and runs M more steps. What it saw must equal an uninterrupted N + M run exactly (``==``):
the LR of every param group right after loading and after each step, the cycled momentum, and
ReduceLROnPlateau's ``best``, ``num_bad_epochs``, ``cooldown_counter`` and ``last_epoch``.

The same harness run on torch's own classes shows what lrkit fixes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from lrkit.errors import ConfigError
from lrkit.schedules import dropin
from lrkit.schedules.dropin_resume import restore_lrs
from tests.schedules.dropin_cases import (
    CASES,
    GROUP_LRS,
    RESUME_MODES,
    Case,
    make_optimizer,
    mismatch,
    save_checkpoint,
)

WORKER = Path(__file__).with_name("dropin_cases.py")
CASE_PARAMS = [pytest.param(case, id=case.name) for case in CASES]
# (saved by, resumed by): lrkit itself, torch itself, and a torch checkpoint moved to lrkit.
RUNS = (("lrkit", "lrkit"), ("torch", "torch"), ("torch", "lrkit"))
N_GROUPS = len(GROUP_LRS)

Key = tuple[str, str, str, int, str]  # saved_by, resumed_by, case, split, mode


@pytest.fixture(scope="module")
def resumed(tmp_path_factory: pytest.TempPathFactory) -> dict[Key, dict[str, Any]]:
    """Every (run, case, split, mode) resumed in one fresh process, with its reference trace."""
    root = tmp_path_factory.mktemp("dropin-resume")
    references: dict[tuple[str, str, int], list[list[float]]] = {}
    jobs = []
    for case in CASES:
        for split in case.splits:
            for impl in ("torch", "lrkit"):
                path = root / f"{impl}-{case.name}-{split}.pt"
                references[impl, case.name, split] = save_checkpoint(impl, case, split, str(path))
            for saved_by, resumed_by in RUNS:
                path = root / f"{saved_by}-{case.name}-{split}.pt"
                for mode in RESUME_MODES:
                    jobs.append(
                        {
                            "saved_by": saved_by,
                            "impl": resumed_by,
                            "case": case.name,
                            "split": split,
                            "mode": mode,
                            "path": str(path),
                        }
                    )
    jobs_path, results_path = root / "jobs.json", root / "results.json"
    jobs_path.write_text(json.dumps(jobs), encoding="utf-8")

    proc = subprocess.run(
        [sys.executable, str(WORKER), str(jobs_path), str(results_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr

    outcomes = {}
    for result in json.loads(results_path.read_text(encoding="utf-8")):
        key = (result["saved_by"], result["impl"], result["case"], result["split"], result["mode"])
        result["expected"] = references[result["impl"], result["case"], result["split"]]
        outcomes[key] = result
    assert len(outcomes) == len(jobs)
    return outcomes


def failures(outcomes: dict[Key, dict[str, Any]], saved_by: str, impl: str, case: Case) -> list:
    """The (split, mode, what differed) of every resume of ``case`` that was not exact."""
    found = []
    for split in case.splits:
        for mode in RESUME_MODES:
            outcome = outcomes[saved_by, impl, case.name, split, mode]
            problem = outcome["error"] or mismatch(outcome["expected"], outcome["trace"], rel=0.0)
            if problem:
                found.append((split, mode, problem))
    return found


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_lrkit_resumes_exactly_in_a_fresh_process(
    resumed: dict[Key, dict[str, Any]], case: Case
) -> None:
    assert failures(resumed, "lrkit", "lrkit", case) == []


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_lrkit_resumes_a_checkpoint_saved_by_torch(
    resumed: dict[Key, dict[str, Any]], case: Case
) -> None:
    # Switching an interrupted torch run to lrkit is a one-line import change.
    assert failures(resumed, "torch", "lrkit", case) == []


# What torch 2.13 gets wrong in this harness, each one fixed by lrkit (the full list is longer):
TORCH_FAILURES = [
    # pytorch#29697: the recursive formula reads the LR of a fresh optimizer (0.1, not 0.0656).
    pytest.param("StepLR", 30, "no_optimizer_state", id="StepLR-no-optimizer-state"),
    pytest.param("MultiStepLR", 79, "no_optimizer_state", id="MultiStepLR-no-optimizer-state"),
    pytest.param(
        "CosineAnnealingLR-past-T_max", 11, "no_optimizer_state", id="Cosine-no-optimizer-state"
    ),
    # The reduced LR lives only in the optimizer: torch forgets every reduction.
    pytest.param("ReduceLROnPlateau", 130, "no_optimizer_state", id="Plateau-forgets-reductions"),
    # Building after optimizer.load_state_dict re-applies the step-0 factor to the restored LR.
    pytest.param(
        "MultiStepLR-milestones-0-and-repeated",
        11,
        "scheduler_after_optimizer_load",
        id="MultiStepLR-milestone-0-applied-twice",
    ),
    pytest.param("LinearLR", 9, "scheduler_after_optimizer_load", id="LinearLR-built-after-load"),
    # Composites: a child's stale LR, or the constructor's reset, survives loading.
    pytest.param(
        "SequentialLR-warmup-cosine",
        5,
        "scheduler_after_optimizer_load",
        id="SequentialLR-built-after-load",
    ),
    pytest.param(
        "SequentialLR-milestone-0", 10, "no_optimizer_state", id="SequentialLR-milestone-0"
    ),
    pytest.param("ChainedScheduler", 6, "no_optimizer_state", id="ChainedScheduler"),
    # The cycled momentum is reset to max_momentum for the first resumed optimizer step.
    pytest.param("OneCycleLR-cos", 929, "no_optimizer_state", id="OneCycleLR-momentum"),
    pytest.param(
        "CyclicLR-exp_range-adam-beta1",
        3,
        "scheduler_after_optimizer_load",
        id="CyclicLR-beta1",
    ),
]


@pytest.mark.parametrize(("case_name", "split", "mode"), TORCH_FAILURES)
def test_torch_fails_where_lrkit_resumes_exactly(
    resumed: dict[Key, dict[str, Any]], case_name: str, split: int, mode: str
) -> None:
    torch_outcome = resumed["torch", "torch", case_name, split, mode]
    lrkit_outcome = resumed["lrkit", "lrkit", case_name, split, mode]

    assert mismatch(torch_outcome["expected"], torch_outcome["trace"], rel=1e-12) != ""
    assert mismatch(lrkit_outcome["expected"], lrkit_outcome["trace"], rel=0.0) == ""


def test_torch_fails_without_optimizer_state_or_when_built_after_loading_it(
    resumed: dict[Key, dict[str, Any]],
) -> None:
    failing_modes = {
        mode for case in CASES for _, mode, _ in failures(resumed, "torch", "torch", case)
    }
    assert failing_modes == set(RESUME_MODES) - {"scheduler_before_optimizer_load"}


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_some_checkpoint_of_every_case_is_taken_just_before_a_change(
    resumed: dict[Key, dict[str, Any]], case: Case
) -> None:
    # Guards the harness itself: a checkpoint right before a milestone / restart / reduction.
    def changes(split: int) -> bool:
        trace = resumed["lrkit", "lrkit", case.name, split, RESUME_MODES[0]]["expected"]
        return trace[1] != trace[0]

    assert any(changes(split) for split in case.splits)


@pytest.mark.parametrize(
    "case",
    [p for p in CASE_PARAMS if p.values[0].metric is not None],  # type: ignore[union-attr]
)
def test_plateau_checkpoints_carry_counters_and_reduced_lrs(
    resumed: dict[Key, dict[str, Any]], case: Case
) -> None:
    # Snapshot layout: LRs, momenta, last LRs, best, num_bad_epochs, cooldown_counter, last_epoch.
    saved = [
        resumed["lrkit", "lrkit", case.name, split, "no_optimizer_state"]["expected"][0]
        for split in case.splits
    ]
    lr, bad, cooldown = 0, 3 * N_GROUPS + 1, 3 * N_GROUPS + 2

    assert any(snap[lr] < GROUP_LRS[0] for snap in saved)  # a reduction happened before saving
    assert any(snap[bad] > 0 for snap in saved)
    if case.build(dropin, make_optimizer(case.optimizer)).cooldown > 0:
        assert any(snap[cooldown] > 0 for snap in saved)
    assert failures(resumed, "lrkit", "lrkit", case) == []


def _sgd(lr: float | torch.Tensor = 0.1) -> torch.optim.SGD:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr, momentum=0.9)


def test_loading_into_an_optimizer_with_other_param_groups_is_a_config_error() -> None:
    scheduler = dropin.StepLR(_sgd(), step_size=2)
    state = {**scheduler.state_dict(), "_last_lr": [0.1, 0.05]}

    with pytest.raises(ConfigError, match=r"one LR per param group \(1\), got 2"):
        dropin.StepLR(_sgd(), step_size=2).load_state_dict(state)


def test_a_tensor_lr_is_restored_in_place() -> None:
    # Capturable / compiled optimizers hold the LR as a tensor that graphs keep a reference to.
    optimizer = _sgd(lr=torch.tensor(0.1))
    lr_tensor = optimizer.param_groups[0]["lr"]
    saved = dropin.ExponentialLR(_sgd(torch.tensor(0.1)), gamma=0.5)
    for _ in range(3):
        saved.optimizer.step()
        saved.step()

    dropin.ExponentialLR(optimizer, gamma=0.5).load_state_dict(saved.state_dict())

    assert optimizer.param_groups[0]["lr"] is lr_tensor
    assert float(lr_tensor) == float(saved.get_last_lr()[0])
    assert float(lr_tensor) == pytest.approx(0.0125)


def test_restore_lrs_keeps_a_float_lr_a_float() -> None:
    optimizer = _sgd()
    restore_lrs(optimizer, [torch.tensor(0.5)])
    assert optimizer.param_groups[0]["lr"] == 0.5
    assert isinstance(optimizer.param_groups[0]["lr"], float)


@pytest.mark.parametrize("later", ["OneCycleLR", "CyclicLR"])
@pytest.mark.parametrize("with_optimizer_state", [False, True])
def test_a_cycling_child_before_its_milestone_leaves_the_momentum_alone_on_resume(
    later: str, with_optimizer_state: bool
) -> None:
    # torch's SequentialLR sets an idle child's last_epoch to -1; recomputing its momentum
    # there gave 0.9497 instead of the 0.95 that the uninterrupted run has
    def make() -> tuple[torch.optim.Optimizer, Any]:
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
        cycling = (
            dropin.OneCycleLR(opt, max_lr=0.1, total_steps=100)
            if later == "OneCycleLR"
            else dropin.CyclicLR(opt, 0.01, 0.1, step_size_up=4)
        )
        first = dropin.ExponentialLR(opt, gamma=0.9)
        return opt, dropin.SequentialLR(opt, [first, cycling], milestones=[6])

    opt, sched = make()
    momenta, resumed = [], []
    for step in range(12):
        if step == 3:
            again, again_sched = make()
            if with_optimizer_state:
                again.load_state_dict(opt.state_dict())
            again_sched.load_state_dict(sched.state_dict())
        if step >= 3:
            resumed.append(again.param_groups[0]["momentum"])
            again.step()
            again_sched.step()
        momenta.append(opt.param_groups[0]["momentum"])
        opt.step()
        sched.step()
    assert resumed == momenta[3:]


def test_one_checkpoint_loads_twice_and_stays_as_it_was() -> None:
    """torch's CyclicLR pops a key from the dict it loads: the second load was a KeyError."""
    saved = dropin.CyclicLR(_sgd(), base_lr=0.01, max_lr=0.1, step_size_up=4)
    for _ in range(3):
        saved.optimizer.step()
        saved.step()
    state = saved.state_dict()
    keys = set(state)
    for _ in range(2):
        again = dropin.CyclicLR(_sgd(), base_lr=0.01, max_lr=0.1, step_size_up=4)
        again.load_state_dict(state)
        assert again.get_last_lr() == saved.get_last_lr()
    assert set(state) == keys


def _momenta_after_resume(make: Any, steps: int, save_as: str = "lrkit") -> tuple[list, list]:
    """The momentum at each of 4 steps after ``steps``, uninterrupted and resumed at ``steps``
    from a checkpoint through ``torch.save`` (into a fresh optimizer, its state not restored)."""
    import io

    opt, sched = make()
    for _ in range(steps):
        opt.step()
        sched.step()
    buffer = io.BytesIO()
    torch.save(sched.state_dict(), buffer)
    buffer.seek(0)
    again, again_sched = make()
    again_sched.load_state_dict(torch.load(buffer))
    uninterrupted, resumed = [], []
    for _ in range(4):
        uninterrupted.append(opt.param_groups[0]["momentum"])
        resumed.append(again.param_groups[0]["momentum"])
        for o, s in ((opt, sched), (again, again_sched)):
            o.step()
            s.step()
    return uninterrupted, resumed


def test_a_finished_cycling_child_does_not_write_back_its_stale_momentum() -> None:
    # a, cycling all run, set the momentum last; b finished its part of the SequentialLR at
    # step 5 and, loaded after a, wrote back its own (0.533 for 0.85)
    def make() -> tuple[torch.optim.Optimizer, Any]:
        opt = _sgd()
        a = dropin.CyclicLR(opt, base_lr=0.01, max_lr=0.1, step_size_up=4)
        b = dropin.CyclicLR(opt, 0.01, 0.1, step_size_up=3, base_momentum=0.5, max_momentum=0.6)
        then = dropin.ConstantLR(opt, factor=1.0, total_iters=0)
        return opt, dropin.ChainedScheduler(
            [a, dropin.SequentialLR(opt, [b, then], milestones=[5])], optimizer=opt
        )

    uninterrupted, resumed = _momenta_after_resume(make, 10)
    assert resumed == uninterrupted
    assert uninterrupted[0] == pytest.approx(0.85)


@pytest.mark.parametrize("child", ["CyclicLR", "OneCycleLR"])
@pytest.mark.parametrize("composite", ["ChainedScheduler", "SequentialLR"])
def test_a_composite_restores_the_momentum_of_torch_s_cycling_children(
    child: str, composite: str
) -> None:
    # torch's own cycling schedulers write no momentum on load: the composite does it for them
    def make() -> tuple[torch.optim.Optimizer, Any]:
        opt = _sgd()
        cycling = (
            torch.optim.lr_scheduler.CyclicLR(opt, base_lr=0.01, max_lr=0.1, step_size_up=5)
            if child == "CyclicLR"
            else torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=50)
        )
        if composite == "ChainedScheduler":
            return opt, dropin.ChainedScheduler([cycling], optimizer=opt)
        first = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9)
        return opt, dropin.SequentialLR(opt, [first, cycling], milestones=[2])

    uninterrupted, resumed = _momenta_after_resume(make, 4)
    assert resumed == uninterrupted
    assert uninterrupted[0] != 0.9


def test_a_checkpoint_of_torch_s_composite_resumes_the_momentum_of_the_current_child() -> None:
    # torch's composite saves no momenta: the children that stepped last (the outer cycling
    # one; not the finished one inside the SequentialLR) write theirs last
    def make(impl: Any = dropin) -> tuple[torch.optim.Optimizer, Any]:
        opt = _sgd()
        a = impl.OneCycleLR(opt, max_lr=0.1, total_steps=50)
        b = impl.CyclicLR(opt, 0.01, 0.1, step_size_up=3, base_momentum=0.5, max_momentum=0.6)
        then = impl.ConstantLR(opt, factor=1.0, total_iters=0)
        inner = impl.SequentialLR(opt, [b, then], milestones=[5])
        return opt, impl.ChainedScheduler([a, inner], optimizer=opt)

    opt, sched = make(torch.optim.lr_scheduler)
    for _ in range(10):
        opt.step()
        sched.step()
    again, again_sched = make()
    again_sched.load_state_dict(sched.state_dict())
    assert again.param_groups[0]["momentum"] == opt.param_groups[0]["momentum"]
    assert again_sched.get_last_lr() == sched.get_last_lr()


def test_a_composite_loads_one_checkpoint_of_torch_s_cyclic_child_twice() -> None:
    def make() -> tuple[torch.optim.Optimizer, Any]:
        opt = _sgd()
        cycling = torch.optim.lr_scheduler.CyclicLR(opt, 0.01, 0.1, step_size_up=5)
        return opt, dropin.SequentialLR(opt, [cycling], milestones=[])

    opt, sched = make()
    for _ in range(3):
        opt.step()
        sched.step()
    state = sched.state_dict()
    for _ in range(2):
        again, again_sched = make()
        again_sched.load_state_dict(state)
        assert again.param_groups[0]["momentum"] == opt.param_groups[0]["momentum"]


def test_a_checkpoint_of_torch_s_composite_before_its_first_step_keeps_the_momentum() -> None:
    # before any step the children's construction order set the momentum, which the list order
    # of a ChainedScheduler need not follow: nothing is to be written back
    def make(impl: Any) -> tuple[torch.optim.Optimizer, Any]:
        opt = _sgd()
        later = impl.CyclicLR(opt, 0.01, 0.1, step_size_up=3, base_momentum=0.5, max_momentum=0.6)
        first = impl.OneCycleLR(opt, max_lr=0.1, total_steps=40)
        return opt, impl.ChainedScheduler([first, later], optimizer=opt)

    opt, sched = make(torch.optim.lr_scheduler)
    again, again_sched = make(dropin)
    again_sched.load_state_dict(sched.state_dict())
    assert again.param_groups[0]["momentum"] == opt.param_groups[0]["momentum"] == 0.95
