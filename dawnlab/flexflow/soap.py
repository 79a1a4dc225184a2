"""The SOAP search space: per-operator parallelization configurations and strategies.

Section 4 of arXiv 1807.05358 defines a *parallelization configuration* of an
operator: a degree of parallelism for each parallelizable dimension of its
output tensor - Sample (batch), Attribute (height/width, sequence length) and
Parameter (output channels, hidden units) - which cuts the output into equal
pieces, one task each, and the device each task runs on.  The Operation
dimension arises because different operators may use different devices.  A
*strategy* is one configuration per operator.

:class:`OpConfig` is one configuration; :func:`validate` rejects invalid ones
(a degree that does not divide its dimension, a degree on a dimension that
cannot be split, more pieces than devices, a device that does not exist);
:class:`Strategy` maps every operator to a configuration and has the
classic strategies as constructors: data parallelism, model parallelism, the
expert strategy of Krizhevsky (data parallel convolutions, model parallel fully
connected layers), and random strategies.  Strategies are saved as JSON.
"""

from __future__ import annotations

import itertools
import json
import math
import numbers
import pathlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from dawnlab.errors import DataError, InvalidArgument, invalid
from dawnlab.flexflow.graph import Graph, Op
from dawnlab.flexflow.machine import Machine

__all__ = ["OpConfig", "ConfigError", "validate", "valid_degrees", "degree_options", "random_config", "piece_regions",
           "Strategy"]


class ConfigError(InvalidArgument):
    """A parallelization configuration or strategy is invalid."""


@dataclass(frozen=True)
class OpConfig:
    """How one operator is parallelized (Section 4).

    Attributes
    ----------
    degrees : tuple of int
        Pieces along each output dimension (1 = not split).
    devices : tuple of int
        Device of each piece; pieces are numbered row-major over ``degrees``.

    Examples
    --------
    >>> c = OpConfig((2, 1), (0, 1))
    >>> c.pieces, c.label(("sample", "parameter"))
    (2, 'S2')
    """

    degrees: tuple[int, ...]
    devices: tuple[int, ...]

    @property
    def pieces(self) -> int:
        """Number of tasks (pieces of the output)."""
        return math.prod(self.degrees)

    def label(self, dims: tuple[str, ...]) -> str:
        """Short text such as ``'S4xP2'`` (``'1'`` when not split)."""
        parts = [f"{d[0].upper()}{k}" for d, k in zip(dims, self.degrees) if k > 1]
        return "x".join(parts) or "1"

    def to_json(self) -> dict:
        return {"degrees": list(self.degrees), "devices": list(self.devices)}


def validate(op: Op, config: OpConfig, machine: Machine, owner: str = "validate") -> OpConfig:
    """Check that ``config`` is a valid configuration of ``op`` on ``machine``.

    Raises
    ------
    ConfigError
        Naming the operator, the rule and the value.

    Examples
    --------
    >>> from dawnlab.flexflow.graph import GraphBuilder
    >>> b = GraphBuilder(); x = b.input((6, 4)); y = b.linear(x, 8, name="fc")
    >>> validate(b.build()["fc"], OpConfig((4, 1), (0, 1, 2, 3)), Machine.preset("p100x4"))
    Traceback (most recent call last):
    ...
    dawnlab.flexflow.soap.ConfigError: The 'config' argument of validate must be degrees that divide the output shape (6, 8) of operator 'fc'. Got (4, 1) instead. Use a divisor of each dimension.
    """
    if not isinstance(config, OpConfig):
        raise invalid("config", owner, "an OpConfig", config, cls=ConfigError)
    deg = config.degrees
    if len(deg) != len(op.shape) or any(not isinstance(k, (int, np.integer)) or k < 1 for k in deg):
        raise invalid("config", owner, f"{len(op.shape)} positive degrees, one per output dimension "
                      f"of operator {op.name!r}", deg, cls=ConfigError)
    for k, d, s in zip(deg, op.dims, op.shape):
        if k > 1 and d == "none":
            raise invalid("config", owner, f"degree 1 on the dimensions of operator {op.name!r} that "
                          f"cannot be split (labels {op.dims})", deg, cls=ConfigError)
        if s % k:
            raise invalid("config", owner, f"degrees that divide the output shape {op.shape} of "
                          f"operator {op.name!r}", deg, "Use a divisor of each dimension.", cls=ConfigError)
    limits = op.attrs.get("split_limits")
    if limits is not None and any(lim % k for lim, k in zip(limits, deg)):
        raise invalid("config", owner, f"degrees that divide {tuple(limits)} for operator {op.name!r} "
                      f"(a split must not cut through one of its {op.attrs.get('heads', '')} heads)", deg,
                      cls=ConfigError)
    n = math.prod(deg)
    if n > machine.num_devices:
        raise invalid("config", owner, f"at most {machine.num_devices} pieces (the devices of "
                      f"{machine.name!r}) for operator {op.name!r}", deg, cls=ConfigError)
    if len(config.devices) != n:
        raise invalid("config", owner, f"one device per piece ({n}) for operator {op.name!r}",
                      config.devices, cls=ConfigError)
    if any(not isinstance(d, (int, np.integer)) or not 0 <= d < machine.num_devices for d in config.devices):
        raise invalid("config", owner, f"device indices in [0, {machine.num_devices})", config.devices,
                      cls=ConfigError)
    return config


@lru_cache(maxsize=4096)
def _degree_tuples(shape: tuple[int, ...], dims: tuple[str, ...], max_pieces: int) -> tuple:
    options = [[k for k in range(1, min(s, max_pieces) + 1) if s % k == 0] if d != "none" else [1]
               for s, d in zip(shape, dims)]
    return tuple(t for t in itertools.product(*options) if math.prod(t) <= max_pieces)


def degree_options(op: Op, num_devices: int) -> tuple:
    """Every valid degree tuple of ``op`` with at most ``num_devices`` pieces (its shape's
    divisors, also dividing its ``split_limits`` where it has them)."""
    limits = op.attrs.get("split_limits")
    shape = op.shape if limits is None else tuple(math.gcd(s, lim) for s, lim in zip(op.shape, limits))
    return _degree_tuples(shape, op.dims, num_devices)


def valid_degrees(op: Op, machine: Machine) -> list[tuple[int, ...]]:
    """Every valid degree tuple of ``op`` on ``machine``.

    Examples
    --------
    >>> from dawnlab.flexflow.graph import GraphBuilder
    >>> b = GraphBuilder(); x = b.input((4, 6)); y = b.softmax(x, name="s")
    >>> valid_degrees(b.build()["s"], Machine.preset("p100x4"))
    [(1, 1), (2, 1), (4, 1)]
    """
    return list(degree_options(op, machine.num_devices))


def random_config(op: Op, machine: Machine, rng: np.random.Generator) -> OpConfig:
    """A random valid configuration: random degrees, pieces on a block of consecutive devices
    (aligned to a multiple of the piece count when that divides the device count).

    Examples
    --------
    >>> from dawnlab.flexflow.graph import GraphBuilder
    >>> b = GraphBuilder(); x = b.input((8, 6)); y = b.linear(x, 4, name="fc")
    >>> m = Machine.preset("p100x4")
    >>> c = random_config(b.build()["fc"], m, np.random.default_rng(0))
    >>> validate(b.build()["fc"], c, m) == c
    True
    """
    options = degree_options(op, machine.num_devices)
    deg = options[int(rng.integers(len(options)))]
    n = math.prod(deg)
    d = machine.num_devices
    start = int(rng.integers(d // n)) * n if d % n == 0 else int(rng.integers(d))
    return OpConfig(tuple(int(k) for k in deg), tuple((start + i) % d for i in range(n)))


def piece_regions(shape: tuple[int, ...], degrees: tuple[int, ...]) -> list[tuple[tuple[int, int], ...]]:
    """The ``[lo, hi)`` box of each piece, row-major over ``degrees``.

    Examples
    --------
    >>> piece_regions((4, 6), (2, 1))
    [((0, 2), (0, 6)), ((2, 4), (0, 6))]
    """
    axes = [[(s * i // k, s * (i + 1) // k) for i in range(k)] for s, k in zip(shape, degrees)]
    return list(itertools.product(*axes))


def _largest_divisor(n: int, at_most: int) -> int:
    return max(k for k in range(1, min(n, at_most) + 1) if n % k == 0)


class Strategy:
    """A configuration for every operator of a graph (Section 4).

    Parameters
    ----------
    graph : Graph
    machine : Machine
    configs : dict
        Operator name -> :class:`OpConfig`; every operator must have one.

    Examples
    --------
    >>> from dawnlab.flexflow import benchmarks
    >>> g, m = benchmarks.alexnet(64), Machine.preset("p100x4")
    >>> s = Strategy.data_parallel(g, m)
    >>> s["conv1"]
    OpConfig(degrees=(4, 1, 1, 1), devices=(0, 1, 2, 3))
    >>> Strategy.expert(g, m)["fc6"].degrees
    (1, 4)
    """

    def __init__(self, graph: Graph, machine: Machine, configs: dict[str, OpConfig]):
        missing = [op.name for op in graph if op.name not in configs]
        if missing:
            raise invalid("configs", "Strategy", "a configuration for every operator",
                          f"missing {missing[:5]}", cls=ConfigError)
        extra = sorted(set(configs) - set(graph.index))
        if extra:
            raise invalid("configs", "Strategy", f"configurations of operators of graph {graph.name!r}",
                          f"unknown {extra[:5]}", cls=ConfigError)
        self.graph, self.machine = graph, machine
        self.configs = {op.name: validate(op, configs[op.name], machine, "Strategy") for op in graph}

    def __getitem__(self, name: str) -> OpConfig:
        return self.configs[name]

    def __eq__(self, other) -> bool:
        return isinstance(other, Strategy) and self.configs == other.configs

    def replace(self, name: str, config: OpConfig) -> Strategy:
        """A copy with operator ``name`` reconfigured."""
        new = dict(self.configs)
        new[self.graph[name].name] = config
        return Strategy(self.graph, self.machine, new)

    # -- classic strategies ------------------------------------------------
    @classmethod
    def data_parallel(cls, graph: Graph, machine: Machine, devices: int | None = None) -> Strategy:
        """Every operator split along the sample dimension over all devices (or ``devices``)."""
        d = devices or machine.num_devices
        configs = {}
        for op in graph:
            deg = [1] * len(op.shape)
            if op.dims and op.dims[0] == "sample":
                deg[0] = _largest_divisor(op.shape[0], d)
            configs[op.name] = OpConfig(tuple(deg), tuple(range(math.prod(deg))))
        return cls(graph, machine, configs)

    @classmethod
    def model_parallel(cls, graph: Graph, machine: Machine) -> Strategy:
        """Each operator whole on one device; consecutive operators share a device so that each
        device gets about the same forward flops (disjoint subsets of the network per device)."""
        d = machine.num_devices
        total = graph.total_flops or 1.0
        configs, acc = {}, 0.0
        for op in graph:
            dev = min(d - 1, int(acc / total * d))
            acc += op.flops
            configs[op.name] = OpConfig((1,) * len(op.shape), (dev,))
        return cls(graph, machine, configs)

    @classmethod
    def expert(cls, graph: Graph, machine: Machine) -> Strategy:
        """The expert strategy: data parallelism for convolutions and other layers with few
        weights, model parallelism (split along the parameter dimension over all devices) for
        fully connected layers, and each recurrent layer data parallel on its own group of
        devices (Section 8.2's expert-designed strategies)."""
        d = machine.num_devices
        dp = cls.data_parallel(graph, machine).configs
        layers = sorted({op.param_group for op in graph if op.kind == "lstm_cell"})
        configs = {}
        for op in graph:
            cfg = dp[op.name]
            if op.kind in ("linear", "embedding") and op.dims[-1] == "parameter":
                k = _largest_divisor(op.shape[-1], d)
                deg = (1,) * (len(op.shape) - 1) + (k,)
                cfg = OpConfig(deg, tuple(range(k)))
            elif op.kind == "lstm_cell" and len(layers) > 1:
                group = d // len(layers) if d >= len(layers) else 1
                first = (layers.index(op.param_group) * group) % d
                k = _largest_divisor(op.shape[0], group)
                cfg = OpConfig((k, 1), tuple(first + i for i in range(k)))
            configs[op.name] = cfg
        return cls(graph, machine, configs)

    @classmethod
    def random(cls, graph: Graph, machine: Machine, seed: int | np.random.Generator = 0) -> Strategy:
        """A random valid configuration for every operator."""
        rng = np.random.default_rng(seed)
        return cls(graph, machine, {op.name: random_config(op, machine, rng) for op in graph})

    # -- files and tables ------------------------------------------------
    def to_json(self) -> dict:
        """Plain data, self-contained: each operator's degrees and devices, the graph's name and
        fingerprint, the machine's name, and the graph and machine themselves."""
        return {"graph": self.graph.name, "fingerprint": self.graph.fingerprint(), "machine": self.machine.name,
                "ops": {n: c.to_json() for n, c in self.configs.items()},
                "graph_spec": self.graph.to_dict(), "machine_spec": self.machine.to_dict()}

    def save(self, path: str | pathlib.Path) -> None:
        """Write the strategy as self-contained JSON (see :meth:`to_json`), atomically."""
        from dawnlab.results import atomic_write_bytes

        atomic_write_bytes(path, json.dumps(self.to_json(), indent=1).encode())

    @classmethod
    def from_json(cls, data: dict, graph: Graph | None = None, machine: Machine | None = None) -> Strategy:
        """Rebuild from :meth:`to_json` output.

        Without ``graph``/``machine`` the file's own are used.  A given graph must have the
        fingerprint the file names, and a given machine its number of devices; otherwise a
        :class:`ConfigError` says which.
        """
        owner = "Strategy.from_json"
        if not isinstance(data, dict):
            raise invalid("data", owner, "a dict written by Strategy.to_json", type(data).__name__, cls=ConfigError)
        if graph is None:
            if "graph_spec" not in data:
                raise invalid("graph", owner, "a Graph (this file does not contain its graph)", None,
                              cls=ConfigError)
            graph = Graph.from_dict(data["graph_spec"])
        elif data.get("fingerprint") not in (None, graph.fingerprint()):
            raise invalid("graph", owner, f"the graph this strategy was made for ({data.get('graph')!r}, "
                          f"fingerprint {data['fingerprint']})", f"{graph.name!r} with fingerprint "
                          f"{graph.fingerprint()}", cls=ConfigError)
        if machine is None:
            if "machine_spec" not in data:
                raise invalid("machine", owner, "a Machine (this file does not contain its machine)", None,
                              cls=ConfigError)
            machine = Machine.from_dict(data["machine_spec"])
        elif "machine_spec" in data and len(data["machine_spec"]["devices"]) != machine.num_devices:
            raise invalid("machine", owner, f"a machine of {len(data['machine_spec']['devices'])} devices like "
                          f"{data.get('machine')!r}", f"{machine.name!r} with {machine.num_devices}",
                          cls=ConfigError)
        ops = data.get("ops")
        if not isinstance(ops, dict):
            raise invalid("data", owner, "a dict with 'ops': {name: {'degrees', 'devices'}}",
                          type(ops).__name__, cls=ConfigError)
        configs = {}
        for n, c in ops.items():
            if not isinstance(c, dict) or "degrees" not in c or "devices" not in c:
                raise invalid(f"ops[{n!r}]", owner, "a dict with 'degrees' and 'devices'", c, cls=ConfigError)
            for key in ("degrees", "devices"):  # whole numbers only: 0.5 is no device index
                v = c[key]
                whole = all(isinstance(x, numbers.Integral) and not isinstance(x, bool) for x in v) \
                    if isinstance(v, (list, tuple)) else False
                if not whole:
                    raise invalid(f"ops[{n!r}].{key}", owner, "a list of ints", v, cls=ConfigError)
            configs[n] = OpConfig(tuple(int(k) for k in c["degrees"]), tuple(int(d) for d in c["devices"]))
        return cls(graph, machine, configs)

    @classmethod
    def load(cls, path: str | pathlib.Path, graph: Graph | None = None, machine: Machine | None = None) -> Strategy:
        """Read a strategy written by :meth:`save`: on its own (the file holds its graph and
        machine), or checked against a ``graph`` and ``machine`` you give.

        Raises
        ------
        DataError
            The file is missing or not JSON.
        ConfigError
            The given graph is not the one the strategy was made for (its fingerprint differs),
            or the machine has another number of devices.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> from dawnlab.flexflow import benchmarks
        >>> g, m = benchmarks.alexnet(8), Machine.preset("p100x4")
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "s.json"
        >>> Strategy.expert(g, m).save(p)
        >>> Strategy.load(p, g, m) == Strategy.expert(g, m)
        True
        >>> s = Strategy.load(p)
        >>> s == Strategy.expert(g, m), s.graph.fingerprint() == g.fingerprint(), s.machine.name
        (True, True, 'p100x4')
        >>> Strategy.load(p, benchmarks.alexnet(16), m)
        Traceback (most recent call last):
        ...
        dawnlab.flexflow.soap.ConfigError: The 'graph' argument of Strategy.from_json must be the graph this strategy was made for ('alexnet', fingerprint ...
        """
        path = pathlib.Path(path)
        try:
            data = json.loads(path.read_text())
        except OSError as e:
            raise DataError(f"Cannot read strategy file {str(path)!r}: {e}") from None
        except json.JSONDecodeError as e:
            raise DataError(f"Strategy file {str(path)!r} is not JSON: {e}") from None
        return cls.from_json(data, graph, machine)

    def table(self):
        """One row per operator: kind, output shape, configuration and devices (pandas)."""
        import pandas as pd

        rows = []
        for op in self.graph:
            c = self.configs[op.name]
            devs = sorted(set(c.devices))
            rows.append({"op": op.name, "kind": op.kind, "shape": "x".join(map(str, op.shape)),
                         "config": c.label(op.dims), "pieces": c.pieces,
                         "devices": ",".join(map(str, devs)) if len(devs) <= 6
                         else f"{devs[0]}..{devs[-1]} ({len(devs)})"})
        return pd.DataFrame(rows)

    def __repr__(self) -> str:
        return f"Strategy({self.graph.name!r} on {self.machine.name!r}, {len(self.configs)} ops)"
