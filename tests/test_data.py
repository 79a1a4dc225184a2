"""dawnlab.data: shapes, labels and provenance of the offline sets; clear errors."""

import pickle

import numpy as np
import pytest
import torch

from dawnlab import data
from dawnlab.errors import DataError, InvalidArgument


def test_mnist_subset_is_real_and_balanced():
    ds = data.load_mnist()
    assert ds.X.shape == (5000, 28, 28) and ds.X.dtype == np.uint8
    assert np.bincount(ds.y).tolist() == [500] * 10
    # real handwriting: about a fifth of MNIST pixels are ink, the borders are blank
    assert 0.1 < (ds.X > 128).mean() < 0.3
    assert ds.X[:, :2, :].mean() < 1.0


def test_opencv_digits_sheet_is_cut_into_classes():
    ds = data.load_opencv_digits()
    assert ds.X.shape == (5000, 20, 20)
    assert np.bincount(ds.y).tolist() == [500] * 10
    # the mean image of a class is far closer to its own class than to others
    means = np.stack([ds.X[ds.y == c].mean(0) for c in range(10)])
    first = ds.X[::500].astype(float)
    dist = ((first[:, None] - means[None]) ** 2).sum((2, 3))
    assert (dist.argmin(1) == np.arange(10)).mean() >= 0.8


def test_letters_table_matches_uci_description():
    ds = data.load_letters()
    assert ds.X.shape == (20000, 16) and ds.X.min() == 0 and ds.X.max() == 15
    assert len(ds.classes) == 26 and set(np.unique(ds.y)) == set(range(26))
    assert [ds.classes[c] for c in ds.y[:3]] == ["T", "I", "D"]


def test_sklearn_digits_and_mnist1d():
    X, y = data.load_sklearn_digits()
    assert X.shape == (1797, 8, 8) and len(y) == 1797
    state = np.random.get_state()[1].copy()
    a = data.load_mnist1d(num_samples=200, seed=3)
    b = data.load_mnist1d(num_samples=200, seed=3)
    assert a.X.shape == (200, 40) and np.array_equal(a.X, b.X)
    assert np.array_equal(np.random.get_state()[1], state), "mnist1d must not change global NumPy state"


def test_torch_view_scales_images_and_adds_a_channel():
    ds = data.load_opencv_digits().subset(slice(0, 10))
    X, y = ds.torch().tensors
    assert X.shape == (10, 1, 20, 20) and X.dtype == torch.float32
    assert 0.0 <= X.min() and X.max() <= 1.0 and y.dtype == torch.int64


def test_video_metadata_and_frames():
    info = data.video_info()
    assert (info.fps, info.width, info.height, info.n_frames) == (10.0, 768, 576, 795)
    frames = list(data.read_frames(start=5, stop=11, step=3))
    assert [i for i, _ in frames] == [5, 8]
    assert frames[0][1].shape == (576, 768, 3)


def write_cifar_batch(path, n, seed):
    rng = np.random.default_rng(seed)
    batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"labels": rng.integers(0, 10, n).tolist()}
    with open(path, "wb") as f:
        pickle.dump(batch, f)
    return batch


def test_cifar10_python_format(tmp_path):
    batches = [write_cifar_batch(tmp_path / f"data_batch_{i}", 4, i) for i in range(1, 6)]
    write_cifar_batch(tmp_path / "test_batch", 3, 9)
    with open(tmp_path / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [c.encode() for c in "abcdefghij"]}, f)
    train = data.load_cifar10(tmp_path)
    assert train.X.shape == (20, 32, 32, 3) and train.classes[0] == "a"
    # channel planes: the first 1024 bytes are the red plane, row-major
    assert train.X[0, 0, 1, 0] == batches[0][b"data"][0, 1]
    assert train.X[0, 0, 0, 2] == batches[0][b"data"][0, 2048]
    assert train.y.tolist()[:4] == batches[0][b"labels"]
    assert len(data.load_cifar10(tmp_path, train=False)) == 3
    assert data.load_cifar10(tmp_path).torch().tensors[0].shape == (20, 3, 32, 32)


def test_missing_and_corrupt_files_name_the_path(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        data.load_cifar10(tmp_path / "nowhere")
    with pytest.raises(DataError, match="data_batch_1"):
        data.load_cifar10(tmp_path)
    (tmp_path / "data_batch_1").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="corrupt"):
        data.load_cifar10(tmp_path)
    bad_png = tmp_path / "digits.png"
    bad_png.write_bytes(b"\x89PNG garbage")
    with pytest.raises(DataError, match="digits.png"):
        data.load_opencv_digits(bad_png)
    bad_table = tmp_path / "letters.data"
    bad_table.write_text("T,2,8\n")
    with pytest.raises(DataError, match="line 1"):
        data.load_letters(bad_table)
    bad_video = tmp_path / "broken.avi"
    bad_video.write_bytes(b"RIFF" + bytes(1000))
    with pytest.raises(DataError, match="broken.avi"):
        data.video_info(bad_video)
    with pytest.raises(DataError, match="does not exist"):
        data.video_info(tmp_path / "missing.avi")


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(InvalidArgument) as err:
        data.load("imagenet")
    for name in data.DATASETS:
        assert name in str(err.value)


def test_packaged_files_match_their_checksums():
    import hashlib
    from pathlib import Path

    folder = Path(data.video_path()).parent
    for line in (folder / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name
