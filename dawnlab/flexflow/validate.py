"""The simulator checked against reality: measured CPU training steps.

Section 8.3 of arXiv 1807.05358 checks the simulator by comparing its
predicted iteration times with measured ones (within 30% on GPUs).  We do the
same on what this machine can really run: an MLP trained

- in a single process on one CPU core, and
- data parallel over two CPU processes with ``torch.distributed`` (gloo
  backend, ``DistributedDataParallel``), one core each.

The simulator gets per-operator costs measured with torch on one thread
(:class:`~dawnlab.flexflow.costs.MeasuredCosts`), as the paper measures each
operator on the real device (Section 5.1).  For two processes the costs are
measured inside the two worker processes, both at once, so that the pieces see
the same sharing of the cores as the training steps; the link between the two
"devices" has a latency and bandwidth fitted to gloo all-reduces of two sizes
timed in the same run, and weights are synchronised as a ring all-reduce
(``Simulator(sync="ring")``), which is what ``DistributedDataParallel`` does.
:func:`check` returns both predictions, both measurements and the relative
errors.  Timings on a shared machine are noisy; we take medians.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from dataclasses import dataclass

from dawnlab.flexflow import benchmarks
from dawnlab.flexflow.costs import MeasuredCosts
from dawnlab.flexflow.machine import Machine
from dawnlab.flexflow.simulator import Simulator
from dawnlab.flexflow.soap import Strategy

__all__ = ["CheckResult", "check", "measure_single", "measure_ddp", "mlp_module"]


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


def _train_steps(model, x, y, steps, warmup):
    import torch

    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    times = []
    for k in range(warmup + steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        if k >= warmup:
            times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def measure_single(sizes=(784, 1024, 1024, 10), batch_size: int = 256, steps: int = 20,
                   warmup: int = 5) -> float:
    """Median seconds per training step of the MLP in this process on one thread."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        g = torch.Generator().manual_seed(0)
        x = torch.randn(batch_size, sizes[0], generator=g)
        y = torch.randint(0, sizes[-1], (batch_size,), generator=g)
        torch.manual_seed(0)
        return _train_steps(mlp_module(sizes), x, y, steps, warmup)
    finally:
        torch.set_num_threads(old)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank, world, port, sizes, batch_size, steps, warmup, out):
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        # link calibration: all-reduce of two sizes
        cal = []
        for n in (1 << 10, 1 << 22):
            buf = torch.ones(n // 4)
            ts = []
            for _ in range(7):
                dist.barrier()
                t0 = time.perf_counter()
                dist.all_reduce(buf)
                ts.append(time.perf_counter() - t0)
            ts.sort()
            cal.append((n, ts[len(ts) // 2]))
        # per-operator costs measured here, one thread per process, both ranks at once: the
        # cores are shared exactly as during the training steps below
        costs = _measure_dp_costs(sizes, batch_size, world)
        g = torch.Generator().manual_seed(rank)
        local = batch_size // world
        x = torch.randn(local, sizes[0], generator=g)
        y = torch.randint(0, sizes[-1], (local,), generator=g)
        torch.manual_seed(0)
        model = torch.nn.parallel.DistributedDataParallel(mlp_module(sizes))
        dist.barrier()
        t = _train_steps(model, x, y, steps, warmup)
        if rank == 0:
            torch.save({"step": t, "calibration": cal, "costs": costs}, out)
    finally:
        dist.destroy_process_group()


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
                warmup: int = 5) -> dict:
    """Data-parallel training over 2 CPU processes (gloo): median step time (``"step"``), the
    all-reduce calibration ``[(bytes, seconds), ...]`` (``"calibration"``) and the per-operator
    costs measured inside the processes (``"costs"``, a :class:`MeasuredCosts` table)."""
    import torch
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "ddp.pt")
        mp.start_processes(_ddp_worker, args=(2, _free_port(), tuple(sizes), batch_size, steps, warmup, out),
                           nprocs=2, join=True, start_method="spawn")
        return torch.load(out)


def _cpu_machine(n, latency, bandwidth):
    spec = {"flops": 5e10, "mem_bandwidth": 1e10, "memory": 8e9, "kernel_latency": 2e-5}
    links = [{"a": "core0", "b": "core1", "bandwidth": bandwidth, "latency": latency}] if n > 1 else []
    return Machine.from_dict({"name": f"cpu{n}-calibrated", "device_types": {"cpu": spec},
                              "devices": [{"name": f"core{i}", "type": "cpu"} for i in range(n)],
                              "links": links})


def check(sizes=(784, 1024, 1024, 10), batch_size: int = 256, steps: int = 20,
          cache: str | None = None) -> CheckResult:
    """Measure the MLP in 1 and 2 processes and compare with the simulator's predictions.

    ``cache`` is the measured-cost file (a temporary one when omitted).
    """
    costs = MeasuredCosts(cache or os.path.join(tempfile.mkdtemp(), "costs.json"), repeats=9)
    single = measure_single(sizes, batch_size, steps)
    ddp = measure_ddp(sizes, batch_size, steps)
    (n1, t1), (n2, t2) = ddp["calibration"]
    # ring all-reduce of 2 ranks sends the whole buffer once each way: t = lat + n / bw
    bandwidth = max((n2 - n1) / max(t2 - t1, 1e-9), 1e6)
    latency = max(t1 - n1 / bandwidth, 0.0)
    g1 = benchmarks.mlp(batch_size, tuple(sizes))
    m1 = _cpu_machine(1, latency, bandwidth)
    pred1 = Simulator(g1, m1, costs, sync="ring").simulate(Strategy.data_parallel(g1, m1), record=False).iteration_time
    m2 = _cpu_machine(2, latency, bandwidth)
    costs2 = MeasuredCosts(None)
    costs2.table = dict(ddp["costs"])
    pred2 = Simulator(g1, m2, costs2, sync="ring").simulate(Strategy.data_parallel(g1, m2), record=False).iteration_time
    return CheckResult(tuple(sizes), batch_size, single, pred1, ddp["step"], pred2, latency, bandwidth)
