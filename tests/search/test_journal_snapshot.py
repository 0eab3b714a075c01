"""A worker opens the journal from the search's snapshot and reads only what came after it."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.trial import TrialState

from lrkit.search import search
from lrkit.search.storage import JournalSnapshot, StorageSpec, journal_snapshot
from tests.search.objectives import quadratic


def _trials(storage: optuna.storages.BaseStorage) -> list[tuple[int, str, dict, object]]:
    study = optuna.load_study(study_name="lrkit-search", storage=storage)
    return [(t.number, t.state.name, t.params, t.value) for t in study.get_trials(deepcopy=False)]


def test_a_study_opened_from_a_snapshot_is_the_study_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "study.journal"
    search(quadratic, 1e-4, 1.0, 12, storage=str(path), progress=False)
    spec = StorageSpec("journal", str(path))
    snapshot = journal_snapshot(spec.open())
    assert isinstance(snapshot, JournalSnapshot)
    assert 0 < snapshot.offset == path.stat().st_size  # all of it read
    assert _trials(spec.open(snapshot=snapshot)) == _trials(spec.open())


def test_records_written_after_the_snapshot_are_read_too(tmp_path: Path) -> None:
    path = tmp_path / "study.journal"
    search(quadratic, 1e-4, 1.0, 4, storage=str(path), progress=False)
    spec = StorageSpec("journal", str(path))
    snapshot = journal_snapshot(spec.open())
    assert snapshot is not None
    # the study goes on after the snapshot was taken, in another process's storage
    study = optuna.load_study(study_name="lrkit-search", storage=spec.open())
    study.tell(study.ask({"lr": optuna.distributions.FloatDistribution(1e-4, 1.0, log=True)}), 0.7)
    study.ask()  # left running
    assert path.stat().st_size > snapshot.offset
    opened = spec.open(snapshot=snapshot)
    assert _trials(opened) == _trials(spec.open())
    assert [state for _, state, _, _ in _trials(opened)][4:] == ["COMPLETE", "RUNNING"]
    # a trial told through it lands in the file for every reader
    resumed = optuna.load_study(study_name="lrkit-search", storage=opened)
    resumed.tell(5, 0.5)
    assert [state for _, state, _, _ in _trials(spec.open())][5] == TrialState.COMPLETE.name


def test_other_storages_have_no_snapshot(tmp_path: Path) -> None:
    assert journal_snapshot(StorageSpec("memory").open()) is None
    sqlite = StorageSpec.parse(f"sqlite:///{tmp_path / 'study.db'}")
    assert journal_snapshot(sqlite.open()) is None
