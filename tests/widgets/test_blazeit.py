"""The BlazeIt widget's state, without a browser."""

import numpy as np
import pytest

from widgets import blazeit as w


def test_answer_follows_the_query_and_method():
    car = w.run_query(w.DEFAULT_QUERY)
    r = car["result"]
    assert abs(r.value - car["exact"]) <= 0.2 and r.oracle_calls < car["n_frames"]
    assert r.interval[0] <= car["exact"] <= r.interval[1]
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
    editor, method, sampler, text, plot = left
    before = text.object
    editor.value = w.DEFAULT_QUERY.replace("'car'", "'person'")
    assert text.object != before
    method.value = "scan"
    assert "method **scan**" in text.object
    video, player = right
    player.value = 200
    shown = video.object.get(0)
    assert np.array_equal(shown.data, w.frame_data(200)[0])
    player.value = 300
    assert np.array_equal(video.object.get(0).data, w.frame_data(300)[0])


def test_live_query_interval_narrows_step_by_step():
    live = w.LiveQuery()
    live.start(w.DEFAULT_QUERY, "random")
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
    s = w.session()
    saved = s.nn_, s.proba_
    s.nn_ = None
    try:
        layout = w.app()
        assert "starting" in layout[1][0][3].object and s.nn_ is None
    finally:
        if s.nn_ is None:
            s.nn_, s.proba_ = saved


def test_limit_plot_shows_every_hit_and_seconds_exclude_pauses():
    import time

    q = "SELECT timestamp FROM v WHERE class = 'car' LIMIT 3 GAP 50"
    answer = w.run_query(q, "scan")
    r = answer["result"]
    assert len(r.value) == 3
    curve = w.history_plot(answer)
    assert curve.dimension_values("hits").max() == 3
    # a consumer that pauses between steps does not add its pauses to 'seconds'
    # (against the wall time of the whole run, less the pause: no fixed budget for the computation,
    # which a loaded machine can stretch past any)
    start = time.perf_counter()
    steps = w.session().steps(w.DEFAULT_QUERY, method="random", seed=5)
    next(steps)
    time.sleep(0.5)
    rest = list(steps)
    wall = time.perf_counter() - start
    assert rest[-1].seconds <= wall - 0.5 + 0.05


def test_summary_shows_the_interval_and_calls_by_purpose():
    answer = w.run_query(w.DEFAULT_QUERY)
    text = w.summary(answer)
    r = answer["result"]
    assert f"[{r.interval[0]:.3f}, {r.interval[1]:.3f}]" in text
    assert "calls by purpose" in text and "training" in text
    assert r.interval[0] <= answer["exact"] <= r.interval[1]


def test_default_demo_beats_random_sampling():
    blaze = w.run_query(w.DEFAULT_QUERY)["result"]
    rand = w.run_query(w.DEFAULT_QUERY, "random")["result"]
    assert blaze.oracle_calls < rand.oracle_calls


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


def test_sampler_choice_runs_that_sampler_and_shows_a_valid_interval():
    """Each sampler choice runs its own estimator; each interval shown holds the truth."""
    calls, paths = {}, {}
    for choice in w.SAMPLERS:
        answer = w.run_query(w.DEFAULT_QUERY, "blazeit", 0, choice)
        r = answer["result"]
        assert r.interval[0] <= answer["exact"] <= r.interval[1], (choice, r.interval)
        assert r.interval[1] - r.interval[0] <= 2 * 0.2 + 1e-9
        text = w.summary(answer)
        assert f"[{r.interval[0]:.3f}, {r.interval[1]:.3f}], a 95% confidence interval" in text
        assert f"sampler **{choice}**" in text and "calls by purpose" in text
        calls[choice], paths[choice] = r.oracle_calls, r.info["path"]
    assert w.run_query(w.DEFAULT_QUERY, "blazeit", 0, "stratified")["result"].method \
        == "blazeit-strat"
    assert "stratified" in paths["stratified"] and "control variate" in paths["control variate"]
    assert paths["random"].startswith("random sampling")
    # the same as the method buttons' random sampling, seed for seed
    assert calls["random"] == w.run_query(w.DEFAULT_QUERY, "random")["result"].oracle_calls
    with pytest.raises(ValueError, match="sampler must be one of"):
        w.plan("blazeit", "bogus")


def test_calls_by_purpose_add_up_for_every_sampler():
    for choice in w.SAMPLERS:
        r = w.run_query(w.DEFAULT_QUERY, "blazeit", 0, choice)["result"]
        by = r.info["oracle_calls_by_purpose"]
        assert sum(by.values()) == r.info["oracle_calls_all_purposes"]
        if choice == "random":
            assert by["training"] == by["heldout"] == 0 and by["query"] == r.oracle_calls
        else:  # the NN was trained on another recording's labels: charged, once
            s = w.session()
            assert by["training"] == s.train_calls_["training"] > 0
            assert by["heldout"] == s.train_calls_["heldout"] > 0


def test_sampler_control_changes_the_running_query():
    layout = w.app()
    editor, method, sampler, text, plot = layout[1][0]
    live = layout.live
    sampler.value = "stratified"
    while not live.done:
        live.step()
    assert "sampler **stratified**" in text.object and "method **blazeit-strat**" in text.object
    r = live.answer["result"]
    assert r.interval[0] <= live.answer["exact"] <= r.interval[1]
    sampler.value = "random"
    assert "sampler **random**" in text.object
    method.value = "scan"
    assert "method **scan**" in text.object and "sampler" not in text.object
