"""The LRU cache against a reference list model, with entry and byte bounds."""

import numpy as np
import pytest

from dawnlab.errors import InvalidArgument
from dawnlab.willump import LRUCache


def test_evicts_the_least_recently_used_entry():
    c = LRUCache(max_entries=3)
    for k in "abc":
        c.put(k, k)
    c.get("a")  # order now b, c, a
    c.put("d", "d")
    assert c.keys() == ["c", "a", "d"]  # "b" went: least recently used, not the most recent ("a")
    c.put("c", "c2")  # an update refreshes
    c.put("e", "e")
    assert c.keys() == ["d", "c", "e"] and c.get("c") == "c2"


@pytest.mark.parametrize("seed", range(10))
def test_matches_a_reference_model_on_random_operations(seed):
    rng = np.random.default_rng(seed)
    cap = int(rng.integers(1, 6))
    c, ref = LRUCache(max_entries=cap), []  # ref: keys, least recent first
    for _ in range(500):
        k = int(rng.integers(0, 10))
        if rng.random() < 0.5:
            got = c.get(k)
            assert (got is not None) == (k in ref)
            if k in ref:
                ref.remove(k)
                ref.append(k)
        else:
            c.put(k, np.full(3, k))
            if k in ref:
                ref.remove(k)
            ref.append(k)
            ref = ref[-cap:]
        assert c.keys() == ref


def test_byte_bound():
    c = LRUCache(max_bytes=100)
    for k in range(5):
        c.put(k, np.zeros(4))  # 32 bytes each
    assert c.keys() == [2, 3, 4] and c.bytes == 96 and c.evictions == 2
    c.put("big", np.zeros(50))  # larger than the whole budget: not stored, nothing evicted
    assert "big" not in c and len(c) == 3
    with pytest.raises(InvalidArgument, match="'max_entries'"):
        LRUCache()
    with pytest.raises(InvalidArgument, match="'max_bytes'.*positive int"):
        LRUCache(max_bytes=0)


def test_cached_rows_own_their_memory_so_the_byte_bound_holds():
    # review finding: a missed row was cached as a view of its whole batch's block, so an entry
    # counted at one row's bytes kept the batch's block alive and cache_bytes bounded nothing
    from sklearn.linear_model import LogisticRegression

    from dawnlab.willump import FeatureGroup, Pipeline, Willump

    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 4))
    y = (X[:, 0] + X[:, 2] > 0).astype(int)
    pipe = Pipeline({"a": FeatureGroup("a", "passthrough", [0, 1], cacheable=True),
                     "b": FeatureGroup("b", np.tanh, [2, 3], cacheable=True)}, LogisticRegression())
    w = Willump(pipe, progress=False, cache_bytes=10_000).fit(X, y)
    w.predict_proba(rng.normal(size=(2000, 4)))
    for name, cache in w.caches_.items():
        rows = [cache.get(k) for k in cache.keys()]
        assert rows and all(r.base is None for r in rows), name
        assert cache.bytes == sum(r.nbytes for r in rows) <= 10_000
