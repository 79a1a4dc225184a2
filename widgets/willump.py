"""Willump explorer: feature-group costs and importances, the cascade's threshold, the top-K ratio.

Choose a data set (binary tweets, or the 26-class letters) and a size; **Run**
tunes a :class:`dawnlab.willump.Willump` optimizer on it (Kraft et al., arXiv
1906.01974, Sections 4-5) and shows:

- per feature group, its share of the measured cost and its permutation
  importance, the cascade's cheap groups marked;
- against the confidence threshold, the held-out accuracy of the cascade on the
  chosen cheap groups, the p-value of the one-sided McNemar test against the
  full model (the dashed line is alpha) and the expected throughput; the chosen
  threshold is marked, and the slider reads every figure at any threshold, with
  the optimizer's own verdict on it (its table's ``accepted``: the test, and with
  a maximum accuracy drop set, the fixed-sequence bound on the drop too);
- the top-K precision against the ratio ``c``: the mean over bootstrap
  resamples and the fraction of resamples reaching 0.95, the tuned ``c`` marked.

All computation is :mod:`dawnlab.willump`; :class:`WillumpExplorer` (a
``param.Parameterized``) holds settings and results as data frames, and
:func:`app` lays it out.  ``panel serve widgets/willump.py`` serves it.
"""

from __future__ import annotations

import threading

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param

pn.extension(sizing_mode="stretch_width")
hv.extension("bokeh", logo=False, inline=True)  # no CDN: an offline JupyterLab renders it

__all__ = ["WillumpExplorer", "app"]

DATASETS = ["tweets", "letters"]


@pn.cache
def _fit(dataset: str, n_rows: int, alpha: float, seed: int, max_drop: float | None = None):
    from dawnlab import data
    from dawnlab.willump import Willump, letters_pipeline, load_tweets, tweets_pipeline

    if dataset == "tweets":
        X, y = load_tweets("binary", n=n_rows, seed=seed)
        pipe = tweets_pipeline(max_char_features=30_000)
    else:
        ds = data.load_letters()
        idx = np.random.default_rng(seed).permutation(len(ds.y))[:n_rows]
        X, y = ds.X[idx].astype(float), ds.y[idx]
        pipe = letters_pipeline(n_fourier=300, seed=seed)
    return Willump(pipe, alpha=alpha, seed=seed, progress=False, n_repeats=2, max_drop=max_drop).fit(X, y)


class WillumpExplorer(param.Parameterized):
    """Settings and results of one Willump tuning run."""

    dataset = param.Selector(default="tweets", objects=DATASETS, doc="Offline data set")
    n_rows = param.Integer(default=2000, bounds=(300, 20000), doc="Rows used to fit and tune")
    alpha = param.Number(default=0.05, bounds=(0.001, 0.5), doc="Level of the accuracy test")
    max_drop = param.Selector(default=None, objects=[None, 0.005, 0.01, 0.02, 0.05], label="Max accuracy drop",
                              doc="None: McNemar's test only; a fraction: also a bound on the true drop")
    threshold = param.Number(default=0.8, bounds=(0.6, 1.0), step=0.025, doc="Confidence threshold to inspect")
    seed = param.Integer(default=0, bounds=(0, None), doc="Seed")
    run = param.Action(lambda self: self.start(), label="Run")

    status = param.String(default="Press Run to tune the optimizer.")
    groups = param.DataFrame(default=pd.DataFrame(columns=["group", "cost_share", "importance", "selected"]))
    curve = param.DataFrame(default=pd.DataFrame(columns=["threshold", "score", "pvalue", "throughput",
                                                           "accepted", "drop_bound"]))
    topk = param.DataFrame(default=pd.DataFrame(columns=["c", "mean_precision", "frac_ok"]))
    chosen = param.Dict(default={})

    @param.depends("dataset", "n_rows", "alpha", "max_drop")
    def plan(self) -> str:
        """What a Run will do."""
        task = "positive vs negative tweets" if self.dataset == "tweets" else "26-class letters"
        margin = ("" if self.max_drop is None else
                  f", and whose accuracy drop is bounded by {self.max_drop:g} at that level, jointly over every "
                  "cheap subset of the groups")
        return (f"**Plan:** tune a cascade and a top-K plan on {self.n_rows} rows of {task}, "
                f"accepting only cascades that McNemar's one-sided test at alpha = {self.alpha:g} "
                f"does not find less accurate than the full pipeline{margin}. The tested models are the deployed "
                f"ones (no refit on all rows).")

    # -- running -------------------------------------------------------------
    def start(self) -> None:
        """Run :meth:`compute` in a background thread (used by the Run button)."""
        threading.Thread(target=self.compute, daemon=True).start()

    def compute(self) -> None:
        """Fit the optimizer and fill the result frames."""
        try:
            self.status = "measuring costs and importances, tuning ..."
            w = _fit(self.dataset, self.n_rows, self.alpha, self.seed, self.max_drop)
            self.show(w)
            self.status = "done"
        except Exception as exc:  # shown to the user, not swallowed
            self.status = f"error: {exc}"
            raise

    def show(self, w) -> None:
        """Fill the frames from a fitted :class:`dawnlab.willump.Willump`."""
        cas = w.cascade_
        groups = w.groups_[["group", "cost_share", "importance", "selected"]].copy()
        table = cas.table
        subset = cas.groups or (table.groups.iloc[0] if len(table) else ())
        rows = table[table.groups == subset] if len(table) else table
        curve = pd.DataFrame({"threshold": rows.threshold, "score": rows.score, "pvalue": rows.pvalue,
                              "throughput": 1.0 / rows.expected_cost,
                              "frac_confident": rows.frac_confident,
                              # the optimizer's verdict: the test, and the drop bound with max_drop set
                              "accepted": rows.accepted.astype(bool),
                              "drop_bound": rows.drop_bound}).reset_index(drop=True)
        tk = w.topk_.curve
        topk = tk[tk.groups == w.topk_.groups][["c", "mean_precision", "frac_ok"]].reset_index(drop=True)
        chosen = {"groups": list(cas.groups), "threshold": cas.threshold, "pvalue": cas.pvalue,
                  "score": cas.score_cascade, "score_full": cas.score_full, "alpha": cas.alpha,
                  "full_throughput": 1.0 / cas.full_cost if cas.full_cost > 0 else float("nan"),
                  "throughput": 1.0 / cas.expected_cost if cas.expected_cost > 0 else float("nan"),
                  "max_drop": w.max_drop, "c": w.topk_.c, "topk_precision": w.topk_precision,
                  "topk_quantile": w.topk_quantile, "subset": list(subset)}
        update = {"groups": groups, "curve": curve, "topk": topk, "chosen": chosen}
        if cas.active:
            update["threshold"] = float(np.clip(cas.threshold, 0.6, 1.0))
        # all at once: a view shown inline or served re-renders on each change, and a new curve
        # beside the old, empty ``chosen`` made the read-out fail (status "error: 'groups'")
        self.param.update(**update)

    # -- read-outs -----------------------------------------------------------
    def at_threshold(self) -> dict:
        """The curve's figures at the inspected threshold (the nearest tuned one)."""
        if self.curve.empty:
            return {}
        i = int(np.argmin(np.abs(self.curve.threshold.to_numpy() - self.threshold)))
        return self.curve.iloc[i].to_dict()

    @param.depends("threshold", "curve", "chosen")
    def readout(self) -> str:
        r = self.at_threshold()
        if not r:
            return "Run to see the held-out accuracy, the test's p-value and the throughput at each threshold."
        c = self.chosen
        if r["accepted"]:
            verdict = "accepted"
        elif r["pvalue"] < c["alpha"]:
            verdict = "rejected (significant loss)"
        else:  # the test passes, but the drop bound here or at a higher threshold exceeds max_drop
            verdict = (f"rejected (drop bound {r['drop_bound']:.3f}, here or at a higher threshold, "
                       f"above the max drop {c['max_drop']:g})")
        chosen = (f"chosen: {'+'.join(c['groups'])} at threshold {c['threshold']:.3f}" if c["groups"]
                  else "no cascade accepted: every row gets all features")
        return (f"**At threshold {r['threshold']:.3f}** on {'+'.join(c['subset'])}: held-out accuracy "
                f"{r['score']:.4f} (full {c['score_full']:.4f}), p = {r['pvalue']:.3g} ({verdict}), "
                f"{r['frac_confident']:.0%} of rows answered cheaply, expected {r['throughput']:,.0f} rows/s "
                f"(full pipeline {c['full_throughput']:,.0f}). {chosen}; top-K ratio c = {c['c']:g}.")

    # -- views ---------------------------------------------------------------
    @param.depends("groups")
    def groups_plot(self):
        df = self.groups
        if df.empty:
            df = pd.DataFrame({"group": ["(run)"], "cost_share": [0.0], "importance": [0.0], "selected": [False]})
        long = pd.concat([
            pd.DataFrame({"group": df.group + np.where(df.selected, " (cheap)", ""), "measure": "cost share",
                          "value": df.cost_share}),
            pd.DataFrame({"group": df.group + np.where(df.selected, " (cheap)", ""), "measure": "importance",
                          "value": df.importance})])
        return hv.Bars(long, ["group", "measure"], "value").opts(
            title="feature groups: cost share and permutation importance ((cheap) = the cascade's groups)",
            responsive=True, min_height=300, tools=["hover"], multi_level=True)

    @param.depends("curve", "threshold", "chosen")
    def threshold_plot(self):
        df = self.curve
        if df.empty:
            return hv.Curve([], "threshold", "value").opts(title="held-out accuracy and p-value (after Run)",
                                                          responsive=True, min_height=300)
        acc = hv.Curve(df, "threshold", "score", label="held-out accuracy").opts(tools=["hover"])
        p = hv.Curve(df, "threshold", "pvalue", label="McNemar p-value").opts(tools=["hover"])
        alpha = hv.HLine(self.chosen["alpha"]).opts(line_dash="dashed", color="gray")
        now = hv.VLine(self.threshold).opts(color="black")
        layers = [acc, p, alpha, now]
        if self.chosen["groups"]:
            c = df.iloc[int(np.argmin(np.abs(df.threshold - self.chosen["threshold"])))]
            layers.append(hv.Scatter([(c.threshold, c.score)], "threshold", "score", label="chosen").opts(
                size=10, marker="star", color="red"))
        left = hv.Overlay(layers).opts(title="accuracy and test p-value against the threshold", responsive=True,
                                       min_height=300, legend_position="right", ylim=(0, 1.05))
        right = (hv.Curve(df, "threshold", "throughput", label="expected rows/s").opts(tools=["hover"])
                 * hv.HLine(self.chosen["full_throughput"]).opts(color="gray", line_dash="dotted")
                 * hv.VLine(self.threshold).opts(color="black")).opts(
            title="expected throughput (dotted: full pipeline)", responsive=True, min_height=300)
        return (left + right).cols(2)

    @param.depends("topk", "chosen")
    def topk_plot(self):
        df = self.topk
        if df.empty:
            return hv.Curve([], "c", "precision").opts(title="top-K precision against c (after Run)",
                                                      responsive=True, min_height=300)
        mean = hv.Curve(df, "c", "mean_precision", label="mean precision").opts(tools=["hover"])
        # the optimizer's own target precision and quantile, not fixed 0.95 / 0.99
        ok = hv.Curve(df, "c", "frac_ok", label=f"resamples with precision >= {self.chosen['topk_precision']:g}"
                      ).opts(tools=["hover"])
        return (mean * ok * hv.VLine(self.chosen["c"]).opts(color="red") * hv.HLine(
                self.chosen["topk_quantile"]).opts(
            color="gray", line_dash="dashed")).opts(title="top-K: precision against the ratio c (red: tuned c)",
                                                     logx=True, responsive=True, min_height=300,
                                                     legend_position="right", ylim=(0, 1.05))


def app(explorer: WillumpExplorer | None = None) -> pn.viewable.Viewable:
    """The explorer's layout (inline in a notebook, or served)."""
    ex = explorer or WillumpExplorer()
    controls = pn.Param(ex, parameters=["dataset", "n_rows", "alpha", "max_drop", "threshold", "seed", "run"],
                        widgets={"dataset": {"type": pn.widgets.Select, "css_classes": ["willump-dataset"]},
                                 "threshold": {"type": pn.widgets.FloatSlider, "css_classes": ["willump-threshold"]},
                                 "run": {"type": pn.widgets.Button, "css_classes": ["willump-run"]}},
                        show_name=False, width=300, sizing_mode="stretch_height")
    status = pn.pane.Markdown(ex.param.status, css_classes=["willump-status"])
    plan = pn.pane.Markdown(ex.plan, css_classes=["willump-plan"])
    readout = pn.pane.Markdown(ex.readout, css_classes=["willump-readout"])
    return pn.Row(
        controls,
        pn.Column("## Willump: cascades, top-K and feature caching", plan, status, readout,
                  ex.groups_plot, ex.threshold_plot, ex.topk_plot),
    )


if pn.state.served:
    app().servable(title="dawnlab: Willump")
