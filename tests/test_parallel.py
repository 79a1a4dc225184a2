"""dawnlab.parallel: the same answers in-process, on a process pool and on dask."""

import math

import pytest

from dawnlab.errors import InvalidArgument
from dawnlab.parallel import imap, pmap


def slow_square(x):
    return x * x


def fail_on_three(x):
    if x == 3:
        raise ZeroDivisionError("three")
    return x


def test_pool_and_inline_agree():
    items = list(range(12))
    expected = [x * x for x in items]
    assert pmap(slow_square, items, processes=1, progress=False) == expected
    assert pmap(slow_square, items, processes=2, progress=False) == expected


def test_imap_yields_each_index_once():
    seen = dict(imap(math.factorial, [3, 4, 5], processes=2, progress=False))
    assert seen == {0: 6, 1: 24, 2: 120}


def test_errors_propagate_and_bad_processes_is_named():
    with pytest.raises(ZeroDivisionError):
        pmap(fail_on_three, range(5), processes=2, progress=False)
    with pytest.raises(InvalidArgument, match="'processes'"):
        pmap(slow_square, [1], processes=0)


def test_dask_local_cluster():
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            assert pmap(slow_square, range(10), client=client, progress=False) == [x * x for x in range(10)]
            assert len(client.scheduler_info()["workers"]) == 2
