"""Data browser: pick one of dawnlab's offline data sets and page through it.

Image sets show a grid of samples with their labels, the letter table shows its
rows, MNIST-1D its signals, and the pedestrian video one frame at a time.
The data logic is plain cached functions (:func:`page_of`, :func:`video_frame`),
bound to the widgets with ``pn.bind``; ``panel serve widgets/data_browser.py``
serves it and ``app()`` shows it inline in a notebook.
"""

from __future__ import annotations

import holoviews as hv
import numpy as np
import panel as pn

from dawnlab import data
from dawnlab.errors import invalid

pn.extension(sizing_mode="stretch_width")
hv.extension("bokeh", logo=False, inline=True)  # no CDN: an offline JupyterLab renders it

__all__ = ["CHOICES", "page_of", "video_frame", "summary", "montage_view", "app"]

CHOICES = ["mnist", "opencv_digits", "sklearn_digits", "letters", "mnist1d", "video"]
GRID = (4, 8)  # rows x columns of samples on one page


@pn.cache
def _dataset(name: str) -> data.LabelledArrays:
    return data.load(name)


@pn.cache
def _video_info() -> data.VideoInfo:
    return data.video_info()


def n_pages(name: str) -> int:
    """Pages in a data set (frames for the video)."""
    if name == "video":
        return _video_info().n_frames
    per_page = 20 if name == "letters" else GRID[0] * GRID[1]
    return -(-len(_dataset(name)) // per_page)


def page_of(name: str, page: int) -> dict:
    """The samples on one page of a data set, as plain data.

    Returns a dict with ``kind`` (``"images"``, ``"table"`` or ``"signals"``),
    ``index`` (the example numbers), ``labels`` (class names) and either
    ``montage`` (one 2-D image tiling the samples), ``rows`` (a table) or
    ``signals`` (an array of curves).
    """
    if name not in data.DATASETS:
        raise invalid("name", "page_of", f"one of {sorted(data.DATASETS)}", name)
    ds = _dataset(name)
    page = int(np.clip(page, 0, n_pages(name) - 1))
    if name == "letters":
        index = np.arange(page * 20, min(len(ds), (page + 1) * 20))
        return {"kind": "table", "index": index, "labels": [ds.classes[c] for c in ds.y[index]],
                "rows": ds.X[index]}
    per_page = GRID[0] * GRID[1]
    index = np.arange(page * per_page, min(len(ds), (page + 1) * per_page))
    labels = [ds.classes[c] for c in ds.y[index]]
    if not ds.is_image:
        return {"kind": "signals", "index": index, "labels": labels, "signals": ds.X[index]}
    images = ds.X[index].astype(np.float64)
    h, w = images.shape[1:3]
    montage = np.zeros((GRID[0] * h, GRID[1] * w))
    for k, image in enumerate(images):
        r, c = divmod(k, GRID[1])
        montage[r * h:(r + 1) * h, c * w:(c + 1) * w] = image / max(images.max(), 1)
    return {"kind": "images", "index": index, "labels": labels, "montage": montage}


@pn.cache
def video_frame(index: int) -> np.ndarray:
    """Frame ``index`` of the pedestrian video, RGB ``uint8``."""
    _, frame = next(data.read_frames(start=int(index)))
    return frame


def summary(name: str) -> str:
    """One line describing a data set."""
    if name == "video":
        info = _video_info()
        return (f"**vtest.avi**: {info.n_frames} frames, {info.width}x{info.height}, "
                f"{info.fps:g} fps ({info.duration:g} s)")
    ds = _dataset(name)
    shape = "x".join(str(s) for s in ds.X.shape[1:])
    return f"**{ds.name}**: {len(ds)} examples of shape {shape}, {len(ds.classes)} classes. Source: {ds.source}"


def view(name: str, page: int):
    """The HoloViews/Panel object showing one page."""
    if name == "video":
        frame = video_frame(page)
        h, w = frame.shape[:2]
        return hv.RGB(frame, bounds=(0, 0, w, h)).opts(
            title=f"frame {page}", data_aspect=1, responsive=True, min_height=400, xaxis=None, yaxis=None)
    content = page_of(name, page)
    if content["kind"] == "table":
        import pandas as pd

        frame = pd.DataFrame(content["rows"], columns=[f"f{i}" for i in range(content["rows"].shape[1])],
                             index=content["index"])
        frame.insert(0, "letter", content["labels"])
        return pn.pane.DataFrame(frame, height=560, css_classes=["letters-table"])
    if content["kind"] == "signals":
        curves = [hv.Curve(s, label=f"#{i}: {l}") for i, l, s in
                  zip(content["index"][:8], content["labels"][:8], content["signals"][:8])]
        return hv.Overlay(curves).opts(title="MNIST-1D signals", responsive=True, min_height=400,
                                       legend_position="right")
    return montage_view(content)


def montage_view(content: dict):
    """A page of images as one montage, each tile's label printed in its corner.

    The montage array's first row is the top of the picture (``hv.Image`` reads
    arrays in image order), so tile ``k``, counted left to right and top to
    bottom, shows example ``index[k]``; the labels sit on their tiles instead of
    in one long title.
    """
    rows, cols = GRID
    image = hv.Image(content["montage"], bounds=(0, 0, cols, rows)).opts(
        cmap="gray", clim=(0, 1), xaxis=None, yaxis=None, toolbar=None)
    corners = [(k % cols + 0.06, rows - k // cols - 0.06, label) for k, label in enumerate(content["labels"])]
    labels = hv.Labels(corners, kdims=["x", "y"], vdims=["label"]).opts(
        text_color="#ffd54f", text_font_size="11pt", text_align="left", text_baseline="top")
    first, last = content["index"][0], content["index"][-1]
    return (image * labels).opts(
        title=f"examples {first}-{last}, left to right and top to bottom; each label in its tile's corner",
        responsive=True, min_height=420, data_aspect=1)


def app() -> pn.viewable.Viewable:
    """The data browser layout."""
    name = pn.widgets.Select(label="Data set", options=CHOICES, value="mnist", css_classes=["dataset-select"])
    page = pn.widgets.IntSlider(label="Page", start=0, end=n_pages("mnist") - 1, value=0,
                                css_classes=["page-slider"])

    def _reset_page(event):
        page.end = n_pages(event.new) - 1
        page.value = 0
        page.label = "Frame" if event.new == "video" else "Page"

    name.param.watch(_reset_page, "value")
    info = pn.pane.Markdown(pn.bind(summary, name), css_classes=["dataset-summary"])
    return pn.Column(
        "## dawnlab data browser",
        pn.Row(name, page),
        info,
        pn.panel(pn.bind(view, name, page)),
    )


if pn.state.served:
    app().servable(title="dawnlab data browser")
