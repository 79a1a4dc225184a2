"""Mozart explorer: the captured graph of a workload, its stages, and measured time against piece size.

Choose one of the seven workloads (:mod:`dawnlab.mozart.workloads`), a data
size, a piece size and a number of workers.  The page shows the plan that
:func:`dawnlab.mozart.explain` prints for the workload's captured calls
(Palkar and Zaharia, arXiv 1810.12297, Sections 4-5): its stages, every call's
split types, which values are kept, why each stage ends, and the piece size.
**Measure** times the workload through Mozart at piece sizes 2^8 ... 2^20
(and the automatic one) beside the plain library in the same rounds, and plots
time against piece size: the time climbs where a piece's working set no
longer fits the L2 cache (the dashed line marks the piece size whose values
fill it) and where pieces are so small that per-call overhead dominates.

All computation is :mod:`dawnlab.mozart`; :class:`MozartExplorer` (a
``param.Parameterized``) holds the settings and the measured sweep as a data
frame, and :func:`app` lays it out.  ``panel serve widgets/mozart.py`` serves it
(the served page measures a 2^18-element Black-Scholes sweep as it opens).
"""

from __future__ import annotations

import threading

import holoviews as hv
import pandas as pd
import panel as pn
import param

pn.extension("tabulator", sizing_mode="stretch_width")
hv.extension("bokeh", logo=False, inline=True)  # no CDN: an offline JupyterLab renders it

__all__ = ["MozartExplorer", "app"]

WORKLOAD_NAMES = ["blackscholes", "haversine", "nbody", "shallow_water", "data_cleaning", "crime_index",
                  "birth_analysis"]
SIZES = {"blackscholes": 1 << 20, "haversine": 1 << 20, "nbody": 512, "shallow_water": 512,
         "data_cleaning": 200_000, "crime_index": 400_000, "birth_analysis": 200_000}


def _cores() -> int:
    from dawnlab.parallel import default_workers

    return default_workers()


class MozartExplorer(param.Parameterized):
    """Settings, the plan and the measured piece-size sweep of one workload."""

    workload = param.Selector(default="blackscholes", objects=WORKLOAD_NAMES, doc="Workload")
    n = param.Integer(default=1 << 20, bounds=(64, 1 << 24), doc="Elements, rows, bodies or grid side")
    log2_piece = param.Integer(default=14, bounds=(8, 20), doc="Piece size (log2 elements) for the plan")
    auto_piece = param.Boolean(default=True, doc="Use the automatic piece size (from the L2 cache)")
    workers = param.Integer(default=2, bounds=(1, 64), doc="Worker threads")
    repeats = param.Integer(default=1, bounds=(1, 9), doc="Timing rounds per piece size")
    measure = param.Action(lambda self: self.start(), label="Measure")

    status = param.String(default="Press Measure to time the workload against piece size.")
    sweep = param.DataFrame(default=pd.DataFrame(columns=["piece_size", "seconds", "plain_seconds", "speedup",
                                                          "automatic"]))

    def __init__(self, **params):
        self._generation = 0  # bumped on a workload change; a sweep of an earlier one stops
        super().__init__(**params)
        self.param.workers.bounds = (1, max(1, _cores()))
        if self.workers > _cores():
            self.workers = _cores()

    @param.depends("workload", watch=True)
    def _default_size(self):
        self._generation += 1  # a sweep still running for the old workload stops writing
        self.param.update(n=SIZES[self.workload], sweep=self.param.sweep.default.copy(),
                          status="Press Measure to time the workload against piece size.")

    @property
    def piece_size(self) -> int | None:
        return None if self.auto_piece else 1 << self.log2_piece

    def _lazy(self, n: int | None = None):
        from dawnlab.mozart.workloads import WORKLOADS

        w = WORKLOADS[self.workload]
        size = n or self.n
        out = w.lazy(w.data(size, seed=0))
        return out if isinstance(out, (list, tuple)) else [out]

    @param.depends("workload", "n", "log2_piece", "auto_piece", "workers")
    def plan_text(self) -> str:
        """``explain()`` of the workload's captured calls at the chosen piece size and workers."""
        from dawnlab.mozart import explain

        values = self._lazy()
        return explain(values, piece_size=self.piece_size, workers=self.workers)

    def stages(self) -> pd.DataFrame:
        """One row per call of the plan (stage, call, split types, kept, why the stage ends)."""
        from dawnlab.mozart.sweep import stage_table

        return pd.DataFrame(stage_table(self._lazy()))

    @param.depends("workload", "n", "log2_piece", "auto_piece", "workers")
    def stage_view(self):
        return pn.widgets.Tabulator(self.stages(), show_index=False, disabled=True, height=260,
                                    css_classes=["mozart-stages"], layout="fit_data_stretch")

    @param.depends("workload", "n", "log2_piece", "auto_piece", "workers")
    def plan_view(self):
        return pn.pane.Markdown("```\n" + self.plan_text() + "\n```", css_classes=["mozart-plan"])

    # -- measuring ------------------------------------------------------------------------------------
    def start(self) -> None:
        """Run :meth:`compute` in a background thread (the Measure button)."""
        doc = pn.state.curdoc
        # served: the sweep's updates run on the server's event loop, between the user's own events
        self._doc = doc if doc is not None and doc.session_context is not None else None
        threading.Thread(target=self.compute, daemon=True).start()

    def _publish(self, generation: int, **values) -> None:
        """Set ``values`` unless the workload changed since the sweep began (on the event loop if served)."""
        def apply():
            if generation == self._generation:
                self.param.update(**values)
        doc = getattr(self, "_doc", None)
        if doc is not None:
            doc.add_next_tick_callback(apply)
        else:
            apply()

    def compute(self, piece_sizes: list[int] | None = None) -> None:
        """Time the workload at each piece size (rows arrive one by one into :attr:`sweep`)."""
        from dawnlab.mozart.sweep import piece_size_sweep

        sizes = piece_sizes or [1 << k for k in range(8, 21, 2)]
        rows = []
        generation = self._generation
        try:
            for row in piece_size_sweep(self.workload, self.n, sizes, workers=self.workers, repeats=self.repeats):
                if generation != self._generation:  # the workload changed: this sweep is not its
                    return
                rows.append(row)
                self._publish(generation, sweep=pd.DataFrame(rows),
                              status=f"measured {len(rows)} of {len(sizes) + 1} piece sizes ...")
            if generation != self._generation:
                return
            done = pd.DataFrame(rows)
            best = done.loc[done.seconds.idxmin()]
            auto = done[done.automatic].iloc[0]
            self._publish(generation, status=(
                f"done: best piece size {int(best.piece_size):,} ({best.speedup:.2f}x over plain); "
                f"automatic {int(auto.piece_size):,} ({auto.speedup:.2f}x), on {self.workers} worker(s)"))
        except Exception as exc:  # shown to the user, not swallowed
            self._publish(generation, status=f"error: {exc}")
            raise

    def cache_cliff(self) -> float:
        """The piece size whose values fill the L2 cache (elements), from the plan's bytes per element."""
        from dawnlab.mozart import l2_cache_bytes, runtime

        if runtime.LAST_RUN and runtime.LAST_RUN[0].get("bytes_per_element"):
            bpe = runtime.LAST_RUN[0]["bytes_per_element"]
        else:
            bpe = 8.0
        return l2_cache_bytes() / max(bpe, 1.0)

    @param.depends("sweep", "log2_piece", "auto_piece")
    def sweep_plot(self):
        df = self.sweep
        if df.empty:
            return hv.Curve([(256, 0.0)], "piece_size", "seconds").opts(
                title="time against piece size (press Measure)", responsive=True, min_height=320, logx=True,
                alpha=0)
        fixed = df[~df.automatic.astype(bool)]
        curve = hv.Curve(fixed, "piece_size", "seconds", label="Mozart").opts(tools=["hover"])
        dots = hv.Scatter(fixed, "piece_size", "seconds").opts(size=6)
        plain = hv.HLine(float(df.plain_seconds.median())).opts(color="gray", line_dash="dotted")
        auto = df[df.automatic.astype(bool)]
        layers = [curve, dots, plain]
        if not auto.empty:
            layers.append(hv.Scatter(auto, "piece_size", "seconds", label="automatic").opts(
                size=12, marker="star", color="red"))
        layers.append(hv.VLine(self.cache_cliff()).opts(color="orange", line_dash="dashed"))
        if not self.auto_piece:
            layers.append(hv.VLine(float(1 << self.log2_piece)).opts(color="black"))
        return hv.Overlay(layers).opts(
            title="measured time against piece size (dotted: plain library; dashed: values fill L2)",
            responsive=True, min_height=320, logx=True, legend_position="right")


def app(explorer: MozartExplorer | None = None, measure_on_load: bool = False) -> pn.viewable.Viewable:
    """The explorer's layout (inline in a notebook, or served); ``measure_on_load`` starts a sweep at once."""
    ex = explorer or MozartExplorer()
    if measure_on_load:
        pn.state.onload(ex.start)
    controls = pn.Param(ex, parameters=["workload", "n", "auto_piece", "log2_piece", "workers", "repeats",
                                        "measure"],
                        widgets={"workload": {"type": pn.widgets.Select, "css_classes": ["mozart-workload"]},
                                 "log2_piece": {"type": pn.widgets.IntSlider, "css_classes": ["mozart-piece"]},
                                 "workers": {"type": pn.widgets.IntSlider, "css_classes": ["mozart-workers"]},
                                 "measure": {"type": pn.widgets.Button, "css_classes": ["mozart-measure"]}},
                        show_name=False, width=300, sizing_mode="stretch_height")
    status = pn.pane.Markdown(ex.param.status, css_classes=["mozart-status"])
    return pn.Row(
        controls,
        pn.Column("## Mozart: split annotations, stages and piece size", status, ex.sweep_plot,
                  ex.plan_view, ex.stage_view),
    )


if pn.state.served:
    app(MozartExplorer(n=1 << 18), measure_on_load=True).servable(title="dawnlab: Mozart")
