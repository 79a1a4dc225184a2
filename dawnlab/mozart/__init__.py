"""Split annotations and the Mozart runtime (Palkar and Zaharia, arXiv 1810.12297, SOSP 2019).

Annotate unmodified functions with *split types* (:func:`sa`,
:mod:`dawnlab.mozart.splittypes`); calls are captured lazily into a task graph
(:mod:`dawnlab.mozart.graph`), grouped into stages by split-type unification
(:mod:`dawnlab.mozart.planner`), and run stage by stage in cache-sized pieces,
every call of the stage on one piece before the next, on a pool of workers
(:mod:`dawnlab.mozart.runtime`).  :mod:`dawnlab.mozart.numpy` and
:mod:`dawnlab.mozart.pandas` are NumPy and pandas with annotations;
:mod:`dawnlab.mozart.workloads` holds the paper's seven workloads with their
plain references.

Examples
--------
>>> import numpy
>>> import dawnlab.mozart.numpy as np
>>> from dawnlab.mozart import evaluate
>>> x = numpy.arange(6.0)
>>> evaluate(np.exp(np.log(x + 1.0)) - 1.0, piece_size=4).tolist()
[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
"""

from dawnlab.mozart.graph import Annotated, AnnotationError, Lazy, discard, evaluate, lazy, pending, sa
from dawnlab.mozart.planner import Stage, explain, plan
from dawnlab.mozart.runtime import (DEFAULT_L2_BYTES, PieceError, get_options, l2_cache_bytes, options,
                                    piece_size_for, set_options)
from dawnlab.mozart.splittypes import (ArraySplit, Broadcast, ConcatReduce, CountsReduce, Generic,
                                       GroupByReduce, MaxReduce, MeanPartial, MeanReduce, MinReduce, Mut,
                                       Reduce, RowSplit, SplitType, SplitTypeError, SumReduce, UniqueReduce,
                                       default_split_type, mut)

__all__ = ["sa", "Annotated", "AnnotationError", "Lazy", "evaluate", "lazy", "pending", "discard", "explain", "plan",
           "Stage", "PieceError", "options", "set_options", "get_options", "l2_cache_bytes", "piece_size_for",
           "DEFAULT_L2_BYTES", "SplitType", "ArraySplit", "RowSplit", "Broadcast", "Reduce", "SumReduce",
           "MinReduce", "MaxReduce", "ConcatReduce", "UniqueReduce", "GroupByReduce", "CountsReduce",
           "MeanReduce", "MeanPartial", "Generic", "Mut", "mut", "SplitTypeError", "default_split_type"]
