"""Model families and training recipes."""

import numpy as np
import pytest
import torch

from dawnlab.svp import MLP, Learner, ResNet, SVPError, count_parameters, forgetting_events
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


@pytest.mark.parametrize("depth,blocks", [(11, 1), (20, 2)])
def test_bottleneck_depth_counts_weighted_layers(depth, blocks):
    net = ResNet(depth, 4, 10, 1, block="bottleneck")
    convs = [name for name, m in net.named_modules()
             if isinstance(m, torch.nn.Conv2d) and not name.endswith("shortcut")]
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert len(convs) + len(linears) == depth == 9 * blocks + 2
    x = torch.zeros(3, 1, 20, 20)
    assert net(x).shape == (3, 10) and net.embed(x).shape == (3, 4 * 4 * 4)  # 4x expansion of 4 * width


def test_resnet164_has_the_papers_parameter_count():
    # He et al. (2016) and the SVP paper: pre-activation ResNet-164 on CIFAR-10 has 1.7 M parameters
    assert round(count_parameters(ResNet(164, 16, 10, 3, block="bottleneck")) / 1e5) == 17
    with pytest.raises(InvalidArgument, match="9 n \\+ 2"):
        ResNet(164 + 6, 16, 10, 3, block="bottleneck")
    with pytest.raises(InvalidArgument, match="'block'"):
        Learner("resnet", 8, 4, block="wide")


def test_early_stopped_proxy_follows_the_full_schedule_then_stops():
    rng = np.random.default_rng(1)
    X = torch.tensor(rng.normal(size=(64, 5)), dtype=torch.float32)
    y = (X[:, 0] > 0).long()

    def losses(learner):
        seen = []
        fitted = learner.fit(X, y, 2, seed=3, track=True, callback=lambda e, loss: seen.append(loss))
        return seen, fitted

    full, _ = losses(Learner("mlp", 1, 8, epochs=6, lr=0.5))
    early, fitted = losses(Learner("mlp", 1, 8, epochs=6, lr=0.5, stop_after=2))
    short, _ = losses(Learner("mlp", 1, 8, epochs=2, lr=0.5))
    assert early == full[:2]  # the same run as the full schedule, cut after two epochs
    assert short[1] != full[1]  # a 2-epoch schedule decays its learning rate sooner
    assert fitted.history.shape == (2, 64)
    assert Learner("mlp", 1, 8, epochs=6, stop_after=2).cost((5,), 2) * 3 == Learner("mlp", 1, 8, epochs=6).cost((5,), 2)
    with pytest.raises(InvalidArgument, match="'stop_after'"):
        Learner("mlp", 1, 8, epochs=6, stop_after=7)


def test_forgetting_is_counted_at_every_presentation_under_min_batches(monkeypatch):
    """Brute force: log every training forward pass, replay each example's presentations in order."""
    from dawnlab.svp.learner import warm_up

    warm_up()
    n = 10
    X = torch.arange(n, dtype=torch.float32)[:, None] * torch.ones(1, 3)  # row i is all i: forward inputs name examples
    X = X + torch.tensor([0.0, 0.5, -0.5])
    y = torch.tensor([0, 1, 1, 0, 1, 0, 0, 1, 1, 0])
    log = []
    build = Learner.build

    def logged_build(self, *a, **k):
        model = build(self, *a, **k)
        model.register_forward_hook(lambda m, inp, out: log.append((inp[0][:, 0].round().long().tolist(),
                                                                   out.argmax(1).tolist())) if m.training else None)
        return model

    monkeypatch.setattr(Learner, "build", logged_build)
    L = Learner("mlp", 1, 6, epochs=5, batch_size=4, lr=0.5, min_batches=7)
    fitted = L.fit(X, y, 2, seed=1, track=True)
    seq = {i: [] for i in range(n)}
    for idx, pred in log:
        for i, p in zip(idx, pred):
            seq[i].append(p == int(y[i]))
    events = [sum(a and not b for a, b in zip(s, s[1:])) if any(s) else np.inf for s in seq.values()]
    wrong = [sum(not c for c in s) for s in seq.values()]
    assert len(log) == 5 * 7 and sum(len(s) for s in seq.values()) == 5 * 7 * 4  # 28 presentations per epoch
    np.testing.assert_array_equal(fitted.presentations, [len(s) for s in seq.values()])
    np.testing.assert_array_equal(fitted.forgetting, events)
    np.testing.assert_array_equal(fitted.misclassified, wrong)
    # the case exercises what the per-epoch snapshot would miss: several presentations per epoch, real events
    assert fitted.history.shape == (5, n) and min(len(s) for s in seq.values()) > 5
    assert (np.isfinite(fitted.forgetting) & (fitted.forgetting > 0)).any()
    per_epoch = forgetting_events(fitted.history)
    assert not np.array_equal(per_epoch, fitted.forgetting)


def test_forgetting_counts_a_repeat_inside_one_batch_in_order():
    from dawnlab.svp.learner import _Tracker

    t = _Tracker(3)
    t.update(np.array([0, 1, 0, 0]), np.array([True, False, False, True]))  # example 0: right, wrong, right
    t.update(np.array([0, 2]), np.array([False, True]))
    forgetting, wrong, seen = t.result()
    np.testing.assert_array_equal(forgetting, [2, np.inf, 0])
    np.testing.assert_array_equal(wrong, [2, 1, 0])
    np.testing.assert_array_equal(seen, [4, 1, 1])
