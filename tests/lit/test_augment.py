"""Augmentation: RandomAffine moves images as stated, and every method's teacher outputs follow the augmented batch."""

from __future__ import annotations

import math

import pytest
import torch

from dawnlab.lit import LIT, LITError, ResNet1D, resnet_spec, train_fitnets, train_kd
from dawnlab.lit.augment import RandomAffine
from dawnlab.lit.training import augmented, augment_generator, batches, predict_logits, seeded, train_supervised
from tests.lit.test_trainer import teacher_stage_outputs


def assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def blob(n=6, cx=9.0, cy=7.0, size=20):
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                            indexing="ij")
    return torch.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 3.0)[None, None].repeat(n, 1, 1, 1), xx, yy


def centroids(x, xx, yy):
    mass = x.sum((1, 2, 3))
    return torch.stack([(x[:, 0] * xx).sum((1, 2)) / mass, (x[:, 0] * yy).sum((1, 2)) / mass], 1)


def test_random_shift_moves_each_image_by_its_drawn_shift_within_the_bound():
    x, xx, yy = blob()
    aug = RandomAffine(max_shift=2.5, max_rotation=0, max_scale=0)
    params = aug.draw(len(x), torch.Generator().manual_seed(4))
    out = aug(x, torch.Generator().manual_seed(4))
    moved = centroids(out, xx, yy) - centroids(x, xx, yy)
    torch.testing.assert_close(moved, params["shift"], atol=0.02, rtol=0)  # x right, y down, in pixels
    assert params["shift"].abs().max() <= 2.5 and params["shift"].abs().max() > 0.5
    torch.testing.assert_close(out.sum((1, 2, 3)), x.sum((1, 2, 3)), rtol=1e-3, atol=0)  # nothing cut off


def test_rotation_and_scale_map_the_centroid_about_the_image_centre():
    x, xx, yy = blob(cx=13.0, cy=9.5)
    aug = RandomAffine(max_shift=1, max_rotation=30, max_scale=0.2)
    params = aug.draw(len(x), torch.Generator().manual_seed(5))
    out = aug(x, torch.Generator().manual_seed(5))
    a, s = params["angle"], params["scale"]
    rot = torch.stack([torch.stack([a.cos(), -a.sin()], 1), torch.stack([a.sin(), a.cos()], 1)], 1)
    v = centroids(x, xx, yy) - 9.5  # about the centre of the 20 x 20 image
    expected = 9.5 + s[:, None] * (rot @ v[..., None])[..., 0] + params["shift"]
    torch.testing.assert_close(centroids(out, xx, yy), expected, atol=0.06, rtol=0)
    assert a.abs().max() <= math.radians(30) and ((s - 1).abs() <= 0.2).all() and (a.abs() > 0.05).any()


def test_the_generator_decides_the_draw_and_each_image_gets_its_own():
    x, _, _ = blob()
    aug = RandomAffine()
    one, two = aug(x, augment_generator(0, "kd", 0, 0)), aug(x, augment_generator(0, "kd", 0, 0))
    assert torch.equal(one, two)
    assert not torch.equal(one, aug(x, augment_generator(0, "kd", 0, 1)))  # the next step: a new draw
    assert not torch.equal(one[0], one[1])  # same image in, different images out


def test_bad_augmentations_are_refused():
    with pytest.raises(LITError, match="'max_shift' argument of RandomAffine must be a float >= 0.*Got -1"):
        RandomAffine(max_shift=-1)
    with pytest.raises(LITError, match="'max_scale' argument of RandomAffine must be a float in \\[0, 1\\)"):
        RandomAffine(max_scale=1.0)
    with pytest.raises(LITError, match="must be images of shape \\(n, c, h, w\\). Got shape \\(4, 40\\)"):
        RandomAffine()(torch.zeros(4, 40), torch.Generator())
    with pytest.raises(LITError, match="must return a tensor of the batch's shape \\(4, 40\\)"):
        augmented(lambda x, g: x[:2], torch.zeros(4, 40), 0, "ce", 0, 0)
    assert augmented(None, x := torch.zeros(2, 3), 0, "ce", 0, 0) is x


class Recorder:
    """An augmentation for (n, 40) rows: seeded noise; keeps every batch it returns."""

    def __init__(self):
        self.out = []

    def __call__(self, x, generator):
        out = x + torch.randn(x.shape, generator=generator)
        self.out.append(out.clone())
        return out


def inputs_of(module, store):
    return module.register_forward_pre_hook(lambda m, args: store.append(args[0].detach().clone()))


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(0)
    return torch.randn(64, 40, generator=g), torch.randint(0, 10, (64,), generator=g)


def models():
    return seeded(lambda: ResNet1D(14, 4), 0), seeded(lambda: ResNet1D(8, 4), 1)


def test_lit_forces_each_block_with_the_teachers_irs_of_the_augmented_batch_the_student_sees(data):
    X, y = data
    teacher, student = models()
    aug = Recorder()
    forced = {k: [] for k in range(3)}
    for k in range(3):  # one residual block per student stage
        inputs_of(student.blocks[k], forced[k])
    student_in, teacher_in = [], []
    inputs_of(student, student_in)
    inputs_of(teacher, teacher_in)
    lit = LIT(teacher, student, **resnet_spec(teacher, student), beta=0.75, lit_epochs=1, kd_epochs=1,
              batch_size=32, progress=False, augment=aug)
    lit.train((X, y))
    order = batches(len(X), 32, 0, "lit", 0) + batches(len(X), 32, 0, "kd", 0)
    assert len(aug.out) == len(order) == 4  # every step of both phases augmented once
    for j, idx in enumerate(order):
        assert not torch.allclose(aug.out[j], X[idx])  # the batch really changed
    lit_steps = aug.out[:2]
    for k in range(3):
        calls = forced[k][1:]  # after fit's shape check: teacher-forced, end to end, per LIT step; then KD steps
        for j, batch in enumerate(lit_steps):
            expected = teacher_stage_outputs(teacher, batch)[k]
            assert torch.equal(calls[2 * j], expected)  # the teacher's IR of this very augmented batch
            clean = teacher_stage_outputs(teacher, X[order[j]])[k]
            assert not torch.allclose(calls[2 * j], clean)  # not the un-augmented inputs' IR
    # the student's end-to-end passes (the KD term, then fine-tuning) see the same batches as the teacher
    assert len(student_in) == 4 and len(teacher_in) == 1 + 4  # the teacher's first call: the shape check
    for got_s, got_t, batch in zip(student_in, teacher_in[1:], aug.out):
        assert torch.equal(got_s, batch) and torch.equal(got_t, batch)


def test_kd_and_fitnets_take_the_teachers_outputs_on_the_augmented_batch(data):
    X, y = data
    teacher, student = models()
    with pytest.raises(LITError, match="'augment' argument of train_supervised needs the 'teacher' module"):
        train_kd(student, X, y, predict_logits(teacher, X), epochs=1, augment=Recorder())
    for method in ("kd", "fitnets"):
        teacher, student = models()
        student_in, teacher_in = [], []
        inputs_of(student, student_in)
        inputs_of(teacher, teacher_in)
        aug = Recorder()
        if method == "kd":
            train_kd(student, X, y, None, epochs=2, batch_size=32, teacher=teacher, augment=aug)
        else:
            spec = resnet_spec(teacher, student)
            train_fitnets(student, teacher, X, y, predict_logits(teacher, X), teacher_blocks=spec["blocks"][0],
                          student_blocks=spec["blocks"][1], hint_epochs=1, kd_epochs=1, batch_size=32,
                          augment=aug)
            student_in, teacher_in = student_in[1:], teacher_in[2:]  # the regressor's probe; logits and hints
        assert len(aug.out) == 4 and len(student_in) == len(teacher_in) == 4, method
        for got_s, got_t, batch in zip(student_in, teacher_in, aug.out):
            assert torch.equal(got_s, batch) and torch.equal(got_t, batch), method


def test_scratch_with_augmentation_trains_on_the_augmented_batches(data):
    X, y = data
    a, b = seeded(lambda: ResNet1D(8, 4), 0), seeded(lambda: ResNet1D(8, 4), 0)
    list(train_supervised(a, X, y, epochs=1, batch_size=32, augment=Recorder()))
    list(train_supervised(b, X, y, epochs=1, batch_size=32))
    assert not torch.equal(a.stem.weight, b.stem.weight)


def test_resume_with_augmentation_gives_the_uninterrupted_result(data, tmp_path):
    teacher, student = models()
    kw = {"beta": 0.75, "lit_epochs": 2, "kd_epochs": 1, "batch_size": 32, "progress": False}
    full = LIT(teacher, student, **resnet_spec(teacher, student), augment=Recorder(), **kw).train(data)
    run = LIT(teacher, student, **resnet_spec(teacher, student), augment=Recorder(), checkpoint_dir=tmp_path,
              **kw).fit(data)
    next(run)
    run.close()
    again = LIT(teacher, student, **resnet_spec(teacher, student), augment=Recorder(), checkpoint_dir=tmp_path,
                **kw).train(data)
    assert_same_weights(full.student_, again.student_)


def test_parallel_blocks_with_augmentation_are_refused():
    teacher, student = models()
    with pytest.raises(LITError, match="'parallel' argument of LIT must be False when augment is given"):
        LIT(teacher, student, **resnet_spec(teacher, student), beta=0.0, parallel=True, augment=Recorder())
    with pytest.raises(LITError, match="'augment' argument of LIT must be None or a callable"):
        LIT(teacher, student, **resnet_spec(teacher, student), augment="affine")
