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


def drawn_tiles(name: str, page: int) -> list[np.ndarray]:
    """The montage's tiles as Bokeh will paint them, read left to right and top to bottom.

    Bokeh's image glyph paints its array's row 0 at the bottom of the plot, so the
    picture a person sees is that array flipped upside down.
    """
    import holoviews as hv

    figure = hv.render(data_browser.view(name, page))
    (image,) = [r for r in figure.renderers if "image" in r.data_source.data]
    on_screen = np.asarray(image.data_source.data["image"][0])[::-1]
    rows, cols = data_browser.GRID
    h, w = on_screen.shape[0] // rows, on_screen.shape[1] // cols
    return [on_screen[r * h:(r + 1) * h, c * w:(c + 1) * w] for r in range(rows) for c in range(cols)]


def test_montage_tile_k_is_example_k_the_right_way_up():
    ds = data_browser._dataset("mnist")
    page = 2
    tiles = drawn_tiles("mnist", page)
    index = data_browser.page_of("mnist", page)["index"]
    assert len(tiles) == len(index) == 32
    scale = ds.X[index].max()
    for tile, i in zip(tiles, index):
        expected = ds.X[i] / scale
        assert np.allclose(tile, expected), f"tile of example {i} is not example {i} upright"
        assert not np.allclose(tile, expected[::-1])  # a digit is not its own mirror image


def test_each_tile_carries_its_own_label():
    content = data_browser.page_of("mnist", 0)
    overlay = data_browser.view("mnist", 0)
    labels = overlay.get(1)
    rows, cols = data_browser.GRID
    for k, (x, y, text) in enumerate(zip(labels.dimension_values("x"), labels.dimension_values("y"),
                                         labels.dimension_values("label"))):
        r, c = divmod(k, cols)
        assert c < x < c + 1 and rows - r - 1 < y < rows - r  # inside tile k as drawn
        assert text == content["labels"][k]
    assert len(content["labels"]) > 0 and " ".join(content["labels"]) not in overlay.opts.get().kwargs.get("title", "")
