"""The data browser served by ``panel serve``, driven in headless Chromium."""

import io

import numpy as np
import pytest

pytestmark = pytest.mark.ui


def test_data_browser_loads_and_follows_its_controls(serve_app, page, tmp_path):
    page.goto(serve_app("widgets/data_browser.py"))
    page.get_by_text("5000 examples of shape 28x28").wait_for()
    plot = page.locator(".bk-Canvas canvas, canvas").first
    plot.wait_for()
    page.wait_for_timeout(1000)
    before = plot.screenshot()
    check_tiles_match_examples(before, tmp_path)

    select = page.locator(".dataset-select select")
    select.select_option("opencv_digits")
    page.get_by_text("5000 examples of shape 20x20").wait_for()
    page.wait_for_timeout(1000)
    assert page.locator(".bk-Canvas canvas, canvas").first.screenshot() != before

    select.select_option("video")
    page.get_by_text("795 frames, 768x576, 10 fps").wait_for()
    page.wait_for_timeout(1000)
    page.screenshot(path=str(tmp_path / "video.png"))
    assert page.console_errors == []


def montage_box(gray: np.ndarray) -> tuple[int, int, int, int]:
    """Rows and columns of the montage in a screenshot: the band that is mostly dark.

    The digits are white strokes on black, so the montage is the one large dark
    rectangle on the white page; the title's dark letters fill too few pixels of
    any row or column to count.
    """
    dark = gray < 60
    rows = np.flatnonzero(dark.mean(axis=1) > 0.5)
    cols = np.flatnonzero(dark.mean(axis=0) > 0.5)
    return rows[0], rows[-1] + 1, cols[0], cols[-1] + 1


def check_tiles_match_examples(png: bytes, tmp_path):
    """Tile k of the drawn montage is example k, the right way up, read from its pixels."""
    from PIL import Image

    from dawnlab import data
    from widgets.data_browser import GRID

    (tmp_path / "montage.png").write_bytes(png)
    gray = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float64)
    top, bottom, left, right = montage_box(gray)
    rows, cols = GRID
    examples = data.load_mnist().X[: rows * cols].astype(np.float64)
    h, w = examples.shape[1:]
    # each example and its upside-down copy, centred and scaled, as candidates for every tile
    candidates = np.concatenate([examples, examples[:, ::-1]]).reshape(2 * rows * cols, -1)
    candidates = candidates - candidates.mean(axis=1, keepdims=True)
    candidates /= np.linalg.norm(candidates, axis=1, keepdims=True)
    edges_y = np.linspace(top, bottom, rows + 1).round().astype(int)
    edges_x = np.linspace(left, right, cols + 1).round().astype(int)
    matches = []
    for r in range(rows):
        for c in range(cols):
            tile = gray[edges_y[r]:edges_y[r + 1], edges_x[c]:edges_x[c + 1]]
            small = np.asarray(Image.fromarray(tile.astype(np.uint8)).resize((w, h), Image.BILINEAR),
                               dtype=np.float64).ravel()
            small = (small - small.mean()) / np.linalg.norm(small - small.mean())
            matches.append(int(np.argmax(candidates @ small)))
    assert matches == list(range(rows * cols)), (
        f"tile k should best match example k upright (0..31; 32.. are upside-down copies): {matches}")
