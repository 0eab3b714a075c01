"""Where each trial's learning rate comes from: Optuna samplers, chosen by name.

``random`` and ``stratified`` draw each trial's LR from the study seed and the trial's slot alone
(its index in its round), never from a shared random stream, so the LRs of a search are the same
whatever the number of workers or machines and whatever order trials finish in (optuna #4412,
#6062). ``tpe`` is Optuna's own adaptive sampler; it learns from finished trials, so its draws
depend on timing when trials run in parallel.
"""

from __future__ import annotations

import bisect
import heapq
import math
import zlib
from collections import Counter
from collections.abc import Sequence
from itertools import pairwise
from typing import Any, Literal

import numpy as np
import optuna

from lrkit.checks import whole_number
from lrkit.errors import ConfigError, UnknownNameError, bad_value

SAMPLERS = ("random", "random-torch", "stratified", "tpe")
_SAMPLER_ALIASES = {"lhs": "stratified", "latin": "stratified"}

OWN_ATTRS = "lrkit_"
"""How the trial attrs lrkit keeps its record in begin (slot, round, seed, range, ...)."""
SLOT_ATTR = "lrkit_slot"  # the trial's index within its round
ROUND_ATTR = "lrkit_round"
SEED_ATTR = "lrkit_seed"  # the trial's training seed, derived from its round and slot
ROUND_SIZE_ATTR = "lrkit_round_size"
FIRST_ATTR = "lrkit_first_lr"  # the round's fixed first LR (``start_lr``), which the design fills


_DRAW, _SHIFT, _OTHER = 0, 1, 2  # separate streams: in-stratum draws, the design's shift, and
# the parameters other than the LR that an objective suggests itself
LR_PARAM = "lr"  # the name the LR is suggested under


def whole_attr(value: Any, default: int | None = None) -> int | None:
    """One of lrkit's own whole-number attrs, or ``default`` where something else is in its
    place (an objective's ``trial.set_user_attr("lrkit_round", "first")``, a bool)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def slot_place(trial: optuna.trial.FrozenTrial) -> tuple[int, int] | None:
    """A trial's ``(round, slot)``, its place in the search's order; ``None`` for one without
    lrkit's slot, or with something else in its place (a trial queued by other code)."""
    round_ = whole_attr(trial.user_attrs.get(ROUND_ATTR, 0))
    slot = whole_attr(trial.user_attrs.get(SLOT_ATTR))
    return None if round_ is None or slot is None else (round_, slot)


def _rng(seed: int, *key: int) -> np.random.Generator:
    """A generator that depends only on ``seed`` and ``key`` (negative seeds allowed)."""
    return np.random.default_rng([seed % 2**64, *key])


def _unit_draw(seed: int, round_: int, slot: int) -> float:
    """A uniform draw in [0, 1) that depends only on (seed, round, slot)."""
    return float(_rng(seed, round_, _DRAW, slot).random())


def stratified_positions(
    n: int, seed: int, round_: int = 0, first: float | None = None
) -> list[float]:
    """``n`` positions in [0, 1): one in each of ``n`` equal strata, visited in an even order.

    Latin-hypercube sampling in one dimension: every stratum of width ``1/n`` holds exactly one
    point (the largest gap is below ``2/n``, against about ``ln(n)/n`` for independent draws).
    The strata are visited in the order of a randomly shifted van der Corput sequence, so any
    prefix of the design is spread evenly too: when successive halving stops a search early, or
    a search is interrupted, the trials that ran still cover the whole range.

    ``first`` fixes the first position (a trial at a given LR, such as the range test's
    suggestion); the other strata are then visited by halving the largest gap left between the
    positions taken and the range's ends, so that the second trial goes where the first says
    least, not next to it.

    Example:
        >>> xs = stratified_positions(8, seed=0)
        >>> sorted(int(x * 8) for x in xs)
        [0, 1, 2, 3, 4, 5, 6, 7]
        >>> ys = stratified_positions(8, seed=0, first=0.4)
        >>> ys[0], sorted(int(y * 8) for y in ys), int(ys[1] * 8)  # then the middle of [0.4, 1]
        (0.4, [0, 1, 2, 3, 4, 5, 6, 7], 5)
    """
    if n < 1:
        return []
    if first is not None:
        return _fill_from(first, n, seed, round_)
    order = _stratum_order(n, seed, round_)
    return [(s + _unit_draw(seed, round_, i)) / n for i, s in enumerate(order)]


def _stratum_order(n: int, seed: int, round_: int) -> list[int]:
    """The order in which :func:`stratified_positions` visits the ``n`` strata (no ``first``)."""
    shift = float(_rng(seed, round_, _SHIFT).random())
    order: list[int] = []
    seen: set[int] = set()
    k = 0
    while len(order) < n:
        stratum = int(((_van_der_corput(k) + shift) % 1.0) * n)
        k += 1
        if stratum not in seen:
            seen.add(stratum)
            order.append(stratum)
    return order


def _fill_from(first: float, n: int, seed: int, round_: int) -> list[float]:
    """Positions after a fixed ``first``: each in a free stratum at the middle of the largest gap.

    The gaps run between the positions taken and the ends 0 and 1; a gap whose middle stratum
    is taken gives the free stratum inside it nearest its middle, and one with no free stratum
    is skipped. Ties go to the lower gap. A heap of gaps keeps it O(n log n): a 10,000-trial
    round is built in well under a second, in every worker process that samples from it.
    """
    first = min(max(float(first), 0.0), 1.0)
    taken = {min(int(first * n), n - 1)}
    positions = [first]
    edges = [0.0, first, 1.0]
    current = Counter([(0.0, first), (first, 1.0)])  # the gaps now, as (low, high) pairs
    heap = [(-(b - a), a, b) for a, b in current]
    heapq.heapify(heap)
    while len(positions) < n:
        stratum = None
        while heap:
            gap = heapq.heappop(heap)
            a, b = gap[1], gap[2]
            if not current[(a, b)]:
                continue  # split since it was pushed
            stratum = _free_near((a + b) / 2, a, b, n, taken)
            if stratum is not None:
                heapq.heappush(heap, gap)  # it may still be the largest after this one
                break
        if stratum is None:  # every gap's strata taken: the free ones remain, lowest first
            stratum = min(s for s in range(n) if s not in taken)
        taken.add(stratum)
        p = (stratum + _unit_draw(seed, round_, len(positions))) / n
        positions.append(p)
        i = bisect.bisect_right(edges, p)
        low, high = edges[i - 1], edges[i]
        edges.insert(i, p)
        current[(low, high)] -= 1
        for piece in ((low, p), (p, high)):
            current[piece] += 1
            heapq.heappush(heap, (-(piece[1] - piece[0]), *piece))
    return positions


def _free_near(middle: float, a: float, b: float, n: int, taken: set[int]) -> int | None:
    """The free stratum whose centre lies in [a, b] nearest ``middle`` (the lower on a tie)."""

    def centre(s: int) -> float:
        return (s + 0.5) / n

    def inside(s: int) -> bool:
        return 0 <= s < n and a <= centre(s) <= b

    # left only moves down and right up from the middle: once both are out, none is left
    left = math.floor(middle * n - 0.5)
    right = left + 1
    while inside(left) or inside(right):
        nearer = abs(centre(left) - middle) <= abs(centre(right) - middle)
        if inside(left) and (nearer or not inside(right)):
            if left not in taken:
                return left
            left -= 1
        else:
            if right not in taken:
                return right
            right += 1
    return None


def _van_der_corput(k: int) -> float:
    """The k-th point of the base-2 van der Corput sequence: k's bits mirrored after the point."""
    x, denom = 0.0, 1.0
    while k:
        denom *= 2.0
        x += (k & 1) / denom
        k >>= 1
    return x


def _slot(trial: optuna.trial.FrozenTrial) -> tuple[int, int, int | None]:
    attrs = trial.user_attrs
    return (
        int(attrs.get(SLOT_ATTR, trial.number)),
        int(attrs.get(ROUND_ATTR, 0)),
        attrs.get(ROUND_SIZE_ATTR),
    )


def _other_param(
    seed: int, trial: optuna.trial.FrozenTrial, name: str, distribution: Any, study: Any
) -> Any:
    """A parameter other than the LR (``trial.suggest_float("momentum", ...)`` in the
    objective): a uniform draw of Optuna's random sampler, from a seed that depends only on the
    search seed, the trial's slot and the parameter's name, so that it is independent of the
    LR's position and the same for any number of workers."""
    slot, round_, _ = _slot(trial)
    key = zlib.crc32(name.encode("utf-8", "surrogatepass"))
    drawn = int(_rng(seed, round_, _OTHER, slot, key).integers(2**32))
    sampler = optuna.samplers.RandomSampler(seed=drawn)
    return sampler.sample_independent(study, trial, name, distribution)


def _log_bounds(distribution: Any) -> tuple[float, float, bool]:
    low, high = float(distribution.low), float(distribution.high)
    return low, high, bool(getattr(distribution, "log", False))


class _SlotSampler(optuna.samplers.BaseSampler):
    """Shared plumbing: independent sampling of each parameter from the trial's slot."""

    def __init__(self, seed: int = 0) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise bad_value("seed", "an integer", seed)
        self.seed = seed

    def infer_relative_search_space(self, study: Any, trial: Any) -> dict[str, Any]:
        return {}

    def sample_relative(self, study: Any, trial: Any, search_space: Any) -> dict[str, Any]:
        return {}

    def sample_independent(
        self, study: Any, trial: Any, param_name: str, param_distribution: Any
    ) -> Any:
        if param_name != LR_PARAM:  # another parameter the objective suggests itself
            return _other_param(self.seed, trial, param_name, param_distribution, study)
        low, high, log = _log_bounds(param_distribution)
        u = self._position(trial, (low, high, log))
        if log:
            return float(math.exp(math.log(low) + u * (math.log(high) - math.log(low))))
        return float(low + u * (high - low))

    def _position(
        self, trial: optuna.trial.FrozenTrial, bounds: tuple[float, float, bool]
    ) -> float:
        raise NotImplementedError


class LogUniformSampler(_SlotSampler):
    """Seed 000's draws: ``lr = 10 ** U(log10 low, log10 high)``, one independent draw per trial.

    Args:
        seed: The search seed; a trial's draw depends only on it and the trial's slot.
        backend: ``"numpy"`` draws as seed 000's ``np.random.uniform`` example,
            ``"torch"`` as its ``torch.distributions.Uniform(...).sample()`` example.

    Example:
        >>> LogUniformSampler(seed=3).seed
        3
    """

    def __init__(self, seed: int = 0, backend: Literal["numpy", "torch"] = "numpy") -> None:
        super().__init__(seed)
        if backend not in ("numpy", "torch"):
            raise bad_value("backend", "'numpy' or 'torch'", backend)
        self.backend = backend

    def _position(
        self, trial: optuna.trial.FrozenTrial, bounds: tuple[float, float, bool]
    ) -> float:
        slot, round_, _ = _slot(trial)
        if self.backend == "numpy":
            return float(_rng(self.seed, round_, _DRAW, slot).uniform(0.0, 1.0))
        import torch
        import torch.distributions as dist

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(_rng(self.seed, round_, _DRAW, slot).integers(2**63)))
            return float(dist.Uniform(0.0, 1.0).sample())


class StratifiedSampler(_SlotSampler):
    """Latin-hypercube draws in log-LR: one trial in each of ``n`` equal slices of the range.

    ``n`` is the round's number of trials (set by :func:`lrkit.search.search`), or ``size`` when
    the sampler is used on its own. Trials past ``n`` start a fresh design. A round whose first
    trial has a fixed LR (``start_lr``) gets a design built around it
    (:func:`stratified_positions` with ``first``).
    """

    def __init__(self, seed: int = 0, size: int | None = None) -> None:
        super().__init__(seed)
        if size is not None:
            size = whole_number("size", size, expected="a positive integer or None")
        self.size = size
        self._cache: dict[tuple[int, int, float | None], list[float]] = {}
        self._orders: dict[tuple[int, int, float | None], list[int]] = {}

    def _position(
        self, trial: optuna.trial.FrozenTrial, bounds: tuple[float, float, bool]
    ) -> float:
        slot, round_, round_size = _slot(trial)
        n = int(round_size or self.size or 16)
        block, index = divmod(slot, n)
        first = trial.user_attrs.get(FIRST_ATTR) if block == 0 else None
        if first is not None:  # the round's first trial has this LR: where is it in the range?
            low, high, log = bounds
            scale = math.log if log else float
            first = (scale(first) - scale(low)) / (scale(high) - scale(low))
        key = (n, round_ * 100_003 + block, first)
        if first is None:  # the stratum's order, and this trial's draw in it: a worker process
            # samples one trial, and drawing all n (2.6 ms for 200) would be spent for one
            if key not in self._orders:
                self._orders[key] = _stratum_order(n, self.seed, key[1])
            return (self._orders[key][index] + _unit_draw(self.seed, key[1], index)) / n
        if key not in self._cache:
            self._cache[key] = stratified_positions(n, self.seed, key[1], first)
        return self._cache[key][index]


def sampler_key(name: str) -> str:
    """A sampler's name as a study stores it, whatever its spelling: ``"LHS"`` is ``"stratified"``.

    Example:
        >>> sampler_key(" TPE"), sampler_key("latin")
        ('tpe', 'stratified')
    """
    key = name.strip().lower()
    return _SAMPLER_ALIASES.get(key, key)


def make_sampler(name: str | Any, seed: int) -> optuna.samplers.BaseSampler:
    """An Optuna sampler from a name in :data:`SAMPLERS`, or an Optuna sampler passed through."""
    # a grid refuses trials queued without params; brute force cannot enumerate a float range
    if isinstance(name, (optuna.samplers.GridSampler, optuna.samplers.BruteForceSampler)):
        raise ConfigError(
            "sampler must be a sampler that draws the LR (a grid of LRs: run each, or use "
            "sampler='stratified', which spreads them evenly in log space), got an Optuna "
            f"{type(name).__name__}."
        )
    if isinstance(name, optuna.samplers.BaseSampler):
        return name
    if not isinstance(name, str):
        raise bad_value("sampler", f"one of {', '.join(SAMPLERS)} or an Optuna sampler", name)
    key = sampler_key(name)
    if key == "random":
        return LogUniformSampler(seed)
    if key == "random-torch":
        return LogUniformSampler(seed, backend="torch")
    if key == "stratified":
        return StratifiedSampler(seed)
    if key == "tpe":
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=4)
    raise UnknownNameError(f"Unknown sampler {name!r}; valid samplers: {', '.join(SAMPLERS)}.")


def largest_gap(lrs: Sequence[float], low: float, high: float) -> float:
    """The largest gap, in decades, between sorted ``log10`` LRs and the range's ends."""
    logs = sorted([math.log10(low), *(math.log10(lr) for lr in lrs), math.log10(high)])
    return max(b - a for a, b in pairwise(logs))
