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
