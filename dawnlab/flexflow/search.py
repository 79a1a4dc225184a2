"""MCMC search over the SOAP space (the execution optimizer).

Section 6 of arXiv 1807.05358: FlexFlow searches for a fast strategy with the
Metropolis-Hastings algorithm, the cost of a strategy being its simulated
iteration time.  Here, as the paper states:

- **Proposal.**  Pick one *unit* uniformly (an operator; an unrolled recurrent
  layer, whose time steps share weights, is one unit and moves as one) and
  draw a configuration for it: degrees uniformly among the valid ones, then,
  with probability ``1 - MIX``, a block of consecutive devices aligned to a
  multiple of the piece count (as :func:`~dawnlab.flexflow.soap.random_config`
  does), else a block starting at a uniformly chosen device.  A draw equal to
  the current configuration is a step that stays put (it counts).
- **Acceptance.**  ``min(1, exp(-beta (cost' - cost)) q(cfg) / q(cfg'))``: the
  paper's rule at a fixed ``beta`` times the Hastings correction, because the
  proposal is not symmetric (``q`` is the probability that the proposal draws a
  configuration; aligned blocks of few pieces are likelier).  The mixture gives
  every consecutive block a positive ``q``; a current configuration the proposal
  can never draw (a hand-written start) is left by a plain Metropolis step and
  never re-entered, so the chain's stationary distribution on the rest is the
  paper's ``exp(-beta cost)``.
- **beta** is fixed for a chain: the ``beta`` argument (per second) when given,
  else ``1 / (temperature * cost of the chain's starting strategy)``, so that a
  relative increase of ``temperature`` over the start is accepted with
  probability ``1/e``; it never follows the current cost.
- **Memory.**  A strategy that does not fit every device's memory is invalid:
  proposals that do not fit are rejected, and the best strategy is always one
  that fits.

Proposals are evaluated with delta simulation (Section 5.3) and undone exactly
when rejected.  Several chains run in parallel through
:func:`dawnlab.parallel.imap` (a local process pool, or a dask cluster when a
``client`` is given), from data parallelism, the expert strategy and random
strategies (Section 6.2).  A chain stops at its step budget, at the time
budget, or when it has not improved for half its step budget.  The search runs
in rounds and yields a new :class:`SearchState` after each (the best strategy so
far, for a live widget); a progress bar (``tqdm.auto``) counts the rounds;
``checkpoint=path`` saves the chains after every round and a new search with
the same settings resumes from it.  On a machine where no operator has a second
configuration (one device), the search returns its start at once.
"""

from __future__ import annotations

import math
import pathlib
import time
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from dawnlab.errors import invalid
from dawnlab.flexflow.graph import Graph
from dawnlab.flexflow.machine import Machine
from dawnlab.flexflow.simulator import SYNC_MODES, Simulator
from dawnlab.flexflow.soap import ConfigError, OpConfig, Strategy, degree_options
from dawnlab.parallel import imap

__all__ = ["SearchState", "MCMCSearch", "search", "run_chain", "propose_config", "proposal_probability", "MIX"]


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


#: Probability that a proposal places its pieces on an unaligned block of devices.
MIX = 0.1


def propose_config(op, machine: Machine, rng: np.random.Generator) -> OpConfig:
    """Draw a configuration of ``op`` from the search's proposal (see the module docstring)."""
    options = degree_options(op, machine.num_devices)
    deg = options[int(rng.integers(len(options)))]
    n, d = math.prod(deg), machine.num_devices
    if rng.random() < MIX or d % n:
        start = int(rng.integers(d))
    else:
        start = int(rng.integers(d // n)) * n
    return OpConfig(tuple(int(k) for k in deg), tuple((start + i) % d for i in range(n)))


def proposal_probability(op, cfg: OpConfig, machine: Machine) -> float:
    """The probability that :func:`propose_config` draws ``cfg`` (0 if it never does).

    Examples
    --------
    >>> from dawnlab.flexflow.graph import GraphBuilder
    >>> b = GraphBuilder(); x = b.input((8, 6)); _ = b.linear(x, 4, name="fc")
    >>> op, m = b.build()["fc"], Machine.preset("p100x4")
    >>> rng = np.random.default_rng(0)
    >>> draws = [propose_config(op, m, rng) for _ in range(20000)]
    >>> c = OpConfig((2, 1), (0, 1))
    >>> abs(draws.count(c) / len(draws) - proposal_probability(op, c, m)) < 0.01
    True
    """
    options = degree_options(op, machine.num_devices)
    if cfg.degrees not in options:
        return 0.0
    n, d = cfg.pieces, machine.num_devices
    start = cfg.devices[0]
    if cfg.devices != tuple((start + i) % d for i in range(n)):
        return 0.0
    if d % n:
        p_start = 1.0 / d
    else:
        p_start = MIX / d + ((1 - MIX) / (d // n) if start % n == 0 else 0.0)
    return p_start / len(options)


def run_chain(job: dict) -> dict:
    """Advance one Markov chain by up to ``job['steps']`` proposals (a fan-out task).

    ``job`` holds the graph, machine, costs, the chain's current configs, its best,
    its RNG state, ``beta`` and counters; the updated dict is returned.  When ``job`` has a
    ``"visits"`` dict, the chain counts there the steps it spends in each state (a tuple of
    the operators' configurations).
    """
    graph, machine = job["graph"], job["machine"]
    rng = np.random.default_rng()
    rng.bit_generator.state = job["rng"]
    sim = Simulator(graph, machine, job["costs"], job["sync"])
    sim.simulate(Strategy(graph, machine, _unpack(job["current"])), record=False)
    current = sim.iteration_time if sim.fits_memory() else math.inf
    best, best_time = job["best"], job["best_time"]
    beta, patience = job["beta"], job["patience"]
    deadline = job["deadline"]
    stale, accepted, steps = job["stale"], 0, 0
    use_delta = job["delta"]
    ops = graph.ops
    units = _units(graph)
    visits = job.get("visits")  # state -> steps spent in it (for tests of the stationary law)
    while steps < job["steps"] and stale < patience and time.time() < deadline:
        unit = units[int(rng.integers(len(units)))]
        i = unit[0]
        cfg = propose_config(ops[i], machine, rng)
        steps += 1
        old = [sim.configs[k] for k in unit]
        if all(c == cfg for c in old):
            stale += 1  # a proposal of the current state: the chain stays put
            if visits is not None:
                visits[tuple(sim.configs.values())] = visits.get(tuple(sim.configs.values()), 0) + 1
            continue
        change = {k: cfg for k in unit}
        if use_delta:
            new = sim.propose(change)
            fits = sim.fits_memory()
        else:
            trial = dict(sim.configs)
            trial.update(change)
            s = Strategy(graph, machine, {ops[k].name: c for k, c in trial.items()})
            full = Simulator(graph, machine, job["costs"], job["sync"])
            new = full.simulate(s, record=False).iteration_time
            fits = full.fits_memory()
        q_back = proposal_probability(ops[i], old[0], machine) if all(c == old[0] for c in old) else 0.0
        q_fwd = proposal_probability(ops[i], cfg, machine)
        ratio = q_back / q_fwd if q_back > 0 else 1.0
        if not fits:
            accept = False
        elif current == math.inf:  # leaving a start that does not fit
            accept = True
        else:
            a = -beta * (new - current) + math.log(ratio)
            accept = a >= 0 or rng.random() < math.exp(a)
        if accept:
            if not use_delta:
                sim.configs.update(change)
            current = new
            accepted += 1
        elif use_delta:
            sim.undo()
        if current < best_time:
            best_time = current
            best = _pack({ops[k].name: c for k, c in sim.configs.items()})
            stale = 0
        else:
            stale += 1
        if visits is not None:
            key = tuple(sim.configs.values())
            visits[key] = visits.get(key, 0) + 1
    out = dict(job)
    out.update(current=_pack({ops[k].name: c for k, c in sim.configs.items()}), current_time=current,
               best=best, best_time=best_time, rng=rng.bit_generator.state, stale=stale,
               done_steps=job["done_steps"] + steps, accepted=job["accepted"] + accepted,
               finished=steps < job["steps"] or stale >= patience or time.time() >= deadline,
               tasks=sim.tasks_simulated)
    return out


def _units(graph: Graph) -> list[tuple[int, ...]]:
    """The search's units: each weight-sharing group (the time steps of one recurrent layer) is
    one, every other operator is its own."""
    return list({tuple(graph.groups[graph.group_of(i)]) if graph.group_of(i) else (i,): None
                 for i in range(len(graph.ops))})


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
        Sets each chain's fixed ``beta`` when ``beta`` is not given: a cost increase of this
        fraction of the chain's starting cost is accepted with probability 1/e.
    beta : float, optional
        The fixed inverse temperature (per second of iteration time) of every chain.
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
    progress : bool
        Show a ``tqdm.auto`` bar over the rounds.
    sync : {"ring", "ps"}
        The simulator's weight synchronisation model (see :class:`~dawnlab.flexflow.Simulator`).
    checkpoint : path, optional
        A file where the chains are saved after every round; a search with the same settings,
        graph and machine resumes from it (an interrupted search loses at most one round).

    Examples
    --------
    >>> from dawnlab.flexflow import benchmarks, Machine
    >>> g, m = benchmarks.alexnet(64), Machine.preset("p100x4")
    >>> last = list(MCMCSearch(g, m, budget=60, chains=2, processes=1, rounds=2, progress=False).run())[-1]
    >>> last.done, last.best_time <= last.initial_times["data_parallel"]
    (True, True)
    """

    def __init__(self, graph: Graph, machine: Machine, budget: int = 1000, chains: int = 4, client=None,
                 seconds: float | None = None, temperature: float = 0.05, rounds: int = 10, costs=None,
                 delta: bool = True, processes: int | None = None, seed: int = 0,
                 init: tuple[str, ...] | None = None, progress: bool = True, sync: str = "ring",
                 beta: float | None = None, checkpoint=None):
        if not isinstance(budget, int) or budget < 1:
            raise invalid("budget", "search", "a positive int (proposals per chain)", budget)
        if not isinstance(chains, int) or chains < 1:
            raise invalid("chains", "search", "a positive int", chains)
        if seconds is not None and not seconds > 0:
            raise invalid("seconds", "search", "a positive number of seconds or None", seconds)
        if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
            raise invalid("temperature", "search", "a positive finite number", temperature)
        if beta is not None and not (isinstance(beta, (int, float)) and math.isfinite(beta) and beta > 0):
            raise invalid("beta", "search", "a positive finite number (per second) or None", beta)
        if not isinstance(rounds, int) or rounds < 1:
            raise invalid("rounds", "search", "a positive int", rounds)
        kinds = ("data_parallel", "expert", "model_parallel", "random")
        if init is None:
            init = tuple((["data_parallel", "expert"] + ["random"] * chains)[:chains])
        if len(init) != chains or any(k not in kinds for k in init):
            raise invalid("init", "search", f"{chains} names from {kinds}", init)
        if sync not in SYNC_MODES:
            raise invalid("sync", "search", f"one of {SYNC_MODES}", sync)
        self.graph, self.machine, self.budget, self.chains = graph, machine, budget, chains
        self.client, self.seconds, self.temperature, self.rounds = client, seconds, temperature, rounds
        self.costs, self.delta, self.processes, self.seed = costs, delta, processes, seed
        self.init, self.progress, self.sync, self.beta = init, progress, sync, beta
        self.checkpoint = pathlib.Path(checkpoint) if checkpoint is not None else None

    def _start(self, k: int, kind: str) -> Strategy:
        g, m = self.graph, self.machine
        if kind == "random":
            return Strategy.random(g, m, np.random.default_rng([self.seed, k, 1]))
        return getattr(Strategy, kind)(g, m)

    def _settings(self) -> dict:
        """What a checkpoint must match to be resumed."""
        return {"graph": self.graph.fingerprint(), "machine": self.machine.name, "budget": self.budget,
                "chains": self.chains, "init": list(self.init), "seed": self.seed, "sync": self.sync,
                "temperature": self.temperature, "beta": self.beta, "rounds": self.rounds}

    def _fresh_jobs(self, deadline):
        g, m = self.graph, self.machine
        jobs, labels, initial = [], [], {}
        for k, kind in enumerate(self.init):
            s = self._start(k, kind)
            sim = Simulator(g, m, self.costs, self.sync)
            t = sim.simulate(s, record=False).iteration_time
            label = kind if kind not in labels else f"{kind}{k}"
            labels.append(label)
            initial[label] = t
            packed = _pack(s.configs)
            fits = sim.fits_memory()
            jobs.append({"current": packed, "best": packed, "best_time": t if fits else math.inf,
                         "current_time": t if fits else math.inf,
                         "beta": self.beta if self.beta is not None else 1.0 / (self.temperature * t),
                         "patience": max(1, self.budget // 2), "stale": 0, "delta": self.delta,
                         "sync": self.sync, "done_steps": 0, "accepted": 0, "finished": False,
                         "rng": np.random.default_rng([self.seed, k]).bit_generator.state, "chain": k})
        return jobs, labels, initial, []

    def _load_checkpoint(self):
        from dawnlab.results import load

        if self.checkpoint is None or not self.checkpoint.exists():
            return None
        data = load(self.checkpoint)
        if not isinstance(data, dict) or data.get("settings") != self._settings():
            raise invalid("checkpoint", "search", "a checkpoint of a search with the same graph, machine and "
                          "settings", str(self.checkpoint), "Delete it or pass another path.", cls=ConfigError)
        return data

    def run(self) -> Iterator[SearchState]:
        """Run the chains round by round, yielding a new state (the best strategy so far) after each."""
        from tqdm.auto import tqdm

        t0 = time.time()
        deadline = t0 + self.seconds if self.seconds else float("inf")
        g, m = self.graph, self.machine
        saved = self._load_checkpoint()
        if saved is not None:
            jobs, labels, initial, trace = saved["jobs"], saved["labels"], saved["initial"], saved["trace"]
        else:
            jobs, labels, initial, trace = self._fresh_jobs(deadline)
        shared = {"graph": g, "machine": m, "costs": self.costs, "deadline": deadline}
        if m.num_devices == 1:
            for j in jobs:  # nothing to search: on one device every operator has one configuration
                j["finished"] = True

        def state(done):
            best_k = min(range(len(jobs)), key=lambda k: jobs[k]["best_time"])
            j = jobs[best_k]
            return SearchState(Strategy(g, m, _unpack(j["best"])), j["best_time"], dict(initial), list(trace),
                               sum(x["done_steps"] for x in jobs), time.time() - t0, done)

        per_round = -(-self.budget // self.rounds)
        done_rounds = saved["round"] if saved is not None else 0
        bar = tqdm(total=self.rounds, initial=done_rounds, desc="MCMC rounds", disable=not self.progress,
                   leave=False)
        try:
            for r in range(done_rounds, self.rounds):
                live = [k for k, j in enumerate(jobs) if not j["finished"]]
                if not live or time.time() >= deadline:
                    break
                todo = []
                for k in live:
                    job = {**jobs[k], **shared}
                    job["steps"] = min(per_round, self.budget - job["done_steps"])
                    todo.append(job)
                for idx, out in imap(run_chain, todo, client=self.client, processes=self.processes,
                                     progress=False, desc="MCMC chains"):
                    k = live[idx]
                    jobs[k] = {key: v for key, v in out.items() if key not in shared and key != "steps"}
                    trace.append({"chain": k, "start": labels[k], "step": out["done_steps"],
                                  "current": out["current_time"], "best": out["best_time"],
                                  "accepted": out["accepted"], "seconds": time.time() - t0})
                bar.update(1)
                if self.checkpoint is not None:
                    from dawnlab.results import save

                    save(self.checkpoint, {"settings": self._settings(), "jobs": jobs, "labels": labels,
                                           "initial": initial, "trace": trace, "round": r + 1})
                if time.time() >= deadline:
                    break
                yield state(False)
        finally:
            bar.close()
        yield state(True)


def search(graph: Graph, machine: Machine, budget: int = 1000, chains: int = 4, client=None,
           **kwargs) -> Iterator[SearchState]:
    """Search the SOAP space with MCMC; yields :class:`SearchState` (best strategy so far).

    Takes the parameters of :class:`MCMCSearch`.

    Examples
    --------
    >>> from dawnlab.flexflow import benchmarks, Machine
    >>> g, m = benchmarks.mlp(64, (256, 512, 10)), Machine.preset("p100x4")
    >>> final = list(search(g, m, budget=40, chains=1, processes=1, progress=False))[-1]
    >>> final.best_time <= final.initial_times["data_parallel"]
    True
    """
    return MCMCSearch(graph, machine, budget=budget, chains=chains, client=client, **kwargs).run()
