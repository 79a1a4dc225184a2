"""Lower and upper bounds on the I/O of computation graphs.

Implements Jain and Zaharia, "Spectral Lower Bounds on the I/O Complexity of
Computation Graphs" (arXiv 1909.09791): the spectral bound (Section 4), the
ILP bound (Section 6; certified, with an exact A* search over pebble states as
a second solver and for the parts of the partitioned bound), closed forms for
the FFT and hypercube (Section 5), and beside them the convex min-cut bound of
Elango et al., Hong-Kung's analytic bounds, and the I/O of real schedules
(Belady eviction over blocked, greedy and searched orders) as upper bounds.

The I/O model (no recomputation, fast memory of ``M`` values, compulsory I/O
reported apart) is stated in :mod:`dawnlab.iobounds.model`.
"""

from __future__ import annotations

from dawnlab.iobounds import graphs
from dawnlab.iobounds.closedform import (bound_from_spectrum, fft_spectral_bound, fft_spectrum,
                                         hong_kung_fft, hong_kung_matmul,
                                         hypercube_spectral_bound, hypercube_spectrum)
from dawnlab.iobounds.eigen import EigenResult, smallest_eigenvalues
from dawnlab.iobounds.ilp import ILPBound, PartResult, butterfly_parts, ilp_bound, partition
from dawnlab.iobounds.mincut import MinCutBound, convex_mincut_bound, min_convex_cut
from dawnlab.iobounds.model import GraphError, UnsoundBoundError, compulsory_io, min_memory
from dawnlab.iobounds.schedule import Schedule, belady_best, schedule_io, simulate
from dawnlab.iobounds.search import SearchResult, optimal_io, order_io
from dawnlab.iobounds.spectral import SpectralBound, laplacian, spectral_bound
from dawnlab.iobounds.trace import trace_function, trace_module

__all__ = ["graphs", "spectral_bound", "ilp_bound", "convex_mincut_bound", "schedule_io",
           "simulate", "laplacian", "smallest_eigenvalues", "partition", "butterfly_parts",
           "min_convex_cut", "fft_spectrum", "hypercube_spectrum", "fft_spectral_bound",
           "hypercube_spectral_bound", "bound_from_spectrum", "hong_kung_fft",
           "hong_kung_matmul", "trace_function", "trace_module", "compulsory_io",
           "min_memory", "SpectralBound", "ILPBound", "PartResult", "MinCutBound",
           "Schedule", "EigenResult", "GraphError", "UnsoundBoundError",
           "optimal_io", "order_io", "SearchResult", "belady_best"]
