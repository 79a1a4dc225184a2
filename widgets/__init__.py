"""Interactive Panel/HoloViews views over dawnlab's library objects.

One module per system; each has ``app()`` returning its layout, usable inline in
a notebook and servable with ``panel serve widgets/<system>.py``.
"""
