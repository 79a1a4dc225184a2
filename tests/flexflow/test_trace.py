"""The torch.fx tracer: every operator's shape agrees with torch's, or the trace fails naming it."""

import pytest
import torch
import torch.nn as nn

from dawnlab.flexflow import GraphError, Machine, OpConfig, benchmarks, valid_degrees, validate
from dawnlab.flexflow.graph import GraphBuilder
from dawnlab.flexflow.soap import ConfigError
from dawnlab.flexflow.trace import RULES, graph_from_module, register_rule


def _torch_shapes(net, x):
    """Output shape of every leaf module, by forward hooks (the reference)."""
    shapes = []
    hooks = [m.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape)))
             for m in net.modules() if not list(m.children())]
    with torch.no_grad():
        net(x)
    for h in hooks:
        h.remove()
    return shapes


@pytest.mark.parametrize("layer, in_shape", [
    (nn.Conv2d(3, 4, 3, padding="same"), (2, 3, 16, 16)),                # issue: gave 14x14
    (nn.Conv2d(4, 8, 4, padding="same", dilation=2), (2, 4, 16, 16)),    # even kernel: asymmetric pad
    (nn.Conv2d(4, 8, 3, stride=(2, 1), padding=1), (2, 4, 16, 16)),      # issue: gave 8x8
    (nn.Conv2d(4, 8, (3, 5), stride=(1, 2), padding=(1, 2), dilation=(2, 1)), (2, 4, 16, 16)),
    (nn.Conv2d(16, 16, 3, padding=1, groups=16), (2, 16, 8, 8)),         # depthwise
    (nn.Conv2d(8, 8, 3, padding="valid", groups=2, bias=False), (2, 8, 8, 8)),
    (nn.MaxPool2d((3, 2), stride=(2, 1), padding=1), (2, 4, 16, 16)),
    (nn.MaxPool2d(3, stride=2, dilation=2), (2, 4, 16, 16)),
    (nn.AvgPool2d((2, 4)), (2, 4, 16, 16)),
])
def test_convolution_and_pooling_settings_match_torch(layer, in_shape):
    net = nn.Sequential(layer)
    g = graph_from_module(net, (torch.randn(in_shape),))
    assert g.ops[-1].shape == _torch_shapes(net, torch.randn(in_shape))[-1]
    assert g.total_params == sum(p.numel() for p in net.parameters())


def test_depthwise_convolution_counts_its_weights_and_flops():
    g = graph_from_module(nn.Sequential(nn.Conv2d(16, 16, 3, padding=1, groups=16)), (torch.randn(2, 16, 8, 8),))
    op = g.ops[-1]
    assert op.params == 160  # 16 x (1 x 3 x 3 + 1), not 16 x (16 x 9 + 1) = 2,320
    assert op.flops == 2 * 2 * 16 * 8 * 8 * 1 * 9
    assert op.input_maps == ((0, 1, 2, 3),)  # each output channel reads only its own channel


def test_two_dimensional_matmul():
    class Gram(nn.Module):
        def forward(self, h):
            return h @ h.t()

    g = graph_from_module(Gram(), (torch.randn(6, 5),))
    assert g.ops[-1].kind == "matmul" and g.ops[-1].shape == (6, 6) and g.ops[-1].flops == 2 * 36 * 5
    b = GraphBuilder()
    x, w = b.input((4, 7, 5)), b.input((5, 3))
    assert b.build() and b.shape(b.matmul(x, w)) == (4, 7, 3)


@pytest.mark.parametrize("norm_first, activation", [(False, "relu"), (True, "gelu")])
def test_transformer_encoder_layer(norm_first, activation):
    layer = nn.TransformerEncoderLayer(16, 4, 32, batch_first=True, norm_first=norm_first, activation=activation)
    net = nn.Sequential(layer, nn.Linear(16, 3))
    g = graph_from_module(net, (torch.randn(2, 5, 16),))
    assert g.ops[-1].shape == (2, 5, 3)
    assert g.total_params == sum(p.numel() for p in net.parameters())
    assert sum(op.kind == "attention" for op in g) == 1 and {op.kind for op in g} >= {"layernorm", activation}
    with pytest.raises(GraphError, match="batch_first"):
        graph_from_module(nn.TransformerEncoderLayer(16, 4, 32), (torch.randn(5, 2, 16),))


def test_parameter_tensors_become_weights():
    class Pos(nn.Module):
        def __init__(self):
            super().__init__()
            self.pos = nn.Parameter(torch.zeros(1, 5, 16))
            self.register_buffer("scale", torch.ones(16))
            self.fc = nn.Linear(16, 4)

        def forward(self, x):
            return self.fc((x + self.pos) * self.scale)

    net = Pos()
    g = graph_from_module(net, (torch.randn(2, 5, 16),))
    kinds = {op.kind: op for op in g}
    assert kinds["parameter"].params == 80 and kinds["constant"].params == 0
    assert g.total_params == sum(p.numel() for p in net.parameters())


def test_attention_splits_respect_heads():
    g = benchmarks.transformer(4, layers=1, d_model=64, heads=4, seq_len=8, vocab=50)
    att = next(op for op in g if op.kind == "attention")
    m = Machine.preset("p100x16")
    splits = {deg[2] for deg in valid_degrees(att, m)}
    assert splits == {1, 2, 4}  # 8 and 16 would cut through heads
    with pytest.raises(ConfigError, match="heads"):
        validate(att, OpConfig((1, 1, 8), tuple(range(8))), m)


def test_a_rule_that_builds_the_wrong_shape_is_an_error_naming_the_node():
    class Twice(nn.Module):
        def forward(self, x):
            return torch.cat([x, x], 1)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.twice = Twice()

        def forward(self, x):
            return self.twice(x)

    register_rule(Twice, lambda b, node, args, shape: b.elementwise("twice", [args[0]]))  # wrong: no doubling
    try:
        with pytest.raises(GraphError, match=r"shape \(2, 3\) for fx node 'twice'.*shape \(2, 6\)"):
            graph_from_module(Net(), (torch.randn(2, 3),))
    finally:
        del RULES[Twice]


def test_unsupported_settings_say_why():
    with pytest.raises(GraphError, match="ceil_mode"):
        graph_from_module(nn.Sequential(nn.MaxPool2d(3, ceil_mode=True)), (torch.randn(1, 2, 8, 8),))

    class Branchy(nn.Module):
        def forward(self, x):
            return x if x.sum() > 0 else -x

    with pytest.raises(GraphError, match="cannot trace"):
        graph_from_module(Branchy(), (torch.randn(2, 3),))


def test_lstm_final_state_has_torchs_shape():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(4, 8, 2, batch_first=True)

        def forward(self, x):
            _, (h, _) = self.lstm(x)
            return h[-1]

    g = graph_from_module(Net(), (torch.randn(3, 5, 4),))
    assert g.ops[-1].shape == (3, 8)
