"""Operator graphs from any ``torch.nn.Module``, through ``torch.fx``.

FlexFlow takes a DNN as an operator graph (arXiv 1807.05358, Section 3).
:func:`graph_from_module` traces a module symbolically with ``torch.fx``,
propagates the example inputs' shapes (``ShapeProp``) and turns each node into
an :class:`~dawnlab.flexflow.graph.Op` through a rule for its module type,
function or method.  Recurrent layers (``nn.LSTM``, ``nn.GRU``, ``nn.RNN``)
are unrolled over time into one cell operator per layer and step, all steps of
a layer sharing weights.  Shape-only nodes (``view``, ``reshape``, ``size``,
``permute``, ...) become free ``view`` operators.

An operator with no rule raises :class:`~dawnlab.flexflow.graph.GraphError`
naming it; :func:`register_rule` adds one (a function building the operator on a
:class:`~dawnlab.flexflow.graph.GraphBuilder`, which sets its flops).
"""

from __future__ import annotations

import math
import operator
from typing import Callable

from dawnlab.errors import invalid
from dawnlab.flexflow.graph import Graph, GraphBuilder, GraphError

__all__ = ["graph_from_module", "register_rule", "RULES"]

#: Extra rules: key (a module class, a function, or a method name) -> rule(builder, node, args, shape).
RULES: dict = {}


def register_rule(target, rule: Callable) -> None:
    """Teach the tracer an operator.

    ``rule(builder, node, args, out_shape)`` receives the :class:`GraphBuilder`,
    the fx node, its arguments with tensors replaced by operator names, and the
    output shape; it adds operators (e.g. ``builder.add(...)`` with the flops)
    and returns the output's operator name.

    Examples
    --------
    >>> import torch
    >>> class Swish(torch.nn.Module):
    ...     def forward(self, x):
    ...         return x * torch.sigmoid(x)
    >>> class Net(torch.nn.Module):
    ...     def __init__(self):
    ...         super().__init__(); self.act = Swish()
    ...     def forward(self, x):
    ...         return self.act(x)
    >>> register_rule(Swish, lambda b, node, args, shape: b.elementwise("swish", [args[0]]))
    >>> [op.kind for op in graph_from_module(Net(), (torch.randn(2, 3),))]
    ['input', 'swish']
    >>> del RULES[Swish]
    """
    RULES[target] = rule


def _shape(node):
    meta = node.meta.get("tensor_meta")
    if meta is None:
        return None
    if hasattr(meta, "shape"):
        return tuple(int(s) for s in meta.shape)
    return None


class _Tracer:
    def __init__(self, module, name):
        import torch.fx

        class Leafy(torch.fx.Tracer):
            def is_leaf_module(self, m, qualname):
                return type(m) in RULES or super().is_leaf_module(m, qualname)

        if type(module).__module__.startswith("torch.nn.") and not isinstance(
                module, (torch.nn.Sequential, torch.nn.ModuleList, torch.nn.ModuleDict)):
            module = torch.nn.Sequential(module)  # a single torch layer: trace it as a leaf with its rule
        self.module = module
        tracer = Leafy()
        try:
            graph = tracer.trace(module)
        except Exception as e:  # data-dependent control flow, unsupported python
            raise GraphError(f"torch.fx cannot trace {type(module).__name__} symbolically ({type(e).__name__}: "
                             f"{e}). Make the offending submodule a leaf by registering a rule for it "
                             f"(dawnlab.flexflow.trace.register_rule).") from e
        self.gm = torch.fx.GraphModule(tracer.root, graph)
        self.b = GraphBuilder(name)

    def run(self, example_inputs):
        import torch
        from torch.fx.passes.shape_prop import ShapeProp

        try:
            ShapeProp(self.gm).propagate(*example_inputs)
        except Exception as e:  # the module does not run on these inputs
            raise GraphError(f"Running the traced module on the example inputs failed ({type(e).__name__}: "
                             f"{e}); check example_inputs.") from e
        env = {}
        for node in self.gm.graph.nodes:
            args = torch.fx.node.map_arg(node.args, lambda n: env[n])
            kwargs = torch.fx.node.map_arg(node.kwargs, lambda n: env[n])
            env[node] = out = self.visit(node, args, kwargs)
            self.check(node, out)
        return self.b.build()

    def check(self, node, out):
        """The operator built for ``node`` must have the shape torch computed (ShapeProp)."""
        want = _shape(node)
        if isinstance(out, str) and want is not None and self.b.shape(out) != want:
            raise GraphError(f"The tracer built operator {out!r} of shape {self.b.shape(out)} for fx node "
                             f"{node.name!r} ({node.op} {getattr(node.target, '__name__', node.target)!s}), "
                             f"but torch gives it shape {want}: the rule for it does not cover these "
                             f"settings. Register a correct one with dawnlab.flexflow.trace.register_rule.")

    # -- dispatch -------------------------------------------------------------
    def visit(self, node, args, kwargs):
        import torch

        b, shape = self.b, _shape(node)
        if node.op == "placeholder":
            return b.input(shape, name=node.name) if shape else None
        if node.op == "output":
            return None
        if node.op == "get_attr":  # an nn.Parameter (a weight of its own) or a buffer
            t = self.gm
            for part in str(node.target).split("."):
                t = getattr(t, part)
            if not isinstance(t, torch.Tensor) or shape is None:
                raise self.unknown(node, f"attribute {node.target!r}")
            weight = isinstance(t, torch.nn.Parameter) and t.requires_grad
            return b.add("parameter" if weight else "constant", [], shape, ("none",) * len(shape), [],
                         params=t.numel() if weight else 0, name=node.name)
        if node.op == "call_module":
            mod = self.gm.get_submodule(node.target)
            return self.module_rule(node, mod, args, kwargs, shape)
        target = node.target
        key = target if node.op == "call_function" else str(target)
        if key in RULES:
            return RULES[key](b, node, args, shape)
        if target is operator.getitem:
            src, idx = args
            if isinstance(src, (tuple, list)):
                return src[idx]
            if isinstance(src, str) and shape is not None:
                return self.view(node, [src], shape)
            raise self.unknown(node, "getitem")
        tensors = [a for a in list(args) + list(kwargs.values()) if isinstance(a, str)]
        if shape is None and node.meta.get("tensor_meta") is None:
            return None  # a python value (size(), dim()): no operator
        name = key.__name__ if callable(key) and hasattr(key, "__name__") else str(key)
        F = torch.nn.functional
        if name in ("add", "sub", "mul", "truediv", "div", "iadd", "imul") or target in (
                operator.add, operator.sub, operator.mul, operator.truediv):
            return b.elementwise("add" if name in ("add", "iadd", "sub") else "mul", tensors)
        if target in (torch.relu, F.relu, F.gelu, torch.tanh, torch.sigmoid, F.silu, F.dropout) or name in (
                "relu", "gelu", "tanh", "sigmoid", "silu", "dropout", "contiguous", "exp", "neg"):
            return b.elementwise(name, tensors[:1])
        if name in ("softmax", "log_softmax"):
            dim = kwargs.get("dim", args[1] if len(args) > 1 else -1)
            return b.softmax(tensors[0], dim)
        if target is torch.cat or name == "cat":
            dim = kwargs.get("dim", args[1] if len(args) > 1 else 0)
            return b.concat(list(args[0]), dim % len(shape))
        if target is torch.stack or name == "stack":
            return b.stack(list(args[0]))
        if name in ("matmul", "bmm") or target is operator.matmul:
            return b.matmul(tensors[0], tensors[1])
        if name == "scaled_dot_product_attention":
            q, k, v = tensors[:3]
            return b.add("attention", [q, k, v], shape, ("sample", "parameter") + ("attribute", "none")[:len(shape) - 2]
                         if len(shape) == 4 else ("sample",) + ("none",) * (len(shape) - 1),
                         [tuple(range(len(shape) - 1)) + (None,),
                          tuple(range(len(shape) - 2)) + (None, None),
                          tuple(range(len(shape) - 2)) + (None, None)],
                         flops=4.0 * math.prod(shape) * b.shape(k)[-2], heads=shape[1] if len(shape) == 4 else 1)
        if name in ("chunk", "split", "unbind"):
            return self.pieces(node, tensors[0])
        if name in ("view", "reshape", "flatten", "permute", "transpose", "squeeze", "unsqueeze",
                    "expand", "t", "contiguous", "type_as", "float", "to"):
            return self.view(node, tensors, shape)
        if name in ("mean", "sum", "cross_entropy", "nll_loss", "max", "amax"):
            return self.reduce(node, tensors, shape)
        if name in ("layer_norm",):
            return b.layernorm(tensors[0])
        if name == "linear":
            raise self.unknown(node, "functional linear with explicit weights")
        raise self.unknown(node, name)

    def unknown(self, node, what):
        return GraphError(
            f"The tracer has no rule for operator {what!r} (fx node {node.name!r}, {node.op}). "
            f"Add one with dawnlab.flexflow.trace.register_rule(<module class, function or method name>, "
            f"rule), where rule(builder, node, args, shape) adds the operator with its flops, e.g. "
            f"builder.add(kind, inputs, shape, dims, input_maps, flops=...).")

    def view(self, node, tensors, shape):
        src = tensors[0]
        s0 = self.b.shape(src)
        same0 = shape and s0 and shape[0] == s0[0]
        dims = (("sample",) if same0 else ("none",)) + ("none",) * (len(shape) - 1)
        imap = ((0,) if same0 else (None,)) + (None,) * (len(s0) - 1)
        return self.b.add("view", [src], shape, dims, [imap])

    def reduce(self, node, tensors, shape):
        src = tensors[0]
        s0 = self.b.shape(src)
        shape = shape if shape else (1,)
        keep = len(shape) >= 1 and shape[0] == s0[0] and len(shape) > 0 and shape != (1,)
        dims = (("sample",) if keep else ("none",)) + ("none",) * (len(shape) - 1)
        imap = ((0,) if keep else (None,)) + (None,) * (len(s0) - 1)
        maps = [imap] + [tuple([None] * len(self.b.shape(t))) for t in tensors[1:]]
        return self.b.add("reduce", tensors, shape, dims, maps, flops=float(math.prod(s0)))

    def pieces(self, node, src):
        # outputs of chunk/split: one select op per piece, found through getitem users
        outs = []
        meta = node.meta.get("tensor_meta")
        s0 = self.b.shape(src)
        dim = node.kwargs.get("dim", node.args[2] if len(node.args) > 2 else 0)
        for k, m in enumerate(meta):
            shp = tuple(m.shape)
            outs.append(self.b.select(src, dim % len(s0), k, size=shp[dim % len(s0)]) if shp != s0
                        else src)
        return tuple(outs)

    def module_rule(self, node, mod, args, kwargs, shape):
        import torch.nn as nn

        b = self.b
        x = args[0] if args else None
        if type(mod) in RULES:
            return RULES[type(mod)](b, node, args, shape)
        if isinstance(mod, nn.Conv2d):
            if mod.padding == "same":  # torch pads total d (k - 1), the extra row after
                pad = tuple((d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2)
                            for k, d in zip(mod.kernel_size, mod.dilation))
            elif mod.padding == "valid":
                pad = 0
            else:
                pad = tuple(mod.padding)
            return b.conv2d(x, mod.out_channels, tuple(mod.kernel_size), tuple(mod.stride), pad, relu=False,
                            groups=mod.groups, dilation=tuple(mod.dilation), bias=mod.bias is not None)
        if isinstance(mod, nn.Linear):
            return b.linear(x, mod.out_features, bias=mod.bias is not None)
        if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
            return b.batchnorm(x)
        if isinstance(mod, nn.LayerNorm):
            return b.layernorm(x)
        for cls, name in ((nn.ReLU, "relu"), (nn.GELU, "gelu"), (nn.Tanh, "tanh"), (nn.Sigmoid, "sigmoid"),
                          (nn.Dropout, "dropout"), (nn.SiLU, "silu"), (nn.Identity, "identity")):
            if isinstance(mod, cls):
                return b.elementwise(name, [x])
        if isinstance(mod, (nn.MaxPool2d, nn.AvgPool2d)):
            if mod.ceil_mode:
                raise self.unknown(node, f"{type(mod).__name__} with ceil_mode=True")
            dil = getattr(mod, "dilation", 1)
            return b.pool2d(x, mod.kernel_size, mod.stride or mod.kernel_size, mod.padding,
                            "max" if isinstance(mod, nn.MaxPool2d) else "avg", dilation=dil)
        if isinstance(mod, nn.AdaptiveAvgPool2d):
            if tuple(shape[2:]) != (1, 1):
                raise self.unknown(node, "AdaptiveAvgPool2d to a size other than 1x1")
            return b.pool2d(x, 0, mode="avg")
        if isinstance(mod, nn.Flatten):
            return b.flatten(x)
        if isinstance(mod, nn.Softmax):
            return b.softmax(x, mod.dim if mod.dim is not None else -1)
        if isinstance(mod, nn.Embedding):
            return b.embedding(x, mod.num_embeddings, mod.embedding_dim)
        if isinstance(mod, (nn.LSTM, nn.GRU, nn.RNN)):
            return self.recurrent(node, mod, x)
        if isinstance(mod, nn.TransformerEncoderLayer):
            return self.encoder_layer(node, mod, x)
        if isinstance(mod, nn.MultiheadAttention):
            q, k, v = args[:3]
            e = mod.embed_dim
            qs = [b.linear(t, e) for t in (q, k, v)]
            a = b.attention(*qs, mod.num_heads)
            return (b.linear(a, e), None)
        raise self.unknown(node, type(mod).__name__)

    def encoder_layer(self, node, mod, x):
        """``nn.TransformerEncoderLayer``: self-attention (q, k, v projections, attention, output
        projection), feed-forward, residuals and layer norms, in its norm-first or norm-last order."""
        b = self.b
        att = mod.self_attn
        if not att.batch_first:
            raise self.unknown(node, "TransformerEncoderLayer with batch_first=False (use batch_first=True)")
        e, heads, ff = att.embed_dim, att.num_heads, mod.linear1.out_features
        act = mod.activation
        act = getattr(act, "__name__", type(act).__name__).lower()

        def attention(z):
            return b.linear(b.attention(*[b.linear(z, e) for _ in range(3)], heads), e)

        def feed_forward(z):
            return b.linear(b.elementwise(act, [b.linear(z, ff)]), e)

        if mod.norm_first:
            x = b.add_(x, attention(b.layernorm(x)))
            return b.add_(x, feed_forward(b.layernorm(x)))
        x = b.layernorm(b.add_(x, attention(x)))
        return b.layernorm(b.add_(x, feed_forward(x)))

    def recurrent(self, node, mod, x):
        b = self.b
        if mod.bidirectional:
            raise self.unknown(node, f"bidirectional {type(mod).__name__}")
        shp = b.shape(x)
        time_dim = 1 if mod.batch_first else 0
        steps = [b.select(x, time_dim, t) for t in range(shp[time_dim])]
        if not mod.batch_first:
            raise self.unknown(node, f"{type(mod).__name__} with batch_first=False (use batch_first=True)")
        gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[type(mod).__name__]
        h_last = []
        for layer in range(mod.num_layers):
            h = None
            out = []
            group = f"{node.name}_l{layer}"
            for t, xt in enumerate(steps):
                n, k = b.shape(xt)
                inputs, maps = [xt], [(0, None)]
                if h is not None:
                    inputs.append(h)
                    maps.append((0, None))
                hid = mod.hidden_size
                h = b.add("lstm_cell" if gates == 4 else "rnn_cell", inputs, (n, hid), ("sample", "parameter"),
                          maps, flops=2.0 * n * gates * hid * (k + hid) + 10.0 * n * hid,
                          params=gates * hid * (k + hid + 2), param_group=group, name=f"{group}_t{t}",
                          in_features=k)
                out.append(h)
            steps = out
            h_last.append(h)
        y = b.stack(steps)
        # h_n (and c_n, which travels with it): the last step of every layer, (layers, N, hidden)
        n, hid = b.shape(h_last[-1])
        hn = b.add("stack", h_last, (len(h_last), n, hid), ("none", "sample", "parameter"), [(1, 2)] * len(h_last))
        return (y, (hn, hn))


def graph_from_module(module, example_inputs: tuple, name: str | None = None) -> Graph:
    """Trace ``module`` with ``torch.fx`` and build its operator graph with shapes.

    Parameters
    ----------
    module : torch.nn.Module
    example_inputs : tuple of torch.Tensor
        Inputs used to propagate shapes (the batch size comes from them).
    name : str, optional

    Raises
    ------
    GraphError
        For an operator with no rule, naming it and how to add one.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
    ...                           torch.nn.Flatten(), torch.nn.Linear(8 * 4 * 4, 10))
    >>> g = graph_from_module(net, (torch.randn(2, 3, 4, 4),))
    >>> [(op.kind, op.shape) for op in g][1:3]
    [('conv2d', (2, 8, 4, 4)), ('relu', (2, 8, 4, 4))]
    """
    if not isinstance(example_inputs, (tuple, list)):
        raise invalid("example_inputs", "graph_from_module", "a tuple of tensors", type(example_inputs).__name__)
    tr = _Tracer(module, name or type(module).__name__.lower())
    return tr.run(tuple(example_inputs))
