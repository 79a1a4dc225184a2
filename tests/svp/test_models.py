"""Model families and training recipes."""

import numpy as np
import pytest
import torch

from dawnlab.svp import MLP, Learner, ResNet, SVPError, count_parameters
from dawnlab.errors import InvalidArgument


@pytest.mark.parametrize("depth,blocks", [(8, 1), (14, 2), (20, 3)])
def test_resnet_depth_counts_weighted_layers(depth, blocks):
    net = ResNet(depth, 4, 10, 1)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)]
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert len(convs) + len(linears) == depth == 6 * blocks + 2
    x = torch.zeros(3, 1, 28, 28)
    assert net(x).shape == (3, 10) and net.embed(x).shape == (3, 16)


def test_width_and_depth_scale_parameters():
    sizes = [count_parameters(ResNet(d, w, 10, 3)) for d, w in [(8, 4), (8, 16), (20, 16)]]
    assert sizes[0] < sizes[1] < sizes[2]
    # width scales parameters roughly quadratically
    assert 12 < sizes[1] / sizes[0] < 17


def test_model_argument_errors():
    with pytest.raises(InvalidArgument, match="6 n \\+ 2"):
        ResNet(10, 16, 10, 3)
    with pytest.raises(InvalidArgument, match="'num_classes'"):
        MLP(4, 1)
    with pytest.raises(InvalidArgument, match="'arch'"):
        Learner("vit")
    with pytest.raises(InvalidArgument, match="'epochs'"):
        Learner("mlp", epochs=0)


def test_fit_is_deterministic_and_learns():
    rng = np.random.default_rng(0)
    X = torch.tensor(rng.normal(size=(200, 5)), dtype=torch.float32)
    y = (X[:, 0] + X[:, 1] > 0).long()
    L = Learner("mlp", 1, 16, epochs=8)
    a, b = L.fit(X, y, 2, seed=4, track=True), L.fit(X, y, 2, seed=4, track=True)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    np.testing.assert_array_equal(a.history, b.history)
    assert a.history.shape == (8, 200)
    assert a.accuracy(X, y) > 0.9
    assert a.history[-1].mean() > a.history[0].mean()  # learned while training
    c = L.fit(X, y, 2, seed=5)
    assert not np.array_equal(a.predict_proba(X), c.predict_proba(X))


def test_fit_does_not_touch_global_rng():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    Learner("mlp", 1, 4, epochs=1).fit(torch.zeros(10, 2), torch.tensor([0, 1] * 5), 2, seed=0)
    assert torch.equal(torch.rand(3), expected)


def test_resnet_learner_on_real_digits():
    from dawnlab.data import load_opencv_digits

    ds = load_opencv_digits()
    idx = np.random.default_rng(0).permutation(len(ds))[:200]
    X, y = ds.subset(idx).torch().tensors
    fitted = Learner("resnet", 8, 4, epochs=2).fit(X[:100], y[:100], 10, seed=0)
    p = fitted.predict_proba(X[100:])
    np.testing.assert_allclose(p.sum(1), 1, rtol=1e-5)
    assert fitted.embed(X[100:]).shape == (100, 16)
    assert fitted.history is None


def test_min_batches_lengthens_epochs_over_small_sets(monkeypatch):
    X = torch.randn(10, 3)
    y = torch.tensor([0, 1] * 5)
    steps = []
    orig = torch.optim.SGD.step
    monkeypatch.setattr(torch.optim.SGD, "step", lambda self, *a, **k: (steps.append(1), orig(self, *a, **k))[1])
    Learner("mlp", 1, 4, epochs=2, batch_size=4).fit(X, y, 2, 0)
    assert len(steps) == 2 * 3  # ceil(10 / 4) batches per epoch
    steps.clear()
    Learner("mlp", 1, 4, epochs=2, batch_size=4, min_batches=6).fit(X, y, 2, 0)
    assert len(steps) == 2 * 6  # the floor: 6 batches of 4 drawn from 10 examples
