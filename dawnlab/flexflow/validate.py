"""Compatibility name of :mod:`dawnlab.flexflow.validation` (use that module).

The measurement module used to be called ``validate``, the name of the package's
configuration check :func:`dawnlab.flexflow.validate` (``soap.validate``), so that
``dawnlab.flexflow.validate`` meant two things.  The module is now
:mod:`dawnlab.flexflow.validation`; ``from dawnlab.flexflow.validate import check``
keeps working through this alias, while the package attribute
``dawnlab.flexflow.validate`` is always the function.
"""

from dawnlab.flexflow.validation import *  # noqa: F401,F403
from dawnlab.flexflow.validation import __all__  # noqa: F401
from dawnlab.flexflow.validation import (_cpu_machine, _fit_link, _median, _median_table,  # noqa: F401
                                         _sync_sizes, _tiny)
