"""An interrupted fit keeps its finished stages and a second call resumes from them with the same result."""

import numpy as np
import pytest

from dawnlab.willump import FeatureGroup, Willump
from dawnlab.willump import optimizer as opt
from dawnlab.willump.datasets import synthetic, synthetic_pipeline


@pytest.fixture(autouse=True)
def fixed_costs(monkeypatch):
    """Costs from fixed figures instead of wall times: an uninterrupted fit re-measures them, and on a loaded
    machine a context switch in one timing flipped its plan against the resumed fit's (seen under make test)."""
    from dawnlab.willump.pipeline import Pipeline

    real = Pipeline.features

    def features(self, X, names=None, timings=None):
        out = real(self, X, names, timings)
        if timings is not None:
            for g in timings:
                timings[g] = {"cheap": 1e-6, "costly": 1e-4}[g] * len(X)
        return out

    monkeypatch.setattr(Pipeline, "features", features)
    monkeypatch.setattr(opt, "_fastest_predict", lambda model, M: (model.predict_proba(M), 1e-7 * M.shape[0]))


class Interrupt(KeyboardInterrupt):
    """Raised inside fit to stand for a user's Ctrl-C."""


def counting(monkeypatch):
    calls = []
    real = FeatureGroup.fit

    def fit(self, X, y=None):
        calls.append(self.name)
        return real(self, X, y)

    monkeypatch.setattr(FeatureGroup, "fit", fit)
    return calls


@pytest.mark.parametrize("stage, refit", [("importance", False), ("cascades", False), ("topk", False),
                                         ("cascades", True), ("refit", True)])
def test_an_interrupted_fit_resumes_from_its_finished_stages_with_the_same_result(tmp_path, monkeypatch, stage, refit):
    X, y = synthetic(900)
    Xt, _ = synthetic(300, seed=9)
    plain = Willump(synthetic_pipeline(), progress=False, max_drop=0.05, refit=refit).fit(X, y)

    real_stages = opt.Willump._stages

    def interrupt_at(name):
        # stand for a Ctrl-C that arrives once stage `name` is computed, before it is saved

        def stages(self, X, y):
            folder, load, save = real_stages(self, X, y)

            def save_then_stop(n, obj):
                if n == name:
                    raise Interrupt(f"interrupted while finishing {n}")
                save(n, obj)

            return folder, load, save_then_stop

        monkeypatch.setattr(opt.Willump, "_stages", stages)

    interrupt_at(stage)
    w = Willump(synthetic_pipeline(), progress=False, max_drop=0.05, refit=refit, checkpoint_dir=tmp_path)
    with pytest.raises(Interrupt):
        w.fit(X, y)
    assert w.pipeline_ is None  # nothing half-fitted is left on the object
    (folder,) = tmp_path.iterdir()
    order = ["measure", "importance", "cascades", "topk"] + (["refit"] if refit else [])
    kept = sorted(p.stem for p in folder.glob("*.pkl"))
    assert kept == sorted(order[:order.index(stage)])  # every finished stage, whole
    assert not list(folder.glob(".*.tmp"))  # no partial file

    monkeypatch.setattr(opt.Willump, "_stages", real_stages)
    calls = counting(monkeypatch)
    resumed = Willump(synthetic_pipeline(), progress=False, max_drop=0.05, refit=refit,
                      checkpoint_dir=tmp_path).fit(X, y)
    # the groups fitted on the training part were loaded, not refitted: only a final refit fits them
    assert calls == (["cheap", "costly"] if refit else [])
    assert sorted(p.stem for p in folder.glob("*.pkl")) == sorted(order)

    # the same plan and answers as an uninterrupted fit (its costs are measured again: fixed_costs keeps them equal)
    assert resumed.cascade_.groups == plain.cascade_.groups
    assert resumed.cascade_.threshold == plain.cascade_.threshold
    assert resumed.topk_.groups == plain.topk_.groups and resumed.topk_.c == plain.topk_.c
    assert resumed.groups_.importance.tolist() == plain.groups_.importance.tolist()
    np.testing.assert_array_equal(resumed.cascade_.table.accepted, plain.cascade_.table.accepted)
    np.testing.assert_allclose(resumed.predict_proba(Xt), plain.predict_proba(Xt), atol=1e-12)

    # a third call loads everything: identical to the resumed one, measured costs included, and fits nothing
    calls.clear()
    again = Willump(synthetic_pipeline(), progress=False, max_drop=0.05, refit=refit,
                    checkpoint_dir=tmp_path).fit(X, y)
    assert calls == []
    assert again.groups_.equals(resumed.groups_)
    assert again.cascade_.expected_cost == resumed.cascade_.expected_cost
    np.testing.assert_array_equal(again.predict_proba(Xt), resumed.predict_proba(Xt))


def test_other_data_or_settings_never_reuse_a_checkpoint(tmp_path):
    X, y = synthetic(600)
    Willump(synthetic_pipeline(), progress=False, checkpoint_dir=tmp_path).fit(X, y)
    Willump(synthetic_pipeline(), progress=False, checkpoint_dir=tmp_path, alpha=0.1).fit(X, y)
    X2 = X.copy()
    X2[0, 0] += 1.0
    Willump(synthetic_pipeline(), progress=False, checkpoint_dir=tmp_path).fit(X2, y)
    assert len(list(tmp_path.iterdir())) == 3
