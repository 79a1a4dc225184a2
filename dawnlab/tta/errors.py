"""Errors of the time-to-accuracy harness, under :mod:`dawnlab.errors`."""

from __future__ import annotations

from dawnlab.errors import DawnlabError, InvalidArgument

__all__ = ["TTAError", "BenchmarkError"]


class TTAError(DawnlabError):
    """Base class of the harness's own errors."""


class BenchmarkError(TTAError, InvalidArgument):
    """A benchmark broke the protocol (an ``evaluate`` that is NaN or outside [0, 1], a bad hyperparameter).

    The message names the method, the rule, the value and the log that was kept.
    """
