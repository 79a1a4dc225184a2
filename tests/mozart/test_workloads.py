"""Every workload's result equals the plain library's, for several piece sizes, worker counts and backends."""

import numpy as np
import pytest

from dawnlab.mozart.workloads import WORKLOADS

NAMES = list(WORKLOADS)


@pytest.fixture(scope="module")
def data():
    return {name: (w.data(w.small_n, seed=7), w.plain(w.data(w.small_n, seed=7))) for name, w in WORKLOADS.items()}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("piece_size,workers", [(None, 2), (1, 1) , (333, 2), (4096, 3)])
def test_threads_equal_the_reference(name, piece_size, workers, data):
    w = WORKLOADS[name]
    d, ref = data[name]
    if piece_size == 1 and w.kind == "pandas":
        piece_size = 61  # one-row pandas pieces cost ~1 ms each in pandas' own overhead: slow, not different
    assert w.check(w.mozart(d, piece_size=piece_size, workers=workers), ref)


@pytest.mark.parametrize("name", ["blackscholes", "shallow_water", "birth_analysis"])
def test_processes_equal_the_reference(name, data):
    w = WORKLOADS[name]
    d, ref = data[name]
    assert w.check(w.mozart(d, backend="processes", workers=2, piece_size=500), ref)


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as c:
            yield c


@pytest.mark.parametrize("name", ["haversine", "nbody", "data_cleaning", "crime_index"])
def test_dask_cluster_equals_the_reference(name, data, client):
    w = WORKLOADS[name]
    d, ref = data[name]
    assert w.check(w.mozart(d, client=client), ref)
    assert w.check(w.mozart(d, client=client, backend="dask", piece_size=100), ref)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("backend", ["threads", "processes", "dask"])
def test_every_workload_on_every_backend_at_a_larger_size(name, backend, client):
    w = WORKLOADS[name]
    n = {"nbody": 700, "shallow_water": 300}.get(name, 200_000)
    d = w.data(n, seed=3)
    ref = w.plain(d)
    opts = {"client": client} if backend == "dask" else {"backend": backend, "workers": 2}
    for piece_size in (None, 1000):
        assert w.check(w.mozart(d, piece_size=piece_size, **opts), ref)


def test_the_checks_can_fail(data):
    w = WORKLOADS["blackscholes"]
    d, ref = data["blackscholes"]
    wrong = (ref[0] * (1 + 1e-6), ref[1])
    with pytest.raises(AssertionError):
        w.check(wrong, ref)
    c = WORKLOADS["data_cleaning"]
    d, ref = data["data_cleaning"]
    assert not c.check((ref[0][:-1], ref[1]), ref)
    assert np.isfinite(ref[1])
