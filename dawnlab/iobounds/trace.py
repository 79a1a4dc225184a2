"""Computation graphs from real code.

* :func:`trace_function` runs a Python function on arrays of symbolic scalars
  (operator overloading): every arithmetic result with at least one traced
  operand becomes a vertex reading its traced operands; constants are free.
  NumPy object arrays carry the scalars, so ``A @ B``, slicing and ``np.sum``
  work unchanged.  Vertices that no output depends on are dropped.
* :func:`trace_module` traces a ``torch.nn.Module`` with ``torch.fx`` at
  operator granularity: one vertex per fx node (inputs, parameters,
  operators), edges from the nodes each one reads.

These graphs follow the model of arXiv 1909.09791, Section 2 (one value per
vertex, no recomputation); the paper's own graphs are built by hand.
"""

from __future__ import annotations

import itertools
from typing import Callable

import networkx as nx
import numpy as np

from dawnlab.errors import invalid

__all__ = ["Scalar", "trace_function", "trace_module"]


class _Tape:
    def __init__(self):
        self.graph = nx.DiGraph()
        self.ids = itertools.count()

    def new(self, op, preds):
        v = next(self.ids)
        self.graph.add_node(v, op=op)
        for p in dict.fromkeys(preds):
            self.graph.add_edge(p, v)
        return Scalar(self, v)


class Scalar:
    """A symbolic scalar recorded on a tape; arithmetic makes new vertices."""

    __slots__ = ("tape", "id")

    def __init__(self, tape, vid):
        self.tape, self.id = tape, vid

    def _op(self, other, op):
        preds = [self.id] + ([other.id] if isinstance(other, Scalar) else [])
        return self.tape.new(op, preds)

    def _rop(self, other, op):
        return self._op(other, op)

    __add__ = lambda s, o: s._op(o, "add")
    __radd__ = lambda s, o: s._rop(o, "add")
    __sub__ = lambda s, o: s._op(o, "sub")
    __rsub__ = lambda s, o: s._rop(o, "sub")
    __mul__ = lambda s, o: s._op(o, "mul")
    __rmul__ = lambda s, o: s._rop(o, "mul")
    __truediv__ = lambda s, o: s._op(o, "div")
    __rtruediv__ = lambda s, o: s._rop(o, "div")
    __pow__ = lambda s, o: s._op(o, "pow")
    __neg__ = lambda s: s.tape.new("neg", [s.id])
    __abs__ = lambda s: s.tape.new("abs", [s.id])

    def __repr__(self):
        return f"Scalar({self.id})"


def trace_function(fn: Callable, *shapes) -> nx.DiGraph:
    """Trace ``fn`` called on symbolic arrays of the given shapes.

    Parameters
    ----------
    fn : callable
        Takes one NumPy object array per shape and returns a scalar, an array
        or a tuple/list of them: the outputs.
    *shapes : tuple of int or int
        The shape of each argument (``()`` for a scalar).

    Returns
    -------
    networkx.DiGraph
        Vertices are ints with an ``op`` attribute (``"input"``, ``"add"``, ...).

    Raises
    ------
    InvalidArgument
        If ``fn`` returns nothing traced.

    Examples
    --------
    >>> G = trace_function(lambda x: x[0] * x[1] + x[2], 3)
    >>> sorted(nx.get_node_attributes(G, "op").values())
    ['add', 'input', 'input', 'input', 'mul']
    """
    tape = _Tape()
    args = []
    for shape in shapes:
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        arr = np.empty(shape, dtype=object)
        for idx in np.ndindex(*shape):
            arr[idx] = tape.new("input", [])
        args.append(arr if shape else arr[()])
    out = fn(*args)
    outs = [o.id for o in _flatten(out) if isinstance(o, Scalar)]
    if not outs:
        raise invalid("fn", "trace_function", "a function returning traced values", out,
                      "Return the arrays computed from the arguments.")
    G = tape.graph
    keep = set(outs)
    for o in outs:
        keep |= nx.ancestors(G, o)
    H = G.subgraph(keep).copy()
    H = nx.convert_node_labels_to_integers(H, ordering="sorted")
    H.graph["family"] = "traced"
    return H


def _flatten(out):
    if isinstance(out, Scalar):
        yield out
    elif isinstance(out, np.ndarray):
        yield from out.ravel().tolist()
    elif isinstance(out, (list, tuple)):
        for o in out:
            yield from _flatten(o)


def trace_module(module) -> nx.DiGraph:
    """Trace a ``torch.nn.Module`` with ``torch.fx`` at operator granularity.

    Parameters
    ----------
    module : torch.nn.Module
        A module that ``torch.fx.symbolic_trace`` can trace.

    Returns
    -------
    networkx.DiGraph
        One vertex per fx node (its name), with ``op`` (fx opcode) and
        ``target`` attributes; the ``output`` node is dropped (its inputs are
        the sinks).

    Raises
    ------
    InvalidArgument
        If ``module`` is not a module or fx cannot trace it.

    Examples
    --------
    >>> import torch
    >>> G = trace_module(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU()))
    >>> list(nx.topological_sort(G))
    ['input_1', '_0', '_1']
    """
    import torch
    import torch.fx

    if not isinstance(module, torch.nn.Module):
        raise invalid("module", "trace_module", "a torch.nn.Module", type(module).__name__)
    try:
        gm = torch.fx.symbolic_trace(module)
    except Exception as exc:  # fx raises many kinds of errors on dynamic code
        raise invalid("module", "trace_module", "a module torch.fx can trace symbolically",
                      type(module).__name__, f"torch.fx said: {exc}") from exc
    G = nx.DiGraph(family="torch.fx")
    for node in gm.graph.nodes:
        if node.op == "output":
            continue
        G.add_node(node.name, op=node.op, target=str(node.target))
        preds = []
        torch.fx.node.map_arg((node.args, node.kwargs), lambda a: preds.append(a.name))
        for p in dict.fromkeys(preds):
            G.add_edge(p, node.name)
    return G
