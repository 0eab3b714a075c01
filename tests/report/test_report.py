"""The report's HTML: embedded figures, escaping, merging, self-containment and safe writing."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from lrkit.errors import ConfigError
from lrkit.finder import RangeTestResult
from lrkit.history import EpochRecord, History
from lrkit.report import (
    ORDER,
    Section,
    environment_versions,
    figure_html,
    range_test_section,
    read_sections,
    render_report,
    reproduce_section,
    search_section,
    section,
    section_commands,
    summary_items,
    summary_section,
    training_section,
    write_report,
)
from lrkit.report.figures import training_curves
from lrkit.report.html import table_html
from lrkit.report.style import CSS
from lrkit.search.result import SearchResult, TrialRecord

EVIL = '<script>alert("x")</script>'
PNG = "data:image/png;base64,"


def range_result() -> RangeTestResult:
    lrs = tuple(10.0**e for e in (-4, -3, -2, -1, 0))
    return RangeTestResult(
        lrs=lrs,
        losses=(2.3, 2.0, 1.0, 0.8, 9.0),
        smoothed=(2.3, 2.1, 1.5, 1.1, 3.0),
        group_lrs=(lrs,),
        suggestion=0.01,
        range=(0.003, 0.05),
        stop_reason="diverged",
        diverged_lr=1.0,
        warning="a doubtful curve",
    )


def search_result() -> SearchResult:
    trials = (
        TrialRecord(0, 0.01, 0.2, "complete", 1.0, ((1, 0.5), (2, 0.2))),
        TrialRecord(1, 1e-4, None, "pruned", 0.5, ((1, 0.9),)),
        TrialRecord(2, 0.5, None, "failed", 0.1, (), error=EVIL),
        TrialRecord(3, 0.002, 0.3, "complete", 1.0, ((1, 0.6), (2, 0.3)), attrs={"acc": 0.9}),
    )
    return SearchResult("study", ":memory:", "minimize", 1e-5, 1.0, trials, ((1e-5, 1.0),))


def history() -> History:
    records = tuple(
        EpochRecord(e, 0.1 / e, (0.1 / e,), 1.0 / e, 1.2 / e, 0.5 + 0.1 * e) for e in (1, 2, 3)
    )
    return History(
        task="digits",
        metric="accuracy",
        lr=0.1,
        schedule="cosine:3",
        seed=0,
        unit="epoch",
        epochs=3,
        records=records,
        step_lrs=(0.1, 0.1, 0.05, 0.05, 0.03, 0.03),
        test_loss=0.4,
        test_metric=0.8,
        diverged=False,
        stopped_early=False,
    )


def line_figure() -> Figure:
    fig = Figure(figsize=(4, 2.5))
    fig.add_subplot().plot([1, 2, 3], [3, 1, 2])
    return fig


def test_figure_html_is_a_png_data_uri_sized_in_css_pixels() -> None:
    tag = figure_html(line_figure(), 'a "line"')
    data = re.search(r'src="data:image/png;base64,([^"]+)"', tag)
    assert data is not None
    png = base64.b64decode(data.group(1))
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert 'width="400" height="250"' in tag  # 4 x 2.5 in at 100 CSS px per inch
    assert int.from_bytes(png[16:20], "big") == 800  # drawn at twice that, to stay sharp
    assert 'alt="a &quot;line&quot;"' in tag
    assert 'style="max-width:100%;height:auto"' in tag


@pytest.mark.parametrize(("face", "corner"), [("black", 0.0), ("none", 1.0), ("white", 1.0)])
def test_figure_html_keeps_the_figures_own_background(face: str, corner: float) -> None:
    """Drawn on white whatever the figure's: a dark style's light text vanished on it. A
    figure without a background (transparent) still gets white, as the page's."""
    import io

    import matplotlib.image

    fig = Figure(figsize=(2, 1), facecolor=face)
    fig.add_subplot().plot([1, 2], [3, 4])
    data = re.search(r'src="data:image/png;base64,([^"]+)"', figure_html(fig, "a line"))
    assert data is not None
    image = matplotlib.image.imread(io.BytesIO(base64.b64decode(data.group(1))), format="png")
    assert image[0, 0, :3].tolist() == [corner] * 3
    assert image.shape[2] == 3 or image[0, 0, 3] == 1.0  # opaque


@pytest.mark.parametrize(
    ("build", "images"),
    [
        pytest.param(lambda: range_test_section(range_result(), task="digits"), 1, id="range"),
        pytest.param(lambda: search_section(search_result()), 1, id="search"),
        pytest.param(lambda: training_section(history()), 1, id="training"),
        pytest.param(
            lambda: section("compare", "Compare", figures=[line_figure(), line_figure()]),
            2,
            id="generic",
        ),
        pytest.param(lambda: summary_section({"best LR": 0.01}), 0, id="summary"),
        pytest.param(lambda: reproduce_section(["lrkit tune"]), 0, id="reproduce"),
    ],
)
def test_sections_embed_their_figures_as_data_uris(build, images: int) -> None:
    s = build()
    assert s.html.count(f'src="{PNG}') == images
    assert s.html.count("<img ") == images


def test_range_test_section_shows_suggestion_range_and_warning() -> None:
    html = range_test_section(range_result(), task="digits").html
    assert "0.01" in html and "0.003 to 0.05" in html and "diverged" in html
    assert '<p class="note">a doubtful curve</p>' in html


def test_search_section_ranks_trials_and_lists_errors() -> None:
    html = search_section(search_result(), top=2).html
    rows = re.findall(r"<tr><td class=\"num\">(\d+)</td>", html)
    assert rows == ["0", "3"]  # completed best first; the pruned and the failed one cut
    assert "the first 2 of 4 trials, best first" in html
    almost = search_section(search_result(), top=3).html  # cutting 1 of 4 hides too little
    assert re.findall(r"<tr><td class=\"num\">(\d+)</td>", almost) == ["0", "3", "1", "2"]
    assert "the first" not in almost
    assert "<th>acc</th>" in html or '<th class="num">acc</th>' in html
    assert "&lt;script&gt;" not in html  # the failed trial (with the error) is not shown
    full = search_section(search_result(), top=None).html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in full


def test_the_trials_table_has_one_column_per_quantity() -> None:
    """A task's trials recorded their val loss too: the table showed "val loss" twice (the
    value, blank for a pruned trial, and the recorded one) and "last value" a third time; now
    the value column holds a stopped trial's last report in parentheses, as the terminal's
    table does (QA 145)."""
    trials = (
        TrialRecord(0, 0.01, 0.2, "complete", 1.0, ((1, 0.5), (2, 0.2)), attrs={"val_loss": 0.2}),
        TrialRecord(1, 1e-4, None, "pruned", 0.5, ((1, 0.9),), attrs={"val_loss": 0.9}),
    )
    result = SearchResult(
        "s", ":memory:", "minimize", 1e-5, 1.0, trials, ((1e-5, 1.0),), value_name="val loss"
    )
    html = search_section(result).html
    heads = re.findall(r"<th[^>]*>([^<]*)</th>", html)
    assert heads.count("val loss") == 1 and "last value" not in heads, heads
    cells = re.findall(r"<tr>(.*?)</tr>", html)[1:]
    assert [re.findall(r"<td[^>]*>([^<]*)</td>", row)[2] for row in cells] == ["0.2", "(0.9)"]
    assert '<td class="num">(0.9)</td>' in html  # right-aligned as the numbers are
    assert "(val loss): the last value a trial reported before it stopped" in html
    # judged by the accuracy: the value is shown as its column was, in percent (review 148)
    by_metric = (
        TrialRecord(0, 0.01, 0.9765, "complete", 1.0, ((1, 0.9765),), attrs={"val_metric": 0.9765}),
        TrialRecord(1, 1e-4, None, "pruned", 0.5, ((1, 0.9),), attrs={"val_metric": 0.9}),
    )
    judged = SearchResult(
        "s",
        ":memory:",
        "maximize",
        1e-5,
        1.0,
        by_metric,
        ((1e-5, 1.0),),
        metric="accuracy",
        value_name="val accuracy",
    )
    html = search_section(judged).html
    heads = re.findall(r"<th[^>]*>([^<]*)</th>", html)
    assert heads.count("val accuracy") == 1, heads
    assert '<td class="num">97.65%</td>' in html and '<td class="num">(90.00%)</td>' in html


def test_number_columns_written_as_text_are_right_aligned() -> None:
    html = table_html([{"lr": "0.1913", "acc": "98.61±0.20", "pct": "97.65%", "spec": "cosine:12"}])
    assert re.findall(r"<td([^>]*)>", html) == [' class="num"'] * 3 + [""]


def test_printed_tables_never_split_a_number() -> None:
    """On paper a table wraps at spaces: ``overflow-wrap: anywhere`` printed lr 0.1913 as
    0.19 / 13 (QA 145); a long text (an error's path) may still break anywhere, or the table
    outgrows the page (review 148)."""
    printed = CSS.split("@media print", 1)[1]
    assert "th, td { padding: 2px 4px; white-space: normal; overflow-wrap: normal; }" in printed
    assert "td.num { white-space: nowrap; }" in printed
    assert "td.long { overflow-wrap: anywhere; }" in printed
    html = table_html([{"lr": 0.1913, "state": "complete", "error": "x" * 30}])
    assert re.findall(r"<td([^>]*)>", html) == [' class="num"', "", ' class="long"']


def test_training_section_can_name_the_schedule_as_the_page_does() -> None:
    html = training_section(history(), schedule="warmup:1 > cosine:11").html
    assert "warmup:1 &gt; cosine:11" in html and "cosine:3" not in html
    assert "cosine:3" in training_section(history()).html


def test_training_curves_spread_step_lrs_over_the_epochs() -> None:
    curves = training_curves(history())
    assert curves.epochs == (1, 2, 3)
    assert curves.lr_x == (0.0, 0.5, 1.0, 1.5, 2.0, 2.5)
    assert curves.best_epoch == 3
    html = training_section(history()).html
    assert '<th scope="row">test accuracy</th><td>80.00%</td>' in html and "cosine:3" in html


def test_every_text_is_escaped() -> None:
    sections = [
        range_test_section(range_result(), task=EVIL),
        search_section(search_result(), top=None),
        summary_section({EVIL: EVIL}),
        section("compare", EVIL, text=EVIL, table=[{EVIL: EVIL}]),
        reproduce_section([f"lrkit find '{EVIL}'"], versions={EVIL: EVIL}),
    ]
    page = render_report(sections, title=EVIL, subtitle=EVIL)
    assert "<script" not in page.lower()
    assert "&lt;script&gt;" in page
    assert summary_items(sections[2]) == {EVIL: EVIL}
    assert section_commands(sections[4]) == [f"lrkit find '{EVIL}'"]


def test_the_page_refers_to_nothing_outside_itself(tmp_path: Path) -> None:
    sections = [
        summary_section({"best LR": 0.01}),
        range_test_section(range_result(), task="digits"),
        search_section(search_result()),
        training_section(history()),
        section("compare", "Compare", figures=[line_figure()], table=[{"a": 1}]),
        reproduce_section(["lrkit tune digits --out https://example.com/x"]),
    ]
    text = write_report(tmp_path, sections, title="digits").read_text()
    refs = re.findall(r"""\b(?:src|href|srcset|action|poster|data)\s*=\s*["']?([^"'\s>]+)""", text)
    assert refs and all(r.startswith(("#", PNG)) for r in refs), refs
    for needle in ("<script", "<link", "<iframe", "<object", "@import", "url(", "@font-face"):
        assert needle not in text.lower(), needle
    assert '<meta name="viewport"' in text and "Generated by lrkit 0.1.0" in text


def test_sections_come_in_the_canonical_order_with_other_keys_last(tmp_path: Path) -> None:
    given = ["notes", "reproduce", "training", "compare", "search", "range_test", "summary"]
    path = write_report(
        tmp_path / "r.html", [Section(k, k, f"<p>{k}</p>") for k in given], title="t"
    )
    assert [s.key for s in read_sections(path)] == [*ORDER, "notes"]
    toc = re.search(r'<nav class="toc"[^>]*>(.*?)</nav>', path.read_text()).group(1)
    assert re.findall(r'href="#([^"]+)"', toc) == [*ORDER, "notes"]


def test_a_folder_gets_report_html_and_missing_folders_are_made(tmp_path: Path) -> None:
    out = tmp_path / "lrkit-out" / "compare"  # not there yet, as a command's --out may be
    path = write_report(out, [summary_section({"v": 1})], title="t")
    assert path == out / "report.html" and path.is_file()
    assert [s.key for s in read_sections(out)] == ["summary"]
    named = write_report(tmp_path / "custom.html", [summary_section({"v": 2})], title="t")
    assert named == tmp_path / "custom.html" and named.is_file()


def test_read_sections_gives_back_what_was_written(tmp_path: Path) -> None:
    written = [
        Section("summary", 'Key "numbers" & <more>', "<p>one</p>"),
        section("compare", "Schedules", text="two", table=[{"x": 1.5}]),
    ]
    read = read_sections(write_report(tmp_path, written, title="t"))
    assert [(s.key, s.title, s.html) for s in read] == [(s.key, s.title, s.html) for s in written]


def test_merge_keeps_the_sections_other_commands_wrote(tmp_path: Path) -> None:
    path = tmp_path / "out" / "report.html"
    write_report(
        path,
        [
            summary_section({"suggestion": 0.01, "range": (0.003, 0.05)}),
            range_test_section(range_result(), task="digits"),
            reproduce_section(["lrkit find digits"], versions={}),
        ],
        title="find",
    )
    write_report(
        path,
        [
            summary_section({"best LR": 0.02}),
            search_section(search_result()),
            reproduce_section(["lrkit search digits"], versions={}),
        ],
        title="search",
        merge=True,
    )
    merged = {s.key: s for s in read_sections(path)}
    assert list(merged) == ["summary", "range_test", "search", "reproduce"]
    assert summary_items(merged["summary"]) == {
        "suggestion": "0.01",
        "range": "0.003 to 0.05",
        "best LR": "0.02",
    }
    assert section_commands(merged["reproduce"]) == ["lrkit find digits", "lrkit search digits"]
    assert merged["range_test"].html.count(PNG) == 1
    assert "<title>search</title>" in path.read_text()

    # running find again replaces its own parts and keeps search's
    write_report(
        path,
        [reproduce_section(["lrkit find digits --seed 1"], versions={})],
        title="again",
        merge=True,
    )
    commands = section_commands({s.key: s for s in read_sections(path)}["reproduce"])
    assert commands == ["lrkit search digits", "lrkit find digits --seed 1"]

    # without merge the report is replaced whole
    write_report(path, [summary_section({"x": 1})], title="fresh")
    assert [s.key for s in read_sections(path)] == ["summary"]


def test_writing_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_report(tmp_path, [summary_section({"v": 1})], title="first")
    before = path.read_text()

    def broken(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="No space left on device") as info:
        write_report(tmp_path, [summary_section({"v": 2})], title="second")
    assert info.value.filename == str(path)  # named, for the CLI's one line
    assert path.read_text() == before  # the old report is intact...
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]  # ...and no temp left
    monkeypatch.undo()
    write_report(tmp_path, [summary_section({"v": 2})], title="second")
    assert "<title>second</title>" in path.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]
    assert path.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("below", ["report.html", "sub/report.html"])
def test_an_unwritable_folder_is_a_config_error_naming_it(tmp_path: Path, below: str) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")  # root ignores chmod; a file in the way stops anyone
    with pytest.raises(ConfigError, match=r"out must be a writable folder, got '.*a-file"):
        write_report(blocker / below, [summary_section({"v": 1})], title="t")


def test_bad_arguments_say_what_was_expected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="key must be lowercase"):
        Section("Range Test", "t", "")
    with pytest.raises(ConfigError, match="distinct keys, got 'summary'"):
        write_report(tmp_path, [summary_section({}), summary_section({})], title="t")
    with pytest.raises(ConfigError, match="title must be a non-empty string"):
        write_report(tmp_path, [], title=" ")
    with pytest.raises(ConfigError, match="sequence of Section"):
        write_report(tmp_path, summary_section({}), title="t")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="readable lrkit report file"):
        read_sections(tmp_path / "missing.html")


def test_wide_tables_scroll_inside_their_wrapper() -> None:
    html = table_html([{f"column {i}": i * 1.5 for i in range(30)}, {"other": None}])
    assert html.startswith('<div class="table-wrap" style="overflow-x:auto;max-width:100%">')
    assert html.count("</th>") == 31
    assert '<td class="num"></td>' in html and "<td></td>" in html  # missing: an empty cell


def test_importing_the_report_does_not_import_matplotlib() -> None:
    code = "import sys, lrkit.report; print('matplotlib' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_the_versions_record_torch_threads_which_move_a_cpu_runs_last_digits() -> None:
    import torch

    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        versions = environment_versions()
        assert versions["threads"] == "1"
        assert "OMP_NUM_THREADS" in reproduce_section(["lrkit tune"], versions=versions).html
        assert "OMP_NUM_THREADS" not in reproduce_section(["lrkit tune"], versions={}).html
    finally:
        torch.set_num_threads(threads)
