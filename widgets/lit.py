"""LIT explorer: compress a deep ResNet into a shallower student, block by block, beside KD and FitNets.

Choose the teacher's and the student's depth (pre-activation ResNets of the same
width on MNIST-1D), the epochs and the seed; **Run** trains the teacher, then the
student by LIT (Koratana et al., arXiv 1810.01937, Section 3: each student block
fed the teacher's previous-block output and trained to match the teacher's
block output, then KD fine-tuning) and by the baselines on the same budget, and
shows:

- the per-block intermediate-representation loss of the LIT phase, epoch by
  epoch as it trains;
- test accuracy against student depth for every method (scratch, KD, FitNets,
  LIT, and at the teacher's depth Born-Again and LIT with the teacher's own
  architecture); runs at other depths add their points, the teacher is the
  dashed line.

All computation is :mod:`dawnlab.lit` (imported on the first Run, so the page
appears before torch has loaded); :class:`LITExplorer` (a ``param.Parameterized``)
holds the settings and the results as data frames, and :func:`app` lays it out.
``panel serve widgets/lit.py`` serves it.
"""

from __future__ import annotations

import threading

import holoviews as hv
import pandas as pd
import panel as pn
import param

pn.extension(sizing_mode="stretch_width")
hv.extension("bokeh", logo=False, inline=True)  # no CDN: an offline JupyterLab renders it

__all__ = ["LITExplorer", "app"]

DEPTHS = [8, 14, 20, 26, 32]
METHOD_NAMES = ["scratch", "kd", "fitnets", "lit", "born_again", "lit_same_arch"]
CURVE_COLUMNS = ["epoch", "block", "ir_loss"]
ACC_COLUMNS = ["method", "depth", "acc", "seed"]


class LITExplorer(param.Parameterized):
    """Settings and results of one LIT comparison on MNIST-1D."""

    teacher_depth = param.Selector(default=20, objects=DEPTHS, doc="Teacher depth (layers, 6 n + 2)")
    student_depth = param.Selector(default=8, objects=DEPTHS, doc="Student depth (at most the teacher's)")
    width = param.Integer(default=8, bounds=(2, 64), doc="Channels of the first stage (both models)")
    n_rows = param.Integer(default=2000, bounds=(200, 20000), doc="MNIST-1D rows (80% train, 20% test)")
    teacher_epochs = param.Integer(default=8, bounds=(1, 200), doc="Teacher epochs")
    lit_epochs = param.Integer(default=4, bounds=(1, 100), doc="LIT-phase epochs (FitNets: hint epochs)")
    kd_epochs = param.Integer(default=4, bounds=(0, 100), doc="KD fine-tuning epochs")
    baselines = param.Boolean(default=True, doc="Also train scratch, KD and FitNets (and Born-Again at equal depth)")
    seed = param.Integer(default=0, bounds=(0, None), doc="Seed")
    run = param.Action(lambda self: self.start(), label="Run")

    progress = param.Integer(default=0, bounds=(0, 100))
    status = param.String(default="Press Run to train the teacher and the students.")
    curves = param.DataFrame(default=pd.DataFrame(columns=CURVE_COLUMNS))
    accuracies = param.DataFrame(default=pd.DataFrame(columns=ACC_COLUMNS))
    teacher_acc = param.Number(default=None, allow_None=True)

    @param.depends("teacher_depth", "student_depth", "width", "n_rows", "lit_epochs", "kd_epochs", "baselines")
    def plan(self) -> str:
        """One paragraph describing what a Run will train."""
        if self.student_depth > self.teacher_depth:
            return (f"**Plan:** a student of depth {self.student_depth} is deeper than the teacher "
                    f"({self.teacher_depth}); LIT compresses, so choose a shallower student.")
        methods = self.methods()
        return (f"**Plan:** teacher ResNet1D-{self.teacher_depth}, student ResNet1D-{self.student_depth} "
                f"({self.teacher_depth / self.student_depth:.2f}x fewer layers), width {self.width}, "
                f"on {self.n_rows} MNIST-1D rows; every method gets {self.lit_epochs + self.kd_epochs} epochs: "
                f"{', '.join(methods)}.")

    def methods(self) -> list[str]:
        """The methods a Run trains at the chosen depths."""
        if self.student_depth == self.teacher_depth:
            return ["lit_same_arch", "born_again"] if self.baselines else ["lit_same_arch"]
        return ["scratch", "kd", "fitnets", "lit"] if self.baselines else ["lit"]

    # -- running -------------------------------------------------------------
    def start(self) -> None:
        """Run :meth:`compute` in a background thread (used by the Run button)."""
        threading.Thread(target=self.compute, daemon=True).start()

    def compute(self) -> None:
        """Train the teacher and the chosen methods, updating the frames as epochs finish."""
        try:
            if self.student_depth > self.teacher_depth:
                self.status = "error: the student is deeper than the teacher"
                return
            from dawnlab.data import load_mnist1d
            from dawnlab.lit import compare
            from dawnlab.lit.training import as_tensors

            self.status = "generating MNIST-1D ..."
            d = load_mnist1d(self.n_rows - self.n_rows % 10)
            X, y = as_tensors((d.X, d.y))
            cut = int(0.8 * len(X))
            methods = self.methods()
            lit_method = methods[0] if methods[0].startswith("lit") else "lit"
            total = 1 + len(methods)
            rows, curve_rows, done = [], [], 0
            self.curves = pd.DataFrame(columns=CURVE_COLUMNS)

            def on_record(method, rec):
                if method == lit_method and rec["phase"] == "lit":
                    for b, v in enumerate(rec["ir_loss"]):
                        curve_rows.append({"epoch": rec["epoch"], "block": f"block {b}", "ir_loss": v})
                    self.curves = pd.DataFrame(curve_rows)
                    self.status = f"{method}: LIT epoch {rec['epoch']} of {self.lit_epochs}"

            self.status = f"training the teacher (ResNet1D-{self.teacher_depth}) ..."
            for r in compare("resnet1d", (X[:cut], y[:cut]), (X[cut:], y[cut:]), teacher_depth=self.teacher_depth,
                             student_depth=self.student_depth, width=self.width, seed=self.seed,
                             teacher_epochs=self.teacher_epochs, lit_epochs=self.lit_epochs,
                             kd_epochs=self.kd_epochs, methods=methods, on_lit_record=on_record):
                done += 1
                self.progress = int(100 * done / total)
                if r["method"] == "teacher":
                    self.teacher_acc = r["acc"]
                else:
                    rows.append({k: r[k] for k in ACC_COLUMNS})
                    self.show(rows)
                self.status = f"{r['method']} done: accuracy {r['acc']:.3f}"
            self.progress = 100
            self.status = "done"
        except Exception as exc:  # shown to the user, not swallowed
            self.status = f"error: {exc}"
            raise

    def show(self, rows: list[dict]) -> None:
        """Add result rows to the accuracy frame (a new run at the same method and depth replaces the old)."""
        new = pd.DataFrame(rows, columns=ACC_COLUMNS)
        old = self.accuracies
        if len(old):
            keep = ~old.set_index(["method", "depth"]).index.isin(new.set_index(["method", "depth"]).index)
            new = pd.concat([old[keep], new], ignore_index=True)
        self.accuracies = new.sort_values(["method", "depth"]).reset_index(drop=True)

    # -- views ---------------------------------------------------------------
    @param.depends("curves")
    def ir_plot(self):
        df = self.curves
        curves = [hv.Curve(df[df.block == b], "epoch", "ir_loss", label=b).opts(tools=["hover"])
                  for b in sorted(df.block.unique())] if len(df) else []
        overlay = hv.Overlay(curves) if curves else hv.Overlay([hv.Curve([], "epoch", "ir_loss")])
        return overlay.opts(title="per-block IR loss (LIT phase)",
                            responsive=True, min_height=300, logy=bool(curves), legend_position="right")

    @param.depends("accuracies", "teacher_acc")
    def accuracy_plot(self):
        df = self.accuracies
        items = [hv.Curve(df[df.method == m].sort_values("depth"), "depth", "acc", label=m).opts(tools=["hover"])
                 * hv.Scatter(df[df.method == m], "depth", "acc", label=m).opts(size=8)
                 for m in METHOD_NAMES if len(df) and (df.method == m).any()]
        if self.teacher_acc is not None:
            items.append(hv.HLine(self.teacher_acc, label="teacher").opts(line_dash="dashed", color="black"))
        overlay = hv.Overlay(items) if items else hv.Overlay([hv.Curve([], "depth", "acc")])
        return overlay.opts(title="test accuracy vs student depth", responsive=True, min_height=300,
                            legend_position="right")

    @param.depends("accuracies", "teacher_acc")
    def table(self) -> pd.DataFrame:
        df = self.accuracies.copy()
        if self.teacher_acc is not None and len(df):
            df["vs teacher (points)"] = (100 * (df.acc - self.teacher_acc)).round(2)
        return df


def app(explorer: LITExplorer | None = None) -> pn.viewable.Viewable:
    """The explorer's layout (inline in a notebook, or served)."""
    ex = explorer or LITExplorer()
    controls = pn.Param(ex, parameters=["teacher_depth", "student_depth", "width", "n_rows", "teacher_epochs",
                                        "lit_epochs", "kd_epochs", "baselines", "seed", "run"],
                        widgets={"student_depth": {"type": pn.widgets.Select, "css_classes": ["lit-student"]},
                                 "run": {"type": pn.widgets.Button, "css_classes": ["lit-run"]}},
                        show_name=False, width=300, sizing_mode="stretch_height")
    bar = pn.indicators.Progress(value=ex.param.progress, max=100, sizing_mode="stretch_width")
    status = pn.pane.Markdown(ex.param.status, css_classes=["lit-status"])
    plan = pn.pane.Markdown(ex.plan, css_classes=["lit-plan"])
    return pn.Row(
        controls,
        pn.Column("## LIT: block-wise intermediate-representation training", plan, bar, status,
                  pn.Row(ex.ir_plot, ex.accuracy_plot),
                  pn.pane.DataFrame(ex.table, sizing_mode="stretch_width")),
    )


if pn.state.served:
    app().servable(title="dawnlab: LIT")
