"""I/O bounds explorer: pick a computation graph, slide the fast memory M, and
see its Laplacian spectrum, the spectral bound as a function of k (maximum
marked), every lower bound and the best schedule's I/O against M, and the
graph itself when it is small.

Library: :mod:`dawnlab.iobounds` (arXiv 1909.09791).  Inline in a notebook:
``from widgets.iobounds import app; app()``; served:
``panel serve widgets/iobounds.py``.
"""

from __future__ import annotations

import holoviews as hv
import networkx as nx
import numpy as np
import pandas as pd
import panel as pn
import param

import dawnlab.iobounds as iob

__all__ = ["IOBoundsExplorer", "app", "graph_for", "bounds_table"]

pn.extension(sizing_mode="stretch_width")
hv.extension("bokeh", logo=False)

SOURCES = ["fft", "hypercube", "matmul", "strassen", "dct", "stencil-1d", "stencil-2d",
           "erdos-renyi", "traced: x^T A x", "traced: torch MLP"]
SIZE_LIMITS = {"fft": 8, "hypercube": 10, "matmul": 6, "strassen": 4, "dct": 4,
               "stencil-1d": 24, "stencil-2d": 6, "erdos-renyi": 60}


def _quadratic_form(x, A):
    return x @ (A @ x)


@pn.cache
def graph_for(source: str, size: int) -> nx.DiGraph:
    """The graph a source name and size stand for."""
    if source == "traced: x^T A x":
        return iob.trace_function(_quadratic_form, (size,), (size, size))
    if source == "traced: torch MLP":
        import torch
        layers = []
        for _ in range(max(1, size)):
            layers += [torch.nn.Linear(8, 8), torch.nn.ReLU()]
        return iob.trace_module(torch.nn.Sequential(*layers))
    size = min(size, SIZE_LIMITS[source])
    if source == "strassen":
        size = 2 ** max(0, int(np.log2(max(1, size))))
    return iob.graphs.build(source, size)


@pn.cache
def spectral_for(source: str, size: int, M: int):
    G = graph_for(source, size)
    return iob.spectral_bound(G, max(M, iob.min_memory(G)))


@pn.cache
def bounds_table(source: str, size: int, m_points: int = 5) -> pd.DataFrame:
    """Lower bounds and the best schedule's I/O for a range of M."""
    G = graph_for(source, size)
    lo = iob.min_memory(G)
    Ms = sorted(set(np.unique(np.geomspace(lo, max(lo + 1, 4 * lo + 16), m_points).round()
                              .astype(int)).tolist()))
    rows = []
    n = G.number_of_nodes()
    for M in Ms:
        row = {"M": M, "spectral": iob.spectral_bound(G, M).value,
               "convex min-cut": iob.convex_mincut_bound(G, M, max_vertices=30).value,
               "schedule (upper)": iob.schedule_io(G, M).io}
        if n <= 12:
            row["ILP (exact)"] = iob.ilp_bound(G, M, time_limit=5).value
        fam = G.graph.get("family")
        if fam == "fft":
            row["Hong-Kung"] = iob.hong_kung_fft(G.graph["l"], M) if G.graph["l"] >= 1 else 0.0
        rows.append(row)
    return pd.DataFrame(rows)


class IOBoundsExplorer(param.Parameterized):
    """State of the explorer: graph source and size, M, and eigenvalues shown."""

    source = param.Selector(default="fft", objects=SOURCES, doc="graph family or traced code")
    size = param.Integer(default=3, bounds=(1, 12), doc="l for fft/hypercube/dct, n otherwise")
    M = param.Integer(default=4, bounds=(2, 64), doc="fast memory size")
    K = param.Integer(default=16, bounds=(2, 64), doc="eigenvalues shown")

    def graph(self) -> nx.DiGraph:
        return graph_for(self.source, self.size)

    def result(self):
        return spectral_for(self.source, self.size, self.M)

    def spectrum(self) -> np.ndarray:
        """The first K eigenvalues."""
        return self.result().eigenvalues[: self.K]

    def curve(self) -> pd.DataFrame:
        """The bound with k parts, k = 1..K."""
        c = self.result().curve[: self.K]
        return pd.DataFrame({"k": np.arange(1, len(c) + 1), "bound": c})

    def summary(self) -> str:
        G, r = self.graph(), self.result()
        s = iob.schedule_io(G, r.M)
        return (f"**{self.source}**, size {self.size}: {G.number_of_nodes()} vertices, "
                f"{G.number_of_edges()} edges; M = {r.M}.  "
                f"Spectral bound **{r.value:.3f}** (k = {r.k}); best schedule I/O "
                f"**{s.io}** ({s.name} order); compulsory I/O {r.compulsory}.")

    @param.depends("source", "size", "M", "K")
    def spectrum_view(self):
        lam = self.spectrum()
        return hv.Scatter((np.arange(1, len(lam) + 1), lam), "i", "eigenvalue").opts(
            title="Laplacian spectrum (smallest eigenvalues)", size=6, height=260, responsive=True)

    @param.depends("source", "size", "M", "K")
    def curve_view(self):
        df = self.curve()
        best = df.iloc[int(df.bound.values.argmax())]
        return (hv.Curve(df, "k", "bound") * hv.Scatter([(best.k, best.bound)]).opts(
            color="red", size=10)).opts(title="spectral bound vs k (max in red)", height=260,
                                        responsive=True)

    @param.depends("source", "size")
    def bounds_view(self):
        df = bounds_table(self.source, self.size)
        curves = [hv.Curve(df, "M", col, label=col).opts(line_dash="dashed" if "upper" in col else "solid")
                  for col in df.columns if col != "M"]
        return hv.Overlay(curves).opts(title="bounds and schedule I/O vs M", height=300,
                                       responsive=True, legend_position="top_right", ylabel="I/O")

    @param.depends("source", "size")
    def graph_view(self):
        G = self.graph()
        if G.number_of_nodes() > 80:
            return pn.pane.Markdown(f"(graph of {G.number_of_nodes()} vertices not drawn)")
        layers = {v: i for i, gen in enumerate(nx.topological_generations(G)) for v in gen}
        nx.set_node_attributes(G, layers, "layer")
        pos = nx.multipartite_layout(G, subset_key="layer")
        H = nx.convert_node_labels_to_integers(G)
        pos = {i: pos[v] for i, v in enumerate(G.nodes)}
        return hv.Graph.from_networkx(H, pos).opts(title="computation graph", height=300,
                                                   responsive=True, directed=True, arrowhead_length=0.01,
                                                   node_size=6, xaxis=None, yaxis=None)


def app(explorer: IOBoundsExplorer | None = None) -> pn.viewable.Viewable:
    """The explorer's layout."""
    ex = explorer or IOBoundsExplorer()
    controls = pn.Param(ex.param, parameters=["source", "size", "M", "K"], show_name=False,
                        widgets={"source": {"type": pn.widgets.Select, "css_classes": ["iob-source"]},
                                 "size": {"type": pn.widgets.IntSlider, "css_classes": ["iob-size"]},
                                 "M": {"type": pn.widgets.IntSlider, "css_classes": ["iob-M"]},
                                 "K": {"type": pn.widgets.IntSlider, "css_classes": ["iob-K"]}})
    summary = pn.pane.Markdown(pn.bind(lambda *_: ex.summary(), ex.param.source, ex.param.size,
                                       ex.param.M), css_classes=["iob-summary"])
    return pn.Column(
        pn.pane.Markdown("## I/O lower bounds of computation graphs"),
        pn.Row(pn.Column(controls, width=300, sizing_mode="fixed"),
               pn.Column(summary, pn.Row(ex.spectrum_view, ex.curve_view),
                         pn.Row(ex.bounds_view, ex.graph_view))))


if pn.state.served:
    app().servable(title="dawnlab: I/O bounds")
