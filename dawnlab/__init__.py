"""dawnlab: the systems of the Stanford DAWN papers, as a small library.

Subpackages, one per system (import them explicitly; each pulls in its own
heavier dependencies only when imported):

- :mod:`dawnlab.iobounds` - spectral and ILP lower bounds on the I/O of computation graphs
- :mod:`dawnlab.blazeit` - FrameQL queries over recorded and live video
- :mod:`dawnlab.flexflow` - SOAP parallelization search with an execution simulator
- :mod:`dawnlab.svp` - Selection via Proxy
- :mod:`dawnlab.willump` - cascades, top-K queries and feature caching for inference pipelines
- :mod:`dawnlab.mozart` - split annotations: pipelined, parallel NumPy and pandas
- :mod:`dawnlab.lit` - block-wise intermediate-representation training (LIT)
- :mod:`dawnlab.tta` - time to accuracy under MLPerf's rules, with the DAWNBench analysis
- :mod:`dawnlab.data` - offline real data sets and the pedestrian video

Shared helpers: :mod:`dawnlab.parallel` (fan-out), :mod:`dawnlab.results`
(atomic result files), :mod:`dawnlab.errors` (the exception hierarchy).
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
