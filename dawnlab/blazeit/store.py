"""The DuckDB store of the FrameQL relation and exact answers over labelled video.

BlazeIt (arXiv 1805.01046, Section 3) defines a query's true answer as the one
computed over the oracle's labels of every frame.  The store keeps exactly
those labels in DuckDB, so the ground truth is one SQL query away:

``frames(frame, seconds)``
    every frame the oracle has looked at (primary key: a frame is never run
    through the oracle twice; :meth:`Store.label` skips labelled frames);
``detections(frame, class, xmin, ymin, xmax, ymax, score, trackid, mean_r, mean_g, mean_b, features)``
    one row per detected object; ``mean_*`` summarise the box's pixels (the
    ``content`` column's colour UDFs read them); ``features`` is FrameQL's
    feature vector of the box, here a 12-bin colour histogram of its pixels
    (:func:`box_features`: 4 bins per channel, each channel's bins summing
    to 1), read by the ``feature(features, k)`` UDF; ``trackid`` links the
    same object across nearby frames (Section 4): the store re-links tracks
    (:meth:`Store.link_tracks`, IoU of same-class boxes in nearby frames)
    whenever new detections arrived and anything reads them, so track ids
    are always populated;
``meta(key, value)``
    the video's metadata (name, fps, size, frame count) and the oracle's name;
    a store is tied to one video and one oracle.

The view ``rel`` exposes the detections as FrameQL's relation (``timestamp``
is the frame index).  :meth:`Store.frame_counts` counts, per frame, the rows
matching each term of a query (:class:`dawnlab.blazeit.frameql.Term`); both
the optimized algorithms and :meth:`Store.exact` use it, and aggregates are
also answered by one SQL statement (:meth:`Store.exact_sql`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import duckdb
import numpy as np

from dawnlab.blazeit.frameql import Query
from dawnlab.blazeit.oracles import link_tracks
from dawnlab.errors import DataError, InvalidArgument

__all__ = ["Store", "StoreMismatch", "greedy_gap", "ordered_frames", "box_features", "FEATURE_BINS"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS frames (frame INTEGER PRIMARY KEY, seconds DOUBLE);
CREATE TABLE IF NOT EXISTS detections (
    frame INTEGER, class VARCHAR, xmin DOUBLE, ymin DOUBLE, xmax DOUBLE, ymax DOUBLE,
    score DOUBLE, trackid BIGINT, mean_r DOUBLE, mean_g DOUBLE, mean_b DOUBLE);
ALTER TABLE detections ADD COLUMN IF NOT EXISTS features FLOAT[];
CREATE OR REPLACE VIEW rel AS SELECT frame AS "timestamp", class, xmin, ymin, xmax, ymax,
    score, trackid, mean_r, mean_g, mean_b, features FROM detections;
"""
_COLUMNS = ["frame", "class", "xmin", "ymin", "xmax", "ymax", "score", "trackid", "mean_r",
            "mean_g", "mean_b", "features"]
#: Bins per channel of :func:`box_features`.
FEATURE_BINS = 4


def box_features(pixels: np.ndarray) -> list[float]:
    """The feature vector of a box: a colour histogram, ``FEATURE_BINS`` bins per channel.

    Entry ``c * FEATURE_BINS + b`` is the fraction of the box's pixels whose
    channel ``c`` (R, G, B) falls in bin ``b`` of ``[0, 256)``.

    Examples
    --------
    >>> box_features(np.array([[[255, 0, 0], [255, 0, 130]]], np.uint8))
    [0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.5, 0.0, 0.5, 0.0]
    """
    px = np.asarray(pixels).reshape(-1, 3)
    if len(px) == 0:
        return [0.0] * (3 * FEATURE_BINS)
    bins = (px.astype(np.int64) * FEATURE_BINS) // 256
    counts = np.stack([np.bincount(bins[:, c], minlength=FEATURE_BINS) for c in range(3)])
    return (counts / len(px)).ravel().round(6).tolist()


def _plain(row):
    return tuple(None if isinstance(v, float) and np.isnan(v) else
                 (v.item() if isinstance(v, np.generic) else v) for v in row)


class StoreMismatch(InvalidArgument):
    """The store holds labels of another video or another oracle."""


def _aggregate_value(query: Query, value):
    """The Python value of an exact aggregate (``None`` for AVG/MIN/MAX of no detection)."""
    if query.aggregate in ("AVG", "MIN", "MAX"):
        return None if value is None else float(value)
    return float(value or 0.0) if query.aggregate == "FCOUNT" else int(value or 0)


def ordered_frames(query: Query, frames) -> list[int]:
    """Frames in the query's ``ORDER BY`` (by time, descending when its first time key
    says so; ascending otherwise), then ``LIMIT ... GAP`` applied greedily in that order.

    Examples
    --------
    >>> from dawnlab.blazeit.frameql import parse
    >>> q = parse("SELECT timestamp FROM v ORDER BY timestamp DESC LIMIT 2 GAP 5")
    >>> ordered_frames(q, [3, 5, 10, 12, 30])
    [30, 12]
    """
    frames = sorted(int(f) for f in frames)
    time_keys = [desc for c, desc in query.order if c in ("timestamp", "seconds")]
    if time_keys and time_keys[0]:
        frames = frames[::-1]
    if query.limit is not None:
        frames = greedy_gap(frames, query.gap, query.limit)
    return frames


def greedy_gap(frames: Iterable[int], gap: int, limit: int | None = None) -> list[int]:
    """Keep frames in the given order, skipping any within ``gap`` of one already kept.

    Examples
    --------
    >>> greedy_gap([3, 5, 10, 12, 30], gap=5)
    [3, 10, 30]
    >>> greedy_gap([3, 5, 10, 12, 30], gap=5, limit=2)
    [3, 10]
    """
    kept: list[int] = []
    for f in frames:
        if all(abs(int(f) - k) >= gap for k in kept) if gap > 0 else True:
            kept.append(int(f))
            if limit is not None and len(kept) >= limit:
                break
    return kept


class Store:
    """Labels of one video by one oracle, in DuckDB.

    Parameters
    ----------
    path : str or path-like, optional
        A DuckDB file (labels persist across sessions); in memory when omitted.

    Examples
    --------
    >>> from dawnlab.blazeit.synthetic import scene
    >>> src, oracle = scene(50, seed=0)
    >>> store = Store().attach(src, oracle)
    >>> store.label(src, oracle, range(10)), store.label(src, oracle, range(20))
    (10, 10)
    >>> store.n_labelled()
    20
    """

    def __init__(self, path=None):
        self.path = None if path is None else str(path)
        try:
            self.con = duckdb.connect(self.path or ":memory:")
        except duckdb.Error as exc:
            raise DataError(f"Cannot open the DuckDB store {self.path!r}: {exc}") from None
        self.con.execute(_SCHEMA)
        self.oracle_calls = 0
        self.fps = 30.0  # until attach() reads the video's
        self._labelled: set[int] | None = None
        self.auto_link = True
        self.track_threshold, self.track_max_gap = 0.3, 2
        self._tracks_stale = bool(self.con.execute(
            "SELECT COUNT(*) FROM detections WHERE trackid < 0").fetchall()[0][0])

    # -- metadata -----------------------------------------------------------------
    def meta(self) -> dict:
        """The stored metadata, values decoded from JSON."""
        return {k: json.loads(v) for k, v in self.con.execute("SELECT * FROM meta").fetchall()}

    def attach(self, source, oracle) -> Store:
        """Tie the store to a video and an oracle; refuse labels of another pair."""
        info = {"video": source.info(), "oracle": getattr(oracle, "name", type(oracle).__name__),
                "classes": list(oracle.classes)}
        info["video"].pop("n_frames", None) if source.live else None
        old = self.meta()
        for key, value in info.items():
            if key in old and json.loads(json.dumps(value)) != old[key]:
                raise StoreMismatch(
                    f"The store {self.path or ':memory:'} holds labels of {key} {old[key]!r}, "
                    f"not {value!r}; use another store file for this video or oracle.")
        for key, value in info.items():
            self.con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [key, json.dumps(value)])
        self.fps = float(source.fps)
        return self

    # -- labels -------------------------------------------------------------------
    def labelled(self) -> set[int]:
        """The set of frames the oracle has looked at."""
        if self._labelled is None:
            self._labelled = {r[0] for r in self.con.execute("SELECT frame FROM frames").fetchall()}
        return self._labelled

    def n_labelled(self) -> int:
        return len(self.labelled())

    def label(self, source, oracle, frames: Iterable[int], progress=None) -> int:
        """Run the oracle on the frames not labelled yet; return how many it ran on."""
        done = self.labelled()
        todo = sorted({int(f) for f in frames} - done)
        batch = []
        got = 0
        for n, (i, img) in enumerate(source.frames(todo) if todo else ()):
            batch.append((i, img, oracle.detect(img, i)))
            got += 1
            if len(batch) >= 256:
                self._insert(batch)
                batch = []
            if progress is not None:
                progress(n + 1, len(todo))
        self._insert(batch)  # what was decoded is kept
        if got < len(todo):
            missing = sorted(set(todo) - self.labelled())
            raise DataError(f"The video {getattr(source, 'name', source)!r} yielded only {got} "
                            f"of the {len(todo)} frames asked for (missing e.g. {missing[:5]}): "
                            "it may be truncated or undecodable there.  The frames that were "
                            "decoded are labelled; restrict the query to the decodable frames "
                            "(e.g. FileSource(..., stop=...)).")
        return len(todo)

    def add(self, frame: int, image, detections) -> bool:
        """Store one frame's detections (e.g. from a live stream); False if already stored."""
        if int(frame) in self.labelled():
            return False
        self._insert([(int(frame), image, detections)])
        return True

    def _insert(self, batch) -> None:
        if not batch:
            return
        fps = self.fps
        rows = []
        for i, img, dets in batch:
            for d in dets:
                r = g = b = np.nan
                feats = None
                if img is not None:
                    h, w = img.shape[:2]
                    x0, x1 = int(max(0, np.floor(d.xmin))), int(min(w, np.ceil(d.xmax)))
                    y0, y1 = int(max(0, np.floor(d.ymin))), int(min(h, np.ceil(d.ymax)))
                    if x1 > x0 and y1 > y0:
                        r, g, b = img[y0:y1, x0:x1].reshape(-1, 3).mean(axis=0)
                        feats = box_features(img[y0:y1, x0:x1])
                rows.append((i, d.cls, d.xmin, d.ymin, d.xmax, d.ymax, d.score,
                             -1 if d.trackid is None else int(d.trackid), r, g, b, feats))
        if len(batch) <= 4:  # one frame at a time (limit scans, live): skip pandas
            self.con.executemany("INSERT INTO frames VALUES (?, ?)",
                                 [(int(b[0]), int(b[0]) / fps) for b in batch])
            if rows:
                self.con.executemany("INSERT INTO detections VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, "
                                     "?, ?, ?)", [_plain(r) for r in rows])
                self._tracks_stale = True
            self.labelled().update(int(b[0]) for b in batch)
            self.oracle_calls += len(batch)
            return
        import pandas as pd

        frames = pd.DataFrame({"frame": np.array([b[0] for b in batch], dtype=np.int32)})
        frames["seconds"] = frames["frame"] / fps
        dets = pd.DataFrame(rows, columns=_COLUMNS)
        self.con.register("_new_frames", frames)
        self.con.register("_new_dets", dets)
        try:
            self.con.execute("INSERT INTO frames SELECT frame, seconds FROM _new_frames")
            if len(dets):
                self.con.execute("INSERT INTO detections SELECT * EXCLUDE (features), "
                                 "CAST(features AS FLOAT[]) FROM _new_dets")
                self._tracks_stale = True
        finally:
            self.con.unregister("_new_frames")
            self.con.unregister("_new_dets")
        self.labelled().update(int(b[0]) for b in batch)
        self.oracle_calls += len(batch)

    def link_tracks(self, threshold: float | None = None, max_gap: int | None = None) -> int:
        """Recompute every track id by IoU linking over the labelled frames; return #tracks.

        The store calls this itself (with ``track_threshold`` and
        ``track_max_gap``) before any read once new detections have arrived;
        call it to link with other settings, which then become the defaults.
        """
        if threshold is not None:
            self.track_threshold = threshold
        if max_gap is not None:
            self.track_max_gap = max_gap
        threshold, max_gap = self.track_threshold, self.track_max_gap
        self._tracks_stale = False
        rows = self.con.execute("SELECT rowid, frame, class, xmin, ymin, xmax, ymax "
                                "FROM detections ORDER BY frame, rowid").fetchall()
        if not rows:
            return 0
        arr = np.array([r[3:] for r in rows], dtype=float)
        ids = link_tracks(np.array([r[1] for r in rows]), np.array([r[2] for r in rows]), arr,
                          threshold=threshold, max_gap=max_gap)
        import pandas as pd

        upd = pd.DataFrame({"rid": np.array([r[0] for r in rows]), "tid": ids})
        self.con.register("_tracks", upd)
        self.con.execute("UPDATE detections SET trackid = _tracks.tid FROM _tracks "
                         "WHERE detections.rowid = _tracks.rid")
        self.con.unregister("_tracks")
        return int(ids.max()) + 1

    def _fresh_tracks(self, needed: bool = True) -> None:
        if needed and self._tracks_stale and self.auto_link:
            self.link_tracks()

    # -- queries -----------------------------------------------------------------
    def sql(self, text: str, params=None):
        """Run SQL over the store (tables ``frames``, ``detections``, ``meta``; view ``rel``)."""
        self._fresh_tracks()
        return self.con.execute(text, params or [])

    def frame_filter(self, query: Query, frames) -> np.ndarray:
        """Which of ``frames`` pass the query's temporal conjuncts (no oracle needed)."""
        frames = np.asarray(frames, dtype=np.int64)
        if query.frame_sql is None or len(frames) == 0:
            return np.ones(len(frames), dtype=bool)
        fps = self.fps
        res = self.con.execute(
            f'SELECT "timestamp", ({query.frame_sql}) FROM (SELECT x AS "timestamp", '
            f'x / {fps!r} AS seconds FROM (SELECT unnest(?::BIGINT[]) AS x))',
            [frames.tolist()]).fetchall()
        ok = {int(f): bool(v) for f, v in res}
        return np.array([ok[int(f)] for f in frames], dtype=bool)

    def frame_counts(self, query: Query, frames) -> np.ndarray:
        """Rows matching each term of ``query`` in each of ``frames`` (all must be labelled).

        Returns an int array of shape ``(len(frames), len(query.terms))``.
        """
        frames = np.asarray(frames, dtype=np.int64)
        missing = set(frames.tolist()) - self.labelled()
        if missing:
            raise DataError(f"{len(missing)} frames are not labelled yet (e.g. "
                            f"{sorted(missing)[:5]}); label them first.")
        if len(frames) == 0:
            return np.zeros((0, len(query.terms)), dtype=np.int64)
        self._fresh_tracks(any("trackid" in t.sql or t.distinct == "trackid"
                               for t in query.terms))

        def count(t, d=""):
            what = f'DISTINCT {d}"{t.distinct}"' if t.distinct else ("*" if not d else
                                                                    f"{d}class")
            return f"COUNT({what}) FILTER (WHERE {t.sql})"

        if len(frames) == 1:
            sums = ", ".join(count(t) for t in query.terms)
            row = self.con.execute(
                f'SELECT {sums} FROM (SELECT *, "timestamp" / {self.fps!r} '
                'AS seconds FROM rel WHERE "timestamp" = ?)', [int(frames[0])]).fetchall()[0]
            return np.array([row], dtype=np.int64)
        sums = ", ".join(count(t, "d.") for t in query.terms)
        res = self.con.execute(
            f'SELECT f.frame, {sums} FROM (SELECT unnest(?::BIGINT[]) AS frame) f '
            f'LEFT JOIN (SELECT *, "timestamp" / {self.fps!r} AS seconds '
            'FROM rel) d ON d."timestamp" = f.frame GROUP BY f.frame',
            [frames.tolist()]).fetchall()
        table = {int(r[0]): r[1:] for r in res}
        return np.array([table[int(f)] for f in frames], dtype=np.int64).reshape(
            len(frames), len(query.terms))

    def distinct_tracks(self, query: Query, frames) -> int:
        """``COUNT(DISTINCT trackid)`` of the detections matching ``query`` in ``frames``."""
        frames = np.asarray(frames, dtype=np.int64)
        self._fresh_tracks()
        value = self.con.execute(
            f'SELECT COUNT(DISTINCT trackid) FROM (SELECT *, "timestamp" / {self.fps!r} AS seconds '
            'FROM rel) WHERE "timestamp" IN (SELECT unnest(?::BIGINT[])) AND '
            f"({query.detection_sql})", [frames.tolist()]).fetchall()[0][0]
        return int(value or 0)

    def detection_value(self, query: Query, frames):
        """``AVG``/``MIN``/``MAX`` of the aggregate's argument over the detections matching
        ``query`` in (labelled) ``frames``; ``None`` when there is none."""
        frames = np.asarray(frames, dtype=np.int64)
        self._fresh_tracks()
        value = self.con.execute(
            f"SELECT {query.aggregate}({query.value_sql}) FROM (SELECT *, \"timestamp\" / "
            f"{self.fps!r} AS seconds FROM rel) WHERE \"timestamp\" IN "
            f"(SELECT unnest(?::BIGINT[])) AND ({query.detection_sql})",
            [frames.tolist()]).fetchall()[0][0]
        return _aggregate_value(query, value)

    def exact_sql(self, query: Query, n_frames: int) -> str:
        """The SQL statement that answers an aggregate query over frames ``0 .. n_frames-1``."""
        if query.kind != "aggregate":
            raise InvalidArgument("exact_sql answers aggregate queries; limit and selection "
                                  "queries are answered by Store.exact")
        frame_where = f"WHERE {query.frame_sql}" if query.frame_sql else ""
        pred = query.detection_sql
        agg = {"FCOUNT": f"CAST(COUNT(d.class) FILTER (WHERE {pred}) AS DOUBLE) / "
                         'COUNT(DISTINCT f."timestamp")',
               "COUNT": f"COUNT(d.class) FILTER (WHERE {pred})",
               "COUNT_DISTINCT_TRACKS": f"COUNT(DISTINCT d.trackid) FILTER (WHERE {pred})",
               "AVG": f"AVG({query.value_sql}) FILTER (WHERE {pred})",
               "MIN": f"MIN({query.value_sql}) FILTER (WHERE {pred})",
               "MAX": f"MAX({query.value_sql}) FILTER (WHERE {pred})",
               }[query.aggregate]
        return (f'WITH f AS (SELECT frame AS "timestamp", seconds FROM frames '
                f'WHERE frame < {int(n_frames)}), ff AS (SELECT * FROM f {frame_where}) '
                'SELECT ' + agg + ' FROM ff f LEFT JOIN (SELECT * EXCLUDE ("timestamp"), '
                '"timestamp" AS _frame FROM rel) d ON d._frame = f."timestamp"')

    def exact(self, query: Query, n_frames: int):
        """The exact answer over frames ``0 .. n_frames-1``, all of which must be labelled.

        A number for aggregates; the list of qualifying frames for selection
        queries; for limit queries the first ``limit`` qualifying frames in
        order, each at least ``gap`` frames after the previous one.
        """
        n_frames = int(n_frames)
        have = self.con.execute("SELECT COUNT(*) FROM frames WHERE frame < ?",
                                [n_frames]).fetchall()[0][0]
        if have < n_frames:
            raise DataError(f"Only {have} of the {n_frames} frames are labelled; exact answers "
                            "need the whole video labelled (Session.label_all()).")
        self._fresh_tracks()
        if query.kind == "aggregate":
            value = self.con.execute(self.exact_sql(query, n_frames)).fetchall()[0][0]
            return _aggregate_value(query, value)
        frames = np.arange(n_frames)
        ok = self.qualifies(query, frames)
        return ordered_frames(query, frames[ok].tolist())

    def rows(self, query: Query, frames):
        """The selected columns of the detections behind a selection's frames, as a DataFrame.

        ``SELECT *`` gives every column of the relation (``features`` aside);
        a query without ``HAVING`` keeps the detections matching its WHERE.
        """
        cols = query.projection
        all_cols = ["timestamp", "seconds", "class", "xmin", "ymin", "xmax", "ymax", "score",
                    "trackid"]
        names = all_cols if "*" in cols else [c for c in cols]
        pred = "TRUE" if query.ast is not None and query.ast.args.get("having") else \
            query.detection_sql
        self._fresh_tracks()
        sel = ", ".join(f'"{c}"' for c in names)
        return self.con.execute(
            f'SELECT {sel} FROM (SELECT *, "timestamp" / {self.fps!r} AS seconds FROM rel) '
            f'WHERE "timestamp" IN (SELECT unnest(?::BIGINT[])) AND ({pred}) '
            'ORDER BY "timestamp", xmin', [list(map(int, frames))]).df()

    def qualifies(self, query: Query, frames, temporal: bool = True) -> np.ndarray:
        """Whether each (labelled) frame satisfies a limit/selection query's predicate.

        ``temporal=False`` ignores the query's conjuncts on ``timestamp`` /
        ``seconds`` (for frames of another recording, e.g. held-out ones).
        """
        frames = np.asarray(frames, dtype=np.int64)
        counts = self.frame_counts(query, frames)
        ok = self.frame_filter(query, frames) if temporal else np.ones(len(frames), bool)
        holds = [np.asarray(term.holds(counts[:, k]), dtype=bool)
                 for k, term in enumerate(query.terms)]
        return ok & query.combine(holds) if holds else ok

    def close(self) -> None:
        self.con.close()
