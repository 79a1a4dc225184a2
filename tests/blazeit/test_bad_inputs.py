"""Bad arguments raise a dawnlab error naming the argument, the rule and the value (review finding 5)."""

import numpy as np
import pytest

from dawnlab.blazeit import Session, synthetic
from dawnlab.blazeit.aggregate import BettingCS, estimate_mean
from dawnlab.blazeit.stratified import estimate_mean_stratified
from dawnlab.errors import InvalidArgument

Q = "SELECT FCOUNT(*) FROM v WHERE class = 'car' ERROR WITHIN 0.5"


@pytest.fixture(scope="module")
def small():
    src, oracle = synthetic.scene(300, seed=0)
    s = Session(src, oracle, train_frames=100, heldout_frames=50, epochs=1)
    s.train()
    return s


def zeros(f):
    return np.zeros(len(f))


def mean(**kw):
    args = dict(value_range=1)
    args.update(kw)
    proxy = args.pop("proxy", None)
    return list(estimate_mean(zeros, np.arange(10), proxy, .1, .9, np.random.default_rng(0),
                              **args))


def strat(**kw):
    args = dict(value_range=1)
    args.update(kw)
    proxy = args.pop("proxy", np.zeros(10))
    return list(estimate_mean_stratified(zeros, np.arange(10), proxy, .1, .9,
                                         np.random.default_rng(0), **args))


CASES = {
    "report_every": lambda s: list(s.stream(Q, report_every=0, max_frames=30)),
    "report_every ": lambda s: list(s.stream(Q, report_every=2.5, max_frames=30)),
    "train": lambda s: list(s.stream(Q, train="5", max_frames=30)),
    "max_frames": lambda s: list(s.stream(Q, max_frames=-3)),
    "seed": lambda s: list(s.stream(Q, seed="x", max_frames=30)),
    "threshold": lambda s: list(s.stream("SELECT timestamp FROM v WHERE class = 'bus' LIMIT 2",
                                         threshold=float("nan"), max_frames=30)),
    "seed ": lambda s: s.query(Q, seed="abc"),
    "seed  ": lambda s: s.query(Q, seed=-1),
    "allow_nn_only": lambda s: s.query(Q, allow_nn_only="no"),
    "min_samples": lambda s: mean(min_samples=0),
    "first": lambda s: mean(first=np.array([50])),
    "first ": lambda s: mean(first=np.array([1, 1, 1])),
    "proxy": lambda s: mean(proxy=np.zeros(3)),
    "proxy ": lambda s: mean(proxy=np.full(10, np.nan)),
    "n_strata": lambda s: strat(n_strata=0),
    "max_draws": lambda s: strat(max_draws=-1),
    "proxy  ": lambda s: strat(proxy=np.full(10, np.nan)),
    "sd": lambda s: strat(sd=np.zeros(3)),
    "c_max": lambda s: BettingCS(10, 1.0, .9, c_max=-1),
    "value_range": lambda s: BettingCS(10, "3", .9),
    "max_objects": lambda s: Session(s.source, s.oracle, max_objects={
        "car": 0, "bus": 0, "person": 0}).query(Q.replace("car", "bus"), method="random"),
    "heldout_frames": lambda s: Session(s.source, s.oracle, train_frames=[1, 2, 3],
                                        heldout_frames=[3, 4]).train(),
    "heldout_frames ": lambda s: Session(s.source, s.oracle, train_frames=50,
                                         heldout_frames=[7, 7, 8]).train(),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_argument_is_named(small, name):
    with pytest.raises(InvalidArgument, match=f"'{name.strip()}' argument"):
        CASES[name](small)
