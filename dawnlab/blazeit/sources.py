"""Video sources: recorded files, folders of frames, cameras and network streams.

BlazeIt (arXiv 1805.01046, Section 2) queries recorded video; this module also
feeds live video to standing queries (:mod:`dawnlab.blazeit.live`).  Every
source yields RGB ``uint8`` frames with their frame index and says its
``fps``, ``width``, ``height`` and, when recorded, ``n_frames``.

Recorded sources (``live = False``) also give random access, ``frame(i)``,
which the samplers of Sections 6 and 7 need:

- :class:`FileSource`: a video file decoded with PyAV or OpenCV;
- :class:`FolderSource`: a folder of image files, in name order.

Live sources (``live = True``) are iterated once.  A reader thread fills a
bounded buffer; when the consumer falls behind, new frames are *dropped* and
counted, so memory never grows; frames that arrive but cannot be decoded are
counted as *undecodable*.

- :class:`StreamSource`: a camera index or an RTSP / HTTP / file URL read with
  OpenCV; when the stream stalls (reads fail or nothing arrives for
  ``stall_timeout`` seconds) it reconnects with exponential back-off, and the
  frame numbering continues, so a standing query keeps its state;
- :class:`ReplaySource`: a recorded file replayed at its native frame rate, as
  a live stream (for tests, benchmarks and the notebook).

:func:`open_source` picks the class from what it is given.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from dawnlab.errors import DataError, invalid

__all__ = ["VideoSource", "FileSource", "FolderSource", "LiveSource", "StreamSource",
           "ReplaySource", "open_source", "thumbnail"]

_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm", ".pgm"}


def thumbnail(image: np.ndarray, size: int = 65) -> np.ndarray:
    """Resize an RGB frame to ``size`` x ``size`` (the specialized NNs' input, Section 5).

    Examples
    --------
    >>> thumbnail(np.zeros((96, 128, 3), np.uint8)).shape
    (65, 65, 3)
    """
    import cv2

    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)


class VideoSource:
    """Base class: a video that yields ``(index, rgb_frame)`` pairs."""

    live = False
    fps: float = 30.0
    width: int = 0
    height: int = 0
    n_frames: int | None = None
    name: str = "video"

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        for i in range(self.n_frames or 0):
            yield i, self.frame(i)

    def frame(self, i: int) -> np.ndarray:
        """The RGB frame at index ``i`` (recorded sources only)."""
        raise NotImplementedError(f"{type(self).__name__} has no random access")

    def frames(self, indices) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(i, frame)`` for the given indices, decoding in ascending order."""
        for i in sorted(set(int(i) for i in indices)):
            yield i, self.frame(i)

    def thumbnails(self, indices=None, size: int = 65, batch: int = 512):
        """Yield ``(indices, thumbs)`` batches of ``size`` x ``size`` RGB thumbnails."""
        indices = range(self.n_frames or 0) if indices is None else indices
        idx, thumbs = [], []
        for i, img in self.frames(indices):
            idx.append(i)
            thumbs.append(thumbnail(img, size))
            if len(idx) == batch:
                yield np.asarray(idx), np.stack(thumbs)
                idx, thumbs = [], []
        if idx:
            yield np.asarray(idx), np.stack(thumbs)

    def _check_index(self, i: int) -> int:
        if self.n_frames is not None and not 0 <= int(i) < self.n_frames:
            raise invalid("i", f"{type(self).__name__}.frame",
                          f"a frame index in [0, {self.n_frames})", i)
        return int(i)

    def info(self) -> dict:
        """Metadata stored with the labels: name, fps, size and frame count."""
        return {"name": self.name, "fps": self.fps, "width": self.width,
                "height": self.height, "n_frames": self.n_frames}

    def close(self) -> None:
        """Release decoders and threads."""


class FileSource(VideoSource):
    """A video file, decoded with PyAV (``backend="pyav"``) or OpenCV (``"opencv"``).

    Parameters
    ----------
    path : str or path-like
    backend : {"auto", "pyav", "opencv"}
        ``"auto"`` uses OpenCV (fast seeking) and falls back to PyAV.
    stop : int, optional
        Use only the first ``stop`` frames (a short clip).

    Raises
    ------
    DataError
        If the file is missing or cannot be decoded.
    """

    def __init__(self, path, backend: str = "auto", stop: int | None = None):
        self.path = Path(path)
        if backend not in ("auto", "pyav", "opencv"):
            raise invalid("backend", "FileSource", 'one of "auto", "pyav", "opencv"', backend)
        if not self.path.is_file():
            raise DataError(f"No video file at {str(self.path)!r}; give the path of a video "
                            "file (dawnlab.data.video_path() is the bundled pedestrian video).")
        self.name = self.path.stem
        self.backend = "opencv" if backend == "auto" else backend
        self._lock = threading.Lock()
        self._cap = None
        self._container = None
        self._next = 0
        try:
            self._probe()
        except DataError:
            if backend != "auto":
                raise
            self.backend = "pyav"
            self._probe()
        if stop is not None:
            if not isinstance(stop, int) or stop < 1:
                raise invalid("stop", "FileSource", "a positive int", stop)
            self.n_frames = min(self.n_frames, stop)
            self.name = f"{self.name}[:{self.n_frames}]"

    def _probe(self):
        if self.backend == "opencv":
            import cv2

            cap = cv2.VideoCapture(str(self.path))
            ok, img = cap.read() if cap.isOpened() else (False, None)
            if not ok or img is None:
                cap.release()
                raise DataError(f"Cannot decode the video {str(self.path)!r} with OpenCV: the "
                                "file is corrupt or not a video.")
            self.fps = float(cap.get(cv2.CAP_PROP_FPS) or 30.0) or 30.0
            self.height, self.width = img.shape[:2]
            n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
            cap.release()
            self.n_frames = n if n > 0 else self._count()
        else:
            import av

            try:
                with av.open(str(self.path)) as container:
                    stream = container.streams.video[0]
                    self.fps = float(stream.average_rate or 30.0)
                    first = next(container.decode(stream))
                    self.width, self.height = first.width, first.height
                    n = int(stream.frames or 0)
            except (av.FFmpegError, StopIteration, IndexError) as exc:
                raise DataError(f"Cannot decode the video {str(self.path)!r} with PyAV ({exc}): "
                                "the file is corrupt or not a video.") from None
            self.n_frames = n if n > 0 else self._count()

    def _count(self) -> int:
        return sum(1 for _ in self._decode_all())

    def _decode_all(self) -> Iterator[np.ndarray]:
        if self.backend == "opencv":
            import cv2

            cap = cv2.VideoCapture(str(self.path))
            try:
                while True:
                    ok, img = cap.read()
                    if not ok:
                        return
                    yield cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
            finally:
                cap.release()
        else:
            import av

            with av.open(str(self.path)) as container:
                for fr in container.decode(video=0):
                    yield fr.to_ndarray(format="rgb24")

    def __iter__(self):
        for i, img in enumerate(self._decode_all()):
            if self.n_frames is not None and i >= self.n_frames:
                return
            yield i, img

    def frame(self, i: int) -> np.ndarray:
        i = self._check_index(i)
        with self._lock:
            if self.backend == "opencv":
                import cv2

                if self._cap is None:
                    self._cap = cv2.VideoCapture(str(self.path))
                    self._next = 0
                if i != self._next:
                    self._cap.set(cv2.CAP_PROP_POS_FRAMES, i)
                ok, img = self._cap.read()
                if not ok:
                    raise DataError(f"Cannot decode frame {i} of {str(self.path)!r}.")
                self._next = i + 1
                return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
            if self._container is None or i < self._next:
                self.close()
                import av

                self._container = av.open(str(self.path))
                self._iter = self._container.decode(video=0)
                self._next = 0
            img = None
            while self._next <= i:
                try:
                    img = next(self._iter)
                except StopIteration:
                    raise DataError(f"Cannot decode frame {i} of {str(self.path)!r}.") from None
                self._next += 1
            return img.to_ndarray(format="rgb24")

    def frames(self, indices):
        wanted = sorted(set(int(i) for i in indices))
        if len(wanted) > 0.2 * (self.n_frames or 1):
            # dense: one sequential decode beats seeking
            want = set(wanted)
            for i, img in self:
                if i in want:
                    yield i, img
                    want.discard(i)
                    if not want:
                        return
        else:
            for i in wanted:
                yield i, self.frame(i)

    def close(self):
        if self._cap is not None:
            self._cap.release()
            self._cap = None
        if self._container is not None:
            self._container.close()
            self._container = None


class FolderSource(VideoSource):
    """A folder of image files (PNG, JPEG, ...), one frame each, in name order.

    Examples
    --------
    >>> import tempfile, cv2
    >>> d = tempfile.mkdtemp()
    >>> for k in range(3):
    ...     _ = cv2.imwrite(f"{d}/{k:03d}.png", np.full((8, 8, 3), k, np.uint8))
    >>> src = FolderSource(d, fps=5)
    >>> src.n_frames, int(src.frame(2)[0, 0, 0])
    (3, 2)
    """

    def __init__(self, path, fps: float = 30.0):
        self.path = Path(path)
        if not self.path.is_dir():
            raise DataError(f"No folder of frames at {str(self.path)!r}.")
        self.files = sorted(p for p in self.path.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
        if not self.files:
            raise DataError(f"The folder {str(self.path)!r} holds no image files "
                            f"({sorted(_IMAGE_SUFFIXES)}).")
        if not fps > 0:
            raise invalid("fps", "FolderSource", "a positive number", fps)
        self.fps, self.n_frames, self.name = float(fps), len(self.files), self.path.name
        first = self.frame(0)
        self.height, self.width = first.shape[:2]

    def frame(self, i: int) -> np.ndarray:
        import cv2

        i = self._check_index(i)
        img = cv2.imread(str(self.files[i]), cv2.IMREAD_COLOR)
        if img is None:
            raise DataError(f"Cannot decode the image {str(self.files[i])!r}.")
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


_END = object()


class LiveSource(VideoSource):
    """Base of live sources: a reader thread, a bounded buffer and counters.

    Attributes
    ----------
    received, dropped, undecodable, reconnects : int
        Frames read from the stream, frames dropped because the buffer was
        full, frames that arrived but could not be decoded, and reconnections.
    """

    live = True

    def __init__(self, buffer: int = 64):
        if not isinstance(buffer, int) or buffer < 1:
            raise invalid("buffer", type(self).__name__, "a positive int", buffer)
        self.buffer = buffer
        self.received = self.dropped = self.undecodable = self.reconnects = 0
        self.stalls = 0
        self.ended = False
        self.max_buffered = 0
        self._queue: queue.Queue = queue.Queue(maxsize=buffer)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _offer(self, index: int, image) -> None:
        self.received += 1
        try:
            self._queue.put_nowait((index, image))
            self.max_buffered = max(self.max_buffered, self._queue.qsize())
        except queue.Full:
            self.dropped += 1

    def _run(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _reader(self):
        try:
            self._run()
        finally:
            while True:
                try:
                    self._queue.put(_END, timeout=0.1)
                    return
                except queue.Full:
                    if self._stop.is_set():
                        return

    def __iter__(self):
        if self._thread is not None:
            raise RuntimeError(f"A {type(self).__name__} can be iterated once")
        self._thread = threading.Thread(target=self._reader, daemon=True)
        self._thread.start()
        try:
            while True:
                item = self._queue.get()
                if item is _END:
                    return
                yield item
        finally:
            self.close()

    def backlog(self) -> int:
        """Frames waiting in the buffer."""
        return self._queue.qsize()

    def stats(self) -> dict:
        """The counters, as a dict."""
        return {"received": self.received, "dropped": self.dropped,
                "undecodable": self.undecodable, "reconnects": self.reconnects,
                "stalls": self.stalls, "ended": self.ended,
                "max_buffered": self.max_buffered, "buffer": self.buffer}

    def close(self):
        self._stop.set()


class StreamSource(LiveSource):
    """A camera (an int index) or an RTSP / HTTP / file URL, read with OpenCV.

    Parameters
    ----------
    url : int or str
        Camera index or URL.
    buffer : int
        Frames held between the reader and the query; more are dropped.
    fps : float, optional
        Frame rate to assume when the stream does not report one.
    stall_timeout : float
        Seconds without a frame after which the stream counts as stalled: a
        watchdog abandons a ``read()`` blocked that long and reconnects, with
        back-off.  A finite source (a file or an HTTP file) read to its end
        ends the stream instead of replaying it.
    backoff : (float, float)
        First and largest wait between reconnection attempts (doubling).
    max_retries : int
        Consecutive failed reconnections after which the stream ends.
    opener : callable, optional
        ``opener(url)`` returns an object with ``isOpened()``, ``read()`` and
        ``release()`` like ``cv2.VideoCapture`` (the default); tests pass fakes.
    """

    def __init__(self, url, buffer: int = 64, fps: float | None = None,
                 stall_timeout: float = 5.0, backoff: tuple[float, float] = (0.1, 5.0),
                 max_retries: int = 8, opener: Callable | None = None):
        super().__init__(buffer)
        if not isinstance(url, (int, str, os.PathLike)):
            raise invalid("url", "StreamSource", "a camera index or a URL string", url)
        if not (len(backoff) == 2 and 0 < backoff[0] <= backoff[1]):
            raise invalid("backoff", "StreamSource", "a pair (first, largest) of seconds, "
                          "0 < first <= largest", backoff)
        self.url = url
        self.name = str(url)
        self.stall_timeout, self.backoff, self.max_retries = stall_timeout, backoff, max_retries
        self._opener = opener
        self.fps = float(fps or 30.0)
        self._fps_given = fps is not None
        self.n_frames = None

    def _open(self):
        if self._opener is not None:
            return self._opener(self.url)
        import cv2

        return cv2.VideoCapture(self.url if isinstance(self.url, int) else str(self.url))

    def _reads(self, cap):
        """``cap.read()`` results through a helper thread; ``None`` when a read stalls.

        The watchdog: a ``read()`` that blocks for ``stall_timeout`` seconds
        (a network stream that stopped sending) is abandoned and counted as a
        stall, so the reader can reconnect instead of hanging.
        """
        results: queue.Queue = queue.Queue(maxsize=4)
        done = threading.Event()

        def pump():
            while not done.is_set() and not self._stop.is_set():
                item = cap.read()
                while not done.is_set():
                    try:
                        results.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if not item[0]:
                    return

        threading.Thread(target=pump, daemon=True).start()
        try:
            while not self._stop.is_set():
                try:
                    item = results.get(timeout=self.stall_timeout)
                except queue.Empty:
                    self.stalls += 1
                    yield None
                    return
                yield item
                if not item[0]:
                    return
        finally:
            done.set()

    @staticmethod
    def _at_end(cap) -> bool:
        """Whether a finite source (a file, an HTTP file) has been read to its last frame."""
        if not hasattr(cap, "get"):
            return bool(getattr(cap, "finite", False) and getattr(cap, "exhausted", False))
        import cv2

        total = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        pos = cap.get(cv2.CAP_PROP_POS_FRAMES)
        return bool(total and total > 0 and pos >= total - 1)

    def _run(self):
        index = 0
        failures = 0
        wait = self.backoff[0]
        first = True
        while not self._stop.is_set():
            cap = self._open()
            ended = False
            if cap.isOpened():
                if not first:
                    self.reconnects += 1
                first = False
                if not self._fps_given and hasattr(cap, "get"):
                    import cv2

                    reported = cap.get(cv2.CAP_PROP_FPS)
                    if reported and 0 < reported < 1000:
                        self.fps = float(reported)
                last = time.monotonic()
                for item in self._reads(cap):
                    if item is None:
                        break  # a blocking read: reconnect
                    ok, img = item
                    if not ok:
                        ended = self._at_end(cap)  # a finite source's end ends the stream
                        break  # stalled: reconnect
                    if img is None or getattr(img, "ndim", 0) != 3:
                        self.undecodable += 1
                        if time.monotonic() - last > self.stall_timeout:
                            break
                        continue
                    import cv2

                    rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
                    self.height, self.width = rgb.shape[:2]
                    self._offer(index, rgb)
                    index += 1
                    last = time.monotonic()
                    failures, wait = 0, self.backoff[0]
            # a failed open and a stalled stream back off the same way
            cap.release()
            if ended:
                self.ended = True
                return
            failures += 1
            if failures > self.max_retries:
                return
            self._stop.wait(wait)
            wait = min(wait * 2, self.backoff[1])


class ReplaySource(LiveSource):
    """A recorded video replayed at its native frame rate, as a live stream.

    Parameters
    ----------
    source : VideoSource or path
        The recording (a path opens a :class:`FileSource`).
    buffer : int
        Frames held for the query; frames arriving to a full buffer are dropped.
    speed : float
        Playback speed (1 = native rate; 0 = as fast as decoding allows, never
        dropping: the reader waits for room).
    start, stop : int, optional
        Replay only frames ``start .. stop - 1``.
    """

    def __init__(self, source, buffer: int = 64, speed: float = 1.0,
                 start: int = 0, stop: int | None = None):
        super().__init__(buffer)
        self.source = source if isinstance(source, VideoSource) else FileSource(source)
        if self.source.live:
            raise invalid("source", "ReplaySource", "a recorded source", source)
        if not speed >= 0:
            raise invalid("speed", "ReplaySource", "a number >= 0", speed)
        self.speed = float(speed)
        self.fps, self.width, self.height = self.source.fps, self.source.width, self.source.height
        self.start = int(start)
        self.stop = self.source.n_frames if stop is None else min(int(stop), self.source.n_frames)
        self.n_frames = None
        self.name = f"{self.source.name} (replay)"

    def _run(self):
        t0 = time.monotonic()
        iterator = iter(self.source)
        for i, img in iterator:
            if self._stop.is_set() or i >= self.stop:
                break
            if i < self.start:
                continue
            if self.speed > 0:
                due = t0 + (i - self.start) / (self.fps * self.speed)
                delay = due - time.monotonic()
                if delay > 0:
                    self._stop.wait(delay)
                self._offer(i, img)
            else:
                self.received += 1
                while not self._stop.is_set():
                    try:
                        self._queue.put((i, img), timeout=0.1)
                        break
                    except queue.Full:
                        continue


def open_source(spec, **kwargs) -> VideoSource:
    """Open a video source from a path, a folder, a camera index or a URL.

    Parameters
    ----------
    spec : VideoSource, str, path-like or int
        An existing source is returned as is; an int is a camera; a string
        starting with ``rtsp://``, ``http://`` or ``https://`` is a stream; a
        folder is a :class:`FolderSource`; anything else a :class:`FileSource`.
    **kwargs
        Passed to the source's class.

    Examples
    --------
    >>> open_source("/no/such/video.avi")
    Traceback (most recent call last):
    ...
    dawnlab.errors.DataError: No video file at '/no/such/video.avi'; give the path of a video file (dawnlab.data.video_path() is the bundled pedestrian video).
    """
    if isinstance(spec, VideoSource):
        return spec
    if isinstance(spec, bool) or not isinstance(spec, (int, str, os.PathLike)):
        raise invalid("source", "open_source", "a VideoSource, a path, a camera index or a URL",
                      spec)
    if isinstance(spec, int):
        return StreamSource(spec, **kwargs)
    text = str(spec)
    if text.split("://")[0].lower() in ("rtsp", "http", "https", "rtmp", "udp", "tcp"):
        return StreamSource(text, **kwargs)
    if Path(text).is_dir():
        return FolderSource(text, **kwargs)
    return FileSource(text, **kwargs)
