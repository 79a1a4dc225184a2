"""Benchmark: Mozart's pipelined, parallel NumPy and pandas against the plain libraries and their usual replacements.

Everything is measured side by side in one run on the same inputs, every
method with the same number of threads (``--threads``, default 2), methods
interleaved round by round (so load from other processes on a shared machine
hits all alike); the figure of a method is its median wall time over
``--repeats`` rounds, and results are reported as ratios (speed-up = plain
time / method time).

1. **Black-Scholes** (2^24 doubles; ``--quick``: 2^20), erf from SciPy:
   plain NumPy; the issue's reference point, a hand-written loop running the
   plain NumPy chain on 16,384-element pieces in ``--threads`` threads;
   numexpr with ``--threads`` threads (numexpr has no erf, so the
   two erf calls are SciPy's on whole arrays between numexpr expressions);
   numba ``@njit(parallel=True)`` with ``math.erf`` and ``--threads`` threads;
   dask.array on the threaded scheduler with ``--threads`` workers, at the best
   chunk size of the sweep 2^16, 2^18, 2^20, 2^22 (erf by ``map_blocks``);
   Mozart with its automatic piece size, and with a sweep of fixed piece sizes
   2^11 ... 2^18.  ``auto_piece_vs_best`` is the issue's figure: the best of the sweep's medians over
   the automatic size's median, from the same rounds.  Taking the smallest of 8 noisy medians biases
   it low, so beside it ``auto_piece_vs_best_retimed``: the sweep only picks the best fixed size,
   then that size and the automatic one are timed again, alternating, ``max(--repeats, 5)`` rounds,
   and the figure is the best size's median over the automatic size's on those new samples.
   Peak memory: each of plain NumPy and Mozart runs once in a fresh Python
   process that makes the same inputs; ``peak_memory_ratio_vs_numpy`` is the
   ratio of their peak RSS (``VmHWM``) above the RSS just before the call
   (the inputs and the imported libraries are the same for both and are left
   out); the whole-process peaks are printed beside it.
   Page faults: with glibc's defaults each 2^24-double temporary of plain NumPy
   is a fresh ``mmap`` whose pages fault on first touch, and on this virtual
   machine that dominates NumPy's time (and varies from round to round), so
   plain NumPy and Mozart are also timed in a child process whose malloc
   reuses freed heap memory (``MALLOC_MMAP_THRESHOLD_``/``MALLOC_TRIM_THRESHOLD_``):
   ``blackscholes_speedup_vs_numpy_heap_reuse``; ``blackscholes_speedup_vs_hand_loop``
   compares Mozart with the issue's hand-written reference loop.
2. **Haversine** (same size): plain, numexpr, numba, dask.array (sweep), Mozart.
3. **nBody** (2,048 bodies, 2 steps), **Shallow water** (2,048^2 grid, 3
   steps): plain NumPy and Mozart (the paper's comparison; no hand-written
   numba/numexpr port of these).
4. **Data cleaning**, **crime index**, **birth analysis** (pandas, 2-4 million
   rows): plain pandas, Mozart, and dask.dataframe on the threaded scheduler
   with ``--threads`` workers at the best partition count of 2, 4, 8, 16, 32
   (its result checked against plain pandas first).  dask.dataframe needs
   pyarrow; where pyarrow is not installed that column is skipped with a
   printed note.  With pyarrow installed, pandas 3 stores its ``str`` columns
   in Arrow for every method alike (plain pandas and Mozart too).

Usage: ``python benchmarks/mozart.py [--quick] [--repeats 3] [--threads 2]``; a long run in parts:
``--part blackscholes|numpy|pandas [--only haversine,nbody] --state FILE`` (each call adds its figures to
FILE and prints the table and JSON line of everything FILE holds).
The last line printed is one JSON object with the keys
``blackscholes_speedup_vs_numpy``, ``blackscholes_speedup_vs_dask``,
``auto_piece_vs_best``, ``peak_memory_ratio_vs_numpy`` and
``speedup_vs_plain`` (per workload), plus ``auto_piece_vs_best_per_workload``
(every workload's automatic piece size against its own sweep of fixed sizes:
2^11 ... 2^18 elements for Black-Scholes and Haversine, 4 ... 256 rows for
nBody and Shallow water, 2^14 ... 2^20 rows and the whole frame for the pandas
workloads) and, where pyarrow is installed, ``speedup_vs_dask_dataframe``
(Mozart's time against dask.dataframe's best, per pandas workload).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import scipy.special

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dawnlab.mozart import evaluate  # noqa: E402
from dawnlab.mozart import runtime as mozart_runtime  # noqa: E402
from dawnlab.mozart.workloads import WORKLOADS, blackscholes, haversine, plain_numpy  # noqa: E402


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


FASTEST: dict = {}


def interleaved(methods: dict, repeats: int) -> dict:
    """Median wall time of each method, the methods run in turn in every round (fastest kept in FASTEST)."""
    times = {k: [] for k in methods}
    for _ in range(repeats):
        for name, fn in methods.items():
            times[name].append(timed(fn))
    FASTEST.update({k: min(v) for k, v in times.items()})
    return {k: statistics.median(v) for k, v in times.items()}


# -- Black-Scholes baselines ------------------------------------------------------------------------

def bs_numexpr(price, strike, t, rate=0.1, vol=0.2):
    import numexpr as ne

    rsig = rate + vol * vol * 0.5
    d1 = ne.evaluate("(log(price / strike) + rsig * t) / (vol * sqrt(t)) * 0.7071067811865476")
    d2 = ne.evaluate("d1 - vol * sqrt(t) * 0.7071067811865476")
    e1, e2 = scipy.special.erf(d1), scipy.special.erf(d2)
    call = ne.evaluate("price * (0.5 + 0.5 * e1) - exp(-rate * t) * strike * (0.5 + 0.5 * e2)")
    put = ne.evaluate("exp(-rate * t) * strike * (0.5 - 0.5 * e2) - price * (0.5 - 0.5 * e1)")
    return call, put


def _numba_kernels():
    import numba

    @numba.njit(parallel=True, fastmath=False)
    def bs(price, strike, t, rate, vol):
        n = price.shape[0]
        call = np.empty(n)
        put = np.empty(n)
        for i in numba.prange(n):
            vs = vol * math.sqrt(t[i])
            d1 = (math.log(price[i] / strike[i]) + (rate + vol * vol * 0.5) * t[i]) / vs
            d2 = d1 - vs
            n1 = 0.5 + 0.5 * math.erf(d1 * 0.7071067811865476)
            n2 = 0.5 + 0.5 * math.erf(d2 * 0.7071067811865476)
            e = math.exp(-rate * t[i])
            call[i] = price[i] * n1 - e * strike[i] * n2
            put[i] = e * strike[i] * (1.0 - n2) - price[i] * (1.0 - n1)
        return call, put

    @numba.njit(parallel=True)
    def hav(lat, lon, lat0, lon0):
        n = lat.shape[0]
        out = np.empty(n)
        la0, lo0 = math.radians(lat0), math.radians(lon0)
        c0 = math.cos(la0)
        for i in numba.prange(n):
            la, lo = math.radians(lat[i]), math.radians(lon[i])
            a = math.sin((la - la0) / 2.0) ** 2 + c0 * math.cos(la) * math.sin((lo - lo0) / 2.0) ** 2
            out[i] = 3959.0 * (2.0 * math.asin(math.sqrt(a))) * 1.609344
        return out

    return bs, hav


def hav_numexpr(lat, lon, lat0=40.671, lon0=-73.985):
    import numexpr as ne

    la0, lo0 = math.radians(lat0), math.radians(lon0)
    c0 = math.cos(la0)
    k = math.pi / 180.0
    return ne.evaluate("3959.0 * 2.0 * arcsin(sqrt(sin((lat * k - la0) / 2.0) ** 2 + "
                       "c0 * cos(lat * k) * sin((lon * k - lo0) / 2.0) ** 2)) * 1.609344")


def hand_loop_bs(price, strike, t, pool, piece=16384, threads=2):
    """The issue's reference point: the plain NumPy chain run on 16,384-element pieces by hand, in threads."""
    n = price.shape[0]
    call, put = np.empty(n), np.empty(n)
    lib = plain_numpy()

    def work(k):
        for s in range(k * piece, n, piece * threads):
            e = min(s + piece, n)
            c, p = blackscholes(lib, price[s:e], strike[s:e], t[s:e])
            call[s:e], put[s:e] = c, p

    list(pool.map(work, range(threads)))
    return call, put


def dask_bs(price, strike, t, chunk, threads):
    import dask
    import dask.array as da

    p, s, tt = (da.from_array(a, chunks=chunk) for a in (price, strike, t))
    call, put = blackscholes(_DaskLib(da), p, s, tt)
    with dask.config.set(scheduler="threads", num_workers=threads):
        return dask.compute(call, put)


def dask_hav(lat, lon, chunk, threads):
    import dask
    import dask.array as da

    out = haversine(_DaskLib(da), da.from_array(lat, chunks=chunk), da.from_array(lon, chunks=chunk))
    with dask.config.set(scheduler="threads", num_workers=threads):
        return out.compute()


class _DaskLib:
    """dask.array with SciPy's erf applied block by block."""

    def __init__(self, da):
        self.np = da
        self.erf = lambda x: x.map_blocks(scipy.special.erf, dtype=float)


# -- dask.dataframe baselines (need pyarrow) ---------------------------------------------------------

def have_pyarrow() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def dd_cleaning(requests, nparts, threads):
    import dask
    import dask.dataframe as dd

    zips = dd.from_pandas(requests, npartitions=nparts)["zip"].str.slice(0, 5)
    zips = zips.mask(zips.isin(["00000", "N/A", "NO CL", "NA"]))
    with dask.config.set(scheduler="threads", num_workers=threads):
        return dask.compute(zips.unique(), zips.isna().sum())


def dd_crime(cities, nparts, threads, cutoff=0.02):
    import dask
    import dask.dataframe as dd

    c = dd.from_pandas(cities, npartitions=nparts)
    index = ((c["robberies"] * 2.0 + c["burglaries"]) / c["population"]).clip(0.0, 1.0)
    high = index[index > cutoff]
    with dask.config.set(scheduler="threads", num_workers=threads):
        return dask.compute(high.sum(), high.count())


def dd_birth(names, nparts, threads):
    import dask
    import dask.dataframe as dd

    n = dd.from_pandas(names, npartitions=nparts)
    totals = n.groupby(["year", "sex"])["births"].sum()
    with_total = n.merge(totals.rename("total").reset_index(), on=["year", "sex"], how="left")
    with_total["prop"] = with_total["births"] / with_total["total"]
    ends_n = n[n["name"].str.slice(-1) == "n"].groupby(["year", "sex"])["births"].sum()
    with dask.config.set(scheduler="threads", num_workers=threads):
        return dask.compute(totals, with_total, ends_n)


DASK_DF = {"data_cleaning": dd_cleaning, "crime_index": dd_crime, "birth_analysis": dd_birth}


def check_dask_df(name, got, ref) -> None:
    """dask.dataframe's result against plain pandas' (dask orders unique values and merged rows its own way)."""
    import pandas as pd

    if name == "data_cleaning":
        a, b = pd.Series(got[0]), pd.Series(ref[0])
        assert set(a.dropna()) == set(b.dropna()) and a.isna().sum() == b.isna().sum() == 1, name
        assert int(got[1]) == int(ref[1]), name
    elif name == "crime_index":
        assert math.isclose(float(got[0]), float(ref[0]), rel_tol=1e-10) and int(got[1]) == int(ref[1]), name
    else:
        # dask keeps its string keys as Arrow strings with pd.NA, pandas 3 as str with NaN: same values
        pd.testing.assert_series_equal(got[0].sort_index(), ref[0], check_index_type=False)
        pd.testing.assert_series_equal(got[2].sort_index(), ref[2], check_index_type=False)
        order = ["year", "sex", "name", "births"]
        pd.testing.assert_frame_equal(got[1].sort_values(order).reset_index(drop=True),
                                      ref[1].sort_values(order).reset_index(drop=True), check_dtype=False)


# -- peak memory in a fresh process -----------------------------------------------------------------

def child(method: str, n: int, threads: int) -> None:
    d = WORKLOADS["blackscholes"].data(n, seed=0)
    WORKLOADS["blackscholes"].mozart(WORKLOADS["blackscholes"].data(1000, seed=1), workers=threads)  # warm imports
    WORKLOADS["blackscholes"].plain(WORKLOADS["blackscholes"].data(1000, seed=1))
    with open("/proc/self/statm") as f:
        before = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    if method == "numpy":
        out = blackscholes(plain_numpy(), **d)
    else:
        out = WORKLOADS["blackscholes"].mozart(d, workers=threads)
    assert out[0].shape == (n,)
    with open("/proc/self/status") as f:  # VmHWM: this process image's peak (ru_maxrss would count the
        peak = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM"))  # forked parent's)
    print(peak, before)


HEAP_REUSE = {"MALLOC_MMAP_THRESHOLD_": "4294967296", "MALLOC_TRIM_THRESHOLD_": "4294967296"}


def child_heap(n: int, threads: int, repeats: int) -> None:
    """Plain NumPy and Mozart on Black-Scholes, interleaved, in a process whose malloc reuses freed heap memory.

    With glibc's defaults every 128 MiB temporary of plain NumPy is a fresh
    ``mmap`` whose pages fault on first touch, and page faults are costly on a
    virtual machine; run with :data:`HEAP_REUSE` in the environment, freed
    temporaries stay in the heap and are reused, so this pair of figures shows
    what pipelining gains where NumPy does not pay for fresh pages.
    """
    w = WORKLOADS["blackscholes"]
    d = w.data(n, seed=0)
    w.plain(d), w.mozart(d, workers=threads)
    t = interleaved({"numpy": lambda: w.plain(d), "mozart": lambda: w.mozart(d, workers=threads)}, repeats)
    print(json.dumps(t))


def heap_reuse_times(n: int, threads: int, repeats: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", "heap", "--n", str(n), "--threads", str(threads),
                          "--repeats", str(repeats)], capture_output=True, text=True, check=True,
                         env={**os.environ, **HEAP_REUSE})
    return json.loads(out.stdout.strip().splitlines()[-1])


def peak_rss(method: str, n: int, threads: int) -> tuple[int, int]:
    """(whole-process peak RSS, peak above the RSS just before the call), in bytes."""
    out = subprocess.run([sys.executable, __file__, "--child", method, "--n", str(n), "--threads", str(threads)],
                         capture_output=True, text=True, check=True)
    peak, before = map(int, out.stdout.strip().splitlines()[-1].split())
    return peak, peak - before


def confirm(w, d, best, threads, repeats) -> tuple[float, float]:
    """Fresh medians of the sweep's best fixed piece size and of the automatic one, timed in alternation.

    The best of a sweep's medians is the smallest of several noisy figures,
    so on its own it is biased low (the winner's curse: with 8 sizes within
    noise of each other the minimum is below every size's true time), and the
    automatic size, timed once per round, looks worse than it is.  So the
    sweep only picks the best size; this second set of rounds, ``repeats`` of
    them, alternating the order within a round, measures it against the
    automatic size on new samples.
    """
    times = {"auto": [], "best": []}
    for r in range(repeats):
        order = ["auto", "best"] if r % 2 == 0 else ["best", "auto"]
        for k in order:
            times[k].append(timed(lambda k=k: w.mozart(d, workers=threads, piece_size=None if k == "auto" else best)))
    return statistics.median(times["best"]), statistics.median(times["auto"])


def sweep_row(w, d, t, pieces, threads, repeats) -> dict:
    """The automatic piece size of each stage, the sweep's best fixed size, and the two re-timed (:func:`confirm`)."""
    w.mozart(d, workers=threads)
    best = min(pieces, key=lambda p: t[f"mozart/{p}"])
    auto = [r["piece_size"] for r in mozart_runtime.LAST_RUN]
    best_s, auto_s = confirm(w, d, best, threads, max(repeats, 5))
    return {"auto": auto, "gil_bound": any(r.get("gil_bound") for r in mozart_runtime.LAST_RUN),
            "auto_s": auto_s, "best": best, "best_s": best_s, "ratio": best_s / auto_s,
            "sweep_auto_s": t["mozart"], "sweep_best_s": t[f"mozart/{best}"],
            "sweep_ratio": t[f"mozart/{best}"] / t["mozart"], "sweep": {p: t[f"mozart/{p}"] for p in pieces}}


# -- main -------------------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small data for CI")
    ap.add_argument("--repeats", type=int, default=None, help="interleaved timing rounds")
    ap.add_argument("--threads", type=int, default=2, help="threads of every parallel method")
    ap.add_argument("--part", choices=["all", "blackscholes", "numpy", "pandas"], default="all",
                    help="run only Black-Scholes, the other NumPy workloads or the pandas ones (a long run in parts)")
    ap.add_argument("--only", default=None,
                    help="comma-separated workloads of the part to run (a part split further; use with --state)")
    ap.add_argument("--state", default=None,
                    help="JSON file where each part's figures are kept; the summary printed last combines them")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child == "heap":
        child_heap(args.n, args.threads, args.repeats or 3)
        return
    if args.child:
        child(args.child, args.n, args.threads)
        return
    threads = args.threads
    only = set(args.only.split(",")) if args.only else None
    if only and only - set(WORKLOADS):
        ap.error(f"--only: unknown workloads {sorted(only - set(WORKLOADS))}; known: {sorted(WORKLOADS)}")
    wanted = lambda name: only is None or name in only  # noqa: E731
    repeats = args.repeats or (1 if args.quick else 3)
    n = 1 << (20 if args.quick else 24)
    import numba
    import numexpr

    numexpr.set_num_threads(threads)
    numba.set_num_threads(threads)
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores visible, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; "
          f"L2 {mozart_runtime.l2_cache_bytes() // 1024} KiB; {threads} thread(s) per method; {repeats} round(s)",
          flush=True)
    bs_numba, hav_numba = _numba_kernels()

    chunks = [c for c in (1 << 16, 1 << 18, 1 << 20, 1 << 22) if c <= n]
    pieces = [1 << k for k in range(11, 19)]
    summary = {"speedup_vs_plain": {}}
    table, sweeps = [], {}
    dask_df = have_pyarrow()
    if args.part in ("all", "blackscholes") and wanted("blackscholes"):
        # 1. Black-Scholes -------------------------------------------------------------------------------
        w = WORKLOADS["blackscholes"]
        d = w.data(n, seed=0)
        ref = w.plain(d)
        bs_numba(d["price"][:10], d["strike"][:10], d["t"][:10], 0.1, 0.2)  # compile outside the timings
        for name, got in [("numexpr", bs_numexpr(**d)), ("numba", bs_numba(d["price"], d["strike"], d["t"], 0.1, 0.2)),
                          ("dask", dask_bs(d["price"], d["strike"], d["t"], 1 << 18, threads)),
                          ("mozart", w.mozart(d, workers=threads))]:
            np.testing.assert_allclose(got[0], ref[0], rtol=1e-9, atol=1e-9, err_msg=name)
            np.testing.assert_allclose(got[1], ref[1], rtol=1e-9, atol=1e-9, err_msg=name)
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(threads)
        got = hand_loop_bs(d["price"], d["strike"], d["t"], pool, threads=threads)
        np.testing.assert_allclose(got[0], ref[0], rtol=1e-12)
        methods = {"numpy": lambda: w.plain(d), "numexpr": lambda: bs_numexpr(**d),
                   "numba": lambda: bs_numba(d["price"], d["strike"], d["t"], 0.1, 0.2),
                   "hand loop": lambda: hand_loop_bs(d["price"], d["strike"], d["t"], pool, threads=threads),
                   "mozart": lambda: w.mozart(d, workers=threads)}
        methods.update({f"dask/{c}": (lambda c=c: dask_bs(d["price"], d["strike"], d["t"], c, threads)) for c in chunks})
        methods.update({f"mozart/{p}": (lambda p=p: w.mozart(d, workers=threads, piece_size=p)) for p in pieces})
        t = interleaved(methods, repeats)
        w.mozart(d, workers=threads)
        auto_piece = mozart_runtime.LAST_RUN[0]["piece_size"]
        best_chunk = min(chunks, key=lambda c: t[f"dask/{c}"])
        best_piece = min(pieces, key=lambda p: t[f"mozart/{p}"])
        print(f"\n== Black-Scholes, {n:,} doubles (median of {repeats})")
        print(f"{'method':34} {'median s':>8} {'speedup vs numpy':>17} {'fastest s':>9} {'speedup':>8}")
        for k in ["numpy", "numexpr", "numba", "hand loop", *[f"dask/{c}" for c in chunks], "mozart",
                  *[f"mozart/{p}" for p in pieces]]:
            label = k + (f" (automatic: {auto_piece})" if k == "mozart" else "")
            print(f"{label:34} {t[k]:8.3f} {t['numpy'] / t[k]:17.2f} {FASTEST[k]:9.3f} "
                  f"{FASTEST['numpy'] / FASTEST[k]:8.2f}")
        (peak_np, rss_np), (peak_mz, rss_mz) = peak_rss("numpy", n, threads), peak_rss("mozart", n, threads)
        print(f"best dask chunk {best_chunk}; best Mozart piece {best_piece}; automatic piece {auto_piece}")
        print(f"peak RSS above the inputs: numpy {rss_np / 2**20:.0f} MiB, mozart {rss_mz / 2**20:.0f} MiB "
              f"(ratio {rss_mz / rss_np:.2f}); whole process: {peak_np / 2**20:.0f} and {peak_mz / 2**20:.0f} MiB",
              flush=True)
        heap = heap_reuse_times(n, threads, repeats)
        print(f"with malloc reusing freed heap memory ({' '.join(f'{k}={v}' for k, v in HEAP_REUSE.items())}, "
              f"a fresh process): numpy {heap['numpy']:.3f} s, mozart {heap['mozart']:.3f} s, "
              f"speed-up {heap['numpy'] / heap['mozart']:.2f}", flush=True)
        sweeps["blackscholes"] = row = sweep_row(w, d, t, pieces, threads, repeats)
        print(f"re-timed in alternation ({max(repeats, 5)} rounds): best fixed {best_piece} {row['best_s']:.3f} s, "
              f"automatic {row['auto_s']:.3f} s (in the sweep's rounds: {row['sweep_best_s']:.3f} and "
              f"{row['sweep_auto_s']:.3f} s)", flush=True)
        summary.update({
            "blackscholes_speedup_vs_numpy": round(t["numpy"] / t["mozart"], 3),
            "blackscholes_speedup_vs_dask": round(t[f"dask/{best_chunk}"] / t["mozart"], 3),
            "auto_piece_vs_best": round(row["sweep_ratio"], 3),
            "auto_piece_vs_best_retimed": round(row["ratio"], 3),
            "blackscholes_speedup_vs_numpy_heap_reuse": round(heap["numpy"] / heap["mozart"], 3),
            "blackscholes_speedup_vs_hand_loop": round(t["hand loop"] / t["mozart"], 3),
            "peak_memory_ratio_vs_numpy": round(rss_mz / rss_np, 3),
        })
        table += [("blackscholes", t["numpy"], t["mozart"], t["numpy"] / t["numexpr"], t["numpy"] / t["numba"],
                  t["numpy"] / t[f"dask/{best_chunk}"])]

    if args.part in ("all", "numpy") and wanted("haversine"):
        # 2. Haversine -----------------------------------------------------------------------------------
        w = WORKLOADS["haversine"]
        d = w.data(n, seed=0)
        ref = w.plain(d)
        hav_numba(d["lat"][:10], d["lon"][:10], 40.671, -73.985)
        for name, got in [("numexpr", hav_numexpr(**d)), ("numba", hav_numba(d["lat"], d["lon"], 40.671, -73.985)),
                          ("dask", dask_hav(d["lat"], d["lon"], 1 << 18, threads)), ("mozart", w.mozart(d, workers=threads))]:
            np.testing.assert_allclose(got, ref, rtol=1e-9, err_msg=name)
        methods = {"numpy": lambda: w.plain(d), "numexpr": lambda: hav_numexpr(**d),
                   "numba": lambda: hav_numba(d["lat"], d["lon"], 40.671, -73.985),
                   "mozart": lambda: w.mozart(d, workers=threads)}
        methods.update({f"dask/{c}": (lambda c=c: dask_hav(d["lat"], d["lon"], c, threads)) for c in chunks})
        methods.update({f"mozart/{p}": (lambda p=p: w.mozart(d, workers=threads, piece_size=p)) for p in pieces})
        t = interleaved(methods, repeats)
        sweeps["haversine"] = sweep_row(w, d, t, pieces, threads, repeats)
        best = min(chunks, key=lambda c: t[f"dask/{c}"])
        table.append(("haversine", t["numpy"], t["mozart"], t["numpy"] / t["numexpr"], t["numpy"] / t["numba"],
                      t["numpy"] / t[f"dask/{best}"]))

    if args.part in ("all", "numpy", "pandas"):
        # 3-4. the other workloads: plain against Mozart (crime index also against dask.dataframe) ----------
        sizes = {"nbody": 512 if args.quick else 2048, "shallow_water": 512 if args.quick else 2048,
                 "data_cleaning": 200_000 if args.quick else 2_000_000, "crime_index": 400_000 if args.quick else 4_000_000,
                 "birth_analysis": 200_000 if args.quick else 2_000_000}
        if not dask_df and args.part in ("all", "pandas"):
            print("\nnote: pyarrow is not installed, so the dask.dataframe column is skipped (dask.dataframe needs it)")
        partitions = [2, 4, 8, 16, 32]
        for name, size in sizes.items():
            if (args.part != "all" and WORKLOADS[name].kind != args.part) or not wanted(name):
                continue
            w = WORKLOADS[name]
            d = w.data(size, seed=0)
            ref = w.plain(d)
            assert w.check(w.mozart(d, workers=threads), ref)
            methods = {"plain": lambda: w.plain(d), "mozart": lambda: w.mozart(d, workers=threads)}
            sweep = ([1 << k for k in range(2, 9)] if w.kind == "numpy" else
                     [p for p in (1 << 14, 1 << 16, 1 << 18, 1 << 20) if p < size] + [size])
            methods.update({f"mozart/{p}": (lambda p=p: w.mozart(d, workers=threads, piece_size=p)) for p in sweep})
            if dask_df and name in DASK_DF:
                frame = next(iter(d.values()))
                check_dask_df(name, DASK_DF[name](frame, 4, threads), ref)
                methods.update({f"dd/{k}": (lambda k=k, f=DASK_DF[name], x=frame: f(x, k, threads)) for k in partitions})
            t = interleaved(methods, repeats)
            sweeps[name] = sweep_row(w, d, t, sweep, threads, repeats)
            dk = None
            if dask_df and name in DASK_DF:
                best = min(partitions, key=lambda k: t[f"dd/{k}"])
                dk = t["plain"] / t[f"dd/{best}"]
                print(f"{name}: dask.dataframe partitions " + ", ".join(f"{k}: {t[f'dd/{k}']:.3f} s" for k in partitions)
                      + f"; best {best}", flush=True)
            table.append((name, t["plain"], t["mozart"], None, None, dk))

    if args.state:
        state = json.loads(Path(args.state).read_text()) if Path(args.state).exists() else {}
        state.setdefault("summary", {}).update({k: v for k, v in summary.items() if k != "speedup_vs_plain"})
        state.setdefault("table", {}).update({row[0]: list(row) for row in table})
        state.setdefault("sweeps", {}).update(sweeps)
        tmp = Path(args.state).with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, args.state)
        summary.update(state["summary"])
        table = [tuple(r) for r in state["table"].values()]
        sweeps = {k: {**v, "sweep": {int(p): t for p, t in v["sweep"].items()}} for k, v in state["sweeps"].items()}
        summary["speedup_vs_plain"] = {}
    print(f"\n== every workload, {threads} thread(s): speed-up over the plain library (median of {repeats})")
    print(f"{'workload':16} {'plain s':>8} {'mozart s':>9} {'mozart':>7} {'numexpr':>8} {'numba':>6} {'dask best':>9}")
    print("(dask best: dask.array at its best chunk for the NumPy workloads, dask.dataframe at its best partition "
          "count for the pandas ones)")
    fmt = lambda v: f"{v:.2f}" if v is not None else "n/a"  # noqa: E731
    for name, plain, mz, ne_, nb, dk in table:
        summary["speedup_vs_plain"][name] = round(plain / mz, 3)
        print(f"{name:16} {plain:8.3f} {mz:9.3f} {plain / mz:7.2f} {fmt(ne_):>8} {fmt(nb):>6} {fmt(dk):>9}")
    print(f"\n== Mozart's automatic piece size against a sweep of fixed sizes, {threads} thread(s) (median of {repeats})")
    print("(in sweep: best/auto from the sweep's own medians, the issue's auto_piece_vs_best; auto s, best s, "
          "best/auto: re-timed in alternation after the sweep picked the best size)")
    print(f"{'workload':16} {'automatic':>22} {'auto s':>8} {'best fixed':>10} {'best s':>8} {'best/auto':>9} "
          f"{'in sweep':>8}  sweep")
    for name, row in sweeps.items():
        auto = "/".join(str(p) for p in row["auto"]) + (" (1 thread)" if row["gil_bound"] else "")
        print(f"{name:16} {auto:>22} {row['auto_s']:8.3f} {row['best']:>10} {row['best_s']:8.3f} "
              f"{row['ratio']:9.2f} {row.get('sweep_ratio', float('nan')):8.2f}  "
              + " ".join(f"{p}:{v:.3f}" for p, v in row["sweep"].items()))
    summary["auto_piece_vs_best_per_workload"] = {k: round(v.get("sweep_ratio", v["ratio"]), 3)
                                                  for k, v in sweeps.items()}
    summary["auto_piece_vs_best_retimed_per_workload"] = {k: round(v["ratio"], 3) for k, v in sweeps.items()
                                                          if "sweep_ratio" in v}
    if dask_df:
        summary["speedup_vs_dask_dataframe"] = {name: round((plain / mz) / dk, 3)
                                                for name, plain, mz, _, _, dk in table if name in DASK_DF}
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
