"""Core-set selection: what is kept, resume and bad input."""

import numpy as np
import pytest
import torch

from dawnlab.svp import CoreSet, Learner, SVPError, forgetting_events, k_center_greedy
from dawnlab.svp.pool import derive_seed

SMALL = Learner("mlp", 1, 8, epochs=3, name="small")
BIG = Learner("mlp", 2, 32, epochs=3, name="big")


def blobs(n=120, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.normal(size=(n, 4)) + 1.5 * np.eye(3, 4)[y]
    return X.astype(np.float32), y


@pytest.mark.parametrize("method", ["forgetting", "entropy"])
def test_keeps_the_highest_scores(method):
    X, y = blobs()
    res = CoreSet(BIG, SMALL, method, keep=[0.25, 0.5], seed=0).fit((X, y))
    s = res.scores
    for rec in res.records:
        kept = np.isin(res.pool, rec.selected)
        assert kept.sum() == rec.n_kept == round(rec.keep * len(res.pool))
        assert s[kept].min() >= s[~kept].max()


def test_forgetting_scores_come_from_the_proxy_history():
    X, y = blobs()
    res = CoreSet(BIG, SMALL, "forgetting", keep=0.5, seed=4).fit((X, y))
    Xt, yt = torch.tensor(X), torch.tensor(y)
    fitted = SMALL.fit(Xt[res.pool], yt[res.pool], 3, derive_seed(4, "proxy"), track=True)
    np.testing.assert_array_equal(res.scores, forgetting_events(fitted.history))


def test_kcenters_coreset_is_greedy_from_a_seeded_start():
    X, y = blobs()
    res = CoreSet(BIG, SMALL, "kcenters", keep=0.2, seed=1).fit((X, y))
    Xt, yt = torch.tensor(X), torch.tensor(y)
    fitted = SMALL.fit(Xt[res.pool], yt[res.pool], 3, derive_seed(1, "proxy"))
    picks = k_center_greedy(fitted.embed(Xt[res.pool]), res.records[0].n_kept, seed=derive_seed(1, "kcenters"))
    assert res.records[0].selected.tolist() == res.pool[picks].tolist()


def test_resume_equals_uninterrupted(tmp_path):
    X, y = blobs()
    kw = dict(method="forgetting", keep=[0.3, 0.6, 0.9], seed=2)
    full = CoreSet(BIG, SMALL, **kw).fit((X, y))
    gen = CoreSet(BIG, SMALL, checkpoint_dir=tmp_path, **kw).run((X, y))
    next(gen)
    gen.close()
    resumed = CoreSet(BIG, SMALL, checkpoint_dir=tmp_path, **kw).fit((X, y))
    assert [r.resumed for r in resumed.records] == [True, False, False]
    for a, b in zip(full.records, resumed.records):
        assert a.selected.tolist() == b.selected.tolist() and a.target_accuracy == b.target_accuracy


def test_selection_cost_counts_the_proxy_once_per_fraction():
    X, y = blobs()
    res = CoreSet(BIG, SMALL, "entropy", keep=[0.5, 1.0], seed=0).fit((X, y))
    a, b = res.records
    assert a.seconds["proxy_training"] == b.seconds["proxy_training"] > 0
    assert b.n_kept == len(res.pool)


def test_bad_input_gets_clear_errors():
    X, y = blobs()
    with pytest.raises(SVPError, match="'keep'"):
        CoreSet(BIG, keep=1.5)
    with pytest.raises(SVPError, match="'keep'"):
        CoreSet(BIG, keep=[])
    with pytest.raises(SVPError, match="'method'"):
        CoreSet(BIG, method="least_confidence")
    with pytest.raises(SVPError, match="no bigger than the target"):
        CoreSet(SMALL, BIG, keep=0.5).fit((X, y))
    with pytest.raises(SVPError, match="empty"):
        CoreSet(BIG, keep=0.5).fit((np.zeros((0, 4)), np.zeros(0, int)))
    Xn = X.copy()
    Xn[0, 0] = np.inf
    with pytest.raises(SVPError, match="finite"):
        CoreSet(BIG, keep=0.5).fit((Xn, y))
