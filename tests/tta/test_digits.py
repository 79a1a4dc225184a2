"""The shipped digits benchmarks: the protocol, the whitening layer, the recipes' settings."""

from __future__ import annotations

import numpy as np
import pytest

from dawnlab.errors import InvalidArgument
from dawnlab.tta import Runner, check_log
from dawnlab.tta.digits import DigitsBenchmark, SVPProxyBenchmark, _whitening_weights, digits_splits


def test_splits_are_disjoint_stratified_and_fixed():
    Xtr, ytr, Xev, yev, Xh, yh = digits_splits()
    assert (len(ytr), len(yev), len(yh)) == (4000, 500, 500)
    assert np.bincount(yev).tolist() == [50] * 10 and np.bincount(yh).tolist() == [50] * 10
    flat = {x.tobytes() for x in Xtr[:, 0]}
    assert not any(x.tobytes() in flat for x in Xh[:, 0])  # no held-out image is a training image


def test_whitening_filters_whiten_the_patches():
    import torch

    Xtr = torch.from_numpy(digits_splits()[0][:500])
    w = _whitening_weights(Xtr, eps=0.0)[:4].reshape(4, 4).double()
    patches = Xtr.unfold(2, 2, 1).unfold(3, 2, 1).transpose(1, 3).reshape(-1, 4).double()
    cov = torch.cov(patches.T, correction=0)
    np.testing.assert_allclose((w @ cov @ w.T).numpy(), np.eye(4), atol=1e-4)


def test_fast_recipe_fits_its_whitening_layer_after_the_clock_starts():
    b = DigitsBenchmark("fast", target=0.5, max_epochs=1, train_samples=500)
    b.init(0)
    before = b.model.whiten.weight.detach().clone()
    b.start()  # first touch of the data: the whitening layer is fitted here, on the clock
    assert not np.allclose(before.numpy(), b.model.whiten.weight.detach().numpy())
    assert not b.model.whiten.weight.requires_grad  # frozen


@pytest.mark.parametrize("make", [
    lambda: DigitsBenchmark("fast", target=0.3, max_epochs=1, train_samples=300),
    pytest.param(lambda: DigitsBenchmark("plain", target=0.3, max_epochs=1, train_samples=300), marks=pytest.mark.slow),
    pytest.param(lambda: SVPProxyBenchmark("mlp", 1, 32, target=0.3, max_epochs=1, train_samples=300),
                 marks=pytest.mark.slow),
    pytest.param(lambda: SVPProxyBenchmark("resnet", 8, 4, target=0.3, max_epochs=1, train_samples=300),
                 marks=pytest.mark.slow)], ids=["fast", "plain", "svp_mlp", "svp_resnet"])
def test_each_recipe_runs_under_the_harness_with_compliant_logs(tmp_path, make):
    res = Runner(make(), runs=3, log_dir=tmp_path, latency_examples=3, progress=False).run()
    assert all(c.passed for c in res.checks)
    for r in res.runs:
        assert 0.0 <= r.extras["holdout_accuracy"] <= 1.0 and len(r.extras["latency_ms"]) == 3
        assert len(r.eval_cpu) == len(r.evals)


def test_bad_settings_are_refused():
    with pytest.raises(InvalidArgument, match="recipe"):
        DigitsBenchmark("turbo")
    with pytest.raises(InvalidArgument, match="overrides"):
        DigitsBenchmark("plain", label_smoothing=0.1)
    with pytest.raises(InvalidArgument, match="train_samples"):
        DigitsBenchmark("fast", train_samples=50)
    with pytest.raises(InvalidArgument, match="model"):
        SVPProxyBenchmark("vit")


@pytest.mark.slow
def test_fast_recipe_reaches_97_percent_within_four_epochs(tmp_path):
    res = Runner(DigitsBenchmark("fast", target=0.97, max_epochs=4), runs=3, log_dir=tmp_path,
                 progress=False).run()
    assert sum(r.converged for r in res.runs) >= 2 and all(c.passed for c in res.checks)
    assert all(r.extras["holdout_accuracy"] >= 0.95 for r in res.runs)


def test_each_run_reads_and_decodes_the_data_on_its_clock(tmp_path, monkeypatch):
    import time

    from dawnlab.tta.rules import log_lines

    digits_splits()  # warm every cache an earlier run or test could leave
    reads = []
    real = np.loadtxt

    def counting_loadtxt(*args, **kwargs):
        reads.append(time.time() * 1e3)
        return real(*args, **kwargs)

    monkeypatch.setattr(np, "loadtxt", counting_loadtxt)
    res = Runner(DigitsBenchmark("plain", target=0.05, max_epochs=1, train_samples=100), runs=3,
                 log_dir=tmp_path, progress=False).run()
    assert len(reads) == 3  # one read and decode of the file per run, none shared
    for r, t in zip(res.runs, reads):
        recs = log_lines(r.log)
        assert next(x["value"] for x in recs if x["key"] == "cache_clear") is True
        run_start = next(x["time_ms"] for x in recs if x["key"] == "run_start")
        first_epoch = next(x["time_ms"] for x in recs if x["key"] == "epoch_start")
        assert run_start <= t <= first_epoch  # after the clock started, inside start()
