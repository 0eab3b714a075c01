"""Samplers: seed-determined draws per trial slot, even coverage for ``stratified``."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest
import torch
import torch.distributions as dist

from lrkit.errors import UnknownNameError
from lrkit.search import (
    LogUniformSampler,
    StratifiedSampler,
    largest_gap,
    make_sampler,
    search,
)
from lrkit.search.samplers import stratified_positions
from tests.search.objectives import quadratic


@pytest.mark.parametrize("n", [1, 2, 3, 7, 10, 16, 20, 33])
def test_stratified_design_has_one_point_per_stratum(n: int) -> None:
    for seed in range(5):
        xs = stratified_positions(n, seed)
        assert sorted(int(x * n) for x in xs) == list(range(n))
        assert all(0.0 <= x < 1.0 for x in xs)


def test_stratified_prefixes_are_spread_too() -> None:
    # any prefix of the design leaves no gap much wider than a random draw of that size would
    n = 20
    for seed in range(10):
        xs = stratified_positions(n, seed)
        for k in (4, 8, 12):
            gaps = np.diff(np.sort(np.r_[0.0, xs[:k], 1.0]))
            assert gaps.max() < 3.0 / k, (seed, k, gaps.max())


@pytest.mark.parametrize("first", [0.0, 0.13, 0.4, 0.5, 0.77, 0.999, 1.0])
def test_a_fixed_first_position_is_filled_around(first: float) -> None:
    for n in (1, 2, 5, 15):
        for seed in range(3):
            xs = stratified_positions(n, seed, first=first)
            assert xs[0] == first and len(xs) == n
            assert sorted(min(int(x * n), n - 1) for x in xs) == list(range(n))
            for k in range(2, n + 1):  # each next point in the largest gap the earlier ones left
                edges = np.sort(np.r_[0.0, xs[: k - 1], 1.0])
                gaps = np.diff(edges)
                where = int(np.searchsorted(edges, xs[k - 1])) - 1
                assert gaps[where] >= gaps.max() - 1.0 / n, (n, seed, k)


def test_the_second_trial_goes_where_the_start_lr_says_least() -> None:
    # start_lr at 0.41 of the range: the second trial halves [0.41, 1], not [0, 0.41]
    low, high, start = 1e-4, 1.0, 10**-2.36
    result = search(
        quadratic,
        low,
        high,
        10,
        start_lr=start,
        sampler="stratified",
        storage=":memory:",
        progress=False,
    )
    logs = [(math.log10(t.lr) + 4) / 4 for t in sorted(result.trials, key=lambda t: t.number)]
    assert logs[0] == pytest.approx(0.41)
    assert 0.6 <= logs[1] < 0.8  # the stratum at the middle of [0.41, 1]
    assert sorted(int(x * 10) for x in logs) == list(range(10))


def test_stratified_shrinks_the_largest_gap_against_random() -> None:
    # ANCHORS: about L ln N / N for independent draws, about L / N stratified
    n, low, high = 20, 1e-5, 1.0

    def lrs(sampler_name: str, seed: int) -> list[float]:
        result = search(
            quadratic,
            low,
            high,
            n,
            seed=seed,
            sampler=sampler_name,
            storage=":memory:",
            progress=False,
        )
        return [t.lr for t in result.trials]

    stratified = [largest_gap(lrs("stratified", s), low, high) for s in range(8)]
    random = [largest_gap(lrs("random", s), low, high) for s in range(8)]
    decades = 5.0
    assert max(stratified) <= 2 * decades / n + 1e-9
    assert np.mean(random) > 1.5 * np.mean(stratified)
    assert np.mean(random) > decades * math.log(n) / n * 0.6


@pytest.mark.parametrize("name", ["random", "random-torch", "stratified"])
def test_draws_depend_on_seed_and_slot_only(name: str) -> None:
    a = search(quadratic, 1e-4, 1.0, 6, seed=3, sampler=name, storage=":memory:", progress=False)
    b = search(quadratic, 1e-4, 1.0, 6, seed=3, sampler=name, storage=":memory:", progress=False)
    c = search(quadratic, 1e-4, 1.0, 6, seed=4, sampler=name, storage=":memory:", progress=False)
    assert [t.lr for t in a.trials] == [t.lr for t in b.trials]
    assert [t.lr for t in a.trials] != [t.lr for t in c.trials]
    assert all(1e-4 <= t.lr <= 1.0 for t in a.trials)


def test_random_sampler_is_seed_000s_numpy_draw() -> None:
    # seed 000 example 1: log_lr = np.random.uniform(min_log_lr, max_log_lr); lr = 10**log_lr
    result = search(
        quadratic, 1e-5, 1.0, 5, seed=7, sampler="random", storage=":memory:", progress=False
    )
    for t in result.trials:
        rng = np.random.default_rng([7, 0, 0, t.number])
        log_lr = rng.uniform(0.0, 1.0) * 5 - 5  # the same uniform draw, on [-5, 0]
        assert t.lr == pytest.approx(10**log_lr, rel=1e-9)


def test_random_torch_sampler_is_seed_000s_distributions_draw() -> None:
    # seed 000 example 2: log_lr = dist.Uniform(min_log_lr, max_log_lr).sample(); lr = 10**log_lr
    result = search(
        quadratic, 1e-5, 1.0, 5, seed=7, sampler="random-torch", storage=":memory:", progress=False
    )
    for t in result.trials:
        seed = int(np.random.default_rng([7, 0, 0, t.number]).integers(2**63))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            u = float(dist.Uniform(0.0, 1.0).sample())
        assert t.lr == pytest.approx(10 ** (-5 + 5 * u), rel=1e-6)


def test_make_sampler_names_and_errors() -> None:
    assert isinstance(make_sampler("stratified", 0), StratifiedSampler)
    assert isinstance(make_sampler("random", 0), LogUniformSampler)
    assert isinstance(make_sampler("tpe", 0), optuna.samplers.TPESampler)
    own = optuna.samplers.RandomSampler(seed=1)
    assert make_sampler(own, 0) is own
    with pytest.raises(UnknownNameError, match="valid samplers: random, random-torch"):
        make_sampler("sobolev", 0)
    with pytest.raises(ValueError, match="backend must be 'numpy' or 'torch'"):
        LogUniformSampler(0, backend="jax")  # type: ignore[arg-type]


def test_tpe_converges_on_the_bowl() -> None:
    result = search(
        quadratic, 1e-5, 1.0, 25, seed=0, sampler="tpe", storage=":memory:", progress=False
    )
    assert result.best_lr is not None
    assert abs(math.log10(result.best_lr) + 2) < 0.3


@pytest.mark.parametrize("n", [1, 5, 20, 200])
def test_a_stratified_trial_sampled_alone_is_its_place_in_the_design(n: int) -> None:
    # a worker process samples one trial without building the whole design: the same point
    design = stratified_positions(n, seed=3)
    for index in sorted({0, n // 2, n - 1}):
        sampler = StratifiedSampler(seed=3)  # a fresh one, as in a fresh process
        frozen = optuna.trial.create_trial(
            state=optuna.trial.TrialState.RUNNING,
            user_attrs={"lrkit_slot": index, "lrkit_round_size": n},
        )
        assert sampler._position(frozen, (0.0, 1.0, False)) == design[index]
