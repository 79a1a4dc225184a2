"""FlexFlow explorer: a model on a cluster, its strategy, its simulated timeline, the MCMC search.

Choose a model, a cluster and the weight synchronisation model (ring all-reduce,
the default, or parameter server); see the per-operator strategy (SOAP
configuration and devices), a device timeline (Gantt, in ms, coloured by task
kind) of one simulated training iteration (the paper's ready-time queues) and
the iteration time against data parallelism, model parallelism and the expert
strategy.  Pick one operator and a new configuration: delta simulation
(arXiv 1807.05358, Section 5.3) gives the new time at once.  **Search** runs the
MCMC optimizer (Section 6) round by round and draws its trace live.

All computation is :mod:`dawnlab.flexflow`; :class:`FlexFlowExplorer` (a
``param.Parameterized``) holds the settings and results, :func:`app` lays it out.
``panel serve widgets/flexflow.py`` serves it.
"""

from __future__ import annotations

import threading

import holoviews as hv
import pandas as pd
import panel as pn
import param

from dawnlab.flexflow import Machine, Simulator, Strategy, benchmarks, search
from dawnlab.flexflow.soap import OpConfig, valid_degrees

pn.extension("tabulator", sizing_mode="stretch_width")
hv.extension("bokeh", logo=False, inline=True)  # no CDN: an offline JupyterLab renders it

__all__ = ["FlexFlowExplorer", "app"]

MODELS = ["alexnet", "inception_v3", "resnet101", "rnntc", "rnnlm", "nmt", "transformer"]
CLUSTERS = ["p100x4", "p100x16", "h100x8", "k80x64"]
STARTS = ["data_parallel", "expert", "model_parallel"]
SMALL_RNN = {"seq_len": 8, "hidden": 256, "vocab": 2000}
#: Gantt colours per task kind (shown in its legend).
COLOURS = {"forward": "#1f77b4", "backward": "#ff7f0e", "transfer": "#2ca02c", "sync": "#d62728"}


@pn.cache
def _graph(model: str, per_device_batch: int, devices: int):
    batch = per_device_batch * devices
    if model in ("rnntc", "rnnlm", "nmt"):
        return benchmarks.build(model, batch, **SMALL_RNN)
    if model == "transformer":
        return benchmarks.transformer(batch, layers=2, d_model=256, heads=8, seq_len=64, vocab=4000)
    return benchmarks.build(model, batch)


@pn.cache
def _machine(name: str) -> Machine:
    return Machine.preset(name)


def _label(op, cfg: OpConfig) -> str:
    return f"{cfg.label(op.dims)} @ {cfg.devices[0]}" + (f"..{cfg.devices[-1]}" if cfg.pieces > 1 else "")


class FlexFlowExplorer(param.Parameterized):
    """Settings and results of one model on one cluster."""

    model = param.Selector(default="alexnet", objects=MODELS, doc="DNN (the paper's benchmarks)")
    cluster = param.Selector(default="p100x16", objects=CLUSTERS, doc="Cluster model (p100x16: the paper's)")
    sync = param.Selector(default="ring", objects=["ring", "ps"],
                          doc="Weight synchronisation: ring all-reduce or parameter server")
    per_device_batch = param.Integer(default=32, bounds=(1, 256), doc="Samples per device")
    start = param.Selector(default="data_parallel", objects=STARTS, doc="Strategy to start from")
    op = param.Selector(default="fc6", objects=["fc6"], doc="Operator to reconfigure")
    config = param.Selector(default="", objects=[""], doc="New configuration of the operator")
    budget = param.Integer(default=200, bounds=(10, 5000), doc="MCMC proposals per chain")
    chains = param.Integer(default=2, bounds=(1, 8), doc="MCMC chains")
    search_button = param.Action(lambda self: self.start_search(), label="Search")

    iteration_time = param.Number(default=0.0)
    baselines = param.DataFrame(default=pd.DataFrame())
    tasks = param.DataFrame(default=pd.DataFrame())
    strategy_table = param.DataFrame(default=pd.DataFrame())
    trace = param.DataFrame(default=pd.DataFrame(columns=["chain", "step", "best", "current"]))
    status = param.String(default="")

    def __init__(self, **params):
        super().__init__(**params)
        self._sim = None
        self._reset()

    # -- state ------------------------------------------------------------------
    def graph(self):
        return _graph(self.model, self.per_device_batch, _machine(self.cluster).num_devices)

    def machine(self) -> Machine:
        return _machine(self.cluster)

    @param.depends("model", "cluster", "per_device_batch", "start", "sync", watch=True)
    def _reset(self):
        g, m = self.graph(), self.machine()
        self._sim = Simulator(g, m, sync=self.sync)
        rows = []
        for name in STARTS:
            t = self._sim.simulate(getattr(Strategy, name)(g, m), record=False).iteration_time
            rows.append({"strategy": name, "iteration_ms": t * 1e3})
        self.baselines = pd.DataFrame(rows)
        self._show(self._sim.simulate(getattr(Strategy, self.start)(g, m)))
        names = [op.name for op in g if op.kind != "input"]
        pick = next((n for n in names if g[n].kind in ("linear", "lstm_cell")), names[0])
        self.param.op.objects = names
        self.op = pick
        self._choices()
        self.trace = pd.DataFrame(columns=["chain", "step", "best", "current"])
        self.status = (f"{g.name}: {len(g)} operators on {m.name} ({m.num_devices} devices), "
                       f"{self.sync} sync, ready-time queues")

    def _show(self, timeline):
        self.iteration_time = timeline.iteration_time
        self.tasks = timeline.tasks
        self.strategy_table = self._sim.strategy.table()

    @param.depends("op", watch=True)
    def _choices(self):
        g, m = self.graph(), self.machine()
        if self.op not in g.index:
            return
        op = g[self.op]
        labels = [""]
        for deg in valid_degrees(op, m):
            n = 1
            for k in deg:
                n *= k
            labels.append(OpConfig(deg, tuple(range(n))).label(op.dims))
        self.param.config.objects = labels
        self.config = ""

    @param.depends("config", watch=True)
    def _apply(self):
        """Delta-simulate the chosen operator in the chosen configuration."""
        if not self.config or self._sim is None:
            return
        g, m = self.graph(), self.machine()
        op = g[self.op]
        for deg in valid_degrees(op, m):
            n = 1
            for k in deg:
                n *= k
            cfg = OpConfig(deg, tuple(range(n)))
            if cfg.label(op.dims) == self.config:
                self._show(self._sim.update(self.op, cfg))
                self.status = f"{self.op} -> {self.config}: {self.iteration_time * 1e3:.2f} ms (delta simulation)"
                return

    # -- search -------------------------------------------------------------------
    def start_search(self) -> None:
        """Run :meth:`run_search` in a background thread (the Search button)."""
        threading.Thread(target=self.run_search, daemon=True).start()

    def run_search(self) -> None:
        """MCMC search from data parallelism and the expert strategy; live trace."""
        g, m = self.graph(), self.machine()
        rows = []
        try:
            for state in search(g, m, budget=self.budget, chains=self.chains, processes=1, rounds=8,
                                seed=0, sync=self.sync, progress=False):
                rows = [{"chain": f"{r['start']}", "step": r["step"], "best": r["best"] * 1e3,
                         "current": r["current"] * 1e3} for r in state.trace]
                self.trace = pd.DataFrame(rows)
                self.status = f"search: best {state.best_time * 1e3:.2f} ms after {state.steps} steps"
            self._show(self._sim.simulate(state.best))
            base = self.baselines.set_index("strategy").iteration_ms
            self.status = (f"search done: {state.best_time * 1e3:.2f} ms, "
                           f"{base['data_parallel'] / (state.best_time * 1e3):.2f}x data parallelism, "
                           f"{base['expert'] / (state.best_time * 1e3):.2f}x the expert strategy")
        except Exception as e:  # shown in the widget rather than lost in a thread
            self.status = f"search failed: {e}"

    # -- views -----------------------------------------------------------------------
    @param.depends("tasks")
    def gantt(self):
        """One iteration per device and link, in ms (as the tables), one colour per task kind."""
        t = self.tasks
        xdim, ydim = hv.Dimension("start_ms", label="time (ms)"), hv.Dimension("y", label="device or link")
        if t is None or t.empty:
            return hv.Segments([], [xdim, ydim, "end_ms", "y1"]).opts(height=300)
        devices = list(dict.fromkeys(sorted(t.device, key=lambda d: ("->" in d, d))))
        busy = t[t.end > t.start]
        busy = busy.assign(y=busy.device, y1=busy.device, start_ms=busy.start * 1e3, end_ms=busy.end * 1e3)
        layers = [hv.Segments(busy[busy.kind == kind], [xdim, ydim, "end_ms", "y1"], ["kind", "op"],
                              label=kind).opts(color=COLOURS[kind], line_width=8, tools=["hover"])
                  for kind in COLOURS if (busy.kind == kind).any()]
        return hv.Overlay(layers).opts(height=max(250, 14 * len(devices)), title="One iteration, per device and link",
                                       legend_position="top_right", show_legend=True)

    @param.depends("trace")
    def trace_plot(self):
        x, y = hv.Dimension("step", label="proposals"), hv.Dimension("best", label="best iteration time (ms)")
        if self.trace.empty:
            return hv.Curve([], x, y).opts(height=250, title="MCMC trace (press Search)")
        curves = [hv.Curve(d, x, y, label=str(c)) for c, d in self.trace.groupby("chain")]
        return hv.Overlay(curves).opts(height=250, title="MCMC trace: best iteration time (ms)",
                                       legend_position="top_right")

    @param.depends("iteration_time", "baselines")
    def summary(self):
        rows = "".join(f"<tr><td>{r.strategy}</td><td>{r.iteration_ms:.2f}</td></tr>"
                       for r in self.baselines.itertuples())
        return pn.pane.HTML(f"<div class='ff-time'>Iteration: <b>{self.iteration_time * 1e3:.2f} ms</b></div>"
                            f"<table><tr><th>baseline</th><th>ms</th></tr>{rows}</table>")


def app(explorer: FlexFlowExplorer | None = None) -> pn.viewable.Viewable:
    """The explorer's layout."""
    ex = explorer or FlexFlowExplorer()
    controls = pn.Column(
        pn.pane.Markdown("## FlexFlow: SOAP strategies and the execution simulator"),
        pn.widgets.Select.from_param(ex.param.model, name="Model", css_classes=["ff-model"]),
        pn.widgets.Select.from_param(ex.param.cluster, name="Cluster", css_classes=["ff-cluster"]),
        pn.widgets.Select.from_param(ex.param.sync, name="Weight sync", css_classes=["ff-sync"]),
        pn.widgets.IntSlider.from_param(ex.param.per_device_batch, name="Samples per device"),
        pn.widgets.Select.from_param(ex.param.start, name="Start from"),
        pn.widgets.Select.from_param(ex.param.op, name="Operator", css_classes=["ff-op"]),
        pn.widgets.Select.from_param(ex.param.config, name="New configuration", css_classes=["ff-config"]),
        pn.widgets.IntInput.from_param(ex.param.budget, name="Proposals per chain"),
        pn.widgets.IntInput.from_param(ex.param.chains, name="Chains"),
        pn.widgets.Button.from_param(ex.param.search_button),
        pn.pane.Str(ex.param.status, css_classes=["ff-status"],
                    styles={"white-space": "pre-wrap", "overflow-wrap": "anywhere"}),
        ex.summary, width=320, sizing_mode="stretch_height")
    table = pn.widgets.Tabulator.from_param(ex.param.strategy_table, height=300, disabled=True,
                                            show_index=False, pagination=None, layout="fit_data_fill")
    return pn.Row(controls, pn.Column(ex.gantt, ex.trace_plot, table))


if pn.state.served:
    app().servable(title="FlexFlow explorer")
