"""The data browser's state, without a browser."""

import numpy as np

from widgets import data_browser


def test_pages_tile_the_right_examples():
    page = data_browser.page_of("opencv_digits", 3)
    per_page = data_browser.GRID[0] * data_browser.GRID[1]
    assert page["index"].tolist() == list(range(3 * per_page, 4 * per_page))
    rows, cols = data_browser.GRID
    assert page["montage"].shape == (rows * 20, cols * 20)
    assert page["labels"] == ["0"] * per_page  # the sheet's first 500 are zeros


def test_kinds_follow_the_data_set():
    assert data_browser.page_of("letters", 0)["kind"] == "table"
    assert data_browser.page_of("mnist1d", 0)["kind"] == "signals"
    assert data_browser.n_pages("video") == 795
    assert data_browser.video_frame(10).shape == (576, 768, 3)


def test_changing_the_select_changes_the_view():
    layout = data_browser.app()
    select, slider = layout[1]
    summary = layout[2]
    assert "28x28" in summary.object
    select.value = "letters"
    assert "20000 examples" in summary.object
    assert slider.value == 0 and slider.end == 999
    select.value = "video"
    assert slider.end == 794 and slider.label == "Frame"
    assert "795 frames" in summary.object
    frame = data_browser.view("video", 5)
    red = frame.dimension_values("R", flat=False)
    assert red.shape == (576, 768)
    assert np.array_equal(np.sort(red.ravel()), np.sort(data_browser.video_frame(5)[..., 0].ravel()))
