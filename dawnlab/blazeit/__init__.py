"""BlazeIt: FrameQL queries over recorded and live video (arXiv 1805.01046).

Ask declarative questions of a video (FrameQL, Section 3) and get aggregates
within a stated error at a stated confidence (Section 6), limit queries
(Section 7) and content-based selections (first version, Section 5), for far
fewer calls of an expensive object detector than a full scan, using
specialized NNs (Section 5) trained on the detector's labels.

Entry points: :func:`parse`, :class:`FrameQLError`, :class:`Session`
(``query``, ``steps``, ``exact``, ``stream``), :func:`synthetic.scene`.
"""

from dawnlab.blazeit import synthetic
from dawnlab.blazeit.aggregate import BettingCS, Estimate, control_variate, estimate_mean
from dawnlab.blazeit.frameql import FrameQLError, Query, parse
from dawnlab.blazeit.limit import frame_scores, scan
from dawnlab.blazeit.live import standing_query
from dawnlab.blazeit.onnx_oracle import ONNXDetector
from dawnlab.blazeit.oracles import BlobOracle, Detection, HOGPeopleOracle, Oracle, link_tracks, nms
from dawnlab.blazeit.selection import Foreground, accept_threshold, min_area, query_region
from dawnlab.blazeit.session import Result, Session
from dawnlab.blazeit.sources import (FileSource, FolderSource, ReplaySource, StreamSource,
                                     VideoSource, open_source)
from dawnlab.blazeit.specialized import CountNet, SpecializedNN
from dawnlab.blazeit.store import Store, StoreMismatch, box_features
from dawnlab.blazeit.stratified import StratifiedCS, estimate_mean_stratified

__all__ = ["parse", "FrameQLError", "Query", "Session", "Result", "Store", "StoreMismatch",
           "synthetic", "Detection", "Oracle", "HOGPeopleOracle", "BlobOracle", "link_tracks",
           "nms", "ONNXDetector", "VideoSource", "FileSource", "FolderSource", "StreamSource",
           "ReplaySource",
           "open_source", "SpecializedNN", "CountNet", "estimate_mean", "Estimate",
           "BettingCS", "control_variate", "frame_scores", "scan", "standing_query",
           "Foreground", "accept_threshold", "min_area", "query_region", "box_features",
           "StratifiedCS", "estimate_mean_stratified"]
