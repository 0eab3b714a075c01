"""One-line specs and JSON-able configs for schedules.

A spec is what you type on a command line::

    warmup:500 > cosine:10k,min_lr=1e-5          # 500 warmup steps, then cosine over 10 000
    multistep:milestones=[30,60],gamma=0.1
    cosine_restarts:period=10,mult=2 * exponential:0.99   # product: decaying restarts
    linear:steps=1000,warmup=100                 # Hugging Face style: warmup inside the 1000

Grammar: phases are joined by ``>`` (in sequence) and factors by ``*`` (multiplied; binds tighter),
with parentheses for grouping. A schedule is ``name`` or ``name:args``; args are ``key=value`` or
bare values filling the parameters in order. Values are numbers (``1e-5``, ``10k``, ``2M``),
lists (``[30,60]``), ``true``/``false`` or words (``1-sqrt``). ``warmup=N`` on any schedule puts
an N-step warmup in front; where the schedule has ``steps``, the warmup is counted inside them,
as Hugging Face's ``num_training_steps`` is. ``steps=N`` on a schedule that has no ``steps`` of
its own (``exponential``, ``step``, ``cyclic``...) gives it that length as a phase, so that
another phase can follow it, as torch's ``SequentialLR`` milestones do:
``exponential:0.9,steps=100 > cosine:50``.

Lengths (``steps``, ``period``, ``step_size``, ``up``, ``down``, ``warmup``) and milestones count
whole steps (``1e3`` and ``1.5k`` are whole; ``step:0.5`` is refused). A value the schedule
refuses is a :class:`~lrkit.errors.SpecError` whose message names the parameter, what it must be
and what it got.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from lrkit.errors import ConfigError, SpecError
from lrkit.schedules.base import Schedule, check_length
from lrkit.schedules.registry import schedule_class

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?([kKM]?)$")
_WORD_CHARS = re.compile(r"[A-Za-z0-9_.+\-]")
_SUFFIX = {"": 1, "k": 1_000, "K": 1_000, "M": 1_000_000}


MAX_NESTING = 100  # parentheses, or nested configs; each level is a recursion


def parse(spec: str | Schedule) -> Schedule:
    """Turns a one-line spec into a schedule (a schedule is returned as it is).

    Example:
        >>> parse("warmup:500 > cosine:10k,min_lr=1e-5").to_dict()["phases"][1]
        {'name': 'cosine', 'steps': 10000, 'min_lr': 1e-05}

    Raises:
        SpecError: the string is malformed (the message points at the place), or a parameter
            value is invalid (the message names the parameter, as the schedule's own
            ConfigError does: ``step_size must be a positive integer ..., got 0.5.``).
        UnknownNameError: a schedule name is not registered (the message lists the valid names).
    """
    if isinstance(spec, Schedule):
        return spec
    if not isinstance(spec, str) or not spec.strip():
        raise SpecError(f"spec must be a non-empty string such as 'cosine:1000', got {spec!r}.")
    with _spec_errors():
        return _Parser(spec).parse()


@contextmanager
def _spec_errors() -> Iterator[None]:
    """A schedule's ConfigError, raised again as the SpecError it is in a spec or config.

    Its parameters are the spec's (``cosine:-5``'s steps, not a command's ``--steps``); the
    message is the schedule's own. SpecError is a ConfigError, so callers that catch that still
    catch it.
    """
    try:
        yield
    except SpecError:
        raise
    except ConfigError as exc:
        raise SpecError(str(exc)) from exc


def from_dict(config: Mapping[str, Any]) -> Schedule:
    """Builds a schedule from a config dict such as ``{"name": "cosine", "steps": 1000}``.

    Raises:
        SpecError: the config is malformed or a parameter value is invalid.
        UnknownNameError: a schedule name is not registered.
    """
    with _spec_errors():
        return _from_dict(config)


def _from_dict(config: Mapping[str, Any], depth: int = 0) -> Schedule:
    if depth > MAX_NESTING:
        raise SpecError(f"config must nest sequences and products at most {MAX_NESTING} deep.")
    if not isinstance(config, Mapping) or "name" not in config:
        raise SpecError(
            f"config must be a dict with a 'name' key, such as {{'name': 'cosine', 'steps': "
            f"1000}}, got {config!r}."
        )
    from lrkit.schedules.compose import Product, Sequence

    name = config["name"]
    rest = {k: v for k, v in config.items() if k != "name"}
    if name in ("sequence", "product"):
        key = "phases" if name == "sequence" else "factors"
        parts = rest.get(key)
        if not isinstance(parts, (list, tuple)) or set(rest) != {key}:
            raise SpecError(
                f"a {name!r} config must hold only {key!r}: a list of configs, got {rest!r}."
            )
        children = tuple(_from_dict(p, depth + 1) for p in parts)
        return Sequence(children) if name == "sequence" else Product(children)
    return build(str(name), [], rest)


MEANING = 2
"""Raised whenever what a spec gives changes (2: ``onecycle:N`` ends on step N - 1, as torch's
``OneCycleLR``), so that results kept from runs of a spec's older meaning are not reused."""

TORCH_NAMES = {
    ("cosine", "T_max"): "steps",
    ("cosine", "eta_min"): "min_lr",
    ("cosine_restarts", "T_0"): "period",
    ("cosine_restarts", "T_mult"): "mult",
    ("cosine_restarts", "eta_min"): "min_lr",
    ("poly", "total_iters"): "steps",
    ("onecycle", "total_steps"): "steps",
    ("onecycle", "anneal_strategy"): "anneal",
    ("cyclic", "step_size_up"): "up",
    ("cyclic", "step_size_down"): "down",
    ("poly", "end_learning_rate"): "end_lr",  # Keras's PolynomialDecay
}
"""torch's (and Keras's) argument names, by schedule, and the spec parameter that means the
same there: said in the error when a spec is written with their name. Not for ``constant`` and
``linear``, whose ``steps`` is not torch's ``total_iters`` (see
:class:`~lrkit.schedules.ConstantLR`)."""

TORCH_LRS = {
    ("onecycle", "max_lr"): "the peak is the base LR: the optimizer's lr (--lr on the CLI)",
    ("cyclic", "max_lr"): "the peak is max_factor times the base LR",
    ("cyclic", "base_lr"): "the floor is the base LR: the optimizer's lr (--lr on the CLI)",
}
"""torch's arguments that are LRs where a spec is a multiple of the base LR: what to do
instead, said in the error."""

_EXAMPLES = {"gamma": "0.9", "milestones": "[30,60]"}
"""Values for a required parameter's example in an error, where a length (1000) is no sense."""


def build(name: str, positional: list[Any], keywords: dict[str, Any]) -> Schedule:
    """Instantiates schedule ``name`` from positional and keyword values, as a spec gives them."""
    cls = schedule_class(name)
    fields = [f for f in dataclasses.fields(cls) if f.init]  # type: ignore[arg-type]
    names = [f.name for f in fields]
    kwargs = dict(keywords)
    warmup = kwargs.pop("warmup", None) if cls.name != "warmup" else None
    # steps= on a part with no steps of its own: its length as a phase (compose.Limited)
    limit = kwargs.pop("steps", None) if "steps" not in names else None
    if len(positional) > len(names):
        raise SpecError(
            f"{cls.name} takes at most {len(names)} positional values ({', '.join(names)}), "
            f"got {len(positional)}: {positional!r}."
        )
    for key, value in zip(names, positional):
        if key in kwargs:
            raise SpecError(f"{cls.name}: {key} is given twice (by position and as {key}=).")
        kwargs[key] = value
    unknown = sorted(set(kwargs) - set(names))
    if unknown:
        extra = ["warmup"] if "steps" in names else ["warmup", "steps (its length as a phase)"]
        ours = TORCH_NAMES.get((cls.name, unknown[0]))
        whose = "Keras's" if unknown[0] == "end_learning_rate" else "torch's"
        hint = f" ({whose} {unknown[0]} is {ours} here)" if ours in names else ""
        if (cls.name, unknown[0]) in TORCH_LRS:
            hint = f" (torch's {unknown[0]}: {TORCH_LRS[cls.name, unknown[0]]})"
        raise SpecError(
            f"{cls.name} has no parameter {unknown[0]!r}{hint}; its parameters are: "
            f"{', '.join([*names, *extra])}."
        )
    missing = [f.name for f in fields if f.default is dataclasses.MISSING and f.name not in kwargs]
    if missing:
        raise SpecError(
            f"{cls.name} needs {', '.join(missing)} (e.g. '{cls.name}:{missing[0]}="
            f"{_EXAMPLES.get(missing[0], '1000')}'), "
            f"got {kwargs or 'no parameters'}."
        )
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}
    try:
        if limit is not None:
            return _limited(cls, kwargs, warmup, limit)
        if warmup is None:
            return cls(**kwargs)
        return _with_warmup(cls, kwargs, warmup)
    except SpecError:
        raise
    except ConfigError as exc:  # which part of 'warmup:100 > cosine:0.5' it was
        raise SpecError(f"{cls.name}: {exc}") from exc


def _limited(cls: type[Schedule], kwargs: dict[str, Any], warmup: Any, steps: Any) -> Schedule:
    from lrkit.schedules.compose import Limited

    check_length("steps", steps)
    if warmup is None:
        return Limited(cls(**kwargs), steps)
    check_length("warmup", warmup)
    if steps <= warmup:
        raise ConfigError(
            f"warmup must be shorter than the total steps ({steps!r}) it is counted in, "
            f"got warmup={warmup!r}."
        )
    from lrkit.schedules.warmup import Warmup

    return Warmup(steps=warmup).then(Limited(cls(**kwargs), steps - warmup))


def _with_warmup(cls: type[Schedule], kwargs: dict[str, Any], warmup: Any) -> Schedule:
    from lrkit.schedules.warmup import Warmup

    check_length("warmup", warmup)  # named as the user wrote it, not as Warmup's steps
    ramp = Warmup(steps=warmup)
    steps = kwargs.get("steps")
    if isinstance(steps, (int, float)) and not isinstance(steps, bool):  # else cls says why
        check_length("steps", steps)  # the total as written, before the warmup is taken off
        if steps <= warmup:
            raise ConfigError(
                f"warmup must be shorter than the total steps ({steps!r}) it is counted in, "
                f"got warmup={warmup!r}."
            )
        kwargs["steps"] = steps - warmup
    return ramp.then(cls(**kwargs))


def format_spec(config: Mapping[str, Any]) -> str:
    """The one-line spec of a config dict (the inverse of ``parse`` on ``to_dict``).

    The config is checked as :func:`from_dict` checks it, so that no spec is written that
    ``parse`` would refuse.

    Raises:
        SpecError: the config is malformed or a parameter value is invalid.
        UnknownNameError: a schedule name is not registered.

    Example:
        >>> format_spec({"name": "sequence", "phases": [{"name": "warmup", "steps": 5},
        ...                                             {"name": "cosine", "steps": 50}]})
        'warmup:steps=5 > cosine:steps=50'
        >>> format_spec({"name": "cosine", "step": 50})
        Traceback (most recent call last):
        ...
        lrkit.errors.SpecError: cosine has no parameter 'step'; its parameters are: steps, \
min_lr, warmup.
    """
    from_dict(config)
    return spec_text(config)


def spec_text(config: Mapping[str, Any]) -> str:
    """The one-line spec of a config known to be valid (a schedule's own ``to_dict()``), which
    :func:`format_spec` checks first."""
    name = config["name"]
    if name == "sequence":
        return " > ".join(_grouped(p, "product") for p in config["phases"])
    if name == "product":
        return " * ".join(_grouped(f, "sequence") for f in config["factors"])
    args = ",".join(f"{k}={_format_value(v)}" for k, v in config.items() if k != "name")
    return f"{name}:{args}" if args else str(name)


def _grouped(config: Mapping[str, Any], composite: str) -> str:
    text = spec_text(config)
    return f"({text})" if config["name"] in (composite, "sequence") and " " in text else text


def _format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_format_value(v) for v in value) + "]"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


class _Parser:
    """A small recursive-descent parser over the spec grammar in this module's docstring."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0  # parentheses open at pos

    def parse(self) -> Schedule:
        result = self._sequence()
        self._skip()
        if self.pos < len(self.text):
            self._fail(f"unexpected {self._token()!r}")
        return result

    def _fail(self, what: str) -> None:
        # One line, so that the CLI can print it as its one-line error.
        marked = f"{self.text[: self.pos]}<HERE>{self.text[self.pos :]}"
        raise SpecError(
            f"spec is malformed: {what} at position {self.pos} in {marked!r}; expected e.g. "
            "'warmup:500 > cosine:10000,min_lr=1e-5'."
        )

    def _skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def _peek(self) -> str:
        self._skip()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _sequence(self) -> Schedule:
        phases = [self._product()]
        while self._peek() == ">":
            self.pos += 1
            phases.append(self._product())
        return phases[0] if len(phases) == 1 else phases[0].then(*phases[1:])

    def _product(self) -> Schedule:
        result = self._atom()
        while self._peek() == "*":
            self.pos += 1
            result = result * self._atom()
        return result

    def _atom(self) -> Schedule:
        if self._peek() == "(":
            if self.depth == MAX_NESTING:
                self._fail(f"parentheses nested more than {MAX_NESTING} deep")
            self.pos += 1
            self.depth += 1
            inner = self._sequence()
            if self._peek() != ")":
                self._fail("missing ')'")
            self.pos += 1
            self.depth -= 1
            return inner
        name = self._word()
        if not name:
            self._fail("expected a schedule name")
        positional: list[Any] = []
        keywords: dict[str, Any] = {}
        if self._peek() == ":":
            self.pos += 1
            while True:
                self._argument(positional, keywords)
                if self._peek() != ",":
                    break
                self.pos += 1
        if self._peek() not in ("", ">", "*", ")"):  # "cos ine:3": said here, not as "cos"
            token = self._token()
            colon = token[0].isdigit() or token[0] == "."  # "warmup 2": its argument, unmarked
            hint = f" (write '{name}:{token}': a colon before its arguments)" if colon else ""
            self._fail(f"unexpected {token!r}{hint}")
        return build(name, positional, keywords)

    def _token(self) -> str:
        """What a message quotes at ``pos``: a number whole ('10', not '1'), else its character."""
        found = re.match(r"\.?[0-9][0-9.eE+-]*", self.text[self.pos :])
        return found.group() if found else self.text[self.pos]

    def _argument(self, positional: list[Any], keywords: dict[str, Any]) -> None:
        if self._peek() in ("", ">", "*", ")"):  # "cosine:10," or "cosine:10, > constant"
            mark = "a colon" if self.text[: self.pos].rstrip().endswith(":") else "a comma"
            self._fail(f"{mark} with no value after it")
        start = self.pos
        word = self._word() if self._peek() != "[" else ""
        if word and self._peek() == "=":
            self.pos += 1
            if word in keywords:
                self._fail(f"{word!r} given twice")
            keywords[word] = self._value()
            return
        if keywords:
            self._fail("a bare value after key=value arguments")
        self.pos = start
        positional.append(self._value())

    def _value(self) -> Any:
        if self._peek() == "[":
            self.pos += 1
            items: list[Any] = []
            if self._peek() == "]":
                self.pos += 1
                return items
            while True:
                items.append(self._value())
                nxt = self._peek()
                self.pos += 1
                if nxt == "]":
                    return items
                if nxt != ",":
                    self.pos -= 1
                    self._fail("expected ',' or ']' in a list")
        word = self._word()
        if not word:
            self._fail("expected a value")
        return _convert(word)

    def _word(self) -> str:
        self._skip()
        start = self.pos
        while self.pos < len(self.text) and _WORD_CHARS.match(self.text[self.pos]):
            self.pos += 1
        return self.text[start : self.pos]


def _convert(word: str) -> Any:
    lowered = word.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    match = _NUMBER.match(word)
    if not match:
        return word
    number, exponent, suffix = match.group(1), match.group(2), match.group(3)
    scale = _SUFFIX[suffix]
    digits = word[: len(word) - len(suffix)]
    if exponent is None and "." not in number and len(digits) <= _most_digits():
        return int(digits) * scale
    # a longer one is read as a float: past its range, inf, which the checks refuse by name
    value = float(digits) * scale
    return int(value) if suffix and value.is_integer() else value


def _most_digits() -> int:
    """The longest integer a spec reads exactly: Python refuses to read one of more digits
    than its limit (4,300 by default; ``PYTHONINTMAXSTRDIGITS``, 0 for none) with a
    ValueError (a longer one is read as a float: inf, refused by name)."""
    limit = getattr(sys, "get_int_max_str_digits", lambda: 4_300)()  # Python 3.11 on
    return 4_000 if limit == 0 else min(4_000, limit - 1)
