"""The machine model: devices, links and the routes between devices.

Section 5 of arXiv 1807.05358 models a cluster as a *device topology*: compute
devices (GPUs, CPUs) and the connections between them, each connection being a
"communication device" that runs transfer tasks one at a time with full use of
its bandwidth.  Here a :class:`Machine` holds

- compute devices (:class:`Device`): peak throughput (FLOP/s), memory bandwidth
  (bytes/s), memory size (bytes), a per-kernel latency (s), and whether the
  device has a *copy engine* (``copy_engine``, default true): a GPU's DMA
  engines move data while its cores compute, but a CPU process sending over
  gloo (TCP) moves every byte itself, so its transfers occupy it (see
  :mod:`~dawnlab.flexflow.simulator`);
- **shared hardware** (``share``, ``contention``): devices with the same non-empty
  ``share`` name sit on one physical core or memory system (two processes on
  two hyperthreads, or on cores that share a memory bus), so a kernel on one runs
  ``contention`` times slower (default 1, no slowdown) while another member of its
  group computes; :class:`~dawnlab.flexflow.costs.MeasuredCosts` can replace the
  factor by each operator's measured one (see the simulator's *contention*);
- directed links (:class:`Link`) between named endpoints (devices, NICs,
  switches) with a latency (s) and a bandwidth (bytes/s); a full-duplex cable
  is two links;
- the route between every pair of compute devices: the chain of links a
  transfer crosses, the fewest hops first and the fastest path among those.

A topology file (JSON or YAML) has keys ``name``, ``device_types`` (a mapping
from type name to ``flops``, ``mem_bandwidth``, ``memory``, optional
``kernel_latency``, ``copy_engine`` and ``contention``), ``devices`` (a list of ``{name, type}``, with an
optional ``share`` group name), and ``links`` (a
list of ``{a, b, bandwidth, latency, duplex}``; ``duplex`` defaults to true).
Presets reproduce the paper's two clusters (Section 8.1) and a modern node.
"""

from __future__ import annotations

import json
import math
import pathlib
from dataclasses import dataclass

import networkx as nx

from dawnlab.errors import InvalidArgument, invalid

__all__ = ["Device", "Link", "Machine", "MachineError", "PRESETS"]


class MachineError(InvalidArgument):
    """A topology is malformed."""


@dataclass(frozen=True)
class Device:
    """A compute device (Section 5: a GPU or CPU that runs compute tasks)."""

    name: str
    kind: str
    flops: float
    mem_bandwidth: float
    memory: float
    kernel_latency: float = 5e-6
    copy_engine: bool = True
    share: str = ""
    contention: float = 1.0

    def __post_init__(self):  # code-built devices are checked as machine files are
        f = f"Device({self.name!r})."
        for key in ("flops", "mem_bandwidth", "memory"):
            _number(getattr(self, key), f + key, "Device", strict=True)
        _number(self.kernel_latency, f + "kernel_latency", "Device", True, strict=True)
        if _number(self.contention, f + "contention", "Device", strict=True) < 1.0:
            raise invalid(f + "contention", "Device", "a slowdown factor >= 1 (1: none)", self.contention,
                          cls=MachineError)
        if not isinstance(self.copy_engine, bool):
            raise invalid(f + "copy_engine", "Device", "true or false", self.copy_engine, cls=MachineError)
        if not isinstance(self.share, str):
            raise invalid(f + "share", "Device", "a group name (a string)", self.share, cls=MachineError)


@dataclass(frozen=True)
class Link:
    """A directed connection, simulated as a communication device."""

    name: str
    src: str
    dst: str
    bandwidth: float
    latency: float

    def __post_init__(self):
        f = f"Link({self.name!r})."
        _number(self.bandwidth, f + "bandwidth", "Link", strict=True)
        _number(self.latency, f + "latency", "Link", True, strict=True)
        if self.src == self.dst:
            raise invalid(f + "dst", "Link", "another node than its source (no self-links)", self.dst,
                          cls=MachineError)


def _number(value, name, owner, allow_zero=False, strict=False):
    """A finite number > 0 (>= 0 with ``allow_zero``), else a MachineError naming the field
    (``strict``: no string that reads as a number)."""
    if isinstance(value, str) and not strict:  # YAML 1.1 reads 1.0e13 (no sign in the exponent) as a string
        try:
            value = float(value)
        except ValueError:
            pass
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and (
        value >= 0 if allow_zero else value > 0)
    if not ok:
        raise invalid(name, owner, "a finite number >= 0" if allow_zero else "a finite positive number", value,
                      cls=MachineError)
    return float(value)


def _positive(value, name, owner):
    return _number(value, name, owner)


class Machine:
    """A cluster: compute devices, links and routes.

    Parameters
    ----------
    devices : list of Device
    links : list of Link
    name : str

    Examples
    --------
    >>> m = Machine.preset("p100x16")
    >>> m.num_devices, len(m.route(0, 1)), len(m.route(0, 4))
    (16, 1, 4)
    >>> [m.links[i].name for i in m.route(0, 4)]
    ['gpu0->nic0', 'nic0->switch', 'switch->nic1', 'nic1->gpu4']
    """

    def __init__(self, devices: list[Device], links: list[Link], name: str = "machine"):
        self.name = name
        self.devices = list(devices)
        self.links = list(links)
        if not self.devices:
            raise invalid("devices", "Machine", "a non-empty list", devices, cls=MachineError)
        names = [d.name for d in self.devices]
        if len(set(names)) != len(names):
            raise invalid("devices", "Machine", "devices with unique names", names, cls=MachineError)
        self.device_index = {n: i for i, n in enumerate(names)}
        pairs = [(l.src, l.dst) for l in self.links]
        if len(set(pairs)) != len(pairs):
            dup = sorted({p for p in pairs if pairs.count(p) > 1})
            raise invalid("links", "Machine", "at most one link per direction between two nodes",
                          f"{dup[0][0]} -> {dup[0][1]} listed {pairs.count(dup[0])} times", cls=MachineError)
        g = nx.DiGraph()
        g.add_nodes_from(names)
        for k, link in enumerate(self.links):
            g.add_edge(link.src, link.dst, index=k, weight=1.0 + 1.0 / link.bandwidth)
        self._routes: dict[tuple[int, int], tuple[int, ...]] = {}
        for i, a in enumerate(names):
            paths = nx.single_source_dijkstra_path(g, a, weight="weight")
            for j, b in enumerate(names):
                if i == j:
                    continue
                if b not in paths:
                    raise invalid("links", "Machine", "a topology connecting every pair of devices",
                                  f"no route {a} -> {b}", cls=MachineError)
                p = paths[b]
                self._routes[i, j] = tuple(g.edges[p[t], p[t + 1]]["index"] for t in range(len(p) - 1))

    @property
    def num_devices(self) -> int:
        """Number of compute devices."""
        return len(self.devices)

    def route(self, i: int, j: int) -> tuple[int, ...]:
        """Indices into :attr:`links` of the route from device ``i`` to device ``j``."""
        return self._routes[i, j] if i != j else ()

    def transfer_time(self, i: int, j: int, nbytes: float) -> float:
        """Time to move ``nbytes`` from device ``i`` to ``j`` on an idle network: cut-through
        streaming, every hop's latency plus the bytes over the bottleneck link's bandwidth
        (see :mod:`~dawnlab.flexflow.simulator`)."""
        route = [self.links[k] for k in self.route(i, j)]
        if not route:
            return 0.0
        return sum(l.latency for l in route) + nbytes / min(l.bandwidth for l in route)

    # -- files -----------------------------------------------------------
    def to_dict(self) -> dict:
        """The topology as plain data (the file format)."""
        types = {}
        devs = []
        for d in self.devices:
            types[d.kind] = {"flops": d.flops, "mem_bandwidth": d.mem_bandwidth, "memory": d.memory,
                             "kernel_latency": d.kernel_latency}
            if not d.copy_engine:
                types[d.kind]["copy_engine"] = False
            if d.contention != 1.0:
                types[d.kind]["contention"] = d.contention
            devs.append({"name": d.name, "type": d.kind, **({"share": d.share} if d.share else {})})
        links = [{"a": l.src, "b": l.dst, "bandwidth": l.bandwidth, "latency": l.latency,
                  "duplex": False} for l in self.links]
        return {"name": self.name, "device_types": types, "devices": devs, "links": links}

    @classmethod
    def from_dict(cls, spec: dict) -> Machine:
        """Build from the file format (see module docstring)."""
        owner = "Machine.from_dict"
        if not isinstance(spec, dict):
            raise invalid("spec", owner, "a mapping", type(spec).__name__, cls=MachineError)
        for key in ("device_types", "devices", "links"):
            if key not in spec:
                raise invalid("spec", owner, f"a mapping with key {key!r}", sorted(spec), cls=MachineError)
        types = spec["device_types"]
        if not isinstance(types, dict) or not all(isinstance(v, dict) for v in types.values()):
            raise invalid("device_types", owner, "a mapping from type name to a mapping of its fields",
                          types, cls=MachineError)
        for key in ("devices", "links"):
            if not isinstance(spec[key], list):
                raise invalid(key, owner, "a list of mappings", spec[key], cls=MachineError)
        for key, need in (("devices", ("name", "type")), ("links", ("a", "b"))):
            for k, entry in enumerate(spec[key]):
                if not isinstance(entry, dict) or any(n not in entry for n in need):
                    raise invalid(f"{key}[{k}]", owner, f"a mapping with keys {list(need)}", entry,
                                  cls=MachineError)
        devices = []
        for d in spec["devices"]:
            t = d.get("type")
            if t not in types:
                raise invalid("devices", owner, f"devices whose type is one of {sorted(types)}", d,
                              cls=MachineError)
            tt = types[t]
            f = f"device_types.{t}."
            dma = tt.get("copy_engine", True)
            if not isinstance(dma, bool):
                raise invalid(f + "copy_engine", owner, "true or false", dma, cls=MachineError)
            share = d.get("share", "")
            if not isinstance(share, str):
                raise invalid(f"devices[{d.get('name')}].share", owner, "a group name (a string)", share,
                              cls=MachineError)
            slow = _number(tt.get("contention", 1.0), f + "contention", owner)
            if slow < 1.0:
                raise invalid(f + "contention", owner, "a slowdown factor >= 1 (1: none)", slow, cls=MachineError)
            devices.append(Device(str(d["name"]), t, _positive(tt.get("flops"), f + "flops", owner),
                                  _positive(tt.get("mem_bandwidth"), f + "mem_bandwidth", owner),
                                  _positive(tt.get("memory"), f + "memory", owner),
                                  _number(tt.get("kernel_latency", 5e-6), f + "kernel_latency", owner, True), dma,
                                  share, slow))
        links = []
        for l in spec["links"]:
            a, b = str(l["a"]), str(l["b"])
            f = f"links[{a}-{b}]."
            bw = _positive(l.get("bandwidth"), f + "bandwidth", owner)
            lat = _number(l.get("latency", 0.0), f + "latency", owner, True)
            duplex = l.get("duplex", True)
            if not isinstance(duplex, bool):
                raise invalid(f + "duplex", owner, "true or false", duplex, cls=MachineError)
            links.append(Link(f"{a}->{b}", a, b, bw, lat))
            if duplex:
                links.append(Link(f"{b}->{a}", b, a, bw, lat))
        return cls(devices, links, str(spec.get("name", "machine")))

    @classmethod
    def from_file(cls, path: str | pathlib.Path) -> Machine:
        """Read a topology from a ``.json`` or ``.yaml``/``.yml`` file.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "two.yaml"
        >>> _ = p.write_text('''
        ... name: two-gpus
        ... device_types: {gpu: {flops: 1.0e13, mem_bandwidth: 5.0e11, memory: 1.6e10}}
        ... devices: [{name: g0, type: gpu}, {name: g1, type: gpu}]
        ... links: [{a: g0, b: g1, bandwidth: 2.0e10, latency: 1.0e-6}]
        ... ''')
        >>> m = Machine.from_file(p)
        >>> m.num_devices, round(m.transfer_time(0, 1, 2e7), 6)
        (2, 0.001001)
        """
        path = pathlib.Path(path)
        if not path.exists():
            from dawnlab.errors import DataError

            raise DataError(f"Topology file {str(path)!r} does not exist; write one (see "
                            "dawnlab.flexflow.machine) or use Machine.preset(name).")
        text = path.read_text()
        if path.suffix in (".yaml", ".yml"):
            import yaml

            spec = yaml.safe_load(text)
        else:
            spec = json.loads(text)
        return cls.from_dict(spec)

    def save(self, path: str | pathlib.Path) -> None:
        """Write the topology as JSON (or YAML for a ``.yaml`` path)."""
        path = pathlib.Path(path)
        if path.suffix in (".yaml", ".yml"):
            import yaml

            path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))
        else:
            path.write_text(json.dumps(self.to_dict(), indent=1))

    @classmethod
    def preset(cls, name: str) -> Machine:
        """A preset cluster: ``"p100x16"``, ``"k80x64"``, ``"h100x8"``, ``"p100x4"``, ``"cpu1"``, ``"cpu2"``.

        Examples
        --------
        >>> Machine.preset("k80x64").num_devices
        64
        """
        if name not in PRESETS:
            raise invalid("name", "Machine.preset", f"one of {sorted(PRESETS)}", name, cls=MachineError)
        return cls.from_dict(PRESETS[name]())

    def __repr__(self) -> str:
        return f"Machine({self.name!r}, devices={self.num_devices}, links={len(self.links)})"


# Device figures: NVIDIA data sheets (fp32 peak, memory bandwidth, memory).
_P100 = {"flops": 10.6e12, "mem_bandwidth": 732e9, "memory": 16e9, "kernel_latency": 5e-6}
_K80 = {"flops": 4.37e12, "mem_bandwidth": 240e9, "memory": 12e9, "kernel_latency": 5e-6}
_H100 = {"flops": 67e12, "mem_bandwidth": 3.35e12, "memory": 80e9, "kernel_latency": 4e-6}


def _cluster(name, kind, spec, nodes, per_node, intra, inter, all_pairs):
    devices = [{"name": f"gpu{n * per_node + g}", "type": kind} for n in range(nodes) for g in range(per_node)]
    links = []
    for n in range(nodes):
        gpus = [f"gpu{n * per_node + g}" for g in range(per_node)]
        if all_pairs:
            links += [{"a": a, "b": b, **intra} for i, a in enumerate(gpus) for b in gpus[i + 1:]]
        else:  # a shared PCIe switch per node
            links += [{"a": g, "b": f"pcie{n}", **intra} for g in gpus]
        if nodes > 1:
            hub = gpus if all_pairs else [f"pcie{n}"]
            links += [{"a": h, "b": f"nic{n}", **intra} for h in hub]
            links.append({"a": f"nic{n}", "b": "switch", **inter})
    return {"name": name, "device_types": {kind: spec}, "devices": devices, "links": links}


def _p100x16():
    # Section 8.1: 4 nodes x 4 P100, NVLink inside a node, 100 Gb/s EDR InfiniBand between nodes.
    return _cluster("p100x16", "P100", _P100, 4, 4, {"bandwidth": 20e9, "latency": 2e-6},
                    {"bandwidth": 12.5e9, "latency": 5e-6}, True)


def _p100x4():
    return _cluster("p100x4", "P100", _P100, 1, 4, {"bandwidth": 20e9, "latency": 2e-6}, {}, True)


def _k80x64():
    # Section 8.1: 16 nodes x 4 K80, PCIe inside a node, 56 Gb/s FDR InfiniBand between nodes.
    return _cluster("k80x64", "K80", _K80, 16, 4, {"bandwidth": 12e9, "latency": 5e-6},
                    {"bandwidth": 7e9, "latency": 5e-6}, False)


def _h100x8():
    # One 8-GPU node, every pair joined through NVSwitch (450 GB/s each way per GPU).
    spec = {"name": "h100x8", "device_types": {"H100": _H100},
            "devices": [{"name": f"gpu{g}", "type": "H100"} for g in range(8)],
            "links": [{"a": f"gpu{g}", "b": "nvswitch", "bandwidth": 450e9, "latency": 1e-6}
                      for g in range(8)]}
    return spec


def _cpu(n):
    # This machine's CPU cores as devices; figures are placeholders until calibrated (validation.py).
    spec = {"flops": 5e10, "mem_bandwidth": 1e10, "memory": 8e9, "kernel_latency": 2e-5, "copy_engine": False}
    return {"name": f"cpu{n}", "device_types": {"cpu": spec},
            "devices": [{"name": f"core{i}", "type": "cpu"} for i in range(n)],
            "links": [{"a": f"core{i}", "b": "shm", "bandwidth": 2e9, "latency": 5e-5} for i in range(n)]}


PRESETS = {"p100x16": _p100x16, "k80x64": _k80x64, "h100x8": _h100x8, "p100x4": _p100x4,
           "cpu1": lambda: _cpu(1), "cpu2": lambda: _cpu(2)}
