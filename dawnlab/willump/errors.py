"""Errors of :mod:`dawnlab.willump`, subclasses of the :mod:`dawnlab.errors` hierarchy.

Classes
-------
WillumpError
    Base of every error raised by this package.
FeatureGroupError (also a ``RuntimeError``)
    A feature group raised, or returned NaN, infinite or misshapen features;
    the message names the group.
NotFittedError (also a ``RuntimeError``)
    An optimizer was used before ``fit``.
"""

from __future__ import annotations

from dawnlab.errors import DawnlabError

__all__ = ["WillumpError", "FeatureGroupError", "NotFittedError"]


class WillumpError(DawnlabError):
    """Base class of the errors of :mod:`dawnlab.willump`."""


class FeatureGroupError(WillumpError, RuntimeError):
    """A feature group failed or produced unusable features (the message names the group)."""


class NotFittedError(WillumpError, RuntimeError):
    """An optimizer or pipeline was used before ``fit``."""
