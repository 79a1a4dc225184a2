"""The paper's seven workloads, each written once and run on plain or annotated libraries (arXiv 1810.12297, Section 7).

Every workload is one function of the library modules it uses, so the same
code runs on NumPy/pandas (the reference) and on :mod:`dawnlab.mozart.numpy` /
:mod:`dawnlab.mozart.pandas` (pipelined) - only the import changes, and the
inputs enter as lazy values (``mozart.numpy.lazy_array(a)``,
``mozart.pandas.DataFrame(df)``) so that an operator between two plain inputs
is captured as well:

============== ====== ===================================================== ============================
workload        kind   what it computes                                      data (``n`` elements/rows)
============== ====== ===================================================== ============================
blackscholes    numpy  call and put prices, erf from SciPy                   price, strike, time: uniform
haversine       numpy  great-circle distance of every point to one point     lat, lon: uniform on a box
nbody           numpy  ``steps`` leapfrog steps of a softened N-body system  ``n`` bodies (n x n pairs)
shallow_water   numpy  ``steps`` of the linearised shallow-water equations   an ``n`` x ``n`` periodic grid
data_cleaning   pandas clean 311-style ZIP codes, list the distinct ones     ``n`` requests, 5 noise kinds
crime_index     pandas a per-city crime index; the cities above a cut-off    ``n`` cities
birth_analysis  pandas births per year and sex; share of names ending "n"    ``n`` (name, sex, year) rows
============== ====== ===================================================== ============================

Data are generated from a seed with ``numpy.random.default_rng`` (so any size
can be made offline); :data:`WORKLOADS` maps each name to a :class:`Workload`
with its generator, its code, a default and a small size, and the comparison
that checks Mozart's result against the reference.

Examples
--------
>>> w = WORKLOADS["blackscholes"]
>>> data = w.data(10_000, seed=0)
>>> w.check(w.mozart(data, piece_size=1024), w.plain(data))
True
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Callable

import numpy
import pandas
import scipy.special

__all__ = ["Workload", "WORKLOADS", "blackscholes", "haversine", "nbody", "shallow_water", "data_cleaning",
           "crime_index", "birth_analysis", "plain_numpy", "mozart_numpy"]


def plain_numpy():
    """NumPy with SciPy's erf: the reference library namespace."""
    return SimpleNamespace(np=numpy, erf=scipy.special.erf)


def mozart_numpy():
    """The annotated NumPy (its erf is SciPy's, annotated)."""
    import dawnlab.mozart.numpy as mnp

    return SimpleNamespace(np=mnp, erf=mnp.erf)


# -- NumPy workloads --------------------------------------------------------------------------------

def blackscholes(lib, price, strike, t, rate=0.1, vol=0.2):
    """European call and put prices (Black-Scholes), the cumulative normal written with erf."""
    np, erf = lib.np, lib.erf
    rsig = rate + vol * vol * 0.5
    vol_sqrt = vol * np.sqrt(t)
    d1 = (np.log(price / strike) + rsig * t) / vol_sqrt
    d2 = d1 - vol_sqrt
    d1 = 0.5 + 0.5 * erf(d1 * 0.7071067811865476)
    d2 = 0.5 + 0.5 * erf(d2 * 0.7071067811865476)
    e_rt = np.exp(-rate * t)
    call = price * d1 - e_rt * strike * d2
    put = e_rt * strike * (1.0 - d2) - price * (1.0 - d1)
    return call, put


def _bs_data(n, seed):
    rng = numpy.random.default_rng(seed)
    return {"price": rng.uniform(10.0, 50.0, n), "strike": rng.uniform(10.0, 50.0, n), "t": rng.uniform(1.0, 2.0, n)}


def haversine(lib, lat, lon, lat0=40.671, lon0=-73.985):
    """Kilometres from every (lat, lon) in degrees to (lat0, lon0)."""
    np = lib.np
    miles_const = 3959.0
    lat_r, lon_r = np.radians(lat), np.radians(lon)
    dlat = lat_r - numpy.radians(lat0)
    dlon = lon_r - numpy.radians(lon0)
    a = np.sin(dlat / 2.0) ** 2 + numpy.cos(numpy.radians(lat0)) * np.cos(lat_r) * np.sin(dlon / 2.0) ** 2
    c = 2.0 * np.arcsin(np.sqrt(a))
    return miles_const * c * 1.609344


def _hav_data(n, seed):
    rng = numpy.random.default_rng(seed)
    return {"lat": rng.uniform(25.0, 49.0, n), "lon": rng.uniform(-124.0, -67.0, n)}


def nbody(lib, x, y, z, vx, vy, vz, m, steps=2, dt=0.01, soft=0.01):
    """Leapfrog steps of N softened gravitating bodies (G = 1); returns positions and velocities."""
    np = lib.np
    for _ in range(steps):
        dx = np.subtract.outer(x, x)
        dy = np.subtract.outer(y, y)
        dz = np.subtract.outer(z, z)
        inv = (dx * dx + dy * dy + dz * dz + soft) ** -1.5
        ax = -np.sum(dx * inv * m, axis=1)
        ay = -np.sum(dy * inv * m, axis=1)
        az = -np.sum(dz * inv * m, axis=1)
        vx, vy, vz = vx + ax * dt, vy + ay * dt, vz + az * dt
        x, y, z = x + vx * dt, y + vy * dt, z + vz * dt
    return x, y, z, vx, vy, vz


def _nbody_data(n, seed):
    rng = numpy.random.default_rng(seed)
    d = {k: rng.normal(size=n) for k in ("x", "y", "z")}
    d.update({k: rng.normal(scale=0.1, size=n) for k in ("vx", "vy", "vz")})
    d["m"] = rng.uniform(0.5, 1.5, n) / n
    return d


def shallow_water(lib, eta, u, v, steps=3, g=9.81, depth=1.0, dt=0.002, dx=0.1, dy=0.1):
    """Forward-backward steps of the linearised shallow-water equations on a periodic grid.

    Differences along a row (``axis=1``) stay inside a piece of rows and are
    pipelined; differences along a column (``axis=0``) cross pieces, so those
    ``roll`` calls run eagerly and end the stage.
    """
    np = lib.np
    for _ in range(steps):
        eta_x = (np.roll(eta, -1, axis=1) - eta) / dx
        eta_y = (np.roll(eta, -1, axis=0) - eta) / dy
        u = u - g * dt * eta_x
        v = v - g * dt * eta_y
        div = (u - np.roll(u, 1, axis=1)) / dx + (v - np.roll(v, 1, axis=0)) / dy
        eta = eta - depth * dt * div
    return eta, u, v


def _sw_data(n, seed):
    rng = numpy.random.default_rng(seed)
    yy, xx = numpy.mgrid[0:n, 0:n] / max(n, 1)
    eta = numpy.exp(-((xx - 0.5) ** 2 + (yy - 0.5) ** 2) * 50.0) + 0.01 * rng.normal(size=(n, n))
    return {"eta": eta, "u": numpy.zeros((n, n)), "v": numpy.zeros((n, n))}


# -- pandas workloads -------------------------------------------------------------------------------

def data_cleaning(pd, requests):
    """Clean 311-style ZIP codes (keep 5 digits, blank out the placeholders) and list the distinct ones."""
    zips = requests["zip"].str.slice(0, 5)
    bad = zips.isin(["00000", "N/A", "NO CL", "NA"])
    zips = zips.mask(bad)
    return zips.unique(), zips.isna().sum()


def _cleaning_data(n, seed):
    rng = numpy.random.default_rng(seed)
    base = rng.integers(10000, 99999, n).astype(str).astype(object)
    kind = rng.choice(5, n, p=[0.8, 0.08, 0.05, 0.04, 0.03])
    plus4 = numpy.char.add(base.astype(str), "-1234").astype(object)
    zips = numpy.where(kind == 1, plus4, base)
    zips = numpy.where(kind == 2, "00000", zips)
    zips = numpy.where(kind == 3, "N/A", zips)
    zips = numpy.where(kind == 4, "NO CLUE", zips)
    frame = pandas.DataFrame({"zip": pandas.Series(zips).astype("str"),
                              "agency": rng.choice(["NYPD", "DOT", "DEP", "HPD"], n)})
    frame.loc[rng.random(n) < 0.02, "zip"] = None
    return {"requests": frame}


def crime_index(pd, cities, cutoff=0.02):
    """A per-city crime index (robberies and burglaries per resident, weighted), summed over high-crime cities."""
    index = (cities["robberies"] * 2.0 + cities["burglaries"]) / cities["population"]
    index = index.clip(0.0, 1.0)
    high = index[index > cutoff]
    return high.sum(), high.count()


def _crime_data(n, seed):
    rng = numpy.random.default_rng(seed)
    pop = rng.integers(1_000, 2_000_000, n)
    return {"cities": pandas.DataFrame({"population": pop,
                                        "robberies": rng.poisson(pop * 0.004),
                                        "burglaries": rng.poisson(pop * 0.01)})}


def birth_analysis(pd, names):
    """Births per (year, sex), each name's share of its year's births, and births of names ending in "n"."""
    totals = names.groupby(["year", "sex"])["births"].sum()
    table = totals.rename("total").reset_index()
    with_total = names.merge(table, on=["year", "sex"], how="left")
    with_total["prop"] = with_total["births"] / with_total["total"]
    last = names["name"].str.slice(-1)
    ends_n = names[last == "n"].groupby(["year", "sex"])["births"].sum()
    return totals, with_total, ends_n


def _birth_data(n, seed):
    rng = numpy.random.default_rng(seed)
    stems = ["Ann", "Mary", "John", "Leslie", "Lesley", "Evan", "Kim", "Sean", "Jordan", "Mia", "Noah", "Lynn",
             "Ian", "Eva", "Owen", "Ella", "Liam", "Ava", "Ethan", "Zoe"]
    names = rng.choice(stems, n)
    return {"names": pandas.DataFrame({"name": pandas.Series(names).astype("str"),
                                       "sex": rng.choice(["F", "M"], n),
                                       "births": rng.integers(5, 5000, n),
                                       "year": rng.integers(1880, 2011, n)})}


# -- the registry -----------------------------------------------------------------------------------

def _close(a, b, rtol=1e-10, atol=1e-12):
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_close(x, y, rtol, atol) for x, y in zip(a, b))
    if isinstance(a, pandas.DataFrame):
        pandas.testing.assert_frame_equal(a, b, check_exact=False, rtol=rtol, atol=atol)
        return True
    if isinstance(a, pandas.Series):
        pandas.testing.assert_series_equal(a, b, check_exact=False, rtol=rtol, atol=atol)
        return True
    if hasattr(a, "dtype") and getattr(a.dtype, "kind", "f") in "OUT" or isinstance(a, pandas.api.extensions.ExtensionArray):
        return list(pandas.Series(a)) == list(pandas.Series(b)) or (
            pandas.Series(a).equals(pandas.Series(b)))
    numpy.testing.assert_allclose(numpy.asarray(a), numpy.asarray(b), rtol=rtol, atol=atol)
    return True


@dataclass(frozen=True)
class Workload:
    """One workload: its data generator, its code and the check of a result against the reference."""

    name: str
    kind: str                 # "numpy" or "pandas"
    code: Callable
    make: Callable
    default_n: int
    small_n: int
    rtol: float = 1e-10

    def data(self, n: int | None = None, seed: int = 0) -> dict:
        """Inputs of ``n`` elements (default: :attr:`default_n`), generated from ``seed``."""
        return self.make(self.default_n if n is None else n, seed)

    def plain(self, data: dict):
        """The reference result, with NumPy / pandas."""
        lib = plain_numpy() if self.kind == "numpy" else pandas
        return self.code(lib, **data)

    def lazy(self, data: dict):
        """The result as lazy values of the annotated libraries (not evaluated)."""
        if self.kind == "numpy":
            # the inputs enter as lazy values (as a frame enters through mozart.pandas.DataFrame), so that
            # operators between two of them (``price / strike``) are captured too, not run by NumPy at once
            from dawnlab.mozart.numpy import lazy_array

            wrapped = {k: lazy_array(v) if isinstance(v, numpy.ndarray) else v for k, v in data.items()}
            return self.code(mozart_numpy(), **wrapped)
        import dawnlab.mozart.pandas as mpd

        wrapped = {k: mpd.DataFrame(v) if isinstance(v, pandas.DataFrame) else v for k, v in data.items()}
        return self.code(mpd, **wrapped)

    def mozart(self, data: dict, **options):
        """The result computed by Mozart (``options`` as for :func:`dawnlab.mozart.evaluate`)."""
        from dawnlab.mozart import evaluate, options as mozart_options

        with mozart_options(**options):
            out = self.lazy(data)
            return evaluate(out)

    def check(self, result, reference) -> bool:
        """True if ``result`` equals ``reference`` (tight tolerances); raises with the difference otherwise."""
        return _close(result, reference, rtol=self.rtol)


WORKLOADS = {
    "blackscholes": Workload("blackscholes", "numpy", blackscholes, _bs_data, 1 << 24, 5_000),
    "haversine": Workload("haversine", "numpy", haversine, _hav_data, 1 << 24, 5_000),
    "nbody": Workload("nbody", "numpy", nbody, _nbody_data, 2_048, 300, rtol=1e-9),
    "shallow_water": Workload("shallow_water", "numpy", shallow_water, _sw_data, 2_048, 64),
    "data_cleaning": Workload("data_cleaning", "pandas", data_cleaning, _cleaning_data, 2_000_000, 5_000),
    "crime_index": Workload("crime_index", "pandas", crime_index, _crime_data, 4_000_000, 5_000),
    "birth_analysis": Workload("birth_analysis", "pandas", birth_analysis, _birth_data, 2_000_000, 5_000),
}
