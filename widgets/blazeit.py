"""BlazeIt widget: a video with the oracle's boxes, a FrameQL editor, and the answer.

Type a FrameQL query; the answer appears with its confidence interval and the
oracle calls it took against the full scan, and the plot shows the interval
narrowing as oracle calls accrue (the history that :meth:`Session.query`
reports through its callback).  The frame slider (with play controls) shows a
frame of the video with the oracle's boxes.  The default video is a short
synthetic traffic scene (exact ground truth, quick to start); the library
logic is :mod:`dawnlab.blazeit`, joined to the widgets with cached functions
and ``pn.bind``.  ``panel serve widgets/blazeit.py`` serves it; ``app()``
shows it inline in a notebook.
"""

from __future__ import annotations

import holoviews as hv
import numpy as np
import panel as pn

from dawnlab import blazeit
from dawnlab.blazeit import FrameQLError, Session, synthetic

pn.extension(sizing_mode="stretch_width")
hv.extension("bokeh", logo=False)

__all__ = ["DEFAULT_QUERY", "session", "run_query", "frame_data", "summary", "history_plot",
           "frame_plot", "app"]

DEFAULT_QUERY = ("SELECT FCOUNT(*) FROM traffic WHERE class = 'car'\n"
                 "ERROR WITHIN 0.5 AT CONFIDENCE 95%")
N_FRAMES = 1000
_COLOURS = {"car": "red", "bus": "orange", "person": "magenta"}


@pn.cache
def session(n_frames: int = N_FRAMES) -> Session:
    """A trained, fully labelled session on a synthetic scene (cached)."""
    src, oracle = synthetic.scene(n_frames, seed=0)
    train_src, train_oracle = synthetic.scene(4000, seed=1000)
    s = Session(src, oracle, train_source=train_src, train_oracle=train_oracle,
                train_frames=400, heldout_frames=100, epochs=3, seed=0)
    s.train()
    s.label_all()
    return s


@pn.cache
def run_query(text: str, method: str = "blazeit", seed: int = 0) -> dict:
    """Run a query on the cached session; a dict with the result or the error."""
    s = session()
    try:
        result = s.query(text, method=method, seed=seed, allow_nn_only=False)
        exact = s.exact(text)
    except FrameQLError as err:
        return {"error": str(err), "line": err.line, "col": err.col}
    except ValueError as err:
        return {"error": str(err)}
    return {"result": result, "exact": exact, "n_frames": s.n_frames}


def frame_data(index: int) -> tuple[np.ndarray, list]:
    """Frame ``index`` and the oracle's boxes ``(class, xmin, ymin, xmax, ymax)`` in it."""
    s = session()
    index = int(np.clip(index, 0, s.n_frames - 1))
    rows = s.store.sql("SELECT class, xmin, ymin, xmax, ymax FROM detections WHERE frame = ?",
                       [index]).fetchall()
    return s.source.frame(index), rows


def summary(answer: dict) -> str:
    """The answer as Markdown."""
    if "error" in answer:
        where = f" (line {answer['line']}, column {answer['col']})" if "line" in answer else ""
        return f"**FrameQL error**{where}: {answer['error']}"
    r, n = answer["result"], answer["n_frames"]
    if r.kind == "aggregate":
        value = f"**{r.value:.3f}**"
        if r.interval is not None:
            value += f" in [{r.interval[0]:.3f}, {r.interval[1]:.3f}]"
        value += f" (exact {answer['exact']:.3f})"
    else:
        shown = ", ".join(map(str, r.value[:12])) + (" ..." if len(r.value) > 12 else "")
        value = f"**{len(r.value)} frames**: {shown}"
    return (f"{value}  \nmethod **{r.method}**: {r.oracle_calls} oracle calls against "
            f"{n} for the full scan ({n / max(r.oracle_calls, 1):.1f}x fewer), {r.seconds:.2f} s")


def history_plot(answer: dict):
    """Estimate and interval against oracle calls (aggregates), or hits found (limits)."""
    opts = dict(height=260, responsive=True, xlabel="oracle calls")
    if "error" in answer or not answer["result"].history:
        return hv.Curve([], "oracle calls", "estimate").opts(**opts)
    r = answer["result"]
    if r.kind == "aggregate":
        h = np.array(r.history, dtype=float)
        h[:, 2:] = np.clip(h[:, 2:], h[:, 1:2] - 5, h[:, 1:2] + 5)
        band = hv.Area((h[:, 0], h[:, 2], h[:, 3]), "oracle calls",
                       ["low", "high"]).opts(alpha=0.3, color="steelblue")
        exact = hv.HLine(answer["exact"]).opts(color="black", line_dash="dashed")
        return (band * hv.Curve((h[:, 0], h[:, 1]), "oracle calls", "estimate")
                * exact).opts(**opts, ylabel="FCOUNT", title="interval narrowing")
    h = np.array(r.history, dtype=float)
    return hv.Curve((h[:, 0], np.arange(1, len(h) + 1)), "oracle calls", "hits").opts(
        **opts, title="hits found", interpolation="steps-post")


def frame_plot(index: int):
    """The frame with the oracle's boxes."""
    img, rows = frame_data(index)
    h, w = img.shape[:2]
    rgb = hv.RGB(img[::-1], bounds=(0, 0, w, h))
    rects = [(x0, h - y1, x1, h - y0, c) for c, x0, y0, x1, y1 in rows]
    boxes = hv.Rectangles(rects, vdims="class").opts(
        fill_alpha=0, line_width=2, line_color="class", cmap=_COLOURS)
    return (rgb * boxes).opts(hv.opts.RGB(data_aspect=1, responsive=True, xaxis=None, yaxis=None,
                                          title=f"frame {int(index)}: {len(rows)} objects"))


def app() -> pn.viewable.Viewable:
    """The BlazeIt widget."""
    s = session()
    editor = pn.widgets.TextAreaInput(label="FrameQL", value=DEFAULT_QUERY, height=90,
                                      css_classes=["blazeit-query"])
    method = pn.widgets.RadioButtonGroup(label="method", options=["blazeit", "random", "scan"],
                                         value="blazeit", css_classes=["blazeit-method"])
    player = pn.widgets.Player(label="frame", start=0, end=s.n_frames - 1, value=0, step=1,
                               interval=100, loop_policy="loop", css_classes=["blazeit-player"])
    answer = pn.bind(run_query, editor, method)
    text = pn.pane.Markdown(pn.bind(summary, answer), css_classes=["blazeit-answer"])
    plot = pn.pane.HoloViews(pn.bind(history_plot, answer), css_classes=["blazeit-history"])
    video = pn.pane.HoloViews(pn.bind(frame_plot, player), css_classes=["blazeit-video"])
    return pn.Column(
        pn.pane.Markdown("## BlazeIt: FrameQL over video\nA synthetic traffic camera "
                         f"({s.n_frames} frames; oracle: detector with a known noise model)."),
        pn.Row(pn.Column(editor, method, text, plot), pn.Column(video, player)),
    )


if pn.state.served:
    app().servable()
