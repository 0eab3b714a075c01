"""A real report, rendered by a real browser: Debian's headless Chromium, driven by Playwright.

The page must load with no network at all, show every embedded image, and fit a laptop screen
and a narrow window: nothing wider than the page, nothing cut off. Full-page screenshots go to
``$LRKIT_SCREENSHOT_DIR`` (default: the test's tmp folder) for a person to look at.

Chromium comes from Debian (``apt-get install -y chromium``, as ``.ci/run`` does), never from
``playwright install``; without it these tests fail rather than skip, so a CI machine without a
browser cannot pass silently.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import optuna
import pytest
from matplotlib.figure import Figure

from lrkit.finder.task import range_test_task
from lrkit.report import (
    range_test_section,
    reproduce_section,
    search_section,
    section,
    summary_section,
    training_section,
    write_report,
)
from lrkit.schedules.plot import plot_schedules
from lrkit.search import search
from lrkit.tasks import load_task
from lrkit.training import train

WIDTHS = (1280, 700, 390)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
COMPARE_SPECS = ("constant", "step:20,gamma=0.3", "cosine:60", "warmup:6 > cosine:54")


def chromium_path() -> str:
    """Debian's Chromium, or the binary ``$LRKIT_CHROMIUM`` names."""
    return os.environ.get("LRKIT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


def ready(context: Any) -> Any:
    """The browser context; a failure (never a skip) saying how to install Chromium without one."""
    if context is None:
        pytest.fail(
            "Chromium is needed to test the HTML report in a real browser, got none at "
            f"{chromium_path()!r}. Install Debian's package: `apt-get install -y chromium` (as "
            ".ci/run does), or point $LRKIT_CHROMIUM at a Chromium binary.",
            pytrace=False,
        )
    return context


def curve(lr: float, trial: optuna.Trial) -> float:
    """Five cheap 'epochs' of a bowl in log-LR, each reported so that the pruner can act."""
    value = math.nan
    for epoch in range(1, 6):
        value = (math.log10(lr) + 2.0) ** 2 + 1.0 / epoch
        trial.report(value, epoch)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return value


class Report(NamedTuple):
    path: Path
    images: int  # how many figures the sections embedded
    commands: list[str]  # the reproduce section's commands


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    """A report of every kind of section, from real runs."""
    task = load_task("digits")
    finder = range_test_task(task, num_iter=60)
    found = search(
        curve, 1e-5, 1.0, n_trials=14, storage=":memory:", pruner="halving", progress=False
    )
    assert found.count("pruned") > 0  # the scatter marks pruned trials: make sure it has some
    history = train(task, 0.05, "cosine:3", epochs=3, progress=False, verbose=False)
    curves = plot_schedules(list(COMPARE_SPECS), steps=60, base_lr=0.05, title="schedules")
    bars = Figure(figsize=(6.0, 3.0), layout="constrained")
    ax = bars.add_subplot(title="final validation accuracy")
    ax.bar(range(len(COMPARE_SPECS)), [0.91, 0.93, 0.95, 0.96], color="C0")
    ax.set_xticks(range(len(COMPARE_SPECS)), COMPARE_SPECS, fontsize=8)
    wide = [  # more columns than a narrow window can show: the table must scroll, not be cut
        {"schedule": spec, **{f"epoch {e} val loss": 1.0 / (e + i) for e in range(1, 13)}}
        for i, spec in enumerate(COMPARE_SPECS)
    ]
    long_flags = " ".join(f"--option-{i} value-{i}" for i in range(12))
    commands = [
        "lrkit find digits --num-iter 60 --out lrkit-out/tune",
        f"lrkit search digits --low 1e-5 --high 1 --pruner halving {long_flags}",
        "lrkit tune digits --out lrkit-out/tune/" + "a-very-long-folder-name-" * 6 + "end",
    ]
    sections = [
        summary_section(
            {
                "task": "digits",
                "suggested LR": finder.suggestion,
                "range": finder.range,
                "best searched LR": found.best_lr,
                "schedule": "cosine:3",
                "test accuracy": history.test_metric,
            }
        ),
        range_test_section(finder, task="digits"),
        search_section(found),
        section(
            "compare",
            "Schedule comparison",
            text="Four schedules at lr 0.05.",
            figures=[curves, bars],
            table=wide,
        ),
        training_section(history),
        reproduce_section(commands),
    ]
    folder = tmp_path_factory.mktemp("report")
    path = write_report(
        folder,
        sections,
        title="digits: lr 0.05 with cosine:3",
        subtitle="Range test, search, schedule comparison and final training",
    )
    return Report(path, 5, commands)  # range test, search, two comparison figures, training


@pytest.fixture(scope="module")
def offline_browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A fresh headless Chromium context (its own profile) with the network cut off; ``None``
    without Chromium, for :func:`ready` to fail the test that needs it."""
    executable = chromium_path()
    if not Path(executable).is_file():
        yield None
        return
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - playwright is in the test extra
        pytest.fail("The browser tests need Playwright: `pip install -e '.[test]'`.")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=executable,
            headless=True,
            args=CHROMIUM_ARGS,
            offline=True,
            service_workers="block",
        )
        try:
            yield context
        finally:
            context.close()


def open_page(context: Any, path: Path) -> tuple[Any, list[str], list[str]]:
    """Opens ``path``; returns the page, the requests it made elsewhere and its console errors."""
    own = path.resolve().as_uri()
    elsewhere: list[str] = []
    errors: list[str] = []

    def outside(url: str) -> bool:
        return url != own and not url.startswith("data:")

    def route(request_route: Any) -> None:  # the network is off anyway: make sure of it
        if outside(request_route.request.url):
            request_route.abort()
        else:
            request_route.continue_()

    page = context.new_page()
    page.route("**/*", route)
    page.on("request", lambda r: elsewhere.append(r.url) if outside(r.url) else None)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(own, wait_until="load")
    return page, elsewhere, errors


LAYOUT = """() => {
  const root = document.documentElement;
  const box = (el) => {
    const r = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    return {what: el.tagName.toLowerCase() + (el.className ? '.' + el.className : ''),
            left: r.left, right: r.right, width: r.width, height: r.height,
            scrollWidth: el.scrollWidth, clientWidth: el.clientWidth,
            overflowX: style.overflowX};
  };
  const clipped = [];
  for (const el of document.body.querySelectorAll('*')) {
    const style = getComputedStyle(el);
    if (['hidden', 'clip'].includes(style.overflowX) && el.scrollWidth > el.clientWidth + 1)
      clipped.push(box(el));
  }
  return {
    viewport: root.clientWidth, scrollWidth: root.scrollWidth,
    images: Array.from(document.images, (img) => ({...box(img), alt: img.alt,
      complete: img.complete, naturalWidth: img.naturalWidth,
      data: img.currentSrc.startsWith('data:image/png;base64,')})),
    scrollers: Array.from(document.querySelectorAll('.table-wrap, pre, figure'), box),
    clipped,
    commands: Array.from(document.querySelectorAll('pre.commands'), (pre) => pre.innerText),
  };
}"""


@pytest.mark.parametrize("width", WIDTHS)
def test_report_renders_offline_whole_and_within_the_window(
    offline_browser: Any, report: Report, width: int, tmp_path: Path
) -> None:
    page, elsewhere, errors = open_page(ready(offline_browser), report.path)
    try:
        page.set_viewport_size({"width": width, "height": 900})
        layout = page.evaluate(LAYOUT)
        shots = Path(os.environ.get("LRKIT_SCREENSHOT_DIR") or tmp_path)
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / f"report-{width}.png"), full_page=True)
    finally:
        page.close()

    assert elsewhere == [], f"the report asked for something outside itself: {elsewhere}"
    assert errors == [], errors
    images = layout["images"]
    assert len(images) == report.images
    view = layout["viewport"]
    for img in images:
        assert img["data"] and img["complete"] and img["naturalWidth"] > 0, img
        assert img["width"] > 0 and img["height"] > 0, img
        assert img["width"] <= img["naturalWidth"], img  # never stretched past its pixels
        if view <= 640:  # a phone: readable, the figure's box scrolls (checked below)
            assert img["width"] >= min(600, img["naturalWidth"] / 2), img
        else:
            assert img["left"] >= 0 and img["right"] <= view + 0.5, img
    assert layout["scrollWidth"] <= view, f"the page is wider than the {view} px window"
    assert layout["scrollers"], "no table wrappers or command blocks found"
    for box in layout["scrollers"]:
        assert box["left"] >= 0 and box["right"] <= view + 0.5, box
        fits = box["scrollWidth"] <= box["clientWidth"]
        assert fits or box["overflowX"] in ("auto", "scroll"), f"cut off: {box}"
    assert layout["clipped"] == [], f"content hidden by overflow: {layout['clipped']}"
    # wrapped on screen, but copied as written: one line per command
    assert [text.strip("\n").split("\n") for text in layout["commands"]] == [report.commands]
    if width == 700:  # the 13-column comparison table cannot fit: it scrolls in its box
        wraps = [b for b in layout["scrollers"] if "table-wrap" in b["what"]]
        assert any(b["scrollWidth"] > b["clientWidth"] for b in wraps)


def test_the_harness_catches_an_outside_request_and_a_broken_image(
    offline_browser: Any, tmp_path: Path
) -> None:
    """The checks above would see a report that fetched something, or an image that failed."""
    page_path = tmp_path / "bad.html"
    page_path.write_text(
        '<!DOCTYPE html><img src="https://example.com/x.png" alt="x">'
        '<img src="data:image/png;base64,AAAA" alt="broken">'
    )
    page, elsewhere, _ = open_page(ready(offline_browser), page_path)
    try:
        layout = page.evaluate(LAYOUT)
    finally:
        page.close()
    assert elsewhere == ["https://example.com/x.png"]
    assert [img["naturalWidth"] for img in layout["images"]] == [0, 0]


def test_printed_every_column_fits_the_paper(
    offline_browser: Any, report: Report, tmp_path: Path
) -> None:
    # paper cannot scroll: a table wider than its box would lose columns (the 13-column
    # comparison table scrolls on a 700 px screen, above)
    page, _, errors = open_page(ready(offline_browser), report.path)
    try:
        page.emulate_media(media="print")
        page.set_viewport_size({"width": 718, "height": 1000})  # A4 less Chromium's margins
        layout = page.evaluate(LAYOUT)
        # a number or a word on two lines reads as two (0.19 / 13, QA 145): a cell breaks at
        # its spaces only
        split = page.evaluate(
            """() => [...document.querySelectorAll('td:not(.long), th')].filter(cell => {
                if (/\\s/.test(cell.textContent.trim())) return false;
                const range = document.createRange();
                range.selectNodeContents(cell);
                return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size > 1;
            }).map(cell => cell.textContent)"""
        )
        page.pdf(path=str(tmp_path / "report.pdf"), format="A4")
    finally:
        page.close()
    assert errors == []
    assert split == [], split
    wraps = [b for b in layout["scrollers"] if "table-wrap" in b["what"]]
    assert wraps
    for box in wraps:
        assert box["scrollWidth"] <= box["clientWidth"] + 1, f"cut off on paper: {box}"
    assert layout["scrollWidth"] <= layout["viewport"]
    assert (tmp_path / "report.pdf").stat().st_size > 20_000


def test_a_dark_system_gets_a_dark_page(offline_browser: Any, report: Report) -> None:
    page, _, errors = open_page(ready(offline_browser), report.path)
    try:
        colours = {}
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            colours[scheme] = page.evaluate(
                "() => [getComputedStyle(document.body).backgroundColor,"
                " getComputedStyle(document.body).color]"
            )
    finally:
        page.close()
    assert errors == []
    assert colours["light"] == ["rgb(255, 255, 255)", "rgb(31, 35, 40)"]
    assert colours["dark"] == ["rgb(13, 17, 23)", "rgb(230, 237, 243)"]
