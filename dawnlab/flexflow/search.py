"""MCMC search over the SOAP space (the execution optimizer).

Section 6 of arXiv 1807.05358: FlexFlow searches for a fast strategy with the
Metropolis-Hastings algorithm.  The cost of a strategy is its simulated
iteration time.  A proposal picks one operator at random (an unrolled
recurrent layer, whose time steps share weights, counts as one operator) and
gives it a random valid configuration; it is accepted with probability
``min(1, exp(-(new - current) / (temperature * current)))`` (the paper's
``exp(beta (cost(S) - cost(S*)))`` with beta scaled to the current cost, so
that one temperature suits models of any speed).  Proposals are evaluated with
delta simulation (Section 5.3) and undone exactly when rejected.

Several chains run in parallel through :func:`dawnlab.parallel.imap` (a local
process pool, or a dask cluster when a ``client`` is given).  They start from
data parallelism, the expert strategy and random strategies (Section 6.2).  A
chain stops at its step budget, at the time budget, or when it has not improved
for half its step budget.  The search runs in rounds and yields the best
strategy found so far after each round, so a widget can show it live.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from dawnlab.errors import invalid
from dawnlab.flexflow.graph import Graph
from dawnlab.flexflow.machine import Machine
from dawnlab.flexflow.simulator import SYNC_MODES, Simulator
from dawnlab.flexflow.soap import OpConfig, Strategy, random_config
from dawnlab.parallel import imap

__all__ = ["SearchState", "MCMCSearch", "search", "run_chain"]


@dataclass
class SearchState:
    """The search so far.

    Attributes
    ----------
    best : Strategy
        Fastest strategy found.
    best_time : float
        Its simulated iteration time (s).
    initial_times : dict
        Iteration time of each chain's starting strategy, by chain label.
    trace : list of dict
        One row per chain and round: ``chain``, ``start`` label, ``step``, ``current``,
        ``best``, ``accepted``, ``seconds``.
    steps : int
        Proposals evaluated over all chains.
    seconds : float
        Wall-clock time since the search started.
    done : bool
        True on the last state.
    """

    best: Strategy
    best_time: float
    initial_times: dict = field(default_factory=dict)
    trace: list = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0
    done: bool = False


def _pack(strategy_configs):
    return {n: (c.degrees, c.devices) for n, c in strategy_configs.items()}


def _unpack(packed):
    return {n: OpConfig(tuple(d), tuple(v)) for n, (d, v) in packed.items()}


def run_chain(job: dict) -> dict:
    """Advance one Markov chain by up to ``job['steps']`` proposals (a fan-out task).

    ``job`` holds the graph, machine, costs, the chain's current configs, its best,
    its RNG state and counters; the updated dict is returned.
    """
    graph, machine = job["graph"], job["machine"]
    rng = np.random.default_rng()
    rng.bit_generator.state = job["rng"]
    sim = Simulator(graph, machine, job["costs"], job["sync"])
    current = sim.simulate(Strategy(graph, machine, _unpack(job["current"])), record=False).iteration_time
    best, best_time = job["best"], job["best_time"]
    temp, patience = job["temperature"], job["patience"]
    deadline = job["deadline"]
    stale, accepted, steps = job["stale"], 0, 0
    use_delta = job["delta"]
    ops = graph.ops
    # the time steps of one recurrent layer (a weight-sharing group) are one unit and move together
    units = list({tuple(graph.groups[graph.group_of(i)]) if graph.group_of(i) else (i,): None
                  for i in range(len(ops))})
    while steps < job["steps"] and stale < patience and time.time() < deadline:
        unit = units[int(rng.integers(len(units)))]
        i = unit[0]
        cfg = random_config(ops[i], machine, rng)
        if cfg == sim.configs[i]:
            continue
        change = {k: cfg for k in unit}
        steps += 1
        if use_delta:
            new = sim.propose(change)
        else:
            trial = dict(sim.configs)
            trial.update(change)
            s = Strategy(graph, machine, {ops[k].name: c for k, c in trial.items()})
            new = Simulator(graph, machine, job["costs"], job["sync"]).simulate(s, record=False).iteration_time
        if new <= current or rng.random() < math.exp(-(new - current) / (temp * current)):
            if not use_delta:
                sim.configs.update(change)
            current = new
            accepted += 1
        elif use_delta:
            sim.undo()
        if current < best_time - 1e-15:
            best_time = current
            best = _pack({ops[k].name: c for k, c in sim.configs.items()})
            stale = 0
        else:
            stale += 1
    out = dict(job)
    out.update(current=_pack({ops[k].name: c for k, c in sim.configs.items()}), current_time=current,
               best=best, best_time=best_time, rng=rng.bit_generator.state, stale=stale,
               done_steps=job["done_steps"] + steps, accepted=job["accepted"] + accepted,
               finished=steps < job["steps"] or stale >= patience or time.time() >= deadline,
               tasks=sim.tasks_simulated)
    return out


class MCMCSearch:
    """Configure an MCMC search (Section 6); :meth:`run` yields :class:`SearchState`.

    Parameters
    ----------
    graph, machine
        What to parallelize, and where.
    budget : int
        Proposals per chain.
    chains : int
        Markov chains: the first starts from data parallelism, the second from the
        expert strategy, the rest from random strategies.
    client : dask.distributed.Client, optional
        Run chains on this cluster (default: a local process pool).
    seconds : float, optional
        Wall-clock budget for the whole search.
    temperature : float
        Relative cost increase accepted with probability 1/e.
    rounds : int
        The search yields after each round of ``budget / rounds`` steps per chain.
    costs : AnalyticCosts or MeasuredCosts, optional
    delta : bool
        Evaluate proposals by delta simulation (True) or by full simulation.
    processes : int, optional
        Local worker processes (``1``: run chains in this process).
    seed : int
    init : tuple of str, optional
        Starting strategies of the chains, from ``"data_parallel"``, ``"expert"``,
        ``"model_parallel"``, ``"random"``; defaults as described for ``chains``.
    sync : {"ps", "ring"}
        The simulator's weight synchronisation model (see :class:`~dawnlab.flexflow.Simulator`).

    Examples
    --------
    >>> from dawnlab.flexflow import benchmarks, Machine
    >>> g, m = benchmarks.alexnet(64), Machine.preset("p100x4")
    >>> last = list(MCMCSearch(g, m, budget=60, chains=2, processes=1, rounds=2).run())[-1]
    >>> last.done, last.best_time <= last.initial_times["data_parallel"]
    (True, True)
    """

    def __init__(self, graph: Graph, machine: Machine, budget: int = 1000, chains: int = 4, client=None,
                 seconds: float | None = None, temperature: float = 0.05, rounds: int = 10, costs=None,
                 delta: bool = True, processes: int | None = None, seed: int = 0,
                 init: tuple[str, ...] | None = None, progress: bool = False, sync: str = "ring"):
        if not isinstance(budget, int) or budget < 1:
            raise invalid("budget", "search", "a positive int (proposals per chain)", budget)
        if not isinstance(chains, int) or chains < 1:
            raise invalid("chains", "search", "a positive int", chains)
        if seconds is not None and not seconds > 0:
            raise invalid("seconds", "search", "a positive number of seconds or None", seconds)
        if not temperature > 0:
            raise invalid("temperature", "search", "a positive number", temperature)
        if not isinstance(rounds, int) or rounds < 1:
            raise invalid("rounds", "search", "a positive int", rounds)
        kinds = ("data_parallel", "expert", "model_parallel", "random")
        if init is None:
            init = tuple((["data_parallel", "expert"] + ["random"] * chains)[:chains])
        if len(init) != chains or any(k not in kinds for k in init):
            raise invalid("init", "search", f"{chains} names from {kinds}", init)
        self.graph, self.machine, self.budget, self.chains = graph, machine, budget, chains
        self.client, self.seconds, self.temperature, self.rounds = client, seconds, temperature, rounds
        self.costs, self.delta, self.processes, self.seed = costs, delta, processes, seed
        if sync not in SYNC_MODES:
            raise invalid("sync", "search", f"one of {SYNC_MODES}", sync)
        self.init, self.progress, self.sync = init, progress, sync

    def _start(self, k: int, kind: str) -> Strategy:
        g, m = self.graph, self.machine
        if kind == "random":
            return Strategy.random(g, m, np.random.default_rng([self.seed, k, 1]))
        return getattr(Strategy, kind)(g, m)

    def run(self) -> Iterator[SearchState]:
        """Run the chains round by round, yielding the best strategy so far."""
        t0 = time.time()
        deadline = t0 + self.seconds if self.seconds else float("inf")
        g, m = self.graph, self.machine
        jobs, labels, initial = [], [], {}
        for k, kind in enumerate(self.init):
            s = self._start(k, kind)
            t = Simulator(g, m, self.costs, self.sync).simulate(s, record=False).iteration_time
            label = kind if kind not in labels else f"{kind}{k}"
            labels.append(label)
            initial[label] = t
            packed = _pack(s.configs)
            jobs.append({"graph": g, "machine": m, "costs": self.costs, "current": packed, "best": packed,
                         "best_time": t, "current_time": t, "temperature": self.temperature,
                         "patience": max(1, self.budget // 2), "deadline": deadline, "stale": 0,
                         "delta": self.delta, "sync": self.sync, "done_steps": 0, "accepted": 0, "finished": False,
                         "rng": np.random.default_rng([self.seed, k]).bit_generator.state, "chain": k})
        best_k = min(range(len(jobs)), key=lambda k: jobs[k]["best_time"])
        state = SearchState(Strategy(g, m, _unpack(jobs[best_k]["best"])), jobs[best_k]["best_time"],
                            initial, [], 0, 0.0, False)
        per_round = -(-self.budget // self.rounds)
        for _ in range(self.rounds):
            live = [k for k, j in enumerate(jobs) if not j["finished"]]
            if not live:
                break
            todo = []
            for k in live:
                job = dict(jobs[k])
                job["steps"] = min(per_round, self.budget - job["done_steps"])
                todo.append(job)
            for idx, out in imap(run_chain, todo, client=self.client, processes=self.processes,
                                 progress=self.progress, desc="MCMC chains"):
                k = live[idx]
                jobs[k] = out
                state.trace.append({"chain": k, "start": labels[k], "step": out["done_steps"],
                                    "current": out["current_time"], "best": out["best_time"],
                                    "accepted": out["accepted"], "seconds": time.time() - t0})
            best_k = min(range(len(jobs)), key=lambda k: jobs[k]["best_time"])
            if jobs[best_k]["best_time"] < state.best_time:
                state.best = Strategy(g, m, _unpack(jobs[best_k]["best"]))
                state.best_time = jobs[best_k]["best_time"]
            state.steps = sum(j["done_steps"] for j in jobs)
            state.seconds = time.time() - t0
            if time.time() >= deadline:
                break
            yield state
        state.done = True
        state.seconds = time.time() - t0
        yield state


def search(graph: Graph, machine: Machine, budget: int = 1000, chains: int = 4, client=None,
           **kwargs) -> Iterator[SearchState]:
    """Search the SOAP space with MCMC; yields :class:`SearchState` (best strategy so far).

    Takes the parameters of :class:`MCMCSearch`.

    Examples
    --------
    >>> from dawnlab.flexflow import benchmarks, Machine
    >>> g, m = benchmarks.mlp(64, (256, 512, 10)), Machine.preset("p100x4")
    >>> final = list(search(g, m, budget=40, chains=1, processes=1))[-1]
    >>> final.best_time <= final.initial_times["data_parallel"]
    True
    """
    return MCMCSearch(graph, machine, budget=budget, chains=chains, client=client, **kwargs).run()
