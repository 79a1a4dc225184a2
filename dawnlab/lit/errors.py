"""Errors of :mod:`dawnlab.lit`, subclasses of the :mod:`dawnlab.errors` hierarchy.

Classes
-------
LITError (an ``InvalidArgument``)
    A teacher/student/block configuration or a data set breaks a rule of LIT
    training; the message names the argument, the rule and the value.
NonFiniteLossError (a ``SolverError``)
    A training loss became NaN or infinite; the message names the phase, the
    epoch and step, and the last good checkpoint, which is kept.
"""

from __future__ import annotations

from dawnlab.errors import InvalidArgument, SolverError

__all__ = ["LITError", "NonFiniteLossError"]


class LITError(InvalidArgument):
    """A LIT configuration or data set breaks a documented rule."""


class NonFiniteLossError(SolverError):
    """A training loss became NaN or infinite; the last good checkpoint is kept."""
