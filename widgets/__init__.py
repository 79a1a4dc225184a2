"""Interactive Panel/HoloViews views over dawnlab's library objects.

One module per system; each has ``app()`` returning its layout, usable inline in
a notebook and servable with ``panel serve widgets/<system>.py``.

Importing this package sets Panel to inline its JavaScript and CSS in notebook
outputs: the default loads Bokeh and Panel from a CDN, which an offline
JupyterLab (and this project's CI) cannot reach.
"""

import panel as _pn

_pn.config.inline = True
