"""The runtime's cache reading, piece sizing, options and thread pool."""

import numpy as np
import pytest

import dawnlab.mozart.numpy as mnp
from dawnlab.mozart import DEFAULT_L2_BYTES, evaluate, l2_cache_bytes, options, piece_size_for
from dawnlab.mozart import runtime


def fake_cache(tmp_path, entries):
    for i, (level, kind, size) in enumerate(entries):
        d = tmp_path / f"index{i}"
        d.mkdir()
        (d / "level").write_text(f"{level}\n")
        (d / "type").write_text(f"{kind}\n")
        (d / "size").write_text(f"{size}\n")
    return str(tmp_path)


def test_l2_is_read_from_the_os_layout(tmp_path):
    path = fake_cache(tmp_path, [(1, "Data", "48K"), (1, "Instruction", "32K"), (2, "Unified", "2048K"),
                                 (3, "Unified", "32768K")])
    assert l2_cache_bytes(path) == 2048 * 1024


def test_l2_falls_back_to_the_documented_default(tmp_path):
    assert l2_cache_bytes(str(tmp_path)) == DEFAULT_L2_BYTES == 256 * 1024
    assert l2_cache_bytes(fake_cache(tmp_path, [(1, "Data", "32K"), (2, "Unified", "garbage")])) == DEFAULT_L2_BYTES


def test_this_machine_reports_its_l2():
    import glob
    import os

    sizes = [open(os.path.join(d, "size")).read().strip() for d in glob.glob("/sys/devices/system/cpu/cpu0/cache/index*")
             if open(os.path.join(d, "level")).read().strip() == "2"]
    if not sizes:
        pytest.skip("no L2 entry in sysfs here")
    assert l2_cache_bytes() == int(sizes[0][:-1]) * 1024


def test_piece_size_fills_l2_with_every_value_of_the_stage():
    assert piece_size_for(8, l2=1 << 20) == 1 << 17
    assert piece_size_for(100, l2=1 << 20) == 8192      # 10485 rounded down to a power of two
    assert piece_size_for(1e9, l2=1 << 20) == runtime.MIN_PIECE


def test_automatic_piece_size_counts_inputs_and_buffers_after_reuse():
    x = np.ones(200_000)
    # 1 input + 1 kept output + two scratch buffers: exp's, then add's (allocated while exp's is still read),
    # and sqrt reuses exp's
    y = mnp.sqrt(mnp.exp(x) + 1.0) * 2.0
    evaluate(y)
    info = runtime.LAST_RUN[0]
    assert info["bytes_per_element"] == pytest.approx(8 + 8 + 8 + 8)
    assert info["piece_size"] == piece_size_for(32)
    # the probe (1024), two timed pieces of the probe's size, then pieces of the chosen size
    assert info["pieces"] == 3 + -(-(200_000 - 3 * 1024) // info["piece_size"])


def test_each_input_array_counts_once_however_often_it_is_read():
    t = np.linspace(1.0, 2.0, 100_000)
    y = mnp.sqrt(t) + mnp.exp(t) * t     # t read three times
    evaluate(y)
    # t once (8, not 24) + the kept output (8) + three scratch buffers (sqrt's, exp's, the product's: exp's
    # buffer is freed only after the product, its last reader, has placed its own result)
    assert runtime.LAST_RUN[0]["bytes_per_element"] == 8 + 8 + 3 * 8


def test_call_overhead_rule_grows_short_calls_within_the_l3_share():
    # long calls: the cache rule alone
    assert piece_size_for(100, l2=1 << 20, l3=32 << 20, workers=2, seconds_per_element=1e-6) == 8192
    # short calls on wide elements (a 2-D row): grown to workers * 2 us / (0.2 * t) elements, nearest power of two
    assert piece_size_for(98304, l2=1 << 20, l3=32 << 20, workers=2, seconds_per_element=0.25e-6) == 64
    # ...but never past the L3 share of one worker (32 MiB / 2 / 98304 = 170 -> 128)
    assert piece_size_for(98304, l2=1 << 20, l3=32 << 20, workers=2, seconds_per_element=1e-9) == 128
    # unknown L3: no growth
    assert piece_size_for(98304, l2=1 << 20, l3=0, workers=2, seconds_per_element=1e-9) == runtime.MIN_PIECE


def test_text_pandas_stages_run_on_one_thread_numeric_ones_on_all():
    import pandas as pd

    import dawnlab.mozart.pandas as mpd

    text = mpd.Series(pd.Series(["ab", "cd"] * 50_000))
    with options(workers=2):
        evaluate(text.str.upper().str.len())
        assert runtime.LAST_RUN[0]["workers"] == 1 and runtime.LAST_RUN[0]["gil_bound"]
        evaluate(mpd.Series(pd.Series(np.arange(100_000.0))) * 2.0)
        assert runtime.LAST_RUN[0]["workers"] == 2 and not runtime.LAST_RUN[0]["gil_bound"]


def test_options_context_and_validation():
    x = np.linspace(0, 1, 10_000)
    with options(piece_size=1000, workers=2):
        y = mnp.exp(x)
        evaluate(y)
        assert runtime.LAST_RUN[0]["pieces"] == 10
    assert runtime.get_options()["piece_size"] is None
    with pytest.raises(ValueError, match="'options' argument"):
        evaluate(mnp.exp(x), speed=3)


def test_the_thread_pool_is_reused_between_evaluations():
    x = np.linspace(0, 1, 50_000)
    evaluate(mnp.exp(x), workers=2, piece_size=1000)
    pool = runtime._POOLS[2]
    evaluate(mnp.exp(x), workers=2, piece_size=1000)
    assert runtime._POOLS[2] is pool


def test_empty_inputs_run_one_empty_piece():
    e = np.array([])
    np.testing.assert_array_equal(evaluate(mnp.exp(e) + 1), np.array([]))
    assert evaluate(mnp.sum(mnp.exp(e))) == 0.0


def test_process_backend_keeps_its_pool_across_evaluations(monkeypatch):
    from dawnlab.mozart.workloads import WORKLOADS

    w = WORKLOADS["blackscholes"]
    d = w.data(20_000, seed=3)
    ref = w.plain(d)
    runtime._close_process_pools()
    assert w.check(w.mozart(d, backend="processes", workers=2), ref)
    assert 2 not in runtime._PROCESS_POOLS        # by default a fresh pool per evaluation (current module state)
    assert w.check(w.mozart(d, backend="processes", workers=2, keep_pool=True), ref)
    pool = runtime._PROCESS_POOLS[2]
    pickles = []
    monkeypatch.setattr(runtime, "_pickled", lambda prog, real=runtime._pickled: pickles.append(1) or real(prog))
    assert w.check(w.mozart(d, backend="processes", workers=2, piece_size=1000, keep_pool=True), ref)
    assert runtime._PROCESS_POOLS[2] is pool
    assert len(pickles) == 1                      # the program (and its broadcast values) pickled once to check it


def test_the_default_process_pool_sees_module_state_changed_between_evaluations(tmp_path, monkeypatch):
    import sys

    (tmp_path / "scalemod18.py").write_text(
        "from dawnlab.mozart import Generic, sa\nSCALE = 2.0\n\n@sa(Generic('S'), ret=Generic('S'))\n"
        "def scaled(a):\n    return a * SCALE\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import scalemod18

    x = np.ones(4_000)
    try:
        assert evaluate(scalemod18.scaled(x), backend="processes", workers=2, piece_size=500)[0] == 2.0
        scalemod18.SCALE = 3.0
        assert evaluate(scalemod18.scaled(x), backend="processes", workers=2, piece_size=500)[0] == 3.0
    finally:
        sys.modules.pop("scalemod18", None)


def test_a_program_naming_main_gets_a_fresh_pool():
    import types

    prog = types.SimpleNamespace(tag="__main__")   # pickles with the string __main__ in it
    assert not runtime._reusable(prog, [])
    assert runtime._reusable(types.SimpleNamespace(tag="x"), [(None, [np.ones(3)], None, 0)])


@pytest.mark.parametrize("workers", [1, 2])
def test_a_call_returning_a_view_of_its_argument_keeps_that_scratch_buffer_alive(workers):
    # exp's scratch buffer was reused by sin while add was still to read as_float's view of it: 2 sin(x)
    from dawnlab.mozart import Generic, sa

    S = Generic("S")
    views = {"asarray": lambda a: np.asarray(a, dtype=np.float64), "astype": lambda a: a.astype(float, copy=False),
             "view": lambda a: a.view(), "reshape": lambda a: a.reshape(-1), "ellipsis": lambda a: a[...]}
    x = np.linspace(-2.0, 2.0, 50_000)
    for name, f in views.items():
        same = sa(S, ret=S)(f)
        for ps in (1024, 4096, None):
            got = evaluate(mnp.add(same(mnp.exp(x)), mnp.sin(x)), piece_size=ps, workers=workers)
            np.testing.assert_allclose(got, np.exp(x) + np.sin(x), rtol=1e-14, err_msg=f"{name} {ps}")
            twice = evaluate(mnp.multiply(same(same(mnp.exp(x))), mnp.cos(mnp.sin(x))), piece_size=ps,
                             workers=workers)
            np.testing.assert_allclose(twice, np.exp(x) * np.cos(np.sin(x)), rtol=1e-14, err_msg=f"{name} {ps}")


def test_an_interrupted_evaluation_stops_its_worker_threads():
    import signal
    import time

    from dawnlab.mozart import Generic, discard, sa

    calls = []

    @sa(Generic("S"), ret=Generic("S"))
    def slow(a):
        time.sleep(0.01)
        calls.append(1)
        return a + 1

    def interrupt(*_):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.3)
    y = slow(np.arange(4_000.0))
    try:
        with pytest.raises(KeyboardInterrupt):
            evaluate(y, piece_size=10, workers=2)      # 400 pieces of 10 ms on 2 threads: about 2 s
        at_interrupt = len(calls)
        time.sleep(0.5)
        assert len(calls) <= at_interrupt + 2          # before: the threads ran on through the other pieces
        assert at_interrupt < 300 and not y.evaluated   # nothing committed
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        discard(y)
