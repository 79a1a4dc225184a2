"""The SVP benchmark resumes an interrupted seed from its partial files and pairs its comparisons."""

import dataclasses

import numpy as np
import pytest

from dawnlab import results


@pytest.fixture(scope="module")
def bench(load_benchmark):
    return load_benchmark("svp")


def task(bench, out, part, seed=0):
    recipe = {"settings": {k: v.to_dict() if hasattr(v, "to_dict") else v
                           for k, v in bench.settings(True, "opencv_digits", 300).items()},
              "quick": True, "data": "opencv_digits", "n": 300, "version": 2}
    return {"seed": seed, "part": part, "out": str(out) if out else None, "quick": True, "data": "opencv_digits",
            "n": 300, "recipe": recipe}


def figures(row):
    return {k: v for k, v in row.items() if not k.endswith("_s") and k not in ("recipe", "done")}


class Interrupt(Exception):
    pass


def test_active_learning_part_resumes_from_its_partial_file(bench, tmp_path, monkeypatch):
    whole = bench.run_seed(task(bench, None, "al"))
    real, made = bench.ActiveLearning, []

    def counting(*a, interrupt_at=None, **k):
        made.append(k.get("method"))
        if len(made) == interrupt_at:
            raise Interrupt
        return real(*a, **k)

    monkeypatch.setattr(bench, "ActiveLearning", lambda *a, **k: counting(*a, interrupt_at=2, **k))
    with pytest.raises(Interrupt):
        bench.run_seed(task(bench, tmp_path, "al"))
    partial = results.load(tmp_path / "seed_0_quick.al.partial.json")
    assert partial["done"] == ["al_svp"]
    made.clear()
    monkeypatch.setattr(bench, "ActiveLearning", lambda *a, **k: counting(*a, **k))
    resumed = bench.run_seed(task(bench, tmp_path, "al"))
    assert made == ["least_confidence", "random"]  # the SVP run was read back, not run again
    assert resumed["al_svp_selection_s"] == partial["al_svp_selection_s"]
    assert figures(resumed) == figures(whole)  # and the figures are those of an uninterrupted seed


def test_coreset_part_resumes_without_training_the_proxy_again(bench, tmp_path, monkeypatch):
    whole = bench.run_seed(task(bench, None, "cs"))
    real = bench.CoreSet

    def interrupted(*a, **k):
        if a[2] == "kcenters":
            raise Interrupt
        return real(*a, **k)

    monkeypatch.setattr(bench, "CoreSet", interrupted)
    with pytest.raises(Interrupt):
        bench.run_seed(task(bench, tmp_path, "cs"))
    assert results.load(tmp_path / "seed_0_quick.cs.partial.json")["done"] == ["cs_full", "cs_forgetting",
                                                                              "cs_entropy"]
    fits = []
    learner_fit = bench.Learner.fit
    monkeypatch.setattr(bench, "CoreSet", real)
    monkeypatch.setattr(bench.Learner, "fit", lambda self, *a, **k: (fits.append(self.name),
                                                                     learner_fit(self, *a, **k))[1])
    resumed = bench.run_seed(task(bench, tmp_path, "cs"))
    assert "cs_proxy" not in fits and fits.count("cs_target") == 2 * 2  # kcenters and random, two fractions each
    assert figures(resumed) == figures(whole)
    # every score has its random control on the same kept fractions
    for m in bench.CS_SCORES + ("random",):
        assert {f"cs_{m}_keep0.50_acc", f"cs_{m}_keep0.90_acc"} <= set(resumed)


def test_a_changed_recipe_starts_cleanly_in_a_reused_out_folder(bench, tmp_path, monkeypatch):
    real = bench.settings

    def recipe(epochs):  # a tiny core-set comparison whose target schedule is the recipe change
        def settings(quick, data="opencv_digits", n=None):
            cfg = real(quick, data, n)
            cfg.update(keep=[0.5], cs_target=dataclasses.replace(cfg["cs_target"], epochs=epochs),
                       cs_proxy=dataclasses.replace(cfg["cs_proxy"], epochs=1))
            return cfg
        return settings

    monkeypatch.setattr(bench, "settings", recipe(1))
    first = bench.run_seed(task(bench, tmp_path, "cs"))
    monkeypatch.setattr(bench, "settings", recipe(2))
    # before: CoreSet refused work_seed_0_quick/coreset_forgetting, written under the first recipe
    changed = bench.run_seed(task(bench, tmp_path, "cs"))
    assert figures(changed) == figures(bench.run_seed(task(bench, None, "cs")))  # as if the folder were new
    work = sorted(p.name for p in tmp_path.glob("work_seed_0_quick*"))
    assert len(work) == 2 and all(len(name) > len("work_seed_0_quick_") for name in work)
    # the first recipe's folders were left alone: going back resumes from them, with its figures
    monkeypatch.setattr(bench, "settings", recipe(1))
    assert figures(bench.run_seed(task(bench, tmp_path, "cs"))) == figures(first)
    assert sorted(p.name for p in tmp_path.glob("work_seed_0_quick*")) == work


def test_summary_reports_paired_intervals_per_fraction_and_score(bench, capsys):
    rng = np.random.default_rng(0)
    cfg = bench.settings(True)
    rows = []
    for s in range(5):
        base = rng.uniform(0.9, 0.95)
        row = {"cs_full_acc": base + 0.003, "cs_proxy_acc": 0.9, "cs_forgetting_distinct": 4,
               "cs_forgetting_distinct_with_tiebreak": 9, "cs_never_learned": 0, "cs_target_selection_s": 10.0,
               "spearman": 0.5, "kendall": 0.4, "top10_overlap": 0.3, "al_round1_spearman": 0.5}
        for name, acc in (("svp", base), ("target", base - 0.002), ("random", base - 0.02)):
            row.update({f"al_{name}_acc": acc + rng.normal(0, 0.001), f"al_{name}_selection_s": 1.0,
                        f"al_{name}_target_s": 1.0})
        row["al_target_selection_s"] = 8.0
        for k in cfg["keep"]:
            for m, gain in (("random", 0.0), ("forgetting", 0.02), ("entropy", 0.0), ("kcenters", -0.01)):
                row[f"cs_{m}_keep{k:.2f}_acc"] = base - 0.02 + gain + rng.normal(0, 0.001)
                row[f"cs_{m}_keep{k:.2f}_selection_s"] = 2.0
        rows.append(row)
    head = bench.summarise(rows, cfg)
    assert head["al_selection_speedup"] == 8.0
    assert head["al_svp_minus_random_ci"]["low"] > 0 and head["al_svp_minus_random_ci"]["n"] == 5
    vs = head["coreset_vs_random"]
    assert set(vs) == {"0.50", "0.90"} and set(vs["0.50"]) == set(bench.CS_SCORES)
    assert vs["0.50"]["forgetting"]["low"] > 0 > vs["0.50"]["kcenters"]["high"]
    assert head["coreset_fraction_removed"] == 0.5 and head["coreset_target_met"][0]["score"] == "forgetting"
