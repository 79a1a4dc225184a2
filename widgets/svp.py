"""Selection via Proxy explorer: proxy-, target- and random-driven active learning side by side.

Choose the target and the proxy (depth, width, epochs), the selection method and
the labelling budget; **Run** trains them round by round with live progress and
draws the target's accuracy against the labelled fraction for proxy-selected,
target-selected and random data, the time each selector spent, and a heat map of
Spearman correlations between the uncertainty rankings of the target, the proxy
and a fewer-epochs target (arXiv 1906.11829, Sections 3-4).

All computation is :mod:`dawnlab.svp` (imported on the first Run, so that the
page appears before torch has loaded); :class:`SVPExplorer` (a
``param.Parameterized``) holds the settings and the results as data frames, and
:func:`app` lays it out.  ``panel serve widgets/svp.py`` serves it.
"""

from __future__ import annotations

import dataclasses
import threading

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param

from dawnlab import data

pn.extension(sizing_mode="stretch_width")
hv.extension("bokeh", logo=False, inline=True)  # no CDN: an offline JupyterLab renders it

__all__ = ["SVPExplorer", "app"]

DATASETS = ["opencv_digits", "mnist", "sklearn_digits", "letters"]
SELECTORS = ["proxy", "target", "random"]
# data-selection phases as the time plot names them: the selector trained each round is the proxy for SVP and
# the target itself for target-driven selection, so its phase is "selector training", not "proxy_training"
PHASE_LABELS = {"proxy_training": "selector training", "scoring": "scoring", "selection": "selection"}


@pn.cache
def _dataset(name: str, n: int, seed: int) -> data.LabelledArrays:
    ds = data.load(name)
    idx = np.random.default_rng(seed).permutation(len(ds))[:n]
    return ds.subset(np.sort(idx))


class SVPExplorer(param.Parameterized):
    """Settings and results of one proxy / target / random comparison."""

    dataset = param.Selector(default="opencv_digits", objects=DATASETS, doc="Offline data set")
    n_examples = param.Integer(default=500, bounds=(100, 20000), doc="Examples used (pool + 20% test)")
    target_depth = param.Selector(default=8, objects=[8, 14, 20], doc="Target ResNet depth (MLP layers for tables)")
    target_width = param.Integer(default=8, bounds=(2, 128), doc="Target width")
    target_epochs = param.Integer(default=5, bounds=(1, 100), doc="Target epochs")
    proxy_depth = param.Selector(default=8, objects=[8, 14, 20], doc="Proxy depth")
    proxy_width = param.Integer(default=4, bounds=(1, 128), doc="Proxy width")
    proxy_epochs = param.Integer(default=2, bounds=(1, 100), doc="Proxy epochs")
    proxy_stop_after = param.Integer(default=0, bounds=(0, 100),
                                     doc="Early stopping: the proxy runs only this many of its epochs (0: all)")
    min_batches = param.Integer(default=40, bounds=(0, 500), doc="Minibatches per epoch at least (both models)")
    method = param.Selector(default="least_confidence", objects=["least_confidence", "entropy", "margin", "kcenters"],
                            doc="Active-learning method")
    initial = param.Number(default=0.1, bounds=(0.01, 0.5), doc="Random initial labelled fraction")
    final = param.Number(default=0.5, bounds=(0.05, 1.0), doc="Final labelled fraction")
    rounds = param.Integer(default=3, bounds=(1, 10), doc="Selection rounds after the initial set")
    seed = param.Integer(default=0, bounds=(0, None), doc="Seed")
    run = param.Action(lambda self: self.start(), label="Run")

    progress = param.Integer(default=0, bounds=(0, 100))
    status = param.String(default="Press Run to train the models.")
    curves = param.DataFrame(default=pd.DataFrame(columns=["selector", "fraction", "accuracy"]))
    times = param.DataFrame(default=pd.DataFrame(columns=["selector", "phase", "seconds"]))
    agreement = param.DataFrame(default=pd.DataFrame())

    # -- recipes -------------------------------------------------------------
    def _arch(self) -> str:
        return "mlp" if self.dataset == "letters" else "resnet"

    def _recipe(self, role: str) -> tuple[str, int, int, int]:
        depth = getattr(self, f"{role}_depth")
        if self._arch() == "mlp":
            depth = max(1, (depth - 2) // 6)  # ResNet depth 6n+2 -> n hidden layers
        return self._arch(), depth, getattr(self, f"{role}_width"), getattr(self, f"{role}_epochs")

    def label(self, role: str) -> str:
        """The recipe's short name, as :attr:`dawnlab.svp.Learner.label` writes it."""
        return (self.target() if role == "target" else self.proxy()).label

    def target(self):
        """The target as a :class:`dawnlab.svp.Learner`."""
        from dawnlab.svp import Learner

        return Learner(*self._recipe("target"), min_batches=self.min_batches)

    def proxy(self):
        """The proxy as a :class:`dawnlab.svp.Learner`."""
        from dawnlab.svp import Learner

        arch, depth, width, epochs = self._recipe("proxy")
        stop = min(self.proxy_stop_after, epochs) or None
        return Learner(arch, depth, width, epochs, min_batches=self.min_batches, stop_after=stop)

    def budgets(self) -> list[float]:
        """Cumulative labelled fractions: the initial set, then ``rounds`` even steps to ``final``."""
        final = max(self.final, self.initial + 0.01 * self.rounds)
        return [round(float(b), 4) for b in np.linspace(self.initial, final, self.rounds + 1)]

    @param.depends("dataset", "n_examples", "initial", "final", "rounds")
    def schedule(self) -> pd.DataFrame:
        """Labelled examples after each round."""
        pool = int(round(self.n_examples * 0.8))
        return pd.DataFrame({"round": [str(i) for i in range(self.rounds + 1)],
                             "labelled": [max(1, int(round(b * pool))) for b in self.budgets()]})

    @param.depends("dataset", "n_examples", "method", "target_depth", "target_width", "target_epochs",
                   "proxy_depth", "proxy_width", "proxy_epochs", "proxy_stop_after", "initial", "final",
                   "rounds")
    def plan(self) -> str:
        """One paragraph describing the comparison a Run will make."""
        s = self.schedule()
        return (f"**Plan:** {self.method} selection on {self.dataset} ({self.n_examples} examples), "
                f"target {self.label('target')} vs proxy {self.label('proxy')} vs random; labels "
                f"{' → '.join(str(v) for v in s['labelled'])} in {self.rounds} rounds.")

    # -- running -------------------------------------------------------------
    def start(self) -> None:
        """Run :meth:`compute` in a background thread (used by the Run button)."""
        threading.Thread(target=self.compute, daemon=True).start()

    def compute(self) -> None:
        """Train and select for proxy, target and random; update the result frames as rounds finish."""
        try:
            from dawnlab.svp import ActiveLearning, agreement_matrix, pool_scores

            self.status = "loading data and models ..."
            ds = _dataset(self.dataset, self.n_examples, self.seed)
            target, proxy = self.target(), self.proxy()
            budgets = self.budgets()
            total = 3 * len(budgets) + 1
            done, rows, trows = 0, [], []
            self.curves = pd.DataFrame(columns=["selector", "fraction", "accuracy"])
            for sel in SELECTORS:
                al = ActiveLearning(target, proxy if sel == "proxy" else None,
                                    "random" if sel == "random" else self.method, budgets, self.seed,
                                    evaluate_rounds=True)
                for rec in al.run(ds):
                    done += 1
                    rows.append({"selector": sel, "fraction": rec.fraction, "accuracy": rec.target_accuracy})
                    self.curves = pd.DataFrame(rows)
                    self.progress = int(100 * done / total)
                    self.status = f"{sel}: round {rec.round} done, {rec.n_labelled} labelled"
                for phase, label in PHASE_LABELS.items():
                    trows.append({"selector": sel, "phase": label,
                                  "seconds": sum(r.seconds[phase] for r in al.result_.records)})
                self.times = pd.DataFrame(trows)
            self.status = "ranking agreement ..."
            early = dataclasses.replace(target, stop_after=max(1, target.epochs // 2))
            ps = pool_scores({"target": target, "proxy": proxy, "target, stopped at half": early}, ds,
                             self.method if self.method != "kcenters" else "least_confidence",
                             labelled=budgets[1] if len(budgets) > 1 else 0.2, seed=self.seed)
            self.agreement = agreement_matrix(ps["scores"], "spearman")
            self.progress = 100
            self.status = "done"
        except Exception as exc:  # shown to the user, not swallowed
            self.status = f"error: {exc}"
            raise

    # -- views ---------------------------------------------------------------
    @param.depends("curves")
    def accuracy_plot(self):
        df = self.curves
        curves = [hv.Curve(df[df.selector == s], "fraction", "accuracy", label=s).opts(tools=["hover"])
                  for s in SELECTORS if len(df) and (df.selector == s).any()]
        overlay = hv.Overlay(curves) if curves else hv.Overlay([hv.Curve([], "fraction", "accuracy")])
        return overlay.opts(title="target accuracy vs labelled fraction", responsive=True, min_height=300,
                            legend_position="right")  # outside the axes: never over a curve

    @param.depends("times")
    def time_plot(self):
        df = self.times if len(self.times) else pd.DataFrame({"selector": SELECTORS,
                                                              "phase": PHASE_LABELS["proxy_training"],
                                                              "seconds": 0.0})
        return hv.Bars(df, ["selector", "phase"], "seconds").opts(
            stacked=True, title="data-selection time (s)", responsive=True, min_height=300, tools=["hover"])

    @param.depends("agreement")
    def agreement_plot(self):
        m = self.agreement
        if m.empty:
            return hv.HeatMap([], ["model a", "model b"], "spearman").opts(title="Spearman (after Run)",
                                                                           responsive=True, min_height=300)
        long = m.stack().rename("spearman").reset_index()
        long.columns = ["model a", "model b", "spearman"]
        return hv.HeatMap(long, ["model a", "model b"], "spearman").opts(
            cmap="viridis", clim=(-1, 1), colorbar=True, title="Spearman of uncertainty rankings",
            responsive=True, min_height=300, tools=["hover"]) * hv.Labels(
            self.agreement_labels(), ["model a", "model b"], ["text", "color"]).opts(text_color="color")

    def agreement_labels(self) -> pd.DataFrame:
        """The heat map's numbers, each in black or white, whichever reads on its cell's viridis colour."""
        long = self.agreement.stack().rename("spearman").reset_index()
        long.columns = ["model a", "model b", "spearman"]
        # viridis on [-1, 1] is dark up to about 0.1 and light (green to yellow) above
        return long.assign(text=long.spearman.map(lambda v: f"{v:.2f}"),
                           color=np.where(long.spearman > 0.1, "black", "white"))

    @param.depends("dataset", "n_examples", "initial", "final", "rounds")
    def schedule_plot(self):
        return hv.Bars(self.schedule(), "round", "labelled").opts(title="labelling schedule", responsive=True,
                                                                   min_height=220)


def app(explorer: SVPExplorer | None = None) -> pn.viewable.Viewable:
    """The explorer's layout (inline in a notebook, or served)."""
    ex = explorer or SVPExplorer()
    controls = pn.Param(ex, parameters=["dataset", "n_examples", "target_depth", "target_width", "target_epochs",
                                        "proxy_depth", "proxy_width", "proxy_epochs", "proxy_stop_after",
                                        "min_batches", "method", "initial", "final", "rounds", "seed", "run"],
                        widgets={"method": {"type": pn.widgets.Select, "css_classes": ["svp-method"]},
                                 "rounds": {"type": pn.widgets.IntSlider, "css_classes": ["svp-rounds"]},
                                 "run": {"type": pn.widgets.Button, "css_classes": ["svp-run"]}},
                        show_name=False, width=300, sizing_mode="stretch_height")
    bar = pn.indicators.Progress(value=ex.param.progress, max=100, sizing_mode="stretch_width")
    status = pn.pane.Markdown(ex.param.status, css_classes=["svp-status"])
    plan = pn.pane.Markdown(ex.plan, css_classes=["svp-plan"])
    return pn.Row(
        controls,
        pn.Column("## Selection via Proxy", plan, bar, status,
                  pn.Row(ex.accuracy_plot, ex.time_plot),
                  pn.Row(ex.agreement_plot, ex.schedule_plot)),
    )


if pn.state.served:
    app().servable(title="dawnlab: Selection via Proxy")
