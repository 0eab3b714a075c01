"""scikit-learn's learning_rate rules as lrkit schedules, against scikit-learn's own MLP: the
LRs it sets, read from its optimizer and from its verbose log."""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from lrkit.errors import ConfigError
from lrkit.schedules import parse
from lrkit.schedules.plateau import simulate


def _fit(**options: Any) -> tuple[MLPClassifier, str]:
    """An MLPClassifier fitted on 300 digits (about a second); its verbose log."""
    x, y = load_digits(return_X_y=True)
    clf = MLPClassifier(
        hidden_layer_sizes=(16,), solver="sgd", random_state=0, verbose=True, **options
    )
    log = io.StringIO()
    with contextlib.redirect_stdout(log), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x[:300] / 16, y[:300])
    return clf, log.getvalue()


@pytest.mark.parametrize("power_t", [0.5, 0.25])
def test_invscaling_with_samples_is_the_lr_mlp_classifier_ends_each_epoch_at(
    power_t: float,
) -> None:
    """MLPClassifier's t_ counts samples: after epoch k its LR is eta0 / (300 k + 1) ** power_t,
    which invscaling with samples=300, stepped once an epoch, gives at t = k (QA 114: without
    ``samples`` lrkit's t counted epochs, 300 times too few)."""
    for epochs in (1, 3, 7):
        clf, _ = _fit(
            learning_rate="invscaling",
            learning_rate_init=0.05,
            power_t=power_t,
            max_iter=epochs,
            n_iter_no_change=epochs + 1,
        )
        schedule = parse(f"invscaling:power_t={power_t},samples=300")
        assert schedule(epochs, base_lr=0.05) == clf._optimizer.learning_rate


def test_adaptive_reduces_where_mlp_classifier_does() -> None:
    """The epochs after which MLPClassifier divides its LR by 5, from its log, are where lrkit's
    adaptive, fed its loss curve, reduces; and the LRs in force agree."""
    clf, log = _fit(
        learning_rate="adaptive", learning_rate_init=0.1, momentum=0.9, max_iter=40,
        n_iter_no_change=2, tol=1e-2,
    )  # fmt: skip
    losses = clf.loss_curve_
    divided_after = [  # 1-based epochs whose end set a lower LR
        int(number)
        for number, _ in re.findall(r"Iteration (\d+), loss = \S+\n(Training loss did not)", log)
    ]
    assert len(divided_after) >= 3  # the premise: several reductions to compare
    expected = np.array([sum(e <= step for e in divided_after) for step in range(len(losses))])
    schedule = parse("adaptive:patience=2,threshold=1e-2")
    reductions = simulate(schedule, losses)
    assert reductions.tolist() == expected.tolist()
    lrs = schedule.trace(len(losses), base_lr=0.1, reductions=reductions)
    assert lrs[-1] == pytest.approx(clf._optimizer.learning_rate * 5, rel=1e-12)  # before the last
    # torch's plateau, with the same patience and threshold, reduces elsewhere (or never)
    torch_rule = parse("plateau:factor=0.2,patience=2,threshold=1e-2,threshold_mode=abs")
    assert simulate(torch_rule, losses).tolist() != expected.tolist()


def test_adaptive_spec_and_bad_parameters() -> None:
    assert parse("adaptive").to_spec() == "adaptive"
    assert parse("sklearn_adaptive:patience=3").to_spec() == "adaptive:patience=3"
    assert parse("invscaling:0.5,samples=1079").to_spec() == "invscaling:samples=1079"
    with pytest.raises(ConfigError, match=r"samples must be .*, got 0"):
        parse("invscaling:samples=0")
