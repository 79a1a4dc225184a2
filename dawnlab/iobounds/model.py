"""The I/O model of a computation graph, and the checks every bound shares.

A computation graph is a DAG.  An evaluation order computes every vertex
exactly once (no recomputation).  A vertex can be computed only when all its
predecessors are in fast memory, which holds at most ``M`` values; computing a
vertex puts it in fast memory.  Evicting a value that is needed later requires
it to have been stored to slow memory once (1 I/O); loading a stored value
costs 1 I/O.  Sources are computed like any vertex (no load).  The compulsory
I/O of reading inputs and writing outputs (``#sources + #sinks``) is not
counted in any bound but is reported beside it.  ``M`` must be at least the
largest in-degree + 1.  This is the model of Jain and Zaharia, arXiv
1909.09791, Section 2 (a red-blue pebble game without recomputation).
"""

from __future__ import annotations

import networkx as nx
import numpy as np

from dawnlab.errors import InvalidArgument, SolverError, invalid

__all__ = ["GraphError", "UnsoundBoundError", "check_graph", "check_memory", "compulsory_io", "min_memory"]


class GraphError(InvalidArgument):
    """A computation graph breaks the model: empty, cyclic or with a self-loop."""


class UnsoundBoundError(SolverError, AssertionError):
    """A lower bound came out above the I/O of a real schedule of the same graph.

    Raised by the run-time check of :func:`dawnlab.iobounds.ilp_bound`; it means
    a solver or a bound is wrong, never that the input is.
    """


def check_graph(G, owner: str) -> nx.DiGraph:
    """Return ``G`` if it is a non-empty DAG, else raise :class:`GraphError`.

    Examples
    --------
    >>> check_graph(nx.DiGraph([(0, 1)]), "f").number_of_nodes()
    2
    >>> check_graph(nx.DiGraph([(0, 1), (1, 0)]), "f")
    Traceback (most recent call last):
    ...
    dawnlab.iobounds.model.GraphError: The 'G' argument of f must be a DAG (a computation graph). Got a graph with the cycle 0 -> 1 -> 0 instead. Remove an edge of the cycle.
    """
    if not isinstance(G, nx.DiGraph) or G.is_multigraph():
        raise invalid("G", owner, "a networkx.DiGraph", type(G).__name__, cls=GraphError)
    if G.number_of_nodes() == 0:
        raise GraphError(f"The 'G' argument of {owner} must be a non-empty DAG. Got an "
                         "empty graph instead. Build one with dawnlab.iobounds.graphs.")
    loops = list(nx.nodes_with_selfloops(G))
    if loops:
        raise GraphError(f"The 'G' argument of {owner} must be a DAG (a computation graph). "
                         f"Got a graph with a self-loop on vertex {loops[0]!r} instead. "
                         "A value cannot depend on itself: remove the edge.")
    if not nx.is_directed_acyclic_graph(G):
        cycle = [u for u, _ in nx.find_cycle(G)]
        text = " -> ".join(map(repr, cycle + [cycle[0]]))
        raise GraphError(f"The 'G' argument of {owner} must be a DAG (a computation graph). "
                         f"Got a graph with the cycle {text} instead. Remove an edge of the cycle.")
    return G


def min_memory(G) -> int:
    """The smallest legal fast-memory size: the largest in-degree + 1.

    Examples
    --------
    >>> min_memory(nx.DiGraph([(0, 2), (1, 2)]))
    3
    """
    return max((d for _, d in G.in_degree()), default=0) + 1


def check_memory(G, M, owner: str) -> int:
    """Return ``M`` as an int if it is legal for ``G``, else raise InvalidArgument.

    Examples
    --------
    >>> check_memory(nx.DiGraph([(0, 2), (1, 2)]), 2, "spectral_bound")
    Traceback (most recent call last):
    ...
    dawnlab.errors.InvalidArgument: The 'M' argument of spectral_bound must be an int >= 3 (the largest in-degree + 1, so that a vertex and its inputs fit in fast memory). Got 2 instead.
    """
    need = min_memory(G)
    if isinstance(M, bool) or not isinstance(M, (int, np.integer)):
        raise invalid("M", owner, f"an int >= {need} (the largest in-degree + 1)", M)
    M = int(M)
    if M < need:
        raise invalid("M", owner, f"an int >= {need} (the largest in-degree + 1, so that "
                      "a vertex and its inputs fit in fast memory)", M)
    return M


def compulsory_io(G) -> int:
    """Reads of the inputs plus writes of the outputs: ``#sources + #sinks``.

    Examples
    --------
    >>> compulsory_io(nx.DiGraph([(0, 2), (1, 2)]))
    3
    """
    return sum(1 for _, d in G.in_degree() if d == 0) + sum(1 for _, d in G.out_degree() if d == 0)
