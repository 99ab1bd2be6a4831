"""The labelling page in a real browser: headless Debian chromium driven by Playwright.

Opens the page served on 127.0.0.1, labels frames with the keyboard, undoes one, presses
Retrain, and checks the label file and the predictions the page shows. Screenshots go to the
test's temporary folder (and to $SKSPECKLE_SCREENSHOTS when set, for the docs).
"""

import csv
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from skspeckle.labelling import LabelSession

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
KEYS = {"single-hit": "1", "multi-hit": "2", "non-sample-hit": "3"}

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="needs Debian's chromium at /usr/bin/chromium"
)


def _shot(page, tmp_path, name):
    path = tmp_path / f"{name}.png"
    page.screenshot(path=path)
    target = os.environ.get("SKSPECKLE_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)
    return path


@pytest.fixture(scope="module")
def browser():
    """One headless chromium for the module's tests (starting it takes seconds)."""
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, timeout=30_000)
        try:
            yield browser
        finally:
            browser.close()


def test_label_with_the_keyboard_undo_retrain_and_review(cxi_run, tmp_path, live_server, browser):
    run, y = cxi_run
    labels_path = tmp_path / "labels.csv"
    session = LabelSession(run, labels_path)
    url = live_server(session)
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    try:
        page.set_default_timeout(15_000)
        page.goto(url)
        page.wait_for_function("document.getElementById('frame').complete && S !== null")
        labelled = []
        for _ in range(12):
            index = int(page.get_attribute("#frame", "data-index"))
            page.keyboard.press(KEYS[str(y[index])])
            page.wait_for_function(f"document.getElementById('frame').dataset.index !== '{index}'")
            labelled.append(index)
        # Undo the last label: the file loses it, the page goes back to that frame.
        page.keyboard.press("u")
        page.wait_for_function(f"S.labels[{labelled[-1]}] === null")
        rows = list(csv.DictReader(labels_path.open()))
        assert sorted(int(r["frame_index"]) for r in rows) == sorted(labelled[:-1])
        for r in rows:
            assert r["label"] == y[int(r["frame_index"])]
            assert r["file"] == str(Path(run).resolve())
        # Make sure two classes are labelled, in run order (key o) if needed.
        classes = {y[i] for i in labelled[:-1]}
        assert len(classes) >= 2, classes
        _shot(page, tmp_path, "label_page")

        page.click("#retrain")
        page.wait_for_function(
            "document.getElementById('message').textContent.includes('retrained')"
        )
        assert "retrained: 11 supports" in page.text_content("#message")
        assert "prediction:" in page.text_content("#info")
        predictions = np.array(page.evaluate("S.predictions"))
        np.testing.assert_array_equal(predictions, session.predictions)
        assert set(predictions) <= classes  # the classes labelled so far

        # The new order (uncertainty and diversity now): label three more, retrain with r.
        for _ in range(3):
            index = int(page.get_attribute("#frame", "data-index"))
            assert session.store.labels.get(index) is None  # labelled frames are not offered
            page.keyboard.press(KEYS[str(y[index])])
            page.wait_for_function(f"document.getElementById('frame').dataset.index !== '{index}'")
        page.keyboard.press("r")
        page.wait_for_function("document.getElementById('message').textContent.includes('14')")
        assert len(session.classifier.support_) == 14
        np.testing.assert_array_equal(page.evaluate("S.predictions"), session.predictions)
        n_supports = 14

        page.keyboard.press("g")
        page.wait_for_selector("#grid .cell.focus")
        assert page.locator("#grid .cell").count() == 12
        _shot(page, tmp_path, "label_grid")

        page.click("#view-review")
        page.wait_for_selector("#confusion table")
        page.wait_for_function("mapData !== null")
        page.click("#map", position={"x": 210, "y": 160})
        page.wait_for_function("document.getElementById('picked').src.includes('frame/')")
        assert page.locator("#supports .gallery img").count() == n_supports
        _shot(page, tmp_path, "review_page")
    finally:
        page.close()
    session.close()


def test_the_bundled_pr772_frames_show_their_mask_and_take_labels(tmp_path, live_server, browser):
    labels_path = tmp_path / "pr772.labels.json"
    session = LabelSession("pr772", labels_path)
    page = browser.new_page(viewport={"width": 1280, "height": 760})
    try:
        page.set_default_timeout(15_000)
        page.goto(live_server(session))
        page.wait_for_function("document.getElementById('frame').complete && S !== null")
        # The frame arrives at the detector's size (260 x 257), drawn large by the page.
        size = page.evaluate("[frame.naturalHeight, frame.naturalWidth, frame.clientWidth]")
        assert size[:2] == [260, 257] and size[2] > 257
        first = int(page.get_attribute("#frame", "data-index"))
        page.keyboard.press("1")
        page.wait_for_function(f"document.getElementById('frame').dataset.index !== '{first}'")
        second = int(page.get_attribute("#frame", "data-index"))
        page.keyboard.press("6")
        page.wait_for_function(f"S.labels[{second}] === 'needs-help'")
        saved = json.loads(labels_path.read_text())["labels"]
        assert [(r["frame_index"], r["label"], r["reference_code"]) for r in saved] == sorted(
            [(first, "single-hit", "single"), (second, "needs-help", "needs-help")]
        )
        assert {r["file"] for r in saved} == {"pr772"}
        _shot(page, tmp_path, "label_page_pr772")
    finally:
        page.close()
    session.close()
