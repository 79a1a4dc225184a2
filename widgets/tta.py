"""Time-to-accuracy leaderboard: each run's accuracy against wall-clock time, the olympic score, a live threshold.

Pick entries and a number of runs; **Run** sends each entry through
:class:`dawnlab.tta.Runner` (MLPerf's rules: untimed init, evaluation on the clock,
one compliance log per run checked by mlperf-logging's engine; Mattson et al., arXiv
1910.01500, Section 3) and draws every run's accuracy against the time since its
``run_start`` as it finishes, with each entry's target as a dashed line.  The threshold
slider re-reads all finished runs: the time each run took to first reach the threshold,
each entry's olympic score there (MLPerf's non-converging rule included) and the
ranking, which can change with the threshold (Coleman et al., arXiv 1806.01427,
Section 4.3).  Runs stop at their entry's target, so a threshold above it is never reached.

All computation is :mod:`dawnlab.tta`; :class:`TTAExplorer` (a ``param.Parameterized``)
holds the settings and the finished runs as data frames, and :func:`app` lays it out.
``panel serve widgets/tta.py`` serves it.
"""

from __future__ import annotations

import tempfile
import threading

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param

pn.extension(sizing_mode="stretch_width")
hv.extension("bokeh", logo=False, inline=True)  # no CDN: an offline JupyterLab renders it

__all__ = ["TTAExplorer", "app", "ENTRIES"]


def _entry(name: str):
    from dawnlab.tta import CurveBenchmark
    from dawnlab.tta.digits import DigitsBenchmark, SVPProxyBenchmark

    return {
        # synthetic curves: seconds per run, so the page answers at once
        "synthetic: quick, low ceiling": lambda: CurveBenchmark(target=0.95, rate=1.2, ceiling=0.955,
                                                                epoch_seconds=0.05, name="synthetic_quick"),
        "synthetic: slow, high ceiling": lambda: CurveBenchmark(target=0.99, rate=0.45, ceiling=1.0,
                                                                epoch_seconds=0.05, name="synthetic_slow"),
        # the real digits entries: tens of seconds per run on a CPU
        "digits: fast recipe": lambda: DigitsBenchmark("fast", target=0.97, max_epochs=6),
        "digits: plain recipe": lambda: DigitsBenchmark("plain", target=0.97, max_epochs=4),
        "digits: SVP MLP proxy": lambda: SVPProxyBenchmark("mlp", depth=2, width=256, target=0.95, max_epochs=6),
    }[name]()


ENTRIES = ["synthetic: quick, low ceiling", "synthetic: slow, high ceiling", "digits: fast recipe",
           "digits: plain recipe", "digits: SVP MLP proxy"]

_CURVE_COLUMNS = ["entry", "run", "seed", "time_s", "accuracy"]
_RUN_COLUMNS = ["entry", "run", "seed", "status", "tta_s", "target", "log_passes_checker"]


class TTAExplorer(param.Parameterized):
    """Settings and finished runs of a time-to-accuracy comparison."""

    entries = param.ListSelector(default=ENTRIES[:2], objects=ENTRIES, doc="Entries to run")
    runs = param.Integer(default=5, bounds=(3, 10), doc="Runs per entry (MLPerf: 5 for vision)")
    threshold = param.Number(default=0.9, bounds=(0.5, 1.0), step=0.005, doc="Accuracy threshold to rank at")
    seed = param.Integer(default=0, bounds=(0, None), doc="Base seed")
    run = param.Action(lambda self: self.start(), label="Run")

    status = param.String(default="Press Run to start the runs.")
    curves = param.DataFrame(default=pd.DataFrame(columns=_CURVE_COLUMNS))
    finished = param.DataFrame(default=pd.DataFrame(columns=_RUN_COLUMNS))

    def __init__(self, **params):
        super().__init__(**params)
        self._records: dict[str, list] = {}
        self._passed: dict[tuple[str, int], bool | None] = {}  # (entry, run) -> the log's check verdict
        self._lock = threading.Lock()

    @param.depends("entries", "runs")
    def plan(self) -> str:
        """What a Run will do."""
        names = ", ".join(self.entries) if self.entries else "(no entry chosen)"
        return (f"**Plan:** {self.runs} runs of each of {names} under MLPerf's timing rules, "
                "one compliance log per run checked by mlperf-logging's engine.")

    # -- running -------------------------------------------------------------
    def start(self) -> None:
        """Run :meth:`compute` in a background thread (used by the Run button)."""
        threading.Thread(target=self.compute, daemon=True).start()

    def compute(self, log_dir: str | None = None) -> None:
        """Run every chosen entry, adding each run as it finishes."""
        from dawnlab.tta import Runner

        self._records, self._passed = {}, {}
        self.curves = pd.DataFrame(columns=_CURVE_COLUMNS)
        self.finished = pd.DataFrame(columns=_RUN_COLUMNS)
        folder = log_dir or tempfile.mkdtemp(prefix="dawnlab-tta-")
        try:
            for name in list(self.entries):
                bench = _entry(name)
                runner = Runner(bench, runs=self.runs, log_dir=f"{folder}/{bench.name}", seed=self.seed,
                                progress=False, check=False)
                for i, rec in enumerate(runner.iter_runs()):
                    self.status = f"{name}: run {i + 1} of {self.runs} finished"
                    self.add(name, rec, bench.target, runner.ruleset)
            self.status = f"done: logs in {folder}"
        except Exception as exc:  # shown to the user, not swallowed
            self.status = f"error: {exc}"
            raise

    def add(self, entry: str, record, target: float, ruleset=None) -> None:
        """Add one finished run (a :class:`dawnlab.tta.RunRecord`) and refresh the frames."""
        from dawnlab.tta import check_log

        passed = check_log(record.log, ruleset).passed if ruleset is not None else None
        with self._lock:
            self._records.setdefault(entry, []).append(record)
            self._passed[(entry, record.index)] = passed
            points = [(entry, record.index, record.seed, 0.0, 0.0)] + [
                (entry, record.index, record.seed, t, acc) for _, t, acc in record.evals]
            self.curves = pd.concat([self.curves, pd.DataFrame(points, columns=_CURVE_COLUMNS)],
                                    ignore_index=True)
            row = pd.DataFrame([(entry, record.index, record.seed, record.status, record.tta_s, target, passed)],
                               columns=_RUN_COLUMNS)
            self.finished = row if self.finished.empty else pd.concat([self.finished, row], ignore_index=True)

    def load(self, results: dict) -> None:
        """Show finished results: a dict entry name -> :class:`dawnlab.tta.RunnerResult`."""
        self._records, self._passed = {}, {}
        self.curves = pd.DataFrame(columns=_CURVE_COLUMNS)
        self.finished = pd.DataFrame(columns=_RUN_COLUMNS)
        for name, res in results.items():
            verdict = {c.path: c.passed for c in res.checks}
            for rec in res.runs:
                self.add(name, rec, res.target)
                if verdict:
                    self.finished.loc[self.finished.index[-1], "log_passes_checker"] = verdict.get(rec.log)
                    self._passed[(name, rec.index)] = verdict.get(rec.log)

    # -- read-outs -----------------------------------------------------------
    def leaderboard(self) -> pd.DataFrame:
        """Per entry at the current threshold: runs reaching it, median time, olympic score, rank.

        A run whose log failed the compliance check counts as not reaching the threshold,
        as in :meth:`dawnlab.tta.Runner.result` and mlperf-logging's result summarizer.
        """
        from dawnlab.tta import olympic_score

        rows = []
        for name, recs in self._records.items():
            times = [None if self._passed.get((name, r.index)) is False else r.time_to(self.threshold) for r in recs]
            got = [t for t in times if t is not None]
            score = olympic_score(times)[0] if len(times) >= 3 else None
            rows.append({"entry": name, "runs": len(times), "reached": len(got),
                         "median_s": float(np.median(got)) if got else np.nan,
                         "olympic_s": np.nan if score is None else score})
        df = pd.DataFrame(rows, columns=["entry", "runs", "reached", "median_s", "olympic_s"])
        df["rank"] = df.olympic_s.rank(method="min")
        return df.sort_values(["rank", "entry"], na_position="last").reset_index(drop=True)

    @param.depends("threshold", "finished")
    def readout(self) -> str:
        board = self.leaderboard()
        if board.empty:
            return "Run to see each entry's olympic score and rank at the threshold."
        parts = []
        for _, r in board.iterrows():
            score = "no valid score" if np.isnan(r.olympic_s) else f"olympic {r.olympic_s:.3f} s"
            rank = "unranked" if np.isnan(r["rank"]) else f"#{int(r['rank'])}"
            parts.append(f"{rank} {r.entry}: {score} ({r.reached}/{r.runs} runs reach it)")
        return f"**At threshold {self.threshold:.3f}:** " + "; ".join(parts) + "."

    @param.depends("threshold", "finished")
    def table(self):
        return pn.pane.DataFrame(self.leaderboard().round(3), index=False, sizing_mode="stretch_width")

    # -- views ---------------------------------------------------------------
    @param.depends("curves", "threshold")
    def curves_plot(self):
        df = self.curves
        if df.empty:
            return hv.Curve([], "time_s", "accuracy").opts(title="accuracy against wall-clock time (after Run)",
                                                          responsive=True, min_height=350)
        layers = []
        colors = hv.Cycle.default_cycles["default_colors"]
        for k, (entry, group) in enumerate(df.groupby("entry", sort=False)):
            color = colors[k % len(colors)]
            for j, (_, run) in enumerate(group.groupby("run")):
                layers.append(hv.Curve(run, "time_s", "accuracy", label=entry if j == 0 else "").opts(
                    color=color, alpha=0.8, tools=["hover"]))
            target = self.finished.loc[self.finished.entry == entry, "target"]
            if len(target):
                layers.append(hv.HLine(float(target.iloc[0])).opts(color=color, line_dash="dashed"))
        layers.append(hv.HLine(self.threshold).opts(color="black", line_width=1))
        return hv.Overlay(layers).opts(title="accuracy against time since run_start (dashed: targets; black: "
                                             "threshold)", responsive=True, min_height=350,
                                       legend_position="bottom_right", ylim=(0, 1.02),
                                       xlabel="seconds since run_start", ylabel="evaluation accuracy")


def app(explorer: TTAExplorer | None = None) -> pn.viewable.Viewable:
    """The explorer's layout (inline in a notebook, or served)."""
    ex = explorer or TTAExplorer()
    controls = pn.Param(ex, parameters=["entries", "runs", "threshold", "seed", "run"],
                        widgets={"entries": {"type": pn.widgets.MultiSelect, "css_classes": ["tta-entries"],
                                             "size": len(ENTRIES)},
                                 "threshold": {"type": pn.widgets.FloatSlider, "css_classes": ["tta-threshold"]},
                                 "run": {"type": pn.widgets.Button, "css_classes": ["tta-run"]}},
                        show_name=False, width=300, sizing_mode="stretch_height")
    status = pn.pane.Markdown(ex.param.status, css_classes=["tta-status"])
    plan = pn.pane.Markdown(ex.plan, css_classes=["tta-plan"])
    readout = pn.pane.Markdown(ex.readout, css_classes=["tta-readout"])
    return pn.Row(
        controls,
        pn.Column("## Time to accuracy: MLPerf runs and the DAWNBench threshold", plan, status, readout,
                  ex.curves_plot, ex.table),
    )


if pn.state.served:
    app().servable(title="dawnlab: time to accuracy")
