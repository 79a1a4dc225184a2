"""Baselines, the Frechet distance and the GAN generator's LIT, against references."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dawnlab.lit import LIT, ResNet1D, resnet_spec, train_fitnets, train_scratch
from dawnlab.lit.frechet import frechet_distance, gaussian_stats
from dawnlab.lit.gan import Generator, gan_experiment, generator_spec
from dawnlab.lit.training import predict_logits, seeded, train_supervised


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(3)
    X = torch.randn(96, 40, generator=g)
    return X, (X[:, :5].sum(1) > 0).long() + 2 * (X[:, 5] > 0).long()


def test_kd_with_alpha_one_is_training_from_scratch(data):
    X, y = data
    a = seeded(lambda: ResNet1D(8, 4), 0)
    train_scratch(a, X, y, epochs=2, batch_size=32, seed=1)
    # KD's loss with alpha = 1 on the scratch run's minibatches (phase "ce"): the teacher's logits drop out
    kd_as_ce = seeded(lambda: ResNet1D(8, 4), 0)
    list(train_supervised(kd_as_ce, X, y, epochs=2, batch_size=32, seed=1, teacher_logits=torch.randn(len(X), 10),
                          alpha=1.0, phase="ce"))
    for k, v in a.state_dict().items():
        torch.testing.assert_close(v, kd_as_ce.state_dict()[k], rtol=1e-5, atol=1e-6, msg=k)


def test_fitnets_hint_phase_trains_only_the_lower_part(data):
    X, y = data
    teacher, student = seeded(lambda: ResNet1D(14, 4), 0), seeded(lambda: ResNet1D(8, 4), 1)
    before = {k: v.clone() for k, v in student.state_dict().items()}
    spec = resnet_spec(teacher, student)
    recs = train_fitnets(student, teacher, X, y, predict_logits(teacher, X), teacher_blocks=spec["blocks"][0],
                         student_blocks=spec["blocks"][1], hint_epochs=3, kd_epochs=0, batch_size=32, lr=1e-2)
    after = student.state_dict()
    # the guided layer is the middle block (stage 1): stem, blocks 0 and 1 learn; block 2 and the head do not
    for k in before:
        lower = k.startswith(("stem", "blocks.0", "blocks.1"))
        changed = not torch.equal(before[k], after[k])
        if k.endswith(("weight", "bias")):
            assert changed == lower, k
    assert recs[-1]["loss"] < recs[0]["loss"]


def test_frechet_distance_against_closed_forms():
    # one dimension: (m1 - m2)^2 + (s1 - s2)^2
    assert frechet_distance(1.0, 4.0, 3.0, 9.0) == pytest.approx(4 + 1)
    rng = np.random.default_rng(0)
    for _ in range(20):
        A, B = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
        s1, s2 = A @ A.T + 0.1 * np.eye(4), B @ B.T + 0.1 * np.eye(4)
        m1, m2 = rng.normal(size=4), rng.normal(size=4)
        w, V = np.linalg.eigh(s1)
        r1 = V @ np.diag(np.sqrt(w)) @ V.T  # S1^{1/2}
        inner = np.linalg.eigvalsh(r1 @ s2 @ r1)  # Tr (S1 S2)^{1/2} = Tr (S1^{1/2} S2 S1^{1/2})^{1/2}
        ref = ((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(np.clip(inner, 0, None)).sum()
        assert frechet_distance(m1, s1, m2, s2) == pytest.approx(ref, rel=1e-6, abs=1e-8)
    f = rng.normal(size=(500, 3))
    assert frechet_distance(*gaussian_stats(f), *gaussian_stats(f)) == pytest.approx(0, abs=1e-6)


def test_lit_on_a_generators_middle_section():
    teacher, student = seeded(lambda: Generator(4, 8), 0), seeded(lambda: Generator(2, 8), 1)
    Z = torch.randn(128, 16, generator=torch.Generator().manual_seed(0))
    lit = LIT(teacher, student, **generator_spec(teacher, student), beta=0.0, lit_epochs=3, kd_epochs=0,
              lr=5e-3, batch_size=32, progress=False).train((Z, torch.zeros(128, dtype=torch.long)))
    losses = np.array([r["ir_loss"] for r in lit.history_])
    assert (losses[-1] < losses[0]).all()
    for name in ["stem", "head"]:  # the input projection and the up-sampling are the teacher's
        for k, v in getattr(teacher, name).state_dict().items():
            assert torch.equal(getattr(lit.student_, name).state_dict()[k], v)


@pytest.mark.slow
def test_gan_experiment_runs_end_to_end():
    from dawnlab.data import load_opencv_digits
    from dawnlab.lit.training import as_tensors

    X, y = as_tensors(load_opencv_digits())
    idx = torch.randperm(len(X), generator=torch.Generator().manual_seed(0))
    tr, te = idx[:800], idx[800:1000]
    out = gan_experiment((X[tr], y[tr]), (X[te], y[te]), width=8, gan_epochs=2, lit_epochs=1, finetune_epochs=1,
                         classifier_epochs=2, n_samples=200)
    for key in ["fd_teacher", "fd_lit", "fd_scratch", "fd_real_halves"]:
        assert np.isfinite(out[key]) and out[key] >= -1e-6
    assert out["fd_real_halves"] < out["fd_teacher"]  # two halves of real digits are closer than any generator


def test_born_again_learns_from_the_teachers_soft_labels_alone_and_is_not_lit_same_arch(data):
    # Furlanello et al.: a fresh network of the teacher's architecture on the teacher's outputs (T = 1), no labels
    from dawnlab.lit.compare import train_method

    X, y = data
    teacher = seeded(lambda: ResNet1D(14, 4), 0)
    train_scratch(teacher, X, y, epochs=2, batch_size=32)
    kw = {"student_depth": 8, "width": 4, "seed": 0, "lit_epochs": 1, "kd_epochs": 1, "batch_size": 32}
    a = train_method("born_again", "resnet1d", teacher, (X, y), **kw)
    b = train_method("born_again", "resnet1d", teacher, (X, (y + 1) % 4), **kw)  # other labels, same weights
    assert a.depth == teacher.depth
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k
    # by hand: the same fresh twin (seed + 2000) trained on KL(p_t || p_s) at T = 1 with no label term
    logits = predict_logits(teacher, X)
    ban = seeded(lambda: ResNet1D(14, 4), 2000)
    list(train_supervised(ban, X, y, epochs=2, batch_size=32, seed=0, teacher_logits=logits, alpha=0.0,
                          temperature=1.0, phase="kd"))
    for k, v in a.state_dict().items():
        assert torch.equal(v, ban.state_dict()[k]), k
    # KD with the LIT defaults (alpha 0.95 on the labels, T 6) from the same twin is not Born-Again
    kd = seeded(lambda: ResNet1D(14, 4), 2000)
    list(train_supervised(kd, X, y, epochs=2, batch_size=32, seed=0, teacher_logits=logits, phase="kd"))
    assert not torch.allclose(kd.fc.weight, a.fc.weight, atol=1e-4)
    # LIT with the teacher's architecture starts from the teacher's stem and head; Born-Again from scratch
    fresh = seeded(lambda: ResNet1D(14, 4), 2000)
    lit = train_method("lit_same_arch", "resnet1d", teacher, (X, y), **{**kw, "lit_epochs": 1, "kd_epochs": 0})
    assert torch.equal(lit.stem.weight, teacher.stem.weight)
    assert not torch.equal(a.stem.weight, teacher.stem.weight) and not torch.equal(a.stem.weight, fresh.stem.weight)


def test_per_method_tasks_give_compare_s_rows(data):
    # the benchmark runs one task per (method, seed) from a saved teacher: it must reproduce compare's rows
    import pickle

    from dawnlab.lit.compare import compare, make_model, score_row, train_method, train_teacher

    X, y = data
    kw = {"width": 4, "seed": 1, "lit_epochs": 1, "kd_epochs": 1, "batch_size": 32}
    rows = {r["method"]: r["acc"] for r in compare("resnet1d", (X, y), (X, y), teacher_depth=14, teacher_epochs=1,
                                                    methods=("kd", "lit", "born_again"), **kw)}
    teacher = train_teacher("resnet1d", (X, y), depth=14, width=4, seed=1, epochs=1, batch_size=32)
    saved = pickle.loads(pickle.dumps(teacher.state_dict()))
    again = make_model("resnet1d", 14, 4, 1)
    again.load_state_dict(saved)
    assert score_row("teacher", again, (X, y), 1, 14, 0.0)["acc"] == rows["teacher"]
    for method in ("kd", "lit", "born_again"):
        model = train_method(method, "resnet1d", again, (X, y), **kw)
        assert score_row(method, model, (X, y), 1, 14, 0.0)["acc"] == rows[method], method


def test_gan_experiment_resumes_from_its_finished_stages(tmp_path, monkeypatch):
    from dawnlab.lit import gan

    g = torch.Generator().manual_seed(0)
    X, y = torch.rand(80, 1, 20, 20, generator=g), torch.arange(80) % 10
    kw = {"teacher_blocks": 4, "student_blocks": 2, "width": 8, "gan_epochs": 1, "lit_epochs": 1,
          "finetune_epochs": 1, "classifier_epochs": 1, "n_samples": 40}
    first = gan_experiment((X, y), (X[:40], y[:40]), checkpoint_dir=tmp_path, **kw)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gan_classifier.pt", "gan_lit.pt", "gan_scratch.pt",
                                                           "gan_teacher.pt"]
    (tmp_path / "gan_scratch.pt").unlink()  # as if interrupted in the last stage
    calls = []
    real = gan.train_gan
    monkeypatch.setattr(gan, "train_gan", lambda *a, **k: calls.append(k.get("epochs")) or real(*a, **k))
    second = gan_experiment((X, y), (X[:40], y[:40]), checkpoint_dir=tmp_path, **kw)
    assert calls == [2]  # only the scratch student was trained again (lit_epochs + finetune_epochs)
    timing = [k for k in first if k.endswith("seconds")]
    assert {k: v for k, v in second.items() if k not in timing} == {k: v for k, v in first.items() if k not in timing}
