"""``lrkit tune``'s own report.html in headless Chromium: every image loads, nothing is cut."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.report.test_browser import LAYOUT, open_page, ready
from tests.report.test_browser import offline_browser as offline_browser  # the fixture


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from lrkit.tune import tune

    out = tmp_path_factory.mktemp("tune")
    tune("digits", budget=80, out=out, say=lambda text: None, progress=False)
    return out / "report.html"


@pytest.mark.parametrize("width", [1280, 700])
def test_the_tune_report_renders_whole(
    offline_browser: Any, tuned: Path, width: int, tmp_path: Path
) -> None:
    page, elsewhere, errors = open_page(ready(offline_browser), tuned)
    try:
        page.set_viewport_size({"width": width, "height": 900})
        layout = page.evaluate(LAYOUT)
        page.screenshot(path=str(tmp_path / f"tune-{width}.png"), full_page=True)
    finally:
        page.close()
    assert elsewhere == [] and errors == []
    html = tuned.read_text()
    # range test, search, comparison and final training each embed a figure
    assert len(layout["images"]) == html.count("<img") >= 4
    view = layout["viewport"]
    for img in layout["images"]:
        assert img["data"] and img["complete"] and img["naturalWidth"] > 0, img
        assert img["left"] >= 0 and img["right"] <= view + 0.5, img
    assert layout["scrollWidth"] <= view
    for box in layout["scrollers"]:
        fits = box["scrollWidth"] <= box["clientWidth"]
        assert fits or box["overflowX"] in ("auto", "scroll"), box
    assert layout["clipped"] == []
    assert any(
        text.startswith("lrkit train digits --lr")
        for text in "\n".join(layout["commands"]).splitlines()
    )
