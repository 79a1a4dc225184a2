"""Interactive Panel/HoloViews views over dawnlab's library objects.

One module per system; each has ``app()`` returning its layout, usable inline in
a notebook and servable with ``panel serve widgets/<system>.py``.

Importing this package does two things for notebooks:

- Panel inlines its JavaScript and CSS in notebook outputs: the default loads
  Bokeh and Panel from a CDN, which an offline JupyterLab (and this project's
  CI) cannot reach.  HoloViews' ``hv.extension("bokeh")`` has its own switch,
  off by default; it is turned on here too, so an app added later cannot
  fetch es-module-shims or an extension's files from the CDN by forgetting
  ``inline=True``.
- A Panel object shown from a new front-end session first sends Bokeh and Panel
  again.  Panel sends its JavaScript once per kernel, when ``pn.extension()``
  runs; a page reloaded without a kernel restart has lost it, and every widget
  cell run after the reload stayed empty ("Unable to run Panel code because
  Bokeh or Panel library is missing").  Each Jupyter client (a browser page, a
  papermill run) talks to the kernel under its own session id, so a display from
  a session that has not had the libraries yet sends them first.
"""

import panel as _pn

_pn.config.inline = True
from holoviews.ipython import notebook_extension as _hv_notebook_extension  # noqa: E402

_hv_notebook_extension.inline = True

_sessions_loaded: set[str] = set()


def _client_session():
    """The session id of the Jupyter client whose request the kernel is running, or None."""
    try:
        kernel = get_ipython().kernel  # noqa: F821 (IPython's builtin)
        return kernel.get_parent("shell")["header"]["session"]
    except Exception:  # not in a kernel, or a kernel without parent headers
        return None


def _show_with_libraries(obj, include=None, exclude=None):
    """IPython mimebundle printer for Panel objects: libraries first where this client lacks them."""
    session = _client_session()
    if session is not None and session not in _sessions_loaded:
        from panel.config import panel_extension
        from panel.io.notebook import load_notebook

        if panel_extension._loaded:
            load_notebook(_pn.config.inline, reloading=False)
        _sessions_loaded.add(session)
    return obj._repr_mimebundle_(include, exclude)


def _install() -> None:
    try:
        ip = get_ipython()  # noqa: F821
    except NameError:  # plain Python, panel serve, pytest
        return
    if ip is None or not hasattr(ip, "kernel"):
        return
    session = _client_session()
    if session is not None:  # this cell's pn.extension() (in the widget module) sends the libraries
        _sessions_loaded.add(session)
    ip.display_formatter.mimebundle_formatter.for_type(_pn.viewable.Viewable, _show_with_libraries)


_install()
