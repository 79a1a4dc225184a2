"""The simulator checked against reality: measured CPU training steps.

Section 8.3 of arXiv 1807.05358 checks the simulator by comparing its
predicted iteration times with measured ones (within 30% on GPUs).  We do the
same on what this machine can really run: an MLP trained

- in a single process on one CPU core, and
- data parallel over two CPU processes with ``torch.distributed`` (gloo
  backend, ``DistributedDataParallel``), one core each.

The simulator gets per-operator costs measured with torch on one thread
(:class:`~dawnlab.flexflow.costs.MeasuredCosts`), as the paper measures each
operator on the real device (Section 5.1).  Nothing is fitted to the step
times being predicted.  Everything the prediction uses is measured in the
same process as the steps it predicts, in **interleaved rounds**: each round
measures the per-operator costs, the link (two processes), then times training
steps, so that load from other programs on a shared machine affects the
costs and the steps alike; the prediction uses the median of each cost over
the rounds and is compared with the median step over all rounds.

- **Per-step offset.**  A real step also runs what no operator task holds:
  ``zero_grad``, the loss, the autograd engine, the optimizer's and DDP's Python
  code.  It is measured directly, every round, on a model of the *same
  structure* with tiny layers (its operators cost almost nothing): the offset is
  that model's measured step minus its simulated step (from its own measured
  operator costs), and it is added to the prediction as a per-iteration
  constant.
- **Two processes.**  The costs are measured inside the two worker processes,
  both at once, so that the pieces see the same sharing of the cores as the
  training steps.  Weights are synchronised as a ring all-reduce
  (``Simulator(sync="ring")``), as ``DistributedDataParallel`` does; for two
  replicas each sends its whole gradient once, and the transfers are
  host-driven (see below), so the link's latency and bandwidth are fitted to
  gloo all-reduces, each two back-to-back transfers, timed in the same rounds
  at exactly the sizes the simulator sends (each layer's gradient, the tiny
  model's, and 1 KiB).

:func:`check` returns both predictions, both measurements, the offsets and the
relative errors.

**Beyond data parallelism.**  :func:`check_strategies` runs a suite of strategies
(:func:`strategy_suite`: data parallel, one device, model parallel, expert, hybrids and
random valid ones, under ring and parameter-server sync) for real with
:mod:`~dawnlab.flexflow.execute` on two gloo processes (:func:`measure_strategies`), and
predicts each with the simulator (:func:`predict_strategies`), reporting each error and the
Kendall and Spearman rank correlations between simulated and measured step times.

- **The cost model is the runtime's.**  A piece's cost is everything its process does for it
  except waiting for messages (the executor times it as it trains), and transfers are
  *host-driven*: a gloo message over TCP is copied through the sending and the receiving
  process's own cores, so it holds both (``copy_engine: false`` in the machine model), and a
  two-way ring all-reduce is two such transfers in turn.  The link (latency, bandwidth) is
  fitted, under that model, to one-way messages and all-reduces timed in the same round.
- **Two cores that slow each other down.**  This machine's two cores each run a matmul
  1.6-1.8x slower while the other runs one (they share a physical core's units or the memory
  system).  As the paper measures each task on the device (Section 5.1), each round also
  times every operator configuration's piece *alone* (one process, the other waiting) and
  *together* (both processes running it at once); their ratio is the configuration's
  slowdown, and the two processes are one ``share`` group of the simulator, which stretches a
  piece by it for as long as the other process computes (see the simulator's *contention*).
  The pieces timed while training ran beside whatever the other process did; the executor
  records each one's interval on the clock both processes share, and the prediction turns
  each into its time alone, ``timed - overlap * (1 - 1 / slowdown)``, with ``overlap`` the
  time the other process computed during it: the model's own inverse, so that the simulator
  adds back exactly the contention each strategy's schedule causes.
- **Held out and paired by round.**  Each round's prediction of a strategy uses only that
  round's measurements, and of the pieces only those timed while the *other* strategies
  trained; a strategy's figures are the medians of its per-round values.
- **A shared machine.**  Each round records the cores' worth of CPU other programs took
  during it (``others``: the machine's busy time from ``/proc/stat`` less the two
  processes' own CPU time) and the load average.  ``max_others`` predicts from the quiet
  rounds only; the rounds are chosen by that measured contention, never by the step times.
  ``wait_s`` waits for a quiet machine before each round.  When other programs hold the
  cores, the steps also wait for a descheduled peer, which no model of the hardware
  predicts: read the figures beside the contention they ran under.
"""

from __future__ import annotations

import os
import tempfile
import time
from bisect import bisect_right
from dataclasses import dataclass, field
from statistics import median as _median

from dawnlab.errors import invalid
from dawnlab.flexflow import benchmarks
from dawnlab.flexflow.costs import AnalyticCosts, MeasuredCosts
from dawnlab.flexflow.execute import end_process, init_process, spawn
from dawnlab.flexflow.machine import Machine
from dawnlab.flexflow.simulator import Simulator
from dawnlab.flexflow.soap import Strategy

__all__ = ["CheckResult", "check", "measure_single", "measure_ddp", "mlp_module", "StrategyCheck", "check_strategies",
           "strategy_suite"]


@dataclass
class CheckResult:
    """Predicted and measured iteration times (s) and relative errors |pred - meas| / meas."""

    sizes: tuple
    batch_size: int
    single_measured: float
    single_predicted: float
    ddp_measured: float
    ddp_predicted: float
    link_latency: float
    link_bandwidth: float
    single_offset: float = 0.0
    ddp_offset: float = 0.0
    rounds: int = 1

    @property
    def single_error(self) -> float:
        return abs(self.single_predicted - self.single_measured) / self.single_measured

    @property
    def ddp_error(self) -> float:
        return abs(self.ddp_predicted - self.ddp_measured) / self.ddp_measured

    def table(self):
        """Two rows (single process, 2-process DDP): measured, predicted, error."""
        import pandas as pd

        return pd.DataFrame([
            {"run": "1 process", "measured_s": self.single_measured, "simulated_s": self.single_predicted,
             "error": self.single_error},
            {"run": "2 processes, gloo DDP", "measured_s": self.ddp_measured,
             "simulated_s": self.ddp_predicted, "error": self.ddp_error}])


def mlp_module(sizes):
    """The torch MLP that :func:`dawnlab.flexflow.benchmarks.mlp` describes."""
    import torch

    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def _train_steps(model, x, y, steps, warmup, opt=None):
    """Seconds of each of ``steps`` timed SGD steps (after ``warmup`` untimed ones)."""
    import torch

    opt = opt if opt is not None else torch.optim.SGD(model.parameters(), lr=0.01)
    times = []
    for k in range(warmup + steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        if k >= warmup:
            times.append(time.perf_counter() - t0)
    return times


def measure_single(sizes=(784, 1024, 1024, 10), batch_size: int = 256, steps: int = 20,
                   warmup: int = 5) -> float:
    """Median seconds per training step of the MLP in this process on one thread."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        x, y = _batch(sizes, batch_size, 0)
        torch.manual_seed(0)
        return _median(_train_steps(mlp_module(sizes), x, y, steps, warmup))
    finally:
        torch.set_num_threads(old)


def _tiny(sizes):
    """The same structure (layers, loss, optimizer) with tiny layers: what a step costs beyond
    its operators."""
    return tuple(min(s, 4) for s in sizes)


def _batch(sizes, n, seed):
    import torch

    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, sizes[0], generator=g), torch.randint(0, sizes[-1], (n,), generator=g)


def _sync_sizes(sizes):
    """Bytes each replica sends per weight synchronisation in the simulator (ring, 2 replicas:
    the whole gradient of each layer), for the MLP and its tiny twin, and 1 KiB."""
    out = {1024}
    for sz in (sizes, _tiny(sizes)):
        out |= {4 * (sz[i] + 1) * sz[i + 1] for i in range(len(sz) - 1)}
    return sorted(out)


def _rounds(sizes, batch_size, steps, warmup, rounds, world, rank=0):
    """Interleaved measurement rounds in this process (one DDP worker when ``world > 1``).

    Each round: per-operator costs of the MLP and of its tiny twin, gloo all-reduces at the
    simulator's sync sizes (``world > 1``), then timed steps of both models.  Returns lists
    over rounds: ``costs``, ``tiny_costs`` (cost tables), ``step``, ``tiny_step`` (seconds of
    each step) and ``allreduce`` ({bytes: [seconds]})."""
    import torch

    dist = None
    if world > 1:
        import torch.distributed as dist
    tiny = _tiny(sizes)
    local, tiny_batch = batch_size // world, 4 * world
    x, y = _batch(sizes, local, rank)
    xt, yt = _batch(tiny, tiny_batch // world, rank)
    torch.manual_seed(0)
    model, tiny_model = mlp_module(sizes), mlp_module(tiny)
    if dist is not None:
        model = torch.nn.parallel.DistributedDataParallel(model)
        tiny_model = torch.nn.parallel.DistributedDataParallel(tiny_model)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    tiny_opt = torch.optim.SGD(tiny_model.parameters(), lr=0.01)
    out = {"costs": [], "tiny_costs": [], "step": [], "tiny_step": [],
           "allreduce": {n: [] for n in _sync_sizes(sizes)} if dist is not None else {}}
    barrier = dist.barrier if dist is not None else (lambda: None)
    for r in range(rounds):
        barrier()
        out["costs"].append(_measure_dp_costs(sizes, batch_size, world))
        out["tiny_costs"].append(_measure_dp_costs(tiny, tiny_batch, world))
        for n, ts in out["allreduce"].items():
            _time_allreduce(dist, torch.ones(n // 4), ts)
        barrier()
        out["step"] += _train_steps(model, x, y, steps, warmup if r == 0 else 1, opt)
        barrier()
        out["tiny_step"] += _train_steps(tiny_model, xt, yt, steps, warmup if r == 0 else 1, tiny_opt)
    return out


def _ddp_worker(rank, world, port, sizes, batch_size, steps, warmup, rounds, out):
    import torch
    import torch.distributed as dist

    init_process(rank, world, port)
    try:
        res = _rounds(sizes, batch_size, steps, warmup, rounds, world, rank)
        # both ranks' cost tables; rank 0's steps (the all-reduces keep the ranks in step)
        both = [None] * world
        dist.all_gather_object(both, (res["costs"], res["tiny_costs"]))
        res["costs"] = [t for c, _ in both for t in c]
        res["tiny_costs"] = [t for _, c in both for t in c]
        if rank == 0:
            torch.save(res, out)
    finally:
        end_process()


def _measure_dp_costs(sizes, batch_size, world) -> dict:
    """The measured-cost table of every operator of the MLP's data-parallel pieces."""
    g = benchmarks.mlp(batch_size, tuple(sizes))
    m = _cpu_machine(world, 1e-5, 1e9)
    dp = Strategy.data_parallel(g, m)
    costs = MeasuredCosts(None, repeats=9, threads=1)
    for i, op in enumerate(g.ops):
        costs.compute(g, i, dp[op.name].degrees, m.devices[0])
    return costs.table


def measure_ddp(sizes=(784, 1024, 1024, 10), batch_size: int = 256, steps: int = 20,
                warmup: int = 5, rounds: int = 5) -> dict:
    """Data-parallel training over 2 CPU processes (gloo), in interleaved measurement rounds.

    Returns ``"step"``: the median step time; ``"calibration"``: ``[(bytes, median seconds),
    ...]`` of gloo all-reduces at the simulator's sync sizes; ``"costs"``: the per-operator
    costs measured inside the processes (a :class:`MeasuredCosts` table, median over rounds
    and ranks); ``"tiny_step"`` and ``"tiny_costs"``: the same for the tiny-layer twin that
    measures the per-step offset."""
    import torch

    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "ddp.pt")
        spawn(_ddp_worker, (tuple(sizes), batch_size, steps, warmup, rounds, out), world=2)
        res = torch.load(out)
    return {"step": _median(res["step"]), "tiny_step": _median(res["tiny_step"]),
            "costs": _median_table(res["costs"]), "tiny_costs": _median_table(res["tiny_costs"]),
            "calibration": [(n, _median(ts)) for n, ts in sorted(res["allreduce"].items())]}


def _median_table(tables):
    """Per-signature median of each measured time over several cost tables."""
    out = {}
    for sig in tables[0]:
        rows = [t[sig] for t in tables if sig in t]
        out[sig] = [_median([r[k] for r in rows]) for k in range(len(rows[0]))]
    return out


def _fit_link(calibration):
    """Fit ``latency`` and ``bandwidth`` to ``[(bytes, seconds), ...]`` or ``[(bytes, seconds,
    transfers), ...]``, where a measurement spans ``transfers`` back-to-back transfers of
    ``bytes`` each (``seconds = transfers * (latency + bytes / bandwidth)``; 1 when omitted).

    Least squares on the *relative* residuals, so that the small messages fix the latency and
    the large ones the bandwidth; the latency is never negative.

    Examples
    --------
    >>> lat, bw = _fit_link([(n, k * (2e-4 + n / 1e9), k) for n in (1e3, 1e6, 4e6) for k in (1, 2)])
    >>> round(lat * 1e6), round(bw / 1e6)
    (200, 1000)
    """
    rows = [(float(c[2]) if len(c) > 2 else 1.0, float(c[0]), float(c[1])) for c in calibration]
    sums = [0.0] * 5  # weighted sums of k*k, k*x, x*x, k*t, x*t with x = k * bytes
    for k, n, t in rows:
        w = 1.0 / t ** 2 if t > 0 else 1.0
        x = k * n
        for j, v in enumerate((k * k, k * x, x * x, k * t, x * t)):
            sums[j] += w * v
    kk, kx, xx, kt, xt = sums
    det = kk * xx - kx * kx
    latency, inv_bw = ((xx * kt - kx * xt) / det, (kk * xt - kx * kt) / det) if det > 0 else (0.0, 0.0)
    if latency < 0:  # no negative latency: the best fit through the origin
        latency, inv_bw = 0.0, xt / xx if xx > 0 else 0.0
    bandwidth = min(1.0 / inv_bw, 1e12) if inv_bw > 1e-12 else 1e12
    return latency, max(bandwidth, 1e6)


def _predict(sizes, batch_size, machine, table):
    g = benchmarks.mlp(batch_size, tuple(sizes))
    costs = MeasuredCosts(None)
    costs.table = dict(table)
    return Simulator(g, machine, costs, sync="ring").simulate(Strategy.data_parallel(g, machine),
                                                              record=False).iteration_time


def _cpu_machine(n, latency, bandwidth, copy_engine=False, share=False):
    """``n`` CPU processes joined by one full-duplex link; their transfers are host-driven
    (gloo over TCP copies every byte through the process's own core, see the simulator).
    ``share``: the cores are one contention group (their kernels slow each other down by
    each operator's measured slowdown, see the simulator)."""
    spec = {"flops": 5e10, "mem_bandwidth": 1e10, "memory": 8e9, "kernel_latency": 2e-5,
            "copy_engine": copy_engine}
    links = [{"a": "core0", "b": "core1", "bandwidth": bandwidth, "latency": latency}] if n > 1 else []
    group = {"share": "host"} if share else {}
    return Machine.from_dict({"name": f"cpu{n}-calibrated", "device_types": {"cpu": spec},
                              "devices": [{"name": f"core{i}", "type": "cpu", **group} for i in range(n)],
                              "links": links})


def check(sizes=(784, 1024, 1024, 10), batch_size: int = 256, steps: int = 20,
          cache: str | None = None, rounds: int = 5) -> CheckResult:
    """Measure the MLP in 1 and 2 processes and compare with the simulator's predictions.

    Each setting runs ``rounds`` interleaved rounds of cost measurement and ``steps`` timed
    steps (see the module docstring).  ``cache``, when given, is where the single-process
    cost table (median over the rounds) is written.
    """
    import torch

    if not isinstance(rounds, int) or rounds < 1:
        raise invalid("rounds", "check", "a positive int (interleaved measurement rounds)", rounds)
    tiny = _tiny(sizes)
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        one = _rounds(tuple(sizes), batch_size, steps, 5, rounds, 1)
    finally:
        torch.set_num_threads(old)
    table, tiny_table = _median_table(one["costs"]), _median_table(one["tiny_costs"])
    if cache:
        saved = MeasuredCosts(cache)
        saved.table.update(table)
        saved.save()
    m1 = _cpu_machine(1, 1e-5, 1e9)
    offset1 = _median(one["tiny_step"]) - _predict(tiny, 4, m1, tiny_table)
    pred1 = _predict(sizes, batch_size, m1, table) + offset1

    ddp = measure_ddp(sizes, batch_size, steps, rounds=rounds)
    # a 2-way ring all-reduce of n bytes is two host-driven transfers of n bytes in the simulator
    latency, bandwidth = _fit_link([(n, t, 2) for n, t in ddp["calibration"]])
    m2 = _cpu_machine(2, latency, bandwidth)
    offset2 = ddp["tiny_step"] - _predict(tiny, 8, m2, ddp["tiny_costs"])
    pred2 = _predict(sizes, batch_size, m2, ddp["costs"]) + offset2
    return CheckResult(tuple(sizes), batch_size, _median(one["step"]), pred1, ddp["step"], pred2, latency,
                       bandwidth, offset1, offset2, rounds)


# -- beyond data parallelism: real runs of many strategies ---------------------------------------

@dataclass
class StrategyCheck:
    """Measured and simulated step times of several strategies (see :func:`check_strategies`).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per run: ``strategy``, ``sync``, ``measured_s`` (median step), ``simulated_s``
        (simulator with measured costs and link, plus the run's per-step offset), ``offset_s``,
        ``error`` (relative), ``spread`` (interquartile range of the measured steps / median).
    kendall, spearman : float
        Rank correlations between simulated and measured times.
    link_latency, link_bandwidth : float
        The fitted link (median over the rounds).
    rounds : int
        Rounds the figures come from.
    load : tuple
        ``(min, median, max)`` of the 1-minute load average (``uptime``) before and after each
        round used (it counts the two measuring processes too).
    others : list
        Per measured round, the cores' worth of CPU other programs took during it (of this
        machine's cores; 0 is a quiet machine).
    used : list
        Indices of the rounds the figures come from.
    """

    table: object
    kendall: float
    spearman: float
    link_latency: float
    link_bandwidth: float
    rounds: int
    load: tuple = (float("nan"),) * 3
    others: list = field(default_factory=list)
    used: list = field(default_factory=list)

    @property
    def max_error(self) -> float:
        return float(self.table.error.max())


def strategy_suite(graph, machine, random: int = 5, candidates: int = 1):
    """The strategies :func:`check_strategies` measures: ``[(label, Strategy, sync)]``: data
    parallel (both sync models), everything on one device, model parallel, the expert strategy,
    two hybrids (both sync models for one), and ``random`` random valid strategies (alternating
    sync models).

    With ``candidates > 1``, each random strategy is the one of ``candidates`` random draws
    whose step time, as the *uncalibrated* roofline model of ``machine`` predicts it
    (:class:`~dawnlab.flexflow.costs.AnalyticCosts`, fixed before anything is measured), is
    farthest (in log) from every strategy already in the suite: a design that spreads the
    strategies' times apart, so that their order is not decided by noise.  Nothing measured
    takes part in the choice.

    Examples
    --------
    >>> g, m = benchmarks.mlp(8, (6, 4, 2)), Machine.preset("cpu2")
    >>> suite = strategy_suite(g, m, random=2)
    >>> len(suite), sorted({sync for _, _, sync in suite}), suite[4][0]
    (10, ['ps', 'ring'], 'expert')
    """
    from dawnlab.flexflow.soap import OpConfig

    dp = Strategy.data_parallel(graph, machine)
    whole = Strategy(graph, machine, {op.name: OpConfig((1,) * len(op.shape), (0,)) for op in graph})
    linears = [op.name for op in graph if op.kind == "linear"]
    hybrid = dp
    for k, name in enumerate(linears):
        if k % 2:
            hybrid = hybrid.replace(name, OpConfig((1, 2), (0, 1)))
    hybrid2 = dp.replace(linears[0], OpConfig((1, 1), (0,))).replace(linears[-1], OpConfig((1, 2), (1, 0)))
    out = [("data parallel", dp, "ring"), ("data parallel", dp, "ps"), ("one device", whole, "ring"),
           ("model parallel", Strategy.model_parallel(graph, machine), "ring"),
           ("expert", Strategy.expert(graph, machine), "ring"), ("hybrid S2/P2", hybrid, "ring"),
           ("hybrid S2/P2", hybrid, "ps"), ("hybrid 1/S2/P2", hybrid2, "ring")]
    if candidates <= 1:
        for k in range(random):
            out.append((f"random {k}", Strategy.random(graph, machine, 100 + k), ("ring", "ps")[k % 2]))
        return out
    import math

    def prior(s, sync):  # the roofline model's step time, before any measurement
        return Simulator(graph, machine, AnalyticCosts(machine), sync).simulate(s, record=False).iteration_time

    times = [math.log(prior(s, sync)) for _, s, sync in out]
    for k in range(random):
        sync = ("ring", "ps")[k % 2]
        draws = [Strategy.random(graph, machine, 1000 * (k + 1) + c) for c in range(candidates)]
        logs = [math.log(prior(s, sync)) for s in draws]
        best = max(range(candidates), key=lambda c: (min(abs(logs[c] - t) for t in times), -c))
        out.append((f"random {k}", draws[best], sync))
        times.append(logs[best])
    return out


def _time_allreduce(dist, buf, times, repeats: int = 6):
    """Append the seconds of ``repeats - 1`` gloo all-reduces of ``buf`` to ``times`` (the first is a warm-up)."""
    for k in range(repeats):
        dist.barrier()
        t0 = time.perf_counter()
        dist.all_reduce(buf)
        if k:
            times.append(time.perf_counter() - t0)


def _calibrate(dist, rank, sizes, rec):
    """Time gloo all-reduces at the sizes of the simulator's 2-way ring syncs, and one-way
    point-to-point messages (half a round trip), into ``rec["allreduce"]`` and ``rec["ping"]``."""
    import torch

    for n in _sync_sizes(sizes):
        _time_allreduce(dist, torch.ones(n // 4), rec["allreduce"].setdefault(n, []))
    for n in _PING_SIZES:
        buf, ts = torch.ones(n // 4), rec["ping"].setdefault(n, [])
        for k in range(6):
            dist.barrier()
            t0 = time.perf_counter()
            if rank == 0:
                dist.send(buf, 1)
                dist.recv(buf, 1)
            elif rank == 1:
                dist.recv(buf, 0)
                dist.send(buf, 0)
            if k:
                ts.append((time.perf_counter() - t0) / 2)


_PING_SIZES = (1024, 65536, 1 << 20, 4 << 20)


def _busy_seconds() -> float:
    """CPU seconds every program on this machine has used since boot (``/proc/stat``), or NaN
    where there is no ``/proc/stat``."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()[1:]
    except OSError:
        return float("nan")
    user, nice, system, idle, iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def others_load(seconds: float = 1.0) -> float:
    """Cores' worth of CPU that *other* programs use, averaged over ``seconds`` while this
    process sleeps (0 on an idle machine, up to the number of cores)."""
    t0, b0 = time.perf_counter(), _busy_seconds()
    c0 = time.process_time()
    time.sleep(seconds)
    return (_busy_seconds() - b0 - (time.process_time() - c0)) / (time.perf_counter() - t0)


def _wait_quiet(quiet, wait_s):
    """Sleep until other programs use at most ``quiet`` cores (1 s probes), for at most
    ``wait_s`` seconds; returns the last probe."""
    deadline = time.perf_counter() + wait_s
    probe = others_load(1.0)
    while probe > quiet and time.perf_counter() < deadline:
        probe = others_load(1.0)
    return probe


def _suite_configs(graph, suite):
    """Every (operator, degrees) that some strategy of the suite computes, in a fixed order."""
    return sorted({(i, s[op.name].degrees) for _, s, _ in suite for i, op in enumerate(graph.ops)
                   if op.kind != "input"})


def _calibrate_slowdowns(dist, rank, world, graph, configs, rec, repeats=5):
    """Time one piece of every configuration of ``configs`` alone (on each process in turn,
    the other waiting in a barrier) and *together* (both processes at once, the same piece):
    ``rec["alone"]`` and ``rec["together"]``, ``{(op, degrees): [(forward s, backward s)]}``
    of this process (gathered over both later)."""
    costs = MeasuredCosts(None, warmup=1, repeats=repeats, threads=1)
    for key in configs:
        i, deg = key
        for who in range(world):
            dist.barrier()
            if rank == who:
                rec["alone"].setdefault(key, []).append(costs._measure(graph, i, deg))
            dist.barrier()
        rec["together"].setdefault(key, []).append(costs._measure(graph, i, deg))


def _suite_worker(rank, world, port, sizes, batch_size, steps, rounds, random, path, start, progress, quiet,
                  wait_s, candidates=1):
    import torch.distributed as dist

    from dawnlab.flexflow.execute import Plan, run_steps
    from dawnlab.results import load, save

    init_process(rank, world, port)
    try:
        m = _cpu_machine(world, 1e-5, 1e9)
        big, tiny = benchmarks.mlp(batch_size, tuple(sizes)), benchmarks.mlp(4 * world, _tiny(sizes))
        suite = strategy_suite(big, m, random, candidates)
        configs = _suite_configs(big, suite)
        plans = [Plan(s, sync) for _, s, sync in suite]
        tiny_plans = [Plan(Strategy(tiny, m, dict(s.configs)), sync) for _, s, sync in suite]
        raw = load(path) if rank == 0 and start else None
        bar = None
        if progress and rank == 0:
            from tqdm.auto import tqdm

            bar = tqdm(total=rounds, initial=start, desc="measured rounds")
        for r in range(start, rounds):
            probe = _wait_quiet(quiet, wait_s) if rank == 0 and wait_s > 0 else float("nan")
            dist.barrier()
            wall0, busy0, cpu0 = time.perf_counter(), _busy_seconds(), time.process_time()
            rec = {"load": os.getloadavg(), "probe": probe, "ping": {}, "allreduce": {},
                   "steps": [[] for _ in suite],
                   "tiny_steps": [[] for _ in suite], "pieces": [{} for _ in suite],
                   "tiny_pieces": [{} for _ in suite], "spans": [{} for _ in suite],
                   "tiny_spans": [{} for _ in suite], "alone": {}, "together": {}}
            _calibrate(dist, rank, sizes, rec)
            _calibrate_slowdowns(dist, rank, world, big, configs, rec)
            order = list(range(len(suite)))
            order = order[r % len(order):] + order[:r % len(order)]  # rotate, so drift hits all alike
            for k in order:
                rec["steps"][k] = run_steps(plans[k], rank, steps, warmup=1, timings=rec["pieces"][k],
                                            spans=rec["spans"][k])
                rec["tiny_steps"][k] = run_steps(tiny_plans[k], rank, steps, warmup=1,
                                                 timings=rec["tiny_pieces"][k], spans=rec["tiny_spans"][k])
            dist.barrier()
            wall, busy, cpu = time.perf_counter() - wall0, _busy_seconds() - busy0, time.process_time() - cpu0
            rec["load_after"] = os.getloadavg()
            both = [None] * world
            dist.all_gather_object(both, (rec["pieces"], rec["tiny_pieces"], cpu, rec["spans"], rec["tiny_spans"],
                                          rec["alone"], rec["together"]))
            # cores' worth of CPU other programs took during the round: all busy time less ours
            rec["others"] = (busy - sum(b[2] for b in both)) / wall
            rec["wall"] = wall
            for key, pos in (("pieces", 0), ("tiny_pieces", 1)):  # pool both ranks' piece timings
                for k in range(len(suite)):
                    merged: dict = {}
                    for other in both:
                        for sig, ts in other[pos][k].items():
                            merged.setdefault(sig, []).extend(ts)
                    rec[key][k] = merged
            # each process's piece intervals, kept apart (the overlaps are between processes)
            rec["spans"] = [[b[3][k] for b in both] for k in range(len(suite))]
            rec["tiny_spans"] = [[b[4][k] for b in both] for k in range(len(suite))]
            for key, pos in (("alone", 5), ("together", 6)):
                merged = {}
                for other in both:
                    for sig, ts in other[pos].items():
                        merged.setdefault(sig, []).extend(ts)
                rec[key] = merged
            if rank == 0:
                if raw is None:
                    raw = {"sizes": tuple(sizes), "batch_size": batch_size, "steps": steps, "random": random,
                           "candidates": candidates,
                           "labels": [(label, sync) for label, _, sync in suite], "rounds": []}
                raw["rounds"].append(rec)
                save(path, raw)  # atomically: an interruption keeps every finished round
                if bar is not None:
                    bar.update()
        if bar is not None:
            bar.close()
    finally:
        end_process()


def measure_strategies(sizes=(512, 1024, 1024, 10), batch_size: int = 256, steps: int = 8, rounds: int = 6,
                       random: int = 5, path=None, progress: bool = False, quiet: float = 0.25,
                       wait_s: float = 0.0, candidates: int = 1) -> dict:
    """Train every strategy of :func:`strategy_suite` for real on 2 CPU processes (gloo), in
    ``rounds`` interleaved rounds, and return the raw timings (see :func:`check_strategies`).

    Each round times the link (one-way messages and all-reduces), then every configuration's
    piece alone and with the other process running it too (the contention calibration), then
    trains ``steps`` steps of every strategy and of its tiny-layer twin, in an order rotated
    each round, timing every piece's compute as it runs, with its interval on the shared
    clock.  It records the load average (``os.getloadavg()``, what
    ``uptime`` prints) before and after, and **the contention it ran under**: ``others``, the
    cores' worth of CPU that other programs took during the round (all the machine's busy time
    from ``/proc/stat`` less the two processes' own CPU time).  With ``wait_s > 0``, each round
    first waits up to ``wait_s`` seconds for other programs to use at most ``quiet`` cores
    (1-second probes while both processes sleep).  With ``path``, the raw timings are written
    there atomically after every round, and a call with the same settings resumes from the
    rounds already in the file.

    Returns
    -------
    dict
        ``sizes``, ``batch_size``, ``steps``, ``random``, ``labels`` (``[(strategy, sync)]``)
        and ``rounds``: one dict per round with ``load``, ``load_after``, ``others``,
        ``probe`` (the last quiet probe, NaN without waiting), ``wall``, ``ping`` and
        ``allreduce`` (``{bytes: [seconds]}``), ``steps`` and ``tiny_steps`` (per strategy, the
        seconds of each step), ``pieces`` and ``tiny_pieces`` (per strategy, ``{(op, degrees):
        [(forward s, backward s)]}`` over both processes, process 0's first), ``spans`` and
        ``tiny_spans`` (per strategy, per process, ``{(op, degrees): [(forward start, end,
        backward start, end)]}`` in the pieces' order), ``alone`` and ``together`` (``{(op,
        degrees): [(forward s, backward s)]}`` of one piece alone and with the other process
        running the same piece).  ``candidates`` is :func:`strategy_suite`'s.
    """
    from dawnlab.results import load

    for name, v, lo in (("rounds", rounds, 1), ("steps", steps, 1), ("batch_size", batch_size, 2),
                        ("random", random, 0), ("candidates", candidates, 1)):
        if not isinstance(v, int) or isinstance(v, bool) or v < lo:
            raise invalid(name, "measure_strategies", f"an int >= {lo}", v)
    if path is not None and os.fspath(path).endswith(".json"):  # the pieces are keyed by (op, degrees) tuples
        raise invalid("path", "measure_strategies", "a pickle path, not .json (the raw timings are keyed by "
                      "tuples, which JSON cannot hold)", os.fspath(path), fix="use a name ending in .pkl")
    with tempfile.TemporaryDirectory() as d:
        target = os.fspath(path) if path is not None else os.path.join(d, "suite.pkl")
        start = 0
        if path is not None and os.path.exists(target):
            old = load(target)
            same = (tuple(old["sizes"]), old["batch_size"], old["steps"], old["random"],
                    old.get("candidates", 1)) == (tuple(sizes), batch_size, steps, random, candidates)
            if not same:
                raise invalid("path", "measure_strategies", "a file of the same settings to resume (or a new "
                              "path)", f"{target!r} holds sizes={old['sizes']}, batch_size={old['batch_size']}, "
                              f"steps={old['steps']}, random={old['random']}, "
                              f"candidates={old.get('candidates', 1)}")
            start = min(len(old["rounds"]), rounds)
        if start < rounds:
            spawn(_suite_worker, (tuple(sizes), batch_size, steps, rounds, random, target, start, progress,
                                  float(quiet), float(wait_s), candidates), world=2)
        raw = load(target)
    raw["rounds"] = raw["rounds"][:rounds]
    return raw


def _quantile(xs, q):
    """The ``q`` quantile of ``xs`` (the median at 0.5, the minimum at 0)."""
    if q == 0.5:
        return _median(xs)
    xs = sorted(xs)
    pos = q * (len(xs) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _overlap(a, b, union):
    """Seconds of [a, b] covered by ``union`` (sorted disjoint spans)."""
    lo = bisect_right(union, (a, float("inf"))) - 1
    total = 0.0
    for s, e in union[max(lo, 0):]:
        if s >= b:
            break
        total += max(0.0, min(e, b) - max(s, a))
    return total


def _alone_pieces(pieces, spans, slow):
    """The pieces' times *alone*: each timed piece less what the other process's computing at
    the same time cost it, under the simulator's contention model (a piece runs ``slow``
    times slower while the other process computes, so ``alone = timed - overlap * (1 -
    1 / slow)``), from the intervals both processes recorded on the shared clock; ``slow`` is
    ``{(op, degrees): (forward, backward)}`` (1 where absent)."""
    from dawnlab.flexflow.simulator import _union

    per_rank = []
    for rank, mine in enumerate(spans):
        others = _union(sorted(iv for r, sp in enumerate(spans) if r != rank for ivs in sp.values()
                               for f0, f1, b0, b1 in ivs for iv in ((f0, f1), (b0, b1)) if iv[1] > iv[0]))
        per_rank.append({key: [(_overlap(f0, f1, others), _overlap(b0, b1, others)) for f0, f1, b0, b1 in ivs]
                         for key, ivs in mine.items()})
    out = {}
    for key, ts in pieces.items():
        ovs = [o for r in per_rank for o in r.get(key, [])]
        sf, sb = slow.get(key, (1.0, 1.0))
        out[key] = [(f - of * (1 - 1 / sf), b - ob * (1 - 1 / sb)) for (f, b), (of, ob) in zip(ts, ovs)]
    return out


def _slowdowns(rec, q=0.5):
    """``{(op, degrees): (forward, backward)}``: a piece's time with the other process running
    it too over its time alone, from one round's calibration (never below 1)."""
    out = {}
    for key, alone in rec.get("alone", {}).items():
        both = rec["together"].get(key)
        if both:
            out[key] = tuple(max(1.0, _quantile([t[c] for t in both], q) / max(_quantile([t[c] for t in alone], q),
                                                                              1e-12)) for c in (0, 1))
    return out


def _held_out_costs(graph, pieces, k, q=0.5, slow=None, syncs=None):
    """A cost table for strategy ``k`` from the pieces timed while *other* strategies trained
    (the ``q`` quantile per operator configuration, the median by default); a configuration
    only strategy ``k`` uses falls back on its own timings.  With ``syncs`` (each strategy's
    sync model), a configuration is first taken from the other strategies *of the same sync
    model*, since a piece's timed work includes its weight sync's local work (packing,
    summing as owner, unpacking), which differs between ring and parameter server; then from
    any other strategy.  ``slow`` (``{(op, degrees): (forward, backward)}``) becomes the
    table's measured slowdowns."""
    table = {}
    tiers = [lambda j: j != k and syncs[j] == syncs[k]] if syncs is not None else []
    tiers += [lambda j: j != k, lambda j: j == k]
    for take in tiers:
        pooled: dict = {}
        for j, timings in enumerate(pieces):
            if take(j):
                for key, ts in timings.items():
                    pooled.setdefault(key, []).extend(ts)
        for (i, deg), ts in pooled.items():
            sig = MeasuredCosts.signature(graph, i, tuple(deg), "cpu")
            if sig not in table:
                table[sig] = [_quantile([f for f, _ in ts], q), _quantile([b for _, b in ts], q)]
    costs = MeasuredCosts(None)
    costs.table = table
    costs.slowdowns = {MeasuredCosts.signature(graph, i, tuple(deg), "cpu"): list(v)
                       for (i, deg), v in (slow or {}).items()}
    return costs


def _round_link(rec, copy_engine, q=0.5):
    """The link fitted to one round's messages: a one-way message is one transfer; a 2-way
    all-reduce is two transfers when they are host-driven, else two concurrent ones (one)."""
    per_ar = 1 if copy_engine else 2
    return _fit_link([(n, _quantile(ts, q), 1) for n, ts in sorted(rec["ping"].items())]
                     + [(n, _quantile(ts, q), per_ar) for n, ts in sorted(rec["allreduce"].items())])


def predict_strategies(raw: dict, copy_engine: bool = False, quantile: float = 0.5,
                       max_others: float | None = None, contention: bool | None = None) -> StrategyCheck:
    """Predict every measured strategy of ``raw`` (from :func:`measure_strategies`) with the
    simulator and compare (see :func:`check_strategies`).

    Every round is predicted from its own measurements only, so the load of that round
    weighs on the prediction and the measurement alike: the link fitted to the round's
    messages, each piece's median compute time over the round's *other* strategies (held
    out), and the strategy's per-step offset (its tiny twin's median step minus its
    simulated step).  A strategy's measured and simulated times are the medians of its
    per-round values.  ``copy_engine=True`` treats the processes as devices whose transfers do
    not occupy them (the GPU model), for comparison; ``quantile`` replaces every within-round
    median (steps, pieces, messages) by that quantile.

    ``max_others`` keeps only the rounds during which other programs took at most that many
    cores (the round's ``others``, measured, never the step times), when at least one round
    qualifies; the result says which rounds it used.

    ``contention`` (the default wherever the rounds hold the contention calibration): the two
    processes are one contention group of the simulator.  Each piece's time alone is its
    timed time less what the other process's concurrent computing cost it
    (:func:`_alone_pieces`, from both processes' intervals and that round's measured
    slowdowns), and the simulator slows each piece by its configuration's measured slowdown
    (that round's time with the other process running the same piece, over its time alone)
    wherever it overlaps the other process's work.  ``contention=False`` is the model without
    it: the pieces' timed times as they are, no slowdown.

    A piece's cost is pooled first from the other strategies of the same sync model (see
    :func:`_held_out_costs`), then from any other strategy.
    """
    import numpy as np
    import pandas as pd
    from scipy import stats

    if not isinstance(raw, dict) or not raw.get("rounds"):
        raise invalid("raw", "predict_strategies", "the result of measure_strategies with at least one round",
                      type(raw).__name__ if not isinstance(raw, dict) else f"{len(raw.get('rounds') or [])} rounds")
    rounds = raw["rounds"]
    if contention is None:
        contention = all("together" in rec and "spans" in rec for rec in rounds)
    if max_others is not None:
        kept = [rec for rec in rounds if rec.get("others", float("inf")) <= max_others]
        rounds = kept or rounds
    big = benchmarks.mlp(raw["batch_size"], tuple(raw["sizes"]))
    tiny = benchmarks.mlp(8, _tiny(raw["sizes"]))
    suite = strategy_suite(big, _cpu_machine(2, 1e-5, 1e9), raw["random"], raw.get("candidates", 1))
    per = {k: {"meas": [], "sim": [], "offset": []} for k in range(len(suite))}
    links = []
    for rec in rounds:
        latency, bandwidth = _round_link(rec, copy_engine, quantile)
        links.append((latency, bandwidth))
        m = _cpu_machine(2, latency, bandwidth, copy_engine, share=contention)
        pieces, tiny_pieces, slow = rec["pieces"], rec["tiny_pieces"], {}
        if contention:
            slow = _slowdowns(rec, quantile)
            pieces = [_alone_pieces(p, sp, slow) for p, sp in zip(pieces, rec["spans"])]
            tiny_pieces = [_alone_pieces(p, sp, {}) for p, sp in zip(tiny_pieces, rec["tiny_spans"])]
        syncs = [sync for _, _, sync in suite]
        for k, (_, s, sync) in enumerate(suite):
            costs = _held_out_costs(big, pieces, k, quantile, slow, syncs)
            tiny_costs = _held_out_costs(tiny, tiny_pieces, k, quantile)
            offset = _quantile(rec["tiny_steps"][k], quantile) - Simulator(tiny, m, tiny_costs, sync).simulate(
                Strategy(tiny, m, dict(s.configs)), record=False).iteration_time
            sim = Simulator(big, m, costs, sync).simulate(Strategy(big, m, dict(s.configs)),
                                                          record=False).iteration_time
            per[k]["meas"].append(_quantile(rec["steps"][k], quantile))
            per[k]["sim"].append(sim + offset)
            per[k]["offset"].append(offset)
    rows = []
    for k, (label, _, sync) in enumerate(suite):
        meas, sim = _median(per[k]["meas"]), _median(per[k]["sim"])
        steps = [t for rec in rounds for t in rec["steps"][k]]
        q1, q3 = np.percentile(steps, [25, 75])
        rows.append({"strategy": label, "sync": sync, "measured_s": meas, "simulated_s": sim,
                     "offset_s": _median(per[k]["offset"]), "error": abs(sim - meas) / meas,
                     "spread": (q3 - q1) / meas})
    table = pd.DataFrame(rows)
    tau = stats.kendalltau(table.simulated_s, table.measured_s).statistic
    rho = stats.spearmanr(table.simulated_s, table.measured_s).statistic
    load = [rec["load"][0] for rec in rounds] + [rec["load_after"][0] for rec in rounds]
    return StrategyCheck(table, float(tau), float(rho), _median([l for l, _ in links]),
                         _median([b for _, b in links]), len(rounds), (min(load), _median(load), max(load)),
                         [rec.get("others", float("nan")) for rec in raw["rounds"]],
                         [k for k, rec in enumerate(raw["rounds"]) if any(rec is x for x in rounds)])


def check_strategies(sizes=(512, 1024, 1024, 10), batch_size: int = 256, steps: int = 5, rounds: int = 3,
                     random: int = 5, path=None, progress: bool = False, quiet: float = 0.25,
                     wait_s: float = 0.0, max_others: float | None = None, candidates: int = 1) -> StrategyCheck:
    """Run :func:`strategy_suite` for real on 2 CPU processes (gloo) and predict each run.

    :func:`measure_strategies` trains every strategy in ``rounds`` interleaved rounds, timing
    the link (one-way messages and all-reduces) and every piece's compute as it runs (the
    per-operator costs of Section 5.1, taken on the device under the same load as the
    steps); :func:`predict_strategies` predicts each round of each strategy with the simulator
    (ready-time queues, the run's sync model, host-driven transfers: a process's messages
    occupy its core) from that round's costs of the pieces timed while the *other* strategies
    trained (held out, so no run's own timings predict it, save a configuration no other
    strategy uses), that round's fitted link, and that strategy's per-step offset (its tiny
    twin's measured step minus its simulated step: framework work no operator task holds).
    The two processes are one contention group: each piece is slowed by its configuration's
    slowdown measured in the round (alone against both processes at once) wherever it overlaps
    the other process's work, and the timed pieces are first brought back to their times
    alone (see :func:`predict_strategies`).  ``candidates`` spreads the random strategies
    (see :func:`strategy_suite`).

    Returns the table, the Kendall and Spearman rank correlations between simulated and
    measured times, and the load average over the rounds.  ``path`` keeps the raw timings
    (and resumes from them, see :func:`measure_strategies`).
    """
    raw = measure_strategies(sizes, batch_size, steps, rounds, random, path, progress, quiet, wait_s, candidates)
    return predict_strategies(raw, max_others=max_others)
