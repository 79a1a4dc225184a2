"""LIT training: teacher forcing, the KD loss, copied stem/head, parallel blocks, resume, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from dawnlab.errors import InvalidArgument, SolverError
from dawnlab.lit import LIT, LITError, NonFiniteLossError, ResNet1D, kd_loss, resnet_spec
from dawnlab.lit.training import batches, load_checkpoint, seeded


def models(t_depth=14, s_depth=8, width=4):
    return seeded(lambda: ResNet1D(t_depth, width), 0), seeded(lambda: ResNet1D(s_depth, width), 1)


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(64, 40, generator=g)
    y = torch.randint(0, 10, (64,), generator=g)
    return X, y


def make(teacher, student, **kw):
    kw = {"lit_epochs": 2, "kd_epochs": 2, "batch_size": 32, "progress": False, **kw}
    return LIT(teacher, student, **resnet_spec(teacher, student), **kw)


def state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def assert_same_weights(a, b, atol=0.0):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        if atol == 0:
            assert torch.equal(sa[k], sb[k]), k
        else:
            torch.testing.assert_close(sa[k], sb[k], atol=atol, rtol=0, msg=k)


@torch.no_grad()
def teacher_stage_outputs(teacher, x):
    """The teacher's stem and stage outputs, computed by hand (eval mode), not by the library's hooks."""
    was = teacher.training
    teacher.eval()
    n = (teacher.depth - 2) // 6
    h = teacher.stem(x.unsqueeze(1))
    outs = [h]
    for s in range(3):
        for k in range(n):
            h = teacher.blocks[s * n + k](h)
        outs.append(h)
    teacher.train(was)
    return outs  # [stem, stage 0, stage 1, stage 2]


@pytest.mark.parametrize("beta", [0.0, 0.75])
def test_each_student_block_sees_the_teachers_previous_block_output(data, beta):
    X, y = data
    teacher, student = models()
    seen = {k: [] for k in range(3)}
    for k in range(3):  # the student has one residual block per stage
        student.blocks[k].register_forward_pre_hook(lambda m, args, k=k: seen[k].append(args[0].detach().clone()))
    lit = make(teacher, student, beta=beta, lit_epochs=1, kd_epochs=0)
    lit.train((X, y))
    expected = teacher_stage_outputs(teacher, X)
    order = batches(len(X), 32, 0, "lit", 0)
    for k in range(3):
        # with beta > 0 each step also runs the student end to end: every other call is teacher-forced
        assert len(seen[k][0]) == 2  # the first call is fit's shape check on two examples
        calls = seen[k][1:]
        forced = calls if beta == 0 else calls[0::2]
        assert len(forced) == len(order)
        for idx, got in zip(order, forced):
            assert torch.equal(got, expected[k][idx])
        if beta > 0 and k > 0:  # the end-to-end calls see the student's own IRs (block 0: the copied stem's)
            assert not torch.equal(calls[1], expected[k][order[0]])


def test_kd_loss_against_a_hand_computed_value():
    s, t, y = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]]), torch.tensor([0])
    sig = 1 / (1 + math.exp(-0.5))  # softmax of logits / T = [0.5, 0] at T = 2
    kl = (2 * sig - 1) * 0.5  # KL(p_t || p_s) with p_t the mirror of p_s
    hand = 0.5 * math.log(1 + math.exp(-1)) + 0.5 * 4 * kl
    assert kd_loss(s, t, y, alpha=0.5, temperature=2.0).item() == pytest.approx(hand, rel=1e-6)
    # a batch against numpy: the mean over examples
    g = torch.Generator().manual_seed(1)
    S, T_, Y = torch.randn(5, 4, generator=g), torch.randn(5, 4, generator=g), torch.tensor([0, 1, 2, 3, 0])
    s_np, t_np = S.double().numpy() / 3, T_.double().numpy() / 3
    ps = np.exp(s_np) / np.exp(s_np).sum(1, keepdims=True)
    pt = np.exp(t_np) / np.exp(t_np).sum(1, keepdims=True)
    raw = S.double().numpy()
    ce = -np.log(np.exp(raw) / np.exp(raw).sum(1, keepdims=True))[np.arange(5), Y.numpy()]
    ref = 0.9 * ce.mean() + 0.1 * 9 * (pt * np.log(pt / ps)).sum(1).mean()
    assert kd_loss(S, T_, Y, alpha=0.9, temperature=3.0).item() == pytest.approx(ref, rel=1e-5)


@pytest.mark.parametrize("beta", [0.0, 0.75])
def test_stem_and_head_are_copied_and_stay_frozen_in_the_lit_phase(data, beta):
    # the authors' code trains only the sections in the LIT phase: the KD term must not move the stem or the
    # head, nor the head's batch-norm statistics (eval mode); the KD fine-tuning then trains them
    teacher, student = models()
    before = state(student)
    lit = make(teacher, student, beta=beta, lit_epochs=2, kd_epochs=0)
    lit.train(data)
    for name in ["stem", "bn", "fc"]:
        t_mod, s_mod = getattr(teacher, name), getattr(lit.student_, name)
        for key, value in t_mod.state_dict().items():
            assert torch.equal(s_mod.state_dict()[key], value), (name, key)
    assert not torch.equal(lit.student_.blocks[0].conv1.weight, before["blocks.0.conv1.weight"])  # blocks trained
    assert torch.equal(student.stem.weight, before["stem.weight"])  # the given student is not modified
    assert all(p.requires_grad for p in lit.student_.parameters())  # unfrozen again for the caller
    tuned = make(teacher, student, beta=beta, lit_epochs=1, kd_epochs=1).train(data).student_
    for name in ["stem", "fc"]:
        assert not torch.equal(getattr(tuned, name).weight, getattr(teacher, name).weight), name


def test_a_lit_step_is_one_adam_step_on_beta_kd_plus_one_minus_beta_ir(data):
    # reference: the LIT loss of the authors' code, beta * KD + (1 - beta) * sum of the block MSEs, one Adam step
    # on the blocks' parameters only, written out by hand on the hand-computed teacher IRs
    import copy

    from dawnlab.lit.training import predict_logits

    X, y = data
    teacher, student = models()
    beta, lr = 0.6, 1e-2
    lit = make(teacher, student, beta=beta, lit_epochs=1, kd_epochs=0, batch_size=len(X), lr=lr).train(data)
    ref = copy.deepcopy(student)
    for name in ["stem", "bn", "fc"]:
        getattr(ref, name).load_state_dict(getattr(teacher, name).state_dict())
    outs = teacher_stage_outputs(teacher, X)
    logits = predict_logits(teacher, X)
    ref.eval()
    for k in range(3):
        ref.blocks[k].train()
    idx = batches(len(X), len(X), 0, "lit", 0)[0]
    ir = sum(torch.nn.functional.mse_loss(ref.blocks[k](outs[k][idx]), outs[k + 1][idx]) for k in range(3))
    kd = kd_loss(ref(X[idx]), logits[idx], y[idx], 0.95, 6.0)
    opt = torch.optim.Adam([p for k in range(3) for p in ref.blocks[k].parameters()], lr=lr, weight_decay=5e-4)
    (beta * kd + (1 - beta) * ir).backward()
    opt.step()
    assert_same_weights(lit.student_, ref, atol=1e-6)
    # and the loss weighting matters: IR + beta * KD (the weighting before this fix) gives other weights
    wrong = copy.deepcopy(student)
    for name in ["stem", "bn", "fc"]:
        getattr(wrong, name).load_state_dict(getattr(teacher, name).state_dict())
    wrong.eval()
    for k in range(3):
        wrong.blocks[k].train()
    ir = sum(torch.nn.functional.mse_loss(wrong.blocks[k](outs[k][idx]), outs[k + 1][idx]) for k in range(3))
    opt = torch.optim.Adam([p for k in range(3) for p in wrong.blocks[k].parameters()], lr=lr, weight_decay=5e-4)
    (ir + beta * kd_loss(wrong(X[idx]), logits[idx], y[idx], 0.95, 6.0)).backward()
    opt.step()
    assert not torch.allclose(wrong.blocks[1].conv1.weight, lit.student_.blocks[1].conv1.weight, atol=1e-6)


def test_fine_tuning_rate_and_beta_range():
    teacher, student = models()
    assert make(teacher, student, lr=3e-3).kd_lr == 3e-3
    assert make(teacher, student, lr=3e-3, kd_lr=3e-4).kd_lr == 3e-4
    with pytest.raises(InvalidArgument, match=r"'beta' argument of LIT must be a float in \[0, 1\)"):
        make(teacher, student, beta=1.0)


@pytest.mark.parametrize("processes", [1, 2])
def test_parallel_blocks_give_the_joint_runs_weights(data, processes):
    teacher, student = models()
    joint = make(teacher, student, beta=0.0, kd_epochs=0).train(data)
    par = make(teacher, student, beta=0.0, kd_epochs=0, parallel=True, processes=processes).train(data)
    # in this process the arithmetic is the same; worker processes use one thread, so sums may round differently
    assert_same_weights(joint.student_, par.student_, atol=0 if processes == 1 else 1e-5)
    np.testing.assert_allclose([r["ir_loss"] for r in par.history_], [r["ir_loss"] for r in joint.history_],
                               rtol=0 if processes == 1 else 1e-5)


@pytest.fixture(scope="module")
def uninterrupted(data, tmp_path_factory):
    teacher, student = models()
    return make(teacher, student, checkpoint_dir=tmp_path_factory.mktemp("full")).train(data, val=data)


@pytest.mark.parametrize("stop_after", [1, 3])
def test_resume_gives_the_uninterrupted_result(data, tmp_path, stop_after, uninterrupted):
    teacher, student = models()
    full = uninterrupted
    run = make(teacher, student, checkpoint_dir=tmp_path / "cut").fit(data, val=data)
    for _ in range(stop_after):
        next(run)
    run.close()  # interrupted: the consumer stopped
    again = make(teacher, student, checkpoint_dir=tmp_path / "cut")
    rest = list(again.fit(data, val=data))
    assert len(rest) == 4 - stop_after
    assert_same_weights(full.student_, again.student_)
    assert [r["val_acc"] for r in again.history_] == [r["val_acc"] for r in full.history_]


def test_resume_after_an_interrupt_inside_an_epoch(data, tmp_path, uninterrupted):
    teacher, student = models()
    full = uninterrupted
    calls = {"n": 0}

    def interrupt(module, args):
        calls["n"] += 1
        # one shape check, then two calls per step (teacher-forced, end to end), two steps per epoch:
        if calls["n"] == 1 + 4 + 3:  # inside the second epoch of the LIT phase
            raise KeyboardInterrupt

    handle = student.blocks[0].register_forward_pre_hook(interrupt)
    with pytest.raises(KeyboardInterrupt):
        make(teacher, student, beta=0.75, checkpoint_dir=tmp_path).train(data, val=data)
    handle.remove()
    saved = load_checkpoint(tmp_path / "lit.pt")
    assert (saved["phase"], saved["epoch"]) == ("lit", 1)
    again = make(teacher, student, checkpoint_dir=tmp_path).train(data, val=data)
    assert_same_weights(full.student_, again.student_)


def test_parallel_resume_keeps_finished_blocks(data, tmp_path):
    teacher, student = models()
    first = make(teacher, student, beta=0.0, kd_epochs=1, parallel=True, processes=1, checkpoint_dir=tmp_path)
    first.train(data)
    (tmp_path / "lit.pt").unlink()
    (tmp_path / "block_1.pt").unlink()  # as if the run stopped after blocks 0 and 2
    mtime = (tmp_path / "block_0.pt").stat().st_mtime_ns
    again = make(teacher, student, beta=0.0, kd_epochs=1, parallel=True, processes=1, checkpoint_dir=tmp_path)
    again.train(data)
    assert (tmp_path / "block_0.pt").stat().st_mtime_ns == mtime  # not retrained
    assert_same_weights(first.student_, again.student_)


def test_a_nan_loss_stops_with_a_clear_error_and_keeps_the_last_checkpoint(data, tmp_path):
    teacher, student = models()
    lit = make(teacher, student, lit_epochs=1, kd_epochs=3, kd_lr=1e30, checkpoint_dir=tmp_path)
    with pytest.raises(NonFiniteLossError, match="KD fine-tuning loss became .* is kept") as err:
        lit.train(data)
    assert isinstance(err.value, SolverError) and str(tmp_path) in str(err.value)
    saved = load_checkpoint(tmp_path / "lit.pt")
    assert saved["phase"] in ("lit", "kd")
    assert all(torch.isfinite(v).all() for v in saved["student"].values() if v.is_floating_point())


def test_unknown_block_names_list_the_modules_names():
    teacher, student = models()
    with pytest.raises(LITError, match=r"'blocks.99' is not one\. Its submodules are: stem, blocks, blocks\.0"):
        LIT(teacher, student, blocks=([["blocks.99"]], [["blocks.0"]]))
    with pytest.raises(LITError, match="'head' argument .* 'classifier' is not one"):
        LIT(teacher, student, blocks=resnet_spec(teacher, student)["blocks"], head=["classifier"])


def test_block_count_mismatch():
    teacher, student = models()
    spec = resnet_spec(teacher, student)
    with pytest.raises(LITError, match="same number of blocks. Got 3 teacher blocks and 2 student blocks"):
        LIT(teacher, student, blocks=(spec["blocks"][0], spec["blocks"][1][:2]))


def test_ir_shape_mismatch_names_the_block_and_both_shapes():
    teacher = seeded(lambda: nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3)), 0)
    student = seeded(lambda: nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3)), 0)
    lit = LIT(teacher, student, blocks=([["0", "1"], ["2", "3", "4"]], [["0", "1"], ["2"]]), progress=False)
    X, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
    with pytest.raises(LITError, match=r"Block 0 \(teacher \['0', '1'\], student \['0', '1'\]\) gives \(8,\) in "
                                       r"the teacher and \(5,\) in the student"):
        lit.train((X, y))


def test_student_deeper_than_teacher_is_refused():
    teacher, student = models(t_depth=8, s_depth=14)
    with pytest.raises(LITError, match="must not be deeper than its teacher.*student with 16 weighted layers and "
                                       "a teacher with 10"):
        LIT(teacher, student, **resnet_spec(teacher, student))


@pytest.mark.parametrize("bad", [(np.zeros((0, 40)), np.zeros(0)),
                                 (np.full((4, 40), np.nan), np.zeros(4)),
                                 (np.zeros((4, 40)), np.zeros(3))])
def test_bad_data_sets_are_refused(bad):
    teacher, student = models()
    with pytest.raises(LITError, match="'data' argument of LIT.fit must"):
        make(teacher, student).train(bad)


def test_bad_settings_name_argument_rule_and_value(tmp_path, data):
    teacher, student = models()
    with pytest.raises(LITError, match="'parallel' argument of LIT must be False when beta > 0"):
        make(teacher, student, parallel=True)
    with pytest.raises(InvalidArgument, match="'alpha' argument of LIT must be a float in \\[0, 1\\]. Got 1.5"):
        make(teacher, student, alpha=1.5)
    with pytest.raises(InvalidArgument, match="'lit_epochs' argument of LIT must be an int >= 0. Got -1"):
        make(teacher, student, lit_epochs=-1)
    make(teacher, student, lit_epochs=1, kd_epochs=0, checkpoint_dir=tmp_path).train(data)
    with pytest.raises(LITError, match="'checkpoint_dir' argument of LIT must hold a checkpoint of the same"):
        make(teacher, student, lit_epochs=2, kd_epochs=0, checkpoint_dir=tmp_path).train(data)


def test_the_svp_resnets_stages_are_built_in_blocks():
    from dawnlab.svp.models import ResNet

    teacher = seeded(lambda: ResNet(20, 2, 10, 1), 0)
    student = seeded(lambda: ResNet(8, 2, 10, 1), 1)
    spec = resnet_spec(teacher, student)
    assert spec["blocks"][0][2] == ["blocks.6", "blocks.7", "blocks.8"] and spec["blocks"][1][2] == ["blocks.2"]
    g = torch.Generator().manual_seed(0)
    X, y = torch.rand(32, 1, 8, 8, generator=g), torch.randint(0, 10, (32,), generator=g)
    lit = LIT(teacher, student, **spec, beta=0.0, lit_epochs=1, kd_epochs=0, batch_size=16, progress=False)
    lit.train((X, y))  # beta = 0 and no fine-tuning: the copied stem gets no gradient
    assert len(lit.history_[0]["ir_loss"]) == 3 and torch.equal(lit.student_.stem.weight, teacher.stem.weight)


@pytest.mark.slow
def test_parallel_blocks_on_a_dask_client_give_the_joint_weights(data):
    from dask.distributed import Client

    teacher, student = models()
    joint = make(teacher, student, beta=0.0, kd_epochs=0).train(data)
    with Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None) as client:
        par = make(teacher, student, beta=0.0, kd_epochs=0, parallel=True, client=client).train(data)
    assert_same_weights(joint.student_, par.student_, atol=1e-5)
