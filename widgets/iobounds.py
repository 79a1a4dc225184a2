"""I/O bounds explorer: pick a computation graph, slide the fast memory M, and
see its Laplacian spectrum, the spectral bound as a function of k (maximum
marked), every lower bound and the best schedule's I/O against M, and the
graph itself when it is small.

Library: :mod:`dawnlab.iobounds` (arXiv 1909.09791).  Inline in a notebook:
``from widgets.iobounds import app; app()``; served:
``panel serve widgets/iobounds.py``.

The size slider's range is each source's real range (it changes with the
source; nothing is clamped behind the user's back), and the M slider starts
at the graph's smallest legal fast memory (the largest in-degree + 1); when a
change of graph raises M, the summary says so.  The heavy views run on
Panel's thread pool (``pn.config.nthreads``), off the server's event loop, and
show a spinner while they compute.  The default (the 32-vertex FFT at M = 4)
opens on a nonzero sandwich: the partitioned ILP bound below the best
schedule.
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

pn.extension(sizing_mode="stretch_width", loading_indicator=True)
if not pn.config.nthreads:  # callbacks on a thread pool: one slow view never blocks the server
    pn.config.nthreads = 2
hv.extension("bokeh", logo=False, inline=True)  # no CDN: an offline JupyterLab renders it

SOURCES = ["fft", "hypercube", "matmul", "strassen", "dct", "stencil-1d", "stencil-2d",
           "erdos-renyi", "traced: x^T A x", "traced: torch MLP"]
#: The size range of each source: what the slider offers (each computes in seconds).
SIZE_RANGES = {"fft": (1, 7), "hypercube": (2, 10), "matmul": (1, 6), "strassen": (1, 4),
               "dct": (1, 4), "stencil-1d": (2, 24), "stencil-2d": (2, 6), "erdos-renyi": (2, 60),
               "traced: x^T A x": (1, 8), "traced: torch MLP": (1, 4)}

#: Parts of the ILP bound shown in the summary, and the seconds each may take.
ILP_PART, ILP_SECONDS = 16, 2.0


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
    lo, hi = SIZE_RANGES[source]
    if not lo <= size <= hi:
        raise ValueError(f"size {size} is outside the range [{lo}, {hi}] of source {source!r}")
    if source == "strassen":
        size = 2 ** int(np.log2(size))  # a power of 2; the summary says which n was used
    return iob.graphs.build(source, size)


def effective_memory(G, M: int) -> int:
    """``M``, or the smallest legal fast memory of ``G`` if ``M`` is below it."""
    return max(int(M), iob.min_memory(G))


@pn.cache
def sandwich_for(source: str, size: int, M: int) -> dict:
    """Lower bounds (spectral, partitioned ILP) and the best schedule at ``M``."""
    G = graph_for(source, size)
    M = effective_memory(G, M)
    spec = iob.spectral_bound(G, M).value
    ilp = iob.ilp_bound(G, M, part_size=ILP_PART, time_limit=ILP_SECONDS)
    s = iob.schedule_io(G, M)
    return {"M": M, "spectral": spec, "ilp": ilp.value, "ilp_exact": ilp.exact,
            "ilp_parts": len(ilp.parts), "lower": max(spec, ilp.value), "schedule": s.io,
            "order": s.name}


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
        else:
            row[f"ILP (parts <= {ILP_PART})"] = iob.ilp_bound(G, M, part_size=ILP_PART,
                                                             time_limit=ILP_SECONDS).value
        fam = G.graph.get("family")
        if fam == "fft":
            row["Hong-Kung"] = iob.hong_kung_fft(G.graph["l"], M) if G.graph["l"] >= 1 else 0.0
        rows.append(row)
    return pd.DataFrame(rows)


class IOBoundsExplorer(param.Parameterized):
    """State of the explorer: graph source and size, M, and eigenvalues shown."""

    source = param.Selector(default="fft", objects=SOURCES, doc="graph family or traced code")
    # declared over every source; narrowed to the source's own range at once
    size = param.Integer(default=3, bounds=(min(lo for lo, _ in SIZE_RANGES.values()),
                                            max(hi for _, hi in SIZE_RANGES.values())),
                         doc="l for fft/hypercube/dct, n otherwise (range depends on the source)")
    M = param.Integer(default=4, bounds=(3, 64),
                      doc="fast memory size (from the largest in-degree + 1)")
    K = param.Integer(default=16, bounds=(2, 64), doc="eigenvalues shown")
    notes = param.List(default=[], doc="what the explorer changed on its own, and why")

    @param.depends("source", watch=True, on_init=True)
    def _follow_source(self):
        lo, hi = SIZE_RANGES[self.source]
        notes = []
        if not lo <= self.size <= hi:
            new = min(max(self.size, lo), hi)
            notes.append(f"size {self.size} is outside {self.source}'s range [{lo}, {hi}]: "
                         f"set to {new}")
            self.param.size.bounds = (min(lo, self.size), max(hi, self.size))
            self.size = new
        self.param.size.bounds = (lo, hi)
        self._follow_graph(notes)

    @param.depends("size", watch=True)
    def _follow_size(self):
        self._follow_graph([])

    def _follow_graph(self, notes):
        G = self.graph()
        lo = iob.min_memory(G)
        hi = max(64, lo + 32)
        if self.M < lo:
            notes.append(f"M raised from {self.M} to {lo}: this graph has in-degree {lo - 1}, so "
                         f"a vertex and its inputs need {lo} values of fast memory")
            self.param.M.bounds = (min(lo, self.M), hi)
            self.M = lo
        self.param.M.bounds = (lo, hi)
        if self.source == "strassen" and self.size & (self.size - 1):
            notes.append(f"strassen needs a power of 2: n = {2 ** int(np.log2(self.size))} "
                         f"is used for size {self.size}")
        self.notes = notes

    def graph(self) -> nx.DiGraph:
        return graph_for(self.source, self.size)

    def result(self):
        return spectral_for(self.source, self.size, self.M)

    def sandwich(self) -> dict:
        """Best lower bound and best schedule at the current M (see :func:`sandwich_for`)."""
        return sandwich_for(self.source, self.size, self.M)

    def spectrum(self) -> np.ndarray:
        """The first K eigenvalues."""
        return self.result().eigenvalues[: self.K]

    def curve(self) -> pd.DataFrame:
        """The bound with k parts, k = 1..K."""
        c = self.result().curve[: self.K]
        return pd.DataFrame({"k": np.arange(1, len(c) + 1), "bound": c})

    def summary(self) -> str:
        G, r, b = self.graph(), self.result(), self.sandwich()
        ilp = f"{b['ilp']}" + (" (exact)" if b["ilp_exact"] and b["ilp_parts"] == 1 else
                               f" ({b['ilp_parts']} parts of at most {ILP_PART})")
        spec = f"**{r.value:.3f}** (k = {r.k})" if r.value > 0 else (
            "0 (the curve is below 0 for every k at this M)")
        text = (f"**{self.source}**, size {self.size}: {G.number_of_nodes()} vertices, "
                f"{G.number_of_edges()} edges; M = {r.M}.  Lower bounds: spectral {spec}, "
                f"ILP **{ilp}**; best schedule I/O **{b['schedule']}** ({b['order']} order); "
                f"compulsory I/O {r.compulsory}.")
        if self.notes:
            text += "  \n" + "  \n".join(f"*Note: {n}.*" for n in self.notes)
        return text

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
    summary = pn.panel(pn.bind(lambda *_: ex.summary(), ex.param.source, ex.param.size,
                               ex.param.M, ex.param.notes), loading_indicator=True,
                       css_classes=["iob-summary"])
    views = [pn.panel(v, loading_indicator=True)
             for v in (ex.spectrum_view, ex.curve_view, ex.bounds_view, ex.graph_view)]
    return pn.Column(
        pn.pane.Markdown("## I/O lower bounds of computation graphs"),
        pn.Row(pn.Column(controls, width=300, sizing_mode="fixed"),
               pn.Column(summary, pn.Row(*views[:2]), pn.Row(*views[2:]))))


if pn.state.served:
    app().servable(title="dawnlab: I/O bounds")
