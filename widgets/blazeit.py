"""BlazeIt widget: a video with the oracle's boxes, a FrameQL editor, and the answer.

Type a FrameQL query; the answer appears with its confidence interval and the
oracle calls it took against the full scan, split by purpose (training the
specialized NN, its held-out frames, the query itself), and both update live
while the query runs.  For an approximate aggregate choose the sampler:
random sampling, sampling with the NN as control variate, or stratified
sampling by the NN's score; every interval shown is a betting confidence
sequence, valid at the stated confidence whenever the query stops: a :class:`LiveQuery` consumes :meth:`Session.steps` one step per
tick of a periodic callback, so the interval narrows on screen as oracle
calls accrue.  The frame slider (with play controls) shows a frame of the
video with the oracle's boxes.  The default video is a short synthetic
traffic scene (exact ground truth); its specialized NN is trained lazily, on
the first query that needs it (a few seconds, on a small clip), so the page
renders at once.  The library logic is :mod:`dawnlab.blazeit`, joined to the
widgets with cached functions and ``pn.bind``.  ``panel serve
widgets/blazeit.py`` serves it; ``app()`` shows it inline in a notebook.
"""

from __future__ import annotations

import holoviews as hv
import numpy as np
import panel as pn
import param

from dawnlab import blazeit
from dawnlab.blazeit import FrameQLError, Session, synthetic

pn.extension(sizing_mode="stretch_width")
hv.extension("bokeh", logo=False, inline=True)  # no CDN: an offline JupyterLab renders it

__all__ = ["DEFAULT_QUERY", "SAMPLERS", "plan", "session", "run_query", "LiveQuery", "frame_data",
           "summary", "history_plot", "frame_plot", "app"]

DEFAULT_QUERY = ("SELECT FCOUNT(*) FROM traffic WHERE class = 'car'\n"
                 "ERROR WITHIN 0.2 AT CONFIDENCE 95%")
N_FRAMES = 1000
#: Height of the frame view in pixels (its width follows from the frame's aspect).
FRAME_HEIGHT = 300
_COLOURS = {"car": "red", "bus": "orange", "person": "magenta"}
#: The sampler choices of the widget: label -> (Session.query method, sampler).
SAMPLERS = {"control variate": ("blazeit", "cv"), "stratified": ("blazeit", "stratified"),
            "random": ("random", "cv")}


def plan(method: str = "blazeit", sampler: str = "control variate") -> tuple[str, str]:
    """``(method, sampler)`` for :meth:`Session.query` from the widget's two choices.

    ``sampler`` (a key of :data:`SAMPLERS`) says how an aggregate is sampled
    when ``method`` is ``"blazeit"``; ``"random"`` as either choice is random
    sampling, ``"scan"`` the full scan.
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {list(SAMPLERS)}; got {sampler!r}")
    if method == "blazeit":
        return SAMPLERS[sampler]
    return method, "cv"


@pn.cache
def session(n_frames: int = N_FRAMES) -> Session:
    """A fully labelled session on a synthetic scene (cached); its NN trains on first use."""
    src, oracle = synthetic.scene(n_frames, seed=0)
    train_src, train_oracle = synthetic.scene(3000, seed=1000)
    s = Session(src, oracle, train_source=train_src, train_oracle=train_oracle,
                train_frames=600, heldout_frames=100, epochs=4, seed=0)
    s.label_all()
    return s


def _sampler_shown(method: str, sampler: str) -> str | None:
    """The sampler an answer names: the choice for BlazeIt, ``"random"`` for random, none for a scan."""
    return sampler if method == "blazeit" else ("random" if method == "random" else None)


def _confidence(s: Session, text: str):
    """The query's ``AT CONFIDENCE`` (``None`` without ``ERROR WITHIN``)."""
    q = s.parse(text)
    if q.error is None:
        return None
    return q.confidence if q.confidence is not None else 0.95


@pn.cache
def run_query(text: str, method: str = "blazeit", seed: int = 0,
              sampler: str = "control variate") -> dict:
    """Run a query on the cached session; a dict with the result or the error.

    ``method`` is ``"blazeit"``, ``"random"`` or ``"scan"``; ``sampler`` a key
    of :data:`SAMPLERS` (used when ``method`` is ``"blazeit"``).
    """
    s = session()
    try:
        m, smp = plan(method, sampler)
        result = s.query(text, method=m, seed=seed, allow_nn_only=False, sampler=smp)
        exact = s.exact(text)
        conf = _confidence(s, text)
    except FrameQLError as err:
        return {"error": str(err), "line": err.line, "col": err.col}
    except ValueError as err:
        return {"error": str(err)}
    return {"result": result, "exact": exact, "n_frames": s.n_frames, "confidence": conf,
            "sampler": _sampler_shown(m, sampler)}


class LiveQuery(param.Parameterized):
    """A query run step by step: ``answer`` holds the running answer, updated by :meth:`step`.

    :meth:`start` begins a query; each :meth:`step` takes the next step of
    :meth:`Session.steps` (for an aggregate, one more check of the stopping
    rule, with more oracle calls and a narrower interval).  A periodic
    callback calls :meth:`step` in the app; tests call it directly.
    """

    answer = param.Dict(default={}, doc="the running answer, as run_query returns it")
    done = param.Boolean(default=True, doc="whether the query has finished")

    def __init__(self, **params):
        super().__init__(**params)
        self._steps = None
        self._exact = None
        self._conf = self._sampler = None

    def start(self, text: str, method: str = "blazeit", first_step: bool = True,
              sampler: str = "control variate") -> None:
        """Begin running ``text``; take its first step now when ``first_step``.

        ``sampler`` (a key of :data:`SAMPLERS`) says how BlazeIt samples an
        aggregate.
        """
        try:
            m, smp = plan(method, sampler)
        except ValueError as err:
            self._steps, self.done = None, True
            self.answer = {"error": str(err)}
            return
        self._steps = iter(session().steps(text, method=m, seed=0, allow_nn_only=False,
                                           sampler=smp))
        self._text, self.done = text, False
        self._exact = None
        self._sampler = _sampler_shown(m, sampler)
        if first_step:
            self.step()
        else:
            self.answer = {"pending": text, "method": method}

    def step(self) -> None:
        """Take one step of the running query (nothing when it is done)."""
        if self.done or self._steps is None:
            return
        s = session()
        try:
            result = next(self._steps)
            if self._exact is None:
                self._exact = s.exact(self._text)
                self._conf = _confidence(s, self._text)
        except StopIteration:
            self.done = True
            return
        except FrameQLError as err:
            self.done = True
            self.answer = {"error": str(err), "line": err.line, "col": err.col}
            return
        except ValueError as err:
            self.done = True
            self.answer = {"error": str(err)}
            return
        self.done = bool(result.info.get("final", True))
        self.answer = {"result": result, "exact": self._exact, "n_frames": s.n_frames,
                       "running": not self.done, "confidence": self._conf,
                       "sampler": self._sampler}


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
    if "result" not in answer:
        return (f"method **{answer.get('method', 'blazeit')}**: starting (the specialized NN "
                "trains on first use) ... against the full scan")
    r, n = answer["result"], answer["n_frames"]
    if r.kind == "aggregate":
        value = f"**{r.value:.3f}**"
        conf = answer.get("confidence")
        if r.interval is not None and r.interval[0] == r.interval[1]:
            value += f" in [{r.interval[0]:.3f}, {r.interval[1]:.3f}] (exact: every frame labelled)"
        elif r.interval is not None:
            level = f"{100 * conf:g}% " if conf is not None else ""
            value += (f" in [{r.interval[0]:.3f}, {r.interval[1]:.3f}], a {level}confidence "
                      "interval valid whenever the query stops (betting confidence sequence)")
        value += f"; truth from the full scan {answer['exact']:.3f}"
    else:
        shown = ", ".join(map(str, r.value[:12])) + (" ..." if len(r.value) > 12 else "")
        value = f"**{len(r.value)} frames**: {shown}"
    state = " (running ...)" if answer.get("running") else ""
    path = f"  \n{r.info['path']}" if "path" in r.info else ""
    by = r.info.get("oracle_calls_by_purpose")
    split = ""
    if by:
        split = (f"  \ncalls by purpose: {by.get('training', 0)} training, "
                 f"{by.get('heldout', 0)} held-out, {by.get('query', 0)} for this query "
                 f"({r.info.get('oracle_calls_all_purposes', r.oracle_calls)} in all)")
    sampler = f", sampler **{answer['sampler']}**" if answer.get("sampler") else ""
    return (f"{value}{state}  \nmethod **{r.method}**{sampler}: {r.oracle_calls} oracle calls against "
            f"{n} for the full scan ({n / max(r.oracle_calls, 1):.1f}x fewer), "
            f"{r.seconds:.2f} s of computation{split}{path}")


def _steps(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The vertices of a steps-post line through ``(x, y)``: each value holds until the next x."""
    return np.repeat(x, 2)[1:], np.repeat(y, 2)[:-1]


def history_plot(answer: dict):
    """Estimate and interval against oracle calls (aggregates), or hits found (limits).

    Every glyph here is a vectorised bokeh glyph (paths, rectangles) and the exact value a
    span.  This plot is replaced at each step of a live query, and inside a notebook the
    browser sends back a copy of each new renderer's glyph; a scalar glyph's copy (the Line of
    an ``hv.Curve``, the Patch of an ``hv.Area``) fails validation in the kernel and printed
    "failed to validate Patch.line_alpha ... Value(...)" into the cell (issue 16 item 3).
    """
    opts = dict(height=260, responsive=True, xlabel="oracle calls")
    if "result" not in answer or not answer["result"].history:
        return hv.Path([], ["oracle calls", "estimate"]).opts(**opts)
    r = answer["result"]
    if r.kind == "aggregate":
        h = np.array(r.history, dtype=float)
        h[:, 2:] = np.clip(h[:, 2:], h[:, 1:2] - 5, h[:, 1:2] + 5)
        # the interval after each check of the stopping rule, held until the next check
        right = np.r_[h[1:, 0], h[-1, 0] + max(1.0, 0.02 * h[-1, 0])]
        band = hv.Rectangles((h[:, 0], h[:, 2], right, h[:, 3]), ["oracle calls", "low", "x1", "high"]
                             ).opts(fill_alpha=0.3, line_alpha=0.0, color="steelblue")
        exact = hv.HLine(answer["exact"]).opts(color="black", line_dash="dashed")
        estimate = hv.Path([(h[:, 0], h[:, 1])], ["oracle calls", "estimate"]).opts(color="#30a2da")
        return (band * estimate * exact).opts(**opts, ylabel="FCOUNT", title="interval narrowing")
    h = np.array(r.history, dtype=float)
    # one point per hit, then the query's last oracle call: the steps draw every hit's step,
    # the last one too (a 3-frame answer shows 3)
    calls = np.r_[0.0, h[:, 0], max(float(r.oracle_calls), h[-1, 0])]
    hits = np.r_[0, np.arange(1, len(h) + 1), len(h)].astype(float)
    return hv.Path([_steps(calls, hits)], ["oracle calls", "hits"]).opts(
        **opts, title=f"hits found: {len(h)}")


def frame_plot(index: int):
    """The frame with the oracle's boxes."""
    img, rows = frame_data(index)
    h, w = img.shape[:2]
    # hv.RGB puts the array's first row at the top (y = h), as the image is stored; the boxes are
    # flipped into the same y-up coordinates
    rgb = hv.RGB(img, bounds=(0, 0, w, h))
    rects = [(x0, h - y1, x1, h - y0, c) for c, x0, y0, x1, y1 in rows]
    boxes = hv.Rectangles(rects, vdims="class").opts(
        fill_alpha=0, line_width=2, line_color="class", cmap=_COLOURS)
    # a fixed frame height: a responsive plot with a data aspect has no height to scale from in a
    # notebook's output area and collapsed to a strip there (issue 16 item 3)
    return (rgb * boxes).opts(hv.opts.RGB(data_aspect=1, frame_height=FRAME_HEIGHT,
                                          xaxis=None, yaxis=None,
                                          title=f"frame {int(index)}: {len(rows)} objects"))


def app() -> pn.viewable.Viewable:
    """The BlazeIt widget."""
    s = session()
    editor = pn.widgets.TextAreaInput(label="FrameQL", value=DEFAULT_QUERY, height=90,
                                      css_classes=["blazeit-query"])
    method = pn.widgets.RadioButtonGroup(label="method", options=["blazeit", "random", "scan"],
                                         value="blazeit", css_classes=["blazeit-method"])
    sampler = pn.widgets.RadioButtonGroup(label="sampler", options=list(SAMPLERS),
                                          value="control variate",
                                          css_classes=["blazeit-sampler"])
    player = pn.widgets.Player(label="frame", start=0, end=s.n_frames - 1, value=0, step=1,
                               interval=100, loop_policy="loop", css_classes=["blazeit-player"])
    live = LiveQuery()
    text = pn.pane.Markdown(pn.bind(summary, live.param.answer), css_classes=["blazeit-answer"])
    plot = pn.pane.HoloViews(pn.bind(history_plot, live.param.answer),
                             css_classes=["blazeit-history"])
    video = pn.pane.HoloViews(pn.bind(frame_plot, player), css_classes=["blazeit-video"])
    ticker = {}

    def tick():
        live.step()
        if live.done and ticker.get("cb") is not None:
            ticker.pop("cb").stop()

    def run(first_step: bool) -> None:
        live.start(editor.value, method.value, first_step=first_step, sampler=sampler.value)
        if not live.done and ticker.get("cb") is None:
            try:  # needs a running server or notebook kernel; tests step by hand
                ticker["cb"] = pn.state.add_periodic_callback(tick, period=100)
            except Exception:  # noqa: BLE001 - no event loop: nothing to schedule on
                ticker.pop("cb", None)

    editor.param.watch(lambda event: run(True), "value")
    method.param.watch(lambda event: run(True), "value")
    sampler.param.watch(lambda event: run(True), "value")
    run(first_step=False)   # the first render shows at once; ticks train the NN and run it
    layout = pn.Column(
        pn.pane.Markdown("## BlazeIt: FrameQL over video\nA synthetic traffic camera "
                         f"({s.n_frames} frames; oracle: detector with a known noise model)."),
        pn.Row(pn.Column(editor, method, sampler, text, plot), pn.Column(video, player)),
    )
    layout.live = live
    return layout


if pn.state.served:
    app().servable()
