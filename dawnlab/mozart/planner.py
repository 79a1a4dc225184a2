"""The planner: from the captured graph to stages (arXiv 1810.12297, Section 4.2).

Nodes are taken in capture order (a topological order).  A node joins the
current stage when every argument it takes from a node of that stage can be
handed over piece by piece:

- the producer's result split type equals the split type the consumer gives
  that argument (the split types unify), and
- the consumer takes it split, not whole (a :class:`Broadcast` argument needs
  the merged value, so its producer must finish first), and
- the arguments it takes from outside the stage cut the stage's index space
  (the same index-space key, see :mod:`dawnlab.mozart.graph`).

Otherwise the stage ends and the node starts a new one.  A call to a function
without annotations never enters the graph: it evaluates its arguments, so it
ends the stage too.  A stage's *outputs* are the nodes whose values are needed
after it (a live lazy value, a later stage's input, an in-place write); every
other node is an intermediate that lives only inside a piece.

:func:`explain` prints the stages with their split types, the piece size the
runtime would choose and the workers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dawnlab.mozart.graph import GRAPH, Lazy, Node

__all__ = ["Stage", "plan", "explain"]


@dataclass
class Stage:
    """A run of nodes executed together, piece by piece.

    Attributes
    ----------
    nodes : list of Node
        In execution order.
    key : object
        The index-space key of the stage's split inputs (an int length, or a
        token for a length only known once an earlier stage has run).
    outputs : list of Node
        Nodes whose values are kept after the stage.
    reasons : list of str
        Why the stage ended (empty for the last one).
    """

    nodes: list[Node] = field(default_factory=list)
    key: object = None
    outputs: list[Node] = field(default_factory=list)
    reason: str = ""

    def contains(self, node) -> bool:
        return any(n is node for n in self.nodes)


def needed(targets: list[Node]) -> list[Node]:
    """Every pending node that ``targets`` depend on (themselves included), in capture order."""
    seen: dict[int, Node] = {}
    stack = [n for n in targets if not n.done]
    while stack:
        node = stack.pop()
        if node.id in seen or node.done:
            continue
        seen[node.id] = node
        for _, v, _ in node.inputs():
            if isinstance(v, Node) and not v.done:
                stack.append(v)
    return [seen[i] for i in sorted(seen)]


def _joins(node: Node, stage: Stage) -> tuple[bool, str]:
    outside = False
    for name, v, t in node.inputs():
        if isinstance(v, Node) and stage.contains(v):
            if not t.splits:
                return False, f"{node.name} takes {name!r} whole ({t!r}) from {v.name}"
            if v.out_type != t:
                return False, f"{node.name} needs {name!r} as {t!r}, {v.name} makes {v.out_type!r}"
        elif t.splits:
            outside = True
    if outside and stage.key is not None and node.in_key != stage.key:
        return False, f"{node.name} cuts a different index space than the stage"
    return True, ""


def plan(targets: list[Node]) -> list[Stage]:
    """Group the pending nodes ``targets`` need into stages.

    Parameters
    ----------
    targets : list of Node
        The nodes whose values are wanted.

    Returns
    -------
    list of Stage
        In execution order; every node appears in exactly one stage.

    Examples
    --------
    >>> import numpy as np
    >>> import dawnlab.mozart.numpy as mnp
    >>> a = np.ones(8)
    >>> y = mnp.sqrt(mnp.exp(a) + 1)         # one stage: exp, add, sqrt
    >>> total = mnp.sum(y)                   # still the same stage: sum reduces per piece
    >>> [[n.name for n in s.nodes] for s in plan([total._node])]
    [['exp', 'add', 'sqrt', 'sum']]
    """
    nodes = needed(targets)
    stages: list[Stage] = []
    where: dict[int, int] = {}
    for node in nodes:
        if stages:
            ok, why = _joins(node, stages[-1])
        else:
            ok, why = False, ""
        if not ok:
            if stages:
                stages[-1].reason = why
            stages.append(Stage())
        stage = stages[-1]
        if stage.key is None and any(t.splits and not (isinstance(v, Node) and stage.contains(v))
                                     for _, v, t in node.inputs()):
            stage.key = node.in_key
        stage.nodes.append(node)
        where[node.id] = len(stages) - 1
    target_ids = {n.id for n in targets}
    for i, stage in enumerate(stages):
        for node in stage.nodes:
            alive = node.lazy_ref is not None and node.lazy_ref() is not None
            later = any(isinstance(v, Node) and v is node
                        for other in nodes if where[other.id] > i for _, v, _ in other.inputs())
            if node.id in target_ids or alive or later or node.mut_root is not None:
                stage.outputs.append(node)
    return stages


def explain(value=None, **options) -> str:
    """The plan that evaluating ``value`` (default: everything pending) would run, as text.

    Shows each stage's calls with the split types of their arguments and
    results, which values are kept, why the stage ends, and the piece size,
    workers and backend the runtime would use.

    Examples
    --------
    >>> import numpy as np
    >>> import dawnlab.mozart.numpy as mnp
    >>> y = mnp.exp(np.ones(1000)) + 1.0
    >>> print(explain(y, piece_size=256, workers=2))  # doctest: +ELLIPSIS
    1 stage(s), backend threads, 2 worker(s)
    stage 1: 1000 elements in 4 piece(s) of 256 (piece size set by the caller)
      exp(x1: ArraySplit(axis=0)) -> ArraySplit(axis=0)
      add(x1: ArraySplit(axis=0), x2: Broadcast()) -> ArraySplit(axis=0)   [kept]
    """
    from dawnlab.mozart.runtime import describe_piece_size, resolve_options

    if value is None:
        with GRAPH.lock:
            targets = [n for n in GRAPH.pending.values() if n.lazy_ref is not None and n.lazy_ref() is not None]
    elif isinstance(value, Lazy):
        targets = [value._node]
    else:
        targets = [v._node for v in value if isinstance(v, Lazy)]
    opts = resolve_options(options)
    stages = plan(targets)
    lines = [f"{len(stages)} stage(s), backend {opts['backend']}, {opts['workers']} worker(s)"]
    for i, stage in enumerate(stages, 1):
        lines.append(f"stage {i}: {describe_piece_size(stage, opts)}")
        for node in stage.nodes:
            args = ", ".join(f"{name}: {t!r}" for name, _, t in node.inputs())
            kept = "   [kept]" if any(o is node for o in stage.outputs) else ""
            lines.append(f"  {node.name}({args}) -> {node.out_type!r}{kept}")
        if stage.reason:
            lines.append(f"  (stage ends: {stage.reason})")
    return "\n".join(lines)
