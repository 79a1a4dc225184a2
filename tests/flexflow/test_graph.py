"""Operator graphs: builders with the paper's shapes, torch.fx tracing, errors."""

import pytest
import torch

from dawnlab.flexflow import GraphBuilder, GraphError, benchmarks
from dawnlab.flexflow.trace import graph_from_module


@pytest.mark.parametrize("name, params", [
    ("alexnet", 61_100_840),      # torchvision alexnet: 61,100,840 weights
    ("resnet101", 44_496_488),    # torchvision resnet101 (BN folded into conv bias): 44.5 M
])
def test_benchmark_weight_counts_match_the_reference_models(name, params):
    g = benchmarks.build(name, 2)
    assert abs(g.total_params - params) / params < 0.002


def test_benchmark_shapes_follow_the_papers_networks():
    assert benchmarks.alexnet(4)["pool5"].shape == (4, 256, 6, 6)
    inc = benchmarks.inception_v3(2)
    assert inc["mixed_5d"].shape == (2, 288, 35, 35)
    assert inc["mixed_6e"].shape == (2, 768, 17, 17)
    assert inc["mixed_7c"].shape == (2, 2048, 8, 8)
    # 5.7 G multiply-adds per 299x299 image (Szegedy et al. report 5 G for the conv body)
    assert 5.2e9 < inc.total_flops / 2 / 2 < 6.2e9
    assert benchmarks.resnet101(2)["l4b2_add"].shape == (2, 2048, 7, 7)
    r = benchmarks.rnntc(4, seq_len=40)
    assert sum(op.kind == "lstm_cell" for op in r) == 4 * 40 and len(r.groups["lstm0"]) == 40
    assert sum(op.kind == "lstm_cell" for op in benchmarks.rnnlm(4)) == 2 * 40
    n = benchmarks.nmt(4)
    assert sum(op.kind == "lstm_cell" for op in n) == 4 * 40 and n["softmax"].shape == (4, 40, 32000)
    t = benchmarks.transformer(2, layers=3, d_model=64, heads=4, seq_len=8, vocab=50)
    assert sum(op.kind == "attention" for op in t) == 3


def test_builder_conv_flops_closed_form():
    b = GraphBuilder()
    x = b.input((2, 3, 8, 8))
    c = b.conv2d(x, 4, 3, 1, 1, name="c")
    op = b.build()["c"]
    assert op.flops == 2 * 2 * 4 * 8 * 8 * 3 * 3 * 3 and op.params == 4 * (27 + 1)
    assert op.input_maps == ((0, None, 2, 3),)


def test_fx_trace_matches_the_builder_on_a_small_cnn():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                              torch.nn.Flatten(), torch.nn.Linear(8 * 4 * 4, 10))
    g = graph_from_module(net, (torch.randn(2, 3, 8, 8),))
    b = GraphBuilder()
    x = b.input((2, 3, 8, 8))
    x = b.pool2d(b.relu(b.conv2d(x, 8, 3, 1, 1, relu=False)), 2)
    b.linear(b.flatten(x), 10)
    ref = b.build()
    assert [(o.kind, o.shape, o.flops, o.params) for o in g] == [(o.kind, o.shape, o.flops, o.params) for o in ref]


def test_fx_unrolls_recurrent_layers_and_handles_attention():
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.lstm = torch.nn.Embedding(50, 8), torch.nn.LSTM(8, 16, 2, batch_first=True)
            self.att = torch.nn.Linear(16, 16)

        def forward(self, ids):
            y, _ = self.lstm(self.emb(ids))
            q = self.att(y).view(3, 5, 2, 8).transpose(1, 2)
            a = torch.nn.functional.scaled_dot_product_attention(q, q, q)
            return torch.softmax(torch.cat([a.transpose(1, 2).reshape(3, 5, 16), y], -1), -1)

    net = Net()
    g = graph_from_module(net, (torch.randint(0, 50, (3, 5)),))
    cells = [o for o in g if o.kind == "lstm_cell"]
    assert len(cells) == 2 * 5 and len({o.param_group for o in cells}) == 2
    assert cells[0].params == 4 * 16 * (8 + 16 + 2)  # torch's LSTM has two bias vectors
    assert g.total_params == sum(p.numel() for p in net.parameters())  # shared steps counted once
    assert any(o.kind == "attention" for o in g) and g.ops[-1].shape == (3, 5, 32)


def test_unknown_operator_is_an_error_naming_it_and_the_fix():
    class Net(torch.nn.Module):
        def forward(self, x):
            return torch.fft.fft(x).real

    with pytest.raises(GraphError, match=r"'fft_fft'.*register_rule"):
        graph_from_module(Net(), (torch.randn(2, 4),))


def test_graph_rejects_bad_order_and_names():
    b = GraphBuilder()
    x = b.input((2, 3))
    with pytest.raises(GraphError, match="unused"):
        b.linear(x, 4, name=x)
    with pytest.raises(GraphError, match="already added"):
        b.relu("nope")
    with pytest.raises(GraphError, match="matching"):
        b.matmul(x, x)
