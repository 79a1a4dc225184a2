"""Active learning: selection correctness, resume, seeds and bad input."""

import numpy as np
import pytest
import torch

from dawnlab.svp import ActiveLearning, Learner, SVPError, k_center_greedy

SMALL = Learner("mlp", 1, 8, epochs=2, name="small")
BIG = Learner("mlp", 2, 32, epochs=3, name="big")


def blobs(n=120, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.normal(size=(n, 4)) + 2.0 * np.eye(3, 4)[y]
    return X.astype(np.float32), y


def test_rounds_follow_the_budget_schedule():
    X, y = blobs()
    al = ActiveLearning(BIG, SMALL, "entropy", budgets=[0.1, 0.3, 0.5], seed=0)
    recs = list(al.run((X, y)))
    pool = al.result_.pool
    assert [r.n_labelled for r in recs] == [10, 29, 48] == al.sizes(len(pool))
    lab = al.result_.labelled
    assert len(set(lab.tolist())) == len(lab) == 48 and set(lab) <= set(pool.tolist())
    assert not set(lab) & set(al.result_.test.tolist())
    assert recs[0].selector_accuracy is None and recs[-1].target_accuracy is not None
    assert recs[1].target_accuracy is None  # evaluate_rounds is off
    assert al.result_.final_accuracy == recs[-1].target_accuracy
    assert set(recs[1].seconds) == {"proxy_training", "scoring", "selection", "target_training"}
    assert al.result_.total_seconds >= al.result_.selection_seconds > 0
    assert list(al.result_.to_frame()["n_labelled"]) == [10, 29, 48]


@pytest.mark.parametrize("method", ["least_confidence", "margin", "entropy"])
def test_uncertainty_rounds_take_the_top_scores(method):
    X, y = blobs()
    al = ActiveLearning(BIG, SMALL, method, budgets=[20, 40], seed=1)
    rec = list(al.run((X, y)))[1]
    pool = al.result_.pool
    scores = rec.scores
    assert np.isnan(scores[np.isin(pool, list(al.result_.records[0].selected))]).all()
    chosen = np.isin(pool, rec.selected)
    finite = np.isfinite(scores)
    assert scores[chosen].min() >= scores[finite & ~chosen].max()


def test_kcenters_round_matches_greedy_on_selector_embedding():
    X, y = blobs()
    al = ActiveLearning(BIG, SMALL, "kcenters", budgets=[15, 30], seed=2)
    recs = al.fit((X, y)).records
    pool = al.result_.pool
    Xt = torch.tensor(X)
    lab = recs[0].selected
    from dawnlab.svp.pool import derive_seed

    fitted = SMALL.fit(Xt[lab], torch.tensor(y)[lab], 3, derive_seed(2, 1, "selector"))
    picks = k_center_greedy(fitted.embed(Xt[pool]), 15, selected=np.flatnonzero(np.isin(pool, lab)))
    assert recs[1].selected.tolist() == pool[picks].tolist()


def test_same_seed_same_selection_and_other_seed_differs():
    X, y = blobs()
    runs = [ActiveLearning(BIG, SMALL, "least_confidence", budgets=[10, 30], seed=s).fit((X, y)) for s in (0, 0, 1)]
    assert runs[0].labelled.tolist() == runs[1].labelled.tolist()
    assert runs[0].final_accuracy == runs[1].final_accuracy
    assert runs[0].labelled.tolist() != runs[2].labelled.tolist()


@pytest.mark.parametrize("method", ["least_confidence", "kcenters", "random"])
def test_resumed_run_equals_uninterrupted(tmp_path, method):
    X, y = blobs()
    kw = dict(method=method, budgets=[10, 20, 30, 40], seed=3, evaluate_rounds=True)
    full = ActiveLearning(BIG, SMALL, **kw).fit((X, y))
    gen = ActiveLearning(BIG, SMALL, checkpoint_dir=tmp_path, **kw).run((X, y))
    next(gen), next(gen)  # two rounds, then the run is interrupted
    gen.close()
    assert sorted(p.name for p in tmp_path.glob("round_*.pkl")) == ["round_000.pkl", "round_001.pkl"]
    resumed_al = ActiveLearning(BIG, SMALL, checkpoint_dir=tmp_path, **kw)
    resumed = resumed_al.fit((X, y))
    assert [r.resumed for r in resumed.records] == [True, True, False, False]
    assert resumed.labelled.tolist() == full.labelled.tolist()
    assert [r.target_accuracy for r in resumed.records] == [r.target_accuracy for r in full.records]
    assert resumed.final_accuracy == full.final_accuracy


def test_checkpoint_of_another_configuration_is_refused(tmp_path):
    X, y = blobs()
    ActiveLearning(BIG, SMALL, budgets=[10, 20], seed=0, checkpoint_dir=tmp_path).fit((X, y))
    with pytest.raises(SVPError, match="checkpoint_dir"):
        ActiveLearning(BIG, SMALL, budgets=[10, 20], seed=1, checkpoint_dir=tmp_path).fit((X, y))


def test_random_needs_no_selector_time():
    X, y = blobs()
    res = ActiveLearning(BIG, method="random", budgets=[10, 30], seed=0).fit((X, y))
    assert all(r.seconds["proxy_training"] == 0 and r.scores is None for r in res.records)


def test_bad_input_gets_clear_errors():
    X, y = blobs()
    with pytest.raises(SVPError, match="'budgets' .*at most the pool size \\(96"):
        ActiveLearning(BIG, SMALL, budgets=[10, 500], seed=0).fit((X, y))
    with pytest.raises(SVPError, match="empty"):
        ActiveLearning(BIG, SMALL, budgets=[1], seed=0).fit((np.zeros((0, 4)), np.zeros(0, int)))
    Xn = X.copy()
    Xn[5, 2] = np.nan
    with pytest.raises(SVPError, match="NaN.*1 examples"):
        ActiveLearning(BIG, SMALL, budgets=[10], seed=0).fit((Xn, y))
    with pytest.raises(SVPError, match="'proxy' .*no bigger than the target"):
        ActiveLearning(SMALL, BIG, budgets=[10, 20], seed=0).fit((X, y))
    with pytest.raises(SVPError, match="strictly increasing"):
        ActiveLearning(BIG, budgets=[20, 10], seed=0).fit((X, y))
    with pytest.raises(SVPError, match="'method'"):
        ActiveLearning(BIG, method="bald")
    with pytest.raises(SVPError, match="'budgets'"):
        ActiveLearning(BIG, budgets=[0.1, 1.5])
    with pytest.raises(SVPError, match="'seed'"):
        ActiveLearning(BIG, seed=None)
    with pytest.raises(SVPError, match="'target'"):
        ActiveLearning("resnet")
    # the error is also a ValueError naming the fix
    with pytest.raises(ValueError, match="Lower the budgets"):
        ActiveLearning(BIG, budgets=[1000]).sizes(96)


def test_runs_on_a_torch_dataset_and_real_digits():
    from dawnlab.data import load_opencv_digits

    ds = load_opencv_digits()
    ds = ds.subset(np.random.default_rng(0).permutation(len(ds))[:200])
    tiny = Learner("resnet", 8, 4, epochs=1)
    res = ActiveLearning(tiny, method="margin", budgets=[20, 40], seed=0).fit(ds.torch())
    assert len(res.labelled) == 40
    # the reported accuracy is the target's, retrained on the final labelled set, on the held-out images
    from dawnlab.svp.pool import derive_seed

    X, y = ds.torch().tensors
    lab = res.labelled
    refit = tiny.fit(X[lab], y[lab], 10, derive_seed(0, 1, "target"))
    assert res.final_accuracy == refit.accuracy(X[res.test], y[res.test])
    assert len(res.test) == 40 and res.final_accuracy * 40 == round(res.final_accuracy * 40)


def test_progress_bars_inside_a_round(monkeypatch):
    import tqdm.auto

    bars = []

    class Bar:  # records what a tqdm bar is told (the test suite disables real bars)
        def __init__(self, total, desc, **kw):
            self.total, self.desc, self.n, self.closed = total, desc, 0, False
            bars.append(self)

        def update(self, k=1):
            self.n += k

        def close(self):
            self.closed = True

    monkeypatch.setattr(tqdm.auto, "tqdm", Bar)
    X, y = blobs()
    ActiveLearning(BIG, SMALL, "entropy", budgets=[10, 30], seed=0, progress=True).fit((X, y))
    assert [b.desc for b in bars] == ["round 1: selector", "round 1: target"]
    assert all(b.closed and b.n == b.total > 0 for b in bars)
    # SMALL: 2 epochs of ceil(10 / 32) = 1 batch; BIG: 3 epochs of ceil(30 / 32) = 1 batch
    assert [b.total for b in bars] == [2, 3]
    bars.clear()
    ActiveLearning(BIG, SMALL, "entropy", budgets=[10, 30], seed=0).fit((X, y))
    assert bars == []  # off by default


def test_string_labels_and_one_dimensional_features_get_clear_errors():
    X, y = blobs()
    with pytest.raises(SVPError, match="integer class labels.*<U1.*np.unique"):
        ActiveLearning(BIG, budgets=[10, 20], seed=0).fit((X, np.array(list("abc"))[y]))
    with pytest.raises(SVPError, match=r"at least 2-d.*\(120,\).*reshape"):
        ActiveLearning(BIG, budgets=[10, 20], seed=0).fit((X[:, 0], y))
    with pytest.raises(SVPError, match=r"labels of shape \(examples,\).*argmax"):
        ActiveLearning(BIG, budgets=[10, 20], seed=0).fit((X, np.eye(3)[y]))

    class Named(torch.utils.data.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return np.zeros(3, np.float32), "cat"

    with pytest.raises(SVPError, match="integer class labels.*'cat'"):
        ActiveLearning(BIG, budgets=[2], seed=0).fit(Named())


def test_checkpoint_of_other_data_is_refused(tmp_path):
    X, y = blobs()
    ActiveLearning(BIG, SMALL, budgets=[10, 20], seed=0, checkpoint_dir=tmp_path).fit((X, y))
    with pytest.raises(SVPError, match="checkpoint_dir"):
        ActiveLearning(BIG, SMALL, budgets=[10, 20], seed=0, checkpoint_dir=tmp_path).fit((X + 1, y))
