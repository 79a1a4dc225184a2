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


@pytest.mark.parametrize("keep", [True, False, [0.5, True], np.True_, None, "0.5"])
def test_keep_refuses_bools_and_non_numbers(keep):
    # True used to pass as 1.0 (bool is an int)
    with pytest.raises(SVPError, match=r"'keep' argument of CoreSet must be a fraction in \(0, 1\].*not a bool"):
        CoreSet(BIG, keep=keep)


def test_keep_accepts_numpy_numbers():
    assert CoreSet(BIG, keep=np.int64(1)).keep == [1.0]
    assert CoreSet(BIG, keep=[np.float32(0.5), 1]).keep == [0.5, 1.0]


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


def test_forgetting_ties_at_the_cut_are_broken_by_misclassified_presentations():
    X, y = blobs(200)
    res = CoreSet(BIG, SMALL, "forgetting", keep=[0.3, 0.6], seed=5).fit((X, y))
    f, m = res.scores, res.secondary
    assert res.distinct_scores == len(np.unique(f)) >= 2
    for rec in res.records:
        kept = np.isin(res.pool, rec.selected)
        cut = f[kept].min()
        assert cut >= f[~kept].max()
        tied = f == cut
        if (tied & ~kept).any():  # the documented secondary score decides among the tied ones
            assert m[tied & kept].min() >= m[tied & ~kept].max()


def test_forgetting_counts_every_presentation_of_the_proxy_under_min_batches():
    X, y = blobs(60)
    proxy = Learner("mlp", 1, 8, epochs=3, batch_size=16, min_batches=10)
    res = CoreSet(BIG, proxy, "forgetting", keep=0.5, seed=0).fit((X, y))
    Xt, yt = torch.tensor(X), torch.tensor(y)
    fitted = proxy.fit(Xt[res.pool], yt[res.pool], 3, derive_seed(0, "proxy"), track=True)
    np.testing.assert_array_equal(res.scores, fitted.forgetting)
    assert fitted.presentations.sum() == 3 * 10 * 16  # every presentation was followed, not one an epoch


def test_one_proxy_pass_serves_every_score():
    X, y = blobs()
    first = CoreSet(BIG, SMALL, "forgetting", keep=[0.4], seed=1)
    first.fit((X, y))
    for method in ("entropy", "kcenters"):
        alone = CoreSet(BIG, SMALL, method, keep=[0.4], seed=1).fit((X, y))
        shared = CoreSet(BIG, SMALL, method, keep=[0.4], seed=1).fit((X, y), scored=first.scored_)
        assert shared.records[0].selected.tolist() == alone.records[0].selected.tolist()
        assert shared.records[0].target_accuracy == alone.records[0].target_accuracy
        assert shared.records[0].seconds["proxy_training"] == first.result_.records[0].seconds["proxy_training"]
    with pytest.raises(SVPError, match="'scored'"):
        CoreSet(BIG, SMALL, "entropy", keep=[0.4], seed=2).fit((X, y), scored=first.scored_)
    with pytest.raises(SVPError, match="'scored'"):
        CoreSet(BIG, SMALL, "entropy", keep=[0.4], seed=1).fit((X + 1, y), scored=first.scored_)


def test_random_control_shares_split_sizes_and_target_seeds():
    X, y = blobs()
    keep = [0.3, 0.7]
    scored = CoreSet(BIG, SMALL, "entropy", keep=keep, seed=3).fit((X, y))
    rand = CoreSet(BIG, None, "random", keep=keep, seed=3).fit((X, y))
    assert rand.pool.tolist() == scored.pool.tolist() and rand.test.tolist() == scored.test.tolist()
    assert [r.n_kept for r in rand.records] == [r.n_kept for r in scored.records]
    # the target on the same subset with the same seed gives the same accuracy: pairing is by seed, not luck
    Xt, yt = torch.tensor(X), torch.tensor(y)
    for r, rec in enumerate(rand.records):
        fitted = BIG.fit(Xt[rec.selected], yt[rec.selected], 3, derive_seed(3, r, "target"))
        assert fitted.accuracy(Xt[rand.test], yt[rand.test]) == rec.target_accuracy
