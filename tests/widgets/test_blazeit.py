"""The BlazeIt widget's state, without a browser."""

import numpy as np
import pytest

from widgets import blazeit as w


def test_answer_follows_the_query_and_method():
    car = w.run_query(w.DEFAULT_QUERY)
    r = car["result"]
    assert abs(r.value - car["exact"]) <= 0.5 and r.oracle_calls < car["n_frames"]
    bus = w.run_query(w.DEFAULT_QUERY.replace("'car'", "'bus'"))
    assert bus["exact"] != car["exact"]
    scan = w.run_query(w.DEFAULT_QUERY, "scan")
    assert scan["result"].oracle_calls == scan["n_frames"]
    assert "full scan" in w.summary(car) and "blazeit" in w.summary(car)


def test_errors_are_shown_with_line_and_column():
    bad = w.run_query("SELECT FCOUNT(*) FROM v\nWHERE class = 'truck'")
    assert bad["line"] == 2 and "Unknown class" in w.summary(bad)


def test_frame_shows_the_oracle_boxes():
    img, rows = w.frame_data(100)
    assert img.shape == (96, 128, 3)
    s = w.session()
    assert len(rows) == len(s.oracle.detect(None, 100))


def test_controls_change_the_view():
    layout = w.app()
    left, right = layout[1]
    editor, method, text, plot = left
    before = text.object
    editor.value = w.DEFAULT_QUERY.replace("'car'", "'person'")
    assert text.object != before
    method.value = "scan"
    assert "method **scan**" in text.object
    video, player = right
    player.value = 200
    assert "frame 200" in str(video.object.opts.get().kwargs.get("title", "")) or \
        video.object is not None


def test_live_query_interval_narrows_step_by_step():
    live = w.LiveQuery()
    live.start(w.DEFAULT_QUERY.replace("0.5", "0.2"), "random")
    widths, calls = [], []
    while not live.done:
        r = live.answer["result"]
        widths.append(r.interval[1] - r.interval[0])
        calls.append(r.oracle_calls)
        assert "running" in w.summary(live.answer) and "full scan" in w.summary(live.answer)
        live.step()
    final = live.answer["result"]
    assert len(widths) > 3 and widths[-1] < widths[0] and calls == sorted(calls)
    assert abs(final.value - live.answer["exact"]) <= 0.2 and "running" not in w.summary(live.answer)


def test_first_render_does_not_train():
    layout = w.app()
    assert "starting" in layout[1][0][2].object or w.session().nn_ is not None


def test_frame_is_drawn_the_right_way_up_against_its_boxes():
    """Issue 16 item 1: the pixels drawn inside each box are the object's, not the road's."""
    s = w.session()
    checked = 0
    for index in range(0, 400, 20):
        img, rows = w.frame_data(index)
        h = img.shape[0]
        rgb = w.frame_plot(index).get(0)
        for cls, x0, y0, x1, y1 in rows:
            truth = [d for d in s.source.truth(index) if d.cls == cls
                     and abs(d.xmin - x0) < 3 and abs(d.ymin - y0) < 3]
            if not truth or x1 - x0 < 6:
                continue
            xc, yc = (x0 + x1) / 2, (y0 + y1) / 2
            drawn = rgb[xc, h - yc].array()[0]          # plot coordinates are y-up
            stored = img[int(yc), int(xc)]               # image rows are y-down
            mirrored = img[h - 1 - int(yc), int(xc)]
            assert np.array_equal(drawn, stored), (index, cls, drawn, stored)
            if not np.array_equal(stored, mirrored):
                checked += 1
    assert checked >= 5  # enough boxes whose mirror image differs, so a flip would fail
