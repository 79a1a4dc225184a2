"""Permutation importance against a hand-computed case, and the score functions."""

import numpy as np
import pytest

from dawnlab.errors import InvalidArgument
from dawnlab.willump import make_score, permutation_importance


class ThresholdOnFirstColumn:
    """A fixed model: class 1 exactly when the first column exceeds 0.5; the other columns are ignored."""

    classes_ = np.array([0, 1])

    def predict_proba(self, X):
        X = X.toarray() if hasattr(X, "toarray") else np.asarray(X)
        p = (X[:, 0] > 0.5).astype(float)
        return np.c_[1 - p, p]


def test_permutation_importance_matches_the_hand_computed_expectation():
    # a = y = [0, 0, 1, 1]: accuracy 1.  Under a uniformly random permutation each row keeps a value equal to
    # its label with probability 2/4, so the expected accuracy is 1/2 and the importance of "a" is exactly 1/2.
    # "b" is ignored by the model: shuffling it changes nothing, importance exactly 0.
    a = np.array([[0.0], [0.0], [1.0], [1.0]])
    b = np.array([[5.0], [6.0], [7.0], [8.0]])
    y = np.array([0, 0, 1, 1])
    score = make_score("accuracy", [0, 1])
    imp = permutation_importance(ThresholdOnFirstColumn(), {"a": a, "b": b}, ["a", "b"], y, score, n_repeats=4000)
    # accuracy under a permutation is 0, 1/2 or 1 with probabilities 1/6, 4/6, 1/6: sd = sqrt(1/12) ~ 0.29;
    # the mean of 4000 is within 4 standard errors (0.018) of 1/2
    assert imp["a"] == pytest.approx(0.5, abs=0.02)
    assert imp["b"] == 0.0


def test_one_permutation_of_a_sparse_block_equals_the_dense_one():
    import scipy.sparse as sp

    rng = np.random.default_rng(1)
    a = (rng.random((50, 1)) > 0.5).astype(float)
    y = a[:, 0].astype(int)
    score = make_score("accuracy", [0, 1])
    dense = permutation_importance(ThresholdOnFirstColumn(), {"a": a}, ["a"], y, score, 5, seed=3)
    sparse = permutation_importance(ThresholdOnFirstColumn(), {"a": sp.csr_matrix(a)}, ["a"], y, score, 5, seed=3)
    assert dense == sparse and dense["a"] > 0


def test_scores_against_sklearn():
    from sklearn.metrics import accuracy_score, roc_auc_score

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    p = rng.dirichlet(np.ones(3), 200)
    assert make_score("accuracy", [0, 1, 2])(y, p) == pytest.approx(accuracy_score(y, p.argmax(1)))
    assert make_score("roc_auc", [0, 1, 2])(y, p) == pytest.approx(roc_auc_score(y, p, multi_class="ovr"))
    yb = y % 2
    pb = np.c_[1 - p[:, 0], p[:, 0]]
    assert make_score("roc_auc", [0, 1])(yb, pb) == pytest.approx(roc_auc_score(yb, pb[:, 1]))
    with pytest.raises(InvalidArgument, match="'score'.*accuracy.*'f1'"):
        make_score("f1", [0, 1])
