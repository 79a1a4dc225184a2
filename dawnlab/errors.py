"""The exception hierarchy of dawnlab.

Every error a user can cause names the argument, the rule it broke, the value it
got and, where there is one, the fix (STYLE.md, rule 6).  Library code raises the
classes below; ``assert`` is kept for internal invariants only.

Classes
-------
DawnlabError
    Base of every dawnlab error.
InvalidArgument (also a ``ValueError``)
    An argument breaks a documented rule.  Build one with :func:`invalid`.
DataError (also an ``OSError``)
    A data file is missing, unreadable or corrupt; the message names the path
    and says how to get the data.
SolverError (also a ``RuntimeError``)
    An external solver failed in a way that leaves no usable bound.
"""

from __future__ import annotations

__all__ = ["DawnlabError", "InvalidArgument", "DataError", "SolverError", "invalid"]


class DawnlabError(Exception):
    """Base class of every error raised by dawnlab."""


class InvalidArgument(DawnlabError, ValueError):
    """An argument breaks a documented rule."""


class DataError(DawnlabError, OSError):
    """A data file is missing, unreadable or corrupt."""


class SolverError(DawnlabError, RuntimeError):
    """An external solver failed and left no usable result."""


def invalid(name: str, owner: str, rule: str, value, fix: str | None = None,
            cls: type[InvalidArgument] = InvalidArgument) -> InvalidArgument:
    """Build an error that names the argument, the rule, the value and the fix.

    Parameters
    ----------
    name : str
        The argument's name, e.g. ``"M"``.
    owner : str
        The function or class it was given to, e.g. ``"spectral_bound"``.
    rule : str
        What the argument must be, completing "must be ...".
    value : object
        The value received; shown with ``repr``.
    fix : str, optional
        One sentence on how to fix it.
    cls : type, optional
        A subclass of :class:`InvalidArgument` to build.

    Returns
    -------
    InvalidArgument
        The error, to be raised by the caller.

    Examples
    --------
    >>> err = invalid("M", "spectral_bound", "an int >= 3 (largest in-degree + 1)", 2)
    >>> str(err)
    "The 'M' argument of spectral_bound must be an int >= 3 (largest in-degree + 1). Got 2 instead."
    >>> isinstance(err, ValueError)
    True
    """
    message = f"The {name!r} argument of {owner} must be {rule}. Got {value!r} instead."
    if fix:
        message += f" {fix}"
    return cls(message)
