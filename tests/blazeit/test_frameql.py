"""FrameQL parsing: the paper's queries, and errors with line, column and what is supported."""

import numpy as np
import pytest

from dawnlab.blazeit import FrameQLError, Session, parse
from dawnlab.errors import InvalidArgument

CLASSES = ["car", "bus", "person"]


def test_paper_aggregate_query():
    q = parse("SELECT FCOUNT(*) FROM taipei WHERE class = 'car' "
              "ERROR WITHIN 0.1 AT CONFIDENCE 95%", classes=CLASSES)
    assert (q.kind, q.aggregate, q.table) == ("aggregate", "FCOUNT", "taipei")
    assert q.error == pytest.approx(0.1) and q.confidence == pytest.approx(0.95)
    assert q.classes == ("car",)


def test_paper_limit_query():
    q = parse("SELECT timestamp FROM taipei GROUP BY timestamp "
              "HAVING SUM(class='bus')>=1 AND SUM(class='car')>=5 LIMIT 10 GAP 300")
    assert (q.kind, q.limit, q.gap) == ("limit", 10, 300)
    assert [(t.classes, t.op, t.threshold) for t in q.terms] == [
        (("bus",), ">=", 1.0), (("car",), ">=", 5.0)]


def test_selection_with_udfs_and_rates():
    q = parse("SELECT * FROM v WHERE class = 'bus' AND redness(content) >= 17.5 "
              "AND area(mask) > 1000 AND timestamp < 500 FNR WITHIN 0.01 FPR WITHIN 0.02")
    assert q.kind == "select" and q.udfs == ("area", "redness")
    assert q.fnr == pytest.approx(0.01) and q.fpr == pytest.approx(0.02)
    assert q.frame_sql == '("timestamp" < 500)'
    assert "mean_r" in q.terms[0].sql and "xmax" in q.terms[0].sql


def test_confidence_without_percent_and_default_confidence():
    assert parse("SELECT FCOUNT(*) FROM v ERROR WITHIN 0.1 AT CONFIDENCE 0.9").confidence == 0.9
    assert parse("SELECT FCOUNT(*) FROM v ERROR WITHIN 0.1").confidence == 0.95


@pytest.mark.parametrize("text, line, col", [
    ("SELECT FCOUNT(*) FROM v WHERE class =\n  ERROR WITHIN 0.1", 2, 9),
    ("SELECT FCOUNT(*)\nFROM v\nWHERE class = 'car' ERROR WITHIN", 3, 27),
    ("SELECT 'abc FROM v", 1, 8),
])
def test_malformed_queries_report_line_and_column(text, line, col):
    with pytest.raises(FrameQLError) as info:
        parse(text)
    assert (info.value.line, info.value.col) == (line, col)
    assert isinstance(info.value, ValueError)
    assert f"line {line}, column {col}" in str(info.value)


def test_unsupported_clause_is_named_with_the_supported_ones():
    with pytest.raises(FrameQLError, match=r"OFFSET.*supported clauses are SELECT, FROM, WHERE"):
        parse("SELECT timestamp FROM v LIMIT 3 OFFSET 2")
    with pytest.raises(FrameQLError, match=r"takes no GROUP BY, HAVING, ORDER BY or LIMIT"):
        parse("SELECT FCOUNT(*) FROM v ORDER BY timestamp")


def test_unknown_class_lists_the_known_ones():
    with pytest.raises(FrameQLError, match=r"Unknown class 'truck'.*\['bus', 'car', 'person'\]") as info:
        parse("SELECT FCOUNT(*) FROM v\nWHERE class = 'truck'", classes=CLASSES)
    assert (info.value.line, info.value.col) == (2, 15)


@pytest.mark.parametrize("text, message", [
    ("SELECT FCOUNT(*) FROM v WHERE speed(mask) > 3", "Unknown function 'speed'"),
    ("SELECT FCOUNT(*) FROM v WHERE colour = 'red'", "Unknown column 'colour'"),
    ("SELECT timestamp FROM v GAP 3", "GAP must follow a LIMIT"),
    ("SELECT timestamp FROM v WHERE class = 'car' ERROR WITHIN 0.1", "apply to aggregates"),
    ("SELECT FCOUNT(*) FROM v ERROR WITHIN 0.1 AT CONFIDENCE 150%", "AT CONFIDENCE"),
    ("SELECT FCOUNT(*) FROM v ERROR WITHIN 0", "ERROR WITHIN must be positive"),
    ("SELECT FCOUNT(*) FROM v LIMIT 3", "takes no GROUP BY, HAVING, ORDER BY or LIMIT"),
    ("SELECT timestamp FROM v GROUP BY class", "GROUP BY supports 'timestamp'"),
    ("SELECT FCOUNT(*) FROM v JOIN w ON v.timestamp = w.timestamp", "not supported"),
    ("SELECT area(content) FROM v", "takes the column 'mask'"),
    ("DELETE FROM v", "Only SELECT"),
    ("", "non-empty"),
])
def test_unsupported_queries(text, message):
    with pytest.raises(FrameQLError, match=message):
        parse(text)


@pytest.mark.parametrize("text, message", [
    ("SELECT FCOUNT(*), COUNT(*) FROM v WHERE class = 'car'", "one aggregate at a time"),
    ("SELECT timestamp FROM v WHERE class = 'car' LIMIT 2.5", "LIMIT must be a positive integer"),
    ("SELECT timestamp FROM v WHERE class = 'car' LIMIT 2 GAP 2.7", "GAP must be a whole number"),
    ("SELECT FCOUNT(*) FROM v WHERE class = = 'car'", "incomplete expression"),
])
def test_issue_queries_that_ran_silently_or_leaked_internals(text, message):
    with pytest.raises(FrameQLError, match=message) as err:
        parse(text, classes=CLASSES)
    assert "sqlglot" not in str(err.value) and "Required keyword" not in str(err.value)


@pytest.mark.parametrize("where, classes", [
    ("class != 'car'", ("bus", "person")),
    ("NOT class = 'car' AND class != 'bus'", ("person",)),
    ("class NOT IN ('car', 'bus')", ("person",)),
    ("class IN ('car', 'bus') AND class != 'bus'", ("car",)),
])
def test_negations_choose_the_proxy_classes(where, classes):
    q = parse(f"SELECT timestamp FROM v WHERE {where}", classes=CLASSES)
    assert q.terms[0].classes == classes


def test_negated_class_limit_query_ranks_by_the_other_classes(small_session):
    """`class != 'car'` used to rank by the car count (and scan every frame)."""
    s = small_session
    q = "SELECT timestamp FROM v WHERE class != 'car' AND class != 'person' LIMIT 2 GAP 50"
    r = s.query(q)
    qualifying = set(s.exact(q.split(" LIMIT")[0]))
    assert set(r.value) <= qualifying and len(r.value) == 2
    scan = s.query(q, method="scan")
    assert r.oracle_calls < scan.oracle_calls


def test_projections_return_the_selected_columns(small_session):
    s = small_session
    r = s.query("SELECT timestamp, class, xmin FROM v WHERE class = 'bus' AND timestamp < 400")
    assert list(r.rows.columns) == ["timestamp", "class", "xmin"]
    assert set(r.rows["timestamp"]) == set(r.value) and set(r.rows["class"]) == {"bus"}
    star = s.query("SELECT * FROM v WHERE class = 'bus' AND timestamp < 400")
    assert {"timestamp", "class", "xmin", "ymax", "trackid", "seconds"} <= set(star.rows.columns)
    assert len(star.rows) == len(r.rows)
    plain = s.query("SELECT timestamp FROM v WHERE class = 'bus' AND timestamp < 400")
    assert plain.rows is None


def test_the_papers_track_query(small_session):
    """Section 3's example: cars seen large in more than n frames, grouped by track."""
    s = small_session
    q = ("SELECT * FROM cam WHERE class = 'car' AND area(mask) > 100 GROUP BY trackid "
         "HAVING COUNT(*) > 15")
    r = s.query(q)
    rows = s.store.sql('SELECT trackid, COUNT(*) FROM rel WHERE class = \'car\' AND '
                       '(xmax - xmin) * (ymax - ymin) > 100 GROUP BY trackid').fetchall()
    expect = sorted(t for t, n in rows if n > 15)
    assert r.value == expect and len(expect) > 0 and r.kind == "track"
    assert set(r.rows["trackid"]) == set(expect) and (r.rows.groupby("trackid").size() > 15).all()
    for having in ("COUNT(*) > 15 OR AVG(area(mask)) > 130",
                   "COUNT(DISTINCT timestamp) > 15"):
        r2 = s.query(q.replace("COUNT(*) > 15", having))
        assert r2.kind == "track" and len(r2.value) > 0


def _detections(s):
    """Every stored detection as a DataFrame (the brute-force reference)."""
    return s.store.sql('SELECT "timestamp", class, xmin, ymin, xmax, ymax, trackid FROM rel').df()


def test_from_name_is_checked():
    with pytest.raises(FrameQLError, match=r"FROM 'taipei'.*'traffic'") as err:
        parse("SELECT FCOUNT(*)\nFROM taipei WHERE class = 'car'", table="traffic")
    assert (err.value.line, err.value.col) == (2, 6)
    assert parse("SELECT FCOUNT(*) FROM Traffic", table=("traffic", "cam")).table == "Traffic"


def test_session_checks_the_from_name(small_session):
    s = small_session
    old = s.table
    try:
        s.table = ("cam",)
        with pytest.raises(FrameQLError, match="FROM 'v'"):
            s.query("SELECT FCOUNT(*) FROM v WHERE class = 'car'")
        with pytest.raises(FrameQLError, match="FROM 'v'"):  # a parsed Query is checked too
            s.query(parse("SELECT FCOUNT(*) FROM v WHERE class = 'car'"))
        assert s.query("SELECT FCOUNT(*) FROM cam WHERE class = 'car' AND timestamp < 50"
                       ).value == s.exact("SELECT FCOUNT(*) FROM cam WHERE class = 'car' AND "
                                          "timestamp < 50")
    finally:
        s.table = old
    with pytest.raises(InvalidArgument, match="'table'"):
        Session(s.source, s.oracle, table=3)


def test_avg_min_max_of_a_udf_match_brute_force(small_session):
    s = small_session
    d = _detections(s)
    cars = d[d["class"] == "car"]
    area = (cars.xmax - cars.xmin) * (cars.ymax - cars.ymin)
    r = s.query("SELECT AVG(area(mask)) FROM v WHERE class = 'car'")
    assert r.value == pytest.approx(area.mean()) and r.method == "scan"
    early = cars["timestamp"] < 500
    r = s.query("SELECT MAX(area(mask)) FROM v WHERE class = 'car' AND timestamp < 500")
    assert r.value == pytest.approx(area[early].max()) and r.n_frames == 500
    r = s.query("SELECT MIN(xmin) FROM v WHERE class = 'car' ERROR WITHIN 1")
    assert r.value == pytest.approx(cars.xmin.min()) and r.method == "exact"
    assert "answered exactly" in r.info["path"]
    none = s.query("SELECT AVG(area(mask)) FROM v WHERE class = 'car' AND xmin > 1000")
    assert none.value is None and none.interval is None
    with pytest.raises(FrameQLError, match=r"AVG\(\) takes a UDF"):
        parse("SELECT AVG(class) FROM v")


def test_per_frame_having_with_or_not_and_count_distinct(small_session):
    s = small_session
    d = _detections(s)
    per = d.groupby("timestamp")
    n = s.n_frames
    bus = per.apply(lambda g: (g["class"] == "bus").sum()).reindex(range(n), fill_value=0)
    kinds = per["class"].nunique().reindex(range(n), fill_value=0)
    rows = per.size().reindex(range(n), fill_value=0)
    base = "SELECT timestamp FROM v GROUP BY timestamp HAVING "
    cases = {
        "SUM(class = 'bus') >= 1 OR COUNT(DISTINCT class) >= 3": (bus >= 1) | (kinds >= 3),
        "NOT (COUNT(*) >= 2 OR SUM(class = 'bus') >= 1)": ~((rows >= 2) | (bus >= 1)),
        "COUNT(DISTINCT class) = 2 AND NOT SUM(class = 'bus') >= 1": (kinds == 2) & (bus < 1),
    }
    for having, expect in cases.items():
        want = sorted(np.flatnonzero(expect.to_numpy()).tolist())
        assert 0 < len(want) < n, having
        assert s.exact(base + having) == want, having
        got = s.query(base + having).value
        assert got == want, having
        lim = s.query(base + having + " LIMIT 3 GAP 20")
        assert len(lim.value) == 3 and set(lim.value) <= set(want), having
    with pytest.raises(FrameQLError, match="distinct 'class' or 'trackid'"):
        parse(base + "COUNT(DISTINCT xmin) > 2")


def test_order_by(small_session):
    s = small_session
    sel = "SELECT timestamp FROM v WHERE class = 'bus'"
    hits = s.exact(sel)
    assert s.query(sel + " ORDER BY timestamp DESC").value == hits[::-1]
    last = s.query(sel + " ORDER BY timestamp DESC LIMIT 3 GAP 50")
    from dawnlab.blazeit.store import greedy_gap
    assert last.value == greedy_gap(hits[::-1], 50, 3) and last.kind == "select"
    rows = s.query("SELECT timestamp, xmin FROM v WHERE class = 'bus' AND timestamp < 600 "
                   "ORDER BY xmin DESC").rows
    assert list(rows.xmin) == sorted(rows.xmin, reverse=True) and len(rows) > 3
    tq = ("SELECT trackid FROM v WHERE class = 'car' GROUP BY trackid HAVING COUNT(*) > 15 "
          "ORDER BY trackid DESC")
    r = s.query(tq)
    assert r.value == sorted(r.value, reverse=True) and len(r.value) > 1
    for bad, msg in [(sel + " ORDER BY xmin LIMIT 2", "timestamp \\(or seconds\\) first"),
                     (sel + " ORDER BY area(mask)", "ORDER BY takes columns"),
                     (sel + " ORDER BY xmin", "a selected column")]:
        with pytest.raises(FrameQLError, match=msg):
            parse(bad)
