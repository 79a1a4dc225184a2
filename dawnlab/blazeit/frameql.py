"""FrameQL: the query language of BlazeIt, parsed by extending sqlglot.

FrameQL (arXiv 1805.01046, Section 3) treats a video as a relation with one row
per detected object per frame: ``timestamp`` (the frame index; ``seconds`` is
the same instant in seconds), ``class``, ``mask`` (the box ``xmin, ymin, xmax,
ymax``), ``trackid``, ``content`` (the pixels inside the box) and ``features``.
On top of SQL it adds the clauses of Section 3 / Table 2:

- ``FCOUNT(*)``: objects per frame, averaged over the frames (Section 3.1);
- ``ERROR WITHIN e`` and ``AT CONFIDENCE p%``: the absolute error and the
  confidence of an approximate aggregate (Section 6);
- ``LIMIT n GAP g``: a scrubbing (limit) query whose answers are at least ``g``
  frames apart (Section 7);
- ``GROUP BY trackid HAVING ...``: a track query (Section 3's example, with
  ``COUNT(*)``, ``COUNT(DISTINCT ...)``, ``AVG``/``MIN``/``MAX`` of a UDF, ``AND``
  and ``OR``), kind ``"track"``, answered exactly over the labelled video;
- ``GROUP BY timestamp HAVING ...``: per-frame conditions ``SUM(predicate)``,
  ``COUNT(*)`` or ``COUNT(DISTINCT class | trackid)`` compared with a number,
  joined by ``AND``, ``OR`` and ``NOT`` (:attr:`Query.logic`);
- ``AVG``/``MIN``/``MAX`` of a UDF or a numeric column as the aggregate (over
  the matching detections), answered exactly;
- ``ORDER BY`` columns (``ASC``/``DESC``) of a selection, limit or track
  query: the frames (or tracks) and the rows come back in that order; with
  ``LIMIT`` the query is the first ``n`` frames in that order, answered by an
  exact selection (a ranked limit query returns *any* ``n`` frames);
- ``FROM``: the video's name, checked when the caller says which names it
  answers for (``parse(..., table=...)``, ``Session(table=...)``);
- projections: ``SELECT *`` or columns give those columns of the answer's
  detections (``Result.rows``);
- ``FNR WITHIN f`` / ``FPR WITHIN f``: the false negative / positive rates a
  content-based selection may incur (the first version of the paper,
  "Fast Exploratory Video Queries using Neural Networks", Section 5);
- user-defined functions over the mask and the content: ``area(mask)``,
  ``width(mask)``, ``height(mask)``, ``xcenter(mask)``, ``ycenter(mask)``,
  ``redness(content)``, ``greenness(content)``, ``blueness(content)``, and
  ``feature(features, k)``, entry ``k`` (0-based) of the stored feature
  vector (a colour histogram of the box, see :mod:`dawnlab.blazeit.store`).

The grammar is sqlglot's, extended by a :class:`FrameQLDialect` whose parser
reads the extra clauses after the ordinary query modifiers; no hand-written
parser.  :func:`parse` returns a :class:`Query` that says which kind of query
it is (``"aggregate"``, ``"limit"`` or ``"select"``) and holds its parts, or
raises :class:`FrameQLError` with the line and column of the fault.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp, parser
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError

from dawnlab.errors import InvalidArgument

__all__ = ["FrameQLError", "Query", "Term", "FrameQLDialect", "parse",
           "COLUMNS", "UDFS", "AGGREGATES"]

#: Columns of the FrameQL relation and what each means.
COLUMNS = {
    "timestamp": "frame index",
    "seconds": "frame time in seconds",
    "class": "object class",
    "trackid": "track id (IoU linking)",
    "score": "detector confidence",
    "xmin": "box left", "ymin": "box top", "xmax": "box right", "ymax": "box bottom",
    "mask": "the box (use it inside a UDF)",
    "content": "the pixels in the box (use it inside a UDF)",
    "features": "the box's feature vector, a colour histogram (use it inside feature(features, k))",
}
#: UDFs and the SQL each is translated to over the stored relation.
UDFS = {
    "area": ("mask", "((xmax - xmin) * (ymax - ymin))"),
    "width": ("mask", "(xmax - xmin)"),
    "height": ("mask", "(ymax - ymin)"),
    "xcenter": ("mask", "((xmin + xmax) / 2.0)"),
    "ycenter": ("mask", "((ymin + ymax) / 2.0)"),
    "redness": ("content", "(mean_r - (mean_g + mean_b) / 2.0)"),
    "greenness": ("content", "(mean_g - (mean_r + mean_b) / 2.0)"),
    "blueness": ("content", "(mean_b - (mean_r + mean_g) / 2.0)"),
    "feature": ("features", "features[{k} + 1]"),
}
#: Aggregates FrameQL answers.
AGGREGATES = ("FCOUNT(*)", "COUNT(*)", "COUNT(DISTINCT trackid)", "AVG(x)", "MIN(x)",
              "MAX(x)")
#: Columns a value aggregate (AVG/MIN/MAX) or ORDER BY may use directly.
_NUMERIC = ("timestamp", "seconds", "score", "xmin", "ymin", "xmax", "ymax", "trackid")
_ORDERABLE = _NUMERIC + ("class",)
_FRAME_COLUMNS = {"timestamp", "seconds"}
_RESERVED = {"ERROR", "AT", "GAP", "FNR", "FPR"}
_ALLOWED_ARGS = {"expressions", "from", "from_", "where", "group", "having", "limit", "kind",
                 "order"}


class FrameQLError(InvalidArgument):
    """A FrameQL query that cannot be run; ``line`` and ``col`` locate the fault (1-based).

    Examples
    --------
    >>> try:
    ...     parse("SELECT FCOUNT(*) FROM v WHERE class = ")
    ... except FrameQLError as err:
    ...     (err.line, err.col) > (0, 0)
    True
    """

    def __init__(self, message: str, line: int = 1, col: int = 1):
        super().__init__(f"{message} (line {line}, column {col})")
        self.line = line
        self.col = col


class _FrameQLParser(parser.Parser):
    """sqlglot's parser plus BlazeIt's clauses, read after each run of modifiers."""

    def _parse_table_alias(self, alias_tokens=None):
        if self._curr and self._curr.text.upper() in _RESERVED:
            return None
        return super()._parse_table_alias(alias_tokens)

    def _frameql_number(self, clause: str) -> exp.Expr:
        token = self._curr
        number = self._parse_number()
        if number is None:
            self.raise_error(f"{clause} needs a number", token=token)
        return number

    def _parse_query_modifiers(self, this):
        this = super()._parse_query_modifiers(this)
        if not isinstance(this, exp.Select):
            return this
        extra = this.meta.setdefault("frameql", {})
        while self._curr is not None:
            token = self._curr
            if self._match_text_seq("ERROR", "WITHIN"):
                key, value = "error", self._frameql_number("ERROR WITHIN")
            elif self._match_text_seq("AT", "CONFIDENCE"):
                key, value = "confidence", self._frameql_number("AT CONFIDENCE")
                extra["confidence_percent"] = bool(self._match(sqlglot.TokenType.MOD))
            elif self._match_text_seq("FNR", "WITHIN"):
                key, value = "fnr", self._frameql_number("FNR WITHIN")
            elif self._match_text_seq("FPR", "WITHIN"):
                key, value = "fpr", self._frameql_number("FPR WITHIN")
            elif self._match_text_seq("GAP"):
                if this.args.get("limit") is None:
                    self.raise_error("GAP must follow a LIMIT", token=token)
                key, value = "gap", self._frameql_number("GAP")
            else:
                break
            if key in extra:
                self.raise_error(f"Found multiple {token.text.upper()} clauses", token=token)
            extra[key] = (float(value.this), token.line, token.col)
            this = super()._parse_query_modifiers(this)
        return this


class FrameQLDialect(Dialect):
    """The sqlglot dialect of FrameQL: DuckDB-like SQL plus BlazeIt's clauses."""

    Parser = _FrameQLParser


@dataclass(frozen=True)
class Term:
    """One per-frame count in a query: the number of rows of a frame that match ``predicate``.

    ``op`` and ``threshold`` (for limit and selection queries) say when the
    frame qualifies, e.g. ``count >= 1``; ``sql`` is the predicate translated to
    SQL over the stored relation; ``classes`` the classes it names.
    """

    sql: str
    op: str = ">="
    threshold: float = 1.0
    classes: tuple[str, ...] = ()
    predicate: exp.Expr | None = field(default=None, compare=False, repr=False)
    #: ``"class"`` or ``"trackid"`` for ``COUNT(DISTINCT column)``: distinct values, not rows
    distinct: str | None = None

    def holds(self, count):
        """Whether a frame with ``count`` matching rows qualifies (works on arrays)."""
        import operator

        return {">=": operator.ge, ">": operator.gt, "=": operator.eq, "<=": operator.le,
                "<": operator.lt, "!=": operator.ne}[self.op](count, self.threshold)


@dataclass(frozen=True)
class Query:
    """A parsed FrameQL query.

    Attributes
    ----------
    text : str
        The query as written.
    kind : str
        ``"aggregate"`` (a number), ``"limit"`` (up to ``limit`` frames at least
        ``gap`` apart) or ``"select"`` (every qualifying frame).
    table : str
        The video named in ``FROM``.
    aggregate : str or None
        ``"FCOUNT"``, ``"COUNT"`` or ``"COUNT_DISTINCT_TRACKS"`` for aggregates.
    terms : tuple of Term
        The per-frame counts the query depends on; a frame qualifies for a
        limit or selection query when every term holds.
    frame_sql : str or None
        The conjuncts of ``WHERE`` that only involve ``timestamp``/``seconds``,
        as SQL (a temporal filter).
    classes : tuple of str
        Every class the query names.
    udfs : tuple of str
        The UDFs used.
    error, confidence : float or None
        ``ERROR WITHIN`` and ``AT CONFIDENCE`` (as a fraction).
    limit : int or None
    gap : int
    fnr, fpr : float or None
    """

    text: str
    kind: str
    table: str
    aggregate: str | None
    terms: tuple[Term, ...]
    frame_sql: str | None
    classes: tuple[str, ...]
    udfs: tuple[str, ...]
    error: float | None = None
    confidence: float | None = None
    limit: int | None = None
    gap: int = 0
    fnr: float | None = None
    fpr: float | None = None
    ast: exp.Select | None = field(default=None, compare=False, repr=False)
    having_sql: str | None = None
    #: how the terms combine: ``None`` (all must hold), a term index, or
    #: ``("and" | "or", [parts])`` / ``("not", part)``
    logic: object = None
    #: ``ORDER BY``: ``(column, descending)`` pairs
    order: tuple = ()
    #: the SQL of an AVG/MIN/MAX aggregate's argument
    value_sql: str | None = None

    def combine(self, holds):
        """Combine per-term values (booleans, or probabilities) by :attr:`logic`.

        ``holds[k]`` is term ``k``'s value per frame; booleans combine with
        and / or / not, probabilities as independent events (product,
        ``1 - prod(1 - p)``, ``1 - p``).

        Examples
        --------
        >>> q = parse("SELECT timestamp FROM v GROUP BY timestamp "
        ...           "HAVING SUM(class = 'bus') >= 1 OR NOT COUNT(*) >= 2")
        >>> q.logic
        ('or', [0, ('not', 1)])
        >>> import numpy as np
        >>> q.combine([np.array([True, False, False]), np.array([True, True, False])]).tolist()
        [True, False, True]
        """
        import numpy as np

        holds = [np.asarray(h) for h in holds]
        boolean = all(h.dtype == bool for h in holds)

        def ev(node):
            if isinstance(node, int):
                return holds[node]
            op, arg = node
            if op == "not":
                v = ev(arg)
                return ~v if boolean else 1.0 - v
            vals = [ev(a) for a in arg]
            out = vals[0]
            for v in vals[1:]:
                if op == "and":
                    out = (out & v) if boolean else out * v
                else:
                    out = (out | v) if boolean else 1.0 - (1.0 - out) * (1.0 - v)
            return out

        if self.logic is None:
            out = holds[0] if holds else np.ones(0, bool)
            for v in holds[1:]:
                out = (out & v) if boolean else out * v
            return out
        return ev(self.logic)

    @property
    def projection(self) -> list[str]:
        """The selected columns (``["*"]`` for ``SELECT *``), lower-case."""
        if self.ast is None:
            return ["timestamp"]
        out = []
        for p in self.ast.expressions:
            if isinstance(p, exp.Star):
                out.append("*")
            elif isinstance(p, exp.Column):
                out.append(p.name.lower())
        return out or ["timestamp"]

    @property
    def detection_sql(self) -> str:
        """The detection predicate of an aggregate (the first term's), as SQL."""
        return self.terms[0].sql if self.terms else "TRUE"


def _line_col(text: str, pos: int) -> tuple[int, int]:
    pos = max(0, min(pos, len(text)))
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return line, col


def _node_position(text: str, node: exp.Expr) -> tuple[int, int]:
    """Best-effort line/column of an AST node (sqlglot keeps them on identifiers)."""
    for sub in node.walk():
        meta = getattr(sub, "meta", None) or {}
        if "line" in meta and "col" in meta:
            # sqlglot's col is the column of the token's last character
            start = meta.get("start")
            if start is not None:
                return _line_col(text, start)
            return meta["line"], meta["col"]
    name = node.sql() if hasattr(node, "sql") else str(node)
    found = text.lower().find(name.lower())
    if found < 0 and isinstance(node, exp.Func):
        found = text.lower().find(str(node.name).lower())
    return _line_col(text, found if found >= 0 else 0)


def _token_error_position(text: str) -> int:
    # sqlglot's TokenError carries no position: find the unterminated quote.
    for quote in ("'", '"'):
        idx = [m.start() for m in re.finditer(re.escape(quote), text)]
        if len(idx) % 2 == 1:
            return idx[-1]
    return len(text)


def parse(text: str, classes: list[str] | tuple[str, ...] | None = None,
          table: str | tuple[str, ...] | None = None) -> Query:
    """Parse a FrameQL query.

    Parameters
    ----------
    text : str
        The query, e.g. ``"SELECT FCOUNT(*) FROM v WHERE class = 'car' ERROR
        WITHIN 0.1 AT CONFIDENCE 95%"``.
    classes : sequence of str, optional
        The classes the video's oracle knows; when given, a query naming any
        other class is an error that lists these.
    table : str or tuple of str, optional
        The name(s) the video answers to; when given, a ``FROM`` naming
        another video is an error (case-insensitive).

    Returns
    -------
    Query

    Raises
    ------
    FrameQLError
        For malformed text (with the line and column of the fault), an
        unsupported clause, column or function (naming it and listing what is
        supported), or an unknown class.

    Examples
    --------
    >>> q = parse("SELECT FCOUNT(*) FROM taipei WHERE class = 'car' "
    ...           "ERROR WITHIN 0.1 AT CONFIDENCE 95%")
    >>> q.kind, q.aggregate, q.error, q.confidence, q.classes
    ('aggregate', 'FCOUNT', 0.1, 0.95, ('car',))
    >>> q = parse("SELECT timestamp FROM taipei GROUP BY timestamp "
    ...           "HAVING SUM(class='bus') >= 1 AND SUM(class='car') >= 5 LIMIT 10 GAP 300")
    >>> q.kind, q.limit, q.gap, [(t.classes, t.op, t.threshold) for t in q.terms]
    ('limit', 10, 300, [(('bus',), '>=', 1.0), (('car',), '>=', 5.0)])
    """
    if not isinstance(text, str) or not text.strip():
        raise FrameQLError("A FrameQL query must be a non-empty string; got "
                           f"{text!r}", 1, 1)
    try:
        trees = sqlglot.parse(text, read=FrameQLDialect)
    except ParseError as err:
        info = err.errors[0] if err.errors else {}
        desc = info.get("description") or str(err).split(". Line")[0]
        if "Required keyword" in desc or "sqlglot" in desc:
            desc = "an incomplete expression (an operator without its operand?)"
        line, col = info.get("line") or 1, info.get("col") or 1
        highlight = info.get("highlight")
        if highlight and "\n" not in highlight:
            col = max(1, col - len(highlight) + 1)  # sqlglot gives the token's last column
        where = f" near {highlight!r}" if highlight else ""
        raise FrameQLError(f"Malformed FrameQL: {desc}{where}", line, col) from None
    except TokenError as err:
        line, col = _line_col(text, _token_error_position(text))
        raise FrameQLError(f"Malformed FrameQL: {err} (an unterminated string?)",
                           line, col) from None
    trees = [t for t in trees if t is not None]
    if len(trees) != 1:
        raise FrameQLError(f"Expected exactly one FrameQL statement, got {len(trees)}", 1, 1)
    return _analyse(text, trees[0], classes, table)


def _analyse(text: str, tree: exp.Expr, classes, table=None) -> Query:
    if not isinstance(tree, exp.Select):
        line, col = _node_position(text, tree)
        raise FrameQLError(f"Only SELECT queries are FrameQL; got a {tree.key.upper()} "
                           "statement", line, col)
    for key, value in tree.args.items():
        if value in (None, [], False) or key in _ALLOWED_ARGS:
            continue
        line, col = _node_position(text, value if isinstance(value, exp.Expr) else tree)
        raise FrameQLError(
            f"The clause {key.upper().rstrip('S')} is not supported by FrameQL; supported clauses are "
            "SELECT, FROM, WHERE, GROUP BY, HAVING, ORDER BY, LIMIT ... GAP, ERROR WITHIN, "
            "AT CONFIDENCE, FNR WITHIN, FPR WITHIN", line, col)
    source = tree.args.get("from") or tree.args.get("from_")
    if source is None or not isinstance(source.this, exp.Table) or tree.find(exp.Join):
        raise FrameQLError("A FrameQL query reads FROM exactly one video name", 1, 1)
    if any(isinstance(n, (exp.Subquery, exp.Union)) for n in tree.walk() if n is not tree):
        line, col = _node_position(text, tree.find(exp.Subquery) or tree)
        raise FrameQLError("Subqueries are not supported by FrameQL", line, col)
    extra = tree.meta.get("frameql", {})
    if table is not None:
        names = (table,) if isinstance(table, str) else tuple(table)
        if source.this.name.lower() not in {n.lower() for n in names}:
            line, col = _node_position(text, source.this)
            raise FrameQLError(f"FROM {source.this.name!r}: this session answers for the video "
                               f"{' or '.join(repr(n) for n in names)}; query it by that name",
                               line, col)
    _check_names(text, tree)

    named = tuple(sorted({lit.name for eq in tree.find_all(exp.EQ, exp.NEQ, exp.In)
                          for lit in eq.find_all(exp.Literal)
                          if lit.is_string and _mentions_class(eq)}))
    if classes is not None:
        for name in named:
            if name not in classes:
                pos = text.find(f"'{name}'")
                line, col = _line_col(text, pos if pos >= 0 else 0)
                raise FrameQLError(f"Unknown class {name!r}; this video's oracle knows "
                                   f"{sorted(classes)}", line, col)
    udfs = tuple(sorted({f.name.lower() for f in tree.find_all(exp.Anonymous)
                         if f.name.lower() in UDFS}))

    where = tree.args.get("where")
    frame_parts, det_parts = [], []
    if where is not None:
        for conj in where.this.flatten() if isinstance(where.this, exp.And) else [where.this]:
            cols = {c.name.lower() for c in conj.find_all(exp.Column)}
            if cols and cols <= _FRAME_COLUMNS and not conj.find(exp.Anonymous):
                frame_parts.append(conj)
            else:
                det_parts.append(conj)
    frame_sql = " AND ".join(f"({_to_sql(p)})" for p in frame_parts) or None
    det_sql = " AND ".join(f"({_to_sql(p)})" for p in det_parts) or "TRUE"
    det_classes = tuple(sorted({lit.name for p in det_parts for eq in p.find_all(exp.EQ, exp.In)
                                for lit in eq.find_all(exp.Literal)
                                if lit.is_string and _mentions_class(eq)}))
    allowed = _allowed_classes(det_parts, classes)
    if allowed is not None:
        det_classes = allowed

    projections = tree.expressions
    aggregate = None
    aggs = [p for p in projections if _aggregate_name(p) is not None]
    if len(aggs) > 1 or (aggs and len(projections) > 1):
        line, col = _node_position(text, aggs[-1] if len(aggs) > 1 else projections[-1])
        raise FrameQLError("A FrameQL query answers one aggregate at a time (got "
                           f"{', '.join(p.sql() for p in projections)}); run one query per "
                           "aggregate: " + ", ".join(AGGREGATES), line, col)
    value_sql = None
    if len(projections) == 1 and _aggregate_name(projections[0]) is not None:
        aggregate = _aggregate_name(projections[0])
        if aggregate in ("AVG", "MIN", "MAX"):
            node = projections[0].this if isinstance(projections[0], exp.Alias) else \
                projections[0]
            arg = node.this
            ok = (isinstance(arg, exp.Anonymous) and arg.name.lower() in UDFS) or (
                isinstance(arg, exp.Column) and arg.name.lower() in _NUMERIC)
            if not ok:
                line, col = _node_position(text, node)
                raise FrameQLError(f"{aggregate}() takes a UDF (e.g. area(mask)) or a numeric "
                                   f"column {list(_NUMERIC)}; got {node.sql()!r}", line, col)
            value_sql = _to_sql(arg)
    order = _order_keys(text, tree, aggregate)
    limit = tree.args.get("limit")
    having = tree.args.get("having")
    error = extra.get("error", (None,))[0]
    confidence = extra.get("confidence", (None,))[0]
    if confidence is not None:
        confidence = confidence / 100.0 if (extra.get("confidence_percent") or confidence > 1) \
            else confidence
        if not 0 < confidence < 1:
            _, line, col = extra["confidence"]
            raise FrameQLError(f"AT CONFIDENCE must be in (0%, 100%); got {confidence:.4g}",
                               line, col)
    if error is not None and error <= 0:
        _, line, col = extra["error"]
        raise FrameQLError(f"ERROR WITHIN must be positive; got {error}", line, col)
    for rate in ("fnr", "fpr"):
        if rate in extra and not 0 <= extra[rate][0] < 1:
            _, line, col = extra[rate]
            raise FrameQLError(f"{rate.upper()} WITHIN must be in [0, 1); got {extra[rate][0]}",
                               line, col)

    if aggregate is not None:
        if having is not None or tree.args.get("group") is not None or limit is not None \
                or order:
            line, col = _node_position(text, having or tree.args.get("group") or limit
                                       or tree.args["order"])
            raise FrameQLError("An aggregate query takes no GROUP BY, HAVING, ORDER BY or LIMIT; "
                               "supported aggregates are " + ", ".join(AGGREGATES), line, col)
        if "gap" in extra or "fnr" in extra or "fpr" in extra:
            key = next(k for k in ("gap", "fnr", "fpr") if k in extra)
            _, line, col = extra[key]
            raise FrameQLError(f"{key.upper()} applies to limit and selection queries, not "
                               "to aggregates", line, col)
        terms = (Term(sql=det_sql, classes=det_classes),)
        kind = "aggregate"
        if error is not None and confidence is None:
            confidence = 0.95
    else:
        for proj in projections:
            if _aggregate_name(proj) is None and not isinstance(proj, exp.Star) and not (
                    isinstance(proj, exp.Column) and proj.name.lower() in COLUMNS):
                line, col = _node_position(text, proj)
                raise FrameQLError(f"Cannot select {proj.sql()!r}; select timestamp, *, a column "
                                   "or one aggregate (" + ", ".join(AGGREGATES) + ")", line, col)
        if "error" in extra or "confidence" in extra:
            key = "error" if "error" in extra else "confidence"
            _, line, col = extra[key]
            raise FrameQLError("ERROR WITHIN / AT CONFIDENCE apply to aggregates "
                               "(" + ", ".join(AGGREGATES) + ")", line, col)
        group = tree.args.get("group")
        keys = [g.name.lower() for g in group.expressions if isinstance(g, exp.Column)] \
            if group is not None else []
        if group is not None and (keys not in (["timestamp"], ["trackid"])
                                  or len(group.expressions) != 1):
            line, col = _node_position(text, group)
            raise FrameQLError("GROUP BY supports 'timestamp' (one group per frame) or "
                               f"'trackid' (one group per track); got {group.sql()!r}",
                               line, col)
        logic = None
        if keys == ["trackid"]:
            # a track query (Section 3's example): answered exactly over the labelled video
            having_sql = _to_sql(having.this) if having is not None else None
            terms = (Term(sql=det_sql, classes=det_classes),)
            kind = "track"
            extra["having_sql"] = having_sql
        else:
            terms, logic = _having_terms(text, having, det_sql) if having is not None else \
                ((Term(sql=det_sql, classes=det_classes),), None)
            # ORDER BY with LIMIT: the first n in that order, which only an exact selection
            # answers (a ranked limit query returns any n qualifying frames)
            kind = "limit" if limit is not None and not order else "select"
        if order and limit is not None and kind != "track" and \
                order[0][0] not in ("timestamp", "seconds"):
            line, col = _node_position(text, tree.args["order"])
            raise FrameQLError("ORDER BY with LIMIT takes timestamp (or seconds) first: the "
                               "first n frames in time order", line, col)
        if kind != "track":
            for c, _ in order:
                if c not in ("timestamp", "seconds") and tree.find(exp.Star) is None and \
                        c not in [p.name.lower() for p in projections
                                  if isinstance(p, exp.Column)]:
                    line, col = _node_position(text, tree.args["order"])
                    raise FrameQLError(f"ORDER BY {c!r}: a selection is ordered by timestamp, "
                                       "seconds or a selected column", line, col)
    n_limit = None
    if limit is not None:
        value = limit.args.get("expression")
        if not isinstance(value, exp.Literal) or value.is_string or \
                not float(value.this).is_integer() or int(float(value.this)) < 1:
            line, col = _node_position(text, limit)
            raise FrameQLError(f"LIMIT must be a positive integer; got {limit.sql()!r}", line, col)
        n_limit = int(float(value.this))
    gap_value = extra.get("gap", (0,))[0]
    if not float(gap_value).is_integer():
        _, line, col = extra["gap"]
        raise FrameQLError(f"GAP must be a whole number of frames; got {gap_value:g}", line, col)
    gap = int(gap_value)
    if gap < 0:
        _, line, col = extra["gap"]
        raise FrameQLError(f"GAP must be >= 0; got {gap}", line, col)
    all_classes = tuple(sorted(set(named)))
    if aggregate is not None:
        logic = None
    return Query(text=text, kind=kind, table=source.this.name, aggregate=aggregate,
                 terms=terms, frame_sql=frame_sql, classes=all_classes, udfs=udfs,
                 error=error, confidence=confidence, limit=n_limit, gap=gap,
                 fnr=extra.get("fnr", (None,))[0], fpr=extra.get("fpr", (None,))[0], ast=tree,
                 having_sql=extra.get("having_sql"), logic=logic, order=order,
                 value_sql=value_sql)


def _order_keys(text: str, tree: exp.Select, aggregate) -> tuple:
    """``ORDER BY`` as ``(column, descending)`` pairs; plain columns only."""
    order = tree.args.get("order")
    if order is None:
        return ()
    keys = []
    for o in order.expressions:
        node = o.this if isinstance(o, exp.Ordered) else o
        if not (isinstance(node, exp.Column) and node.name.lower() in _ORDERABLE):
            line, col = _node_position(text, node)
            raise FrameQLError(f"ORDER BY takes columns {list(_ORDERABLE)}; got {node.sql()!r}",
                               line, col)
        keys.append((node.name.lower(), bool(o.args.get("desc")) if isinstance(o, exp.Ordered)
                     else False))
    return tuple(keys)


def _allowed_classes(parts, classes):
    """The classes a detection can have under the top-level conjuncts, when they say.

    ``class = 'c'`` and ``class IN (...)`` keep those classes; ``class != 'c'``,
    ``NOT class = 'c'`` and ``class NOT IN (...)`` remove them (which needs the
    oracle's classes).  ``None`` when no conjunct constrains the class.
    """
    allowed = None if classes is None else set(classes)
    said = False
    for part in parts:
        node, negate = part, False
        while isinstance(node, (exp.Not, exp.Paren)):
            negate ^= isinstance(node, exp.Not)
            node = node.this
        names, op = None, None
        if isinstance(node, (exp.EQ, exp.NEQ)):
            col, lit = node.this, node.expression
            if isinstance(lit, exp.Column) and isinstance(col, exp.Literal):
                col, lit = lit, col
            if isinstance(col, exp.Column) and col.name.lower() == "class" and \
                    isinstance(lit, exp.Literal) and lit.is_string:
                names, op = {lit.name}, "keep" if isinstance(node, exp.EQ) else "drop"
        elif isinstance(node, exp.In) and isinstance(node.this, exp.Column) and \
                node.this.name.lower() == "class" and all(
                    isinstance(e, exp.Literal) and e.is_string for e in node.expressions):
            names, op = {e.name for e in node.expressions}, "keep"
        if names is None:
            continue
        if negate:
            op = "drop" if op == "keep" else "keep"
        if op == "drop" and allowed is None:
            return None  # a complement needs the oracle's classes
        said = True
        if allowed is None:
            allowed = set(names)
        else:
            allowed = allowed & names if op == "keep" else allowed - names
    return tuple(sorted(allowed)) if said else None


def _mentions_class(node: exp.Expr) -> bool:
    return any(c.name.lower() == "class" for c in node.find_all(exp.Column))


def _aggregate_name(node: exp.Expr) -> str | None:
    node = node.this if isinstance(node, exp.Alias) else node
    if isinstance(node, exp.Anonymous) and node.name.upper() == "FCOUNT":
        return "FCOUNT"
    if isinstance(node, exp.Count):
        arg = node.this
        if isinstance(arg, exp.Star):
            return "COUNT"
        if isinstance(arg, exp.Distinct) and [e.name.lower() for e in arg.expressions] == ["trackid"]:
            return "COUNT_DISTINCT_TRACKS"
    for cls, name in ((exp.Avg, "AVG"), (exp.Min, "MIN"), (exp.Max, "MAX")):
        if isinstance(node, cls):
            return name
    return None


def _check_names(text: str, tree: exp.Select) -> None:
    allowed_funcs = (exp.Count, exp.Sum, exp.Distinct, exp.Avg, exp.Min, exp.Max)
    for func in tree.find_all(exp.Func):
        if isinstance(func, exp.Anonymous):
            name = func.name.lower()
            if name == "fcount":
                continue
            if name not in UDFS:
                line, col_ = _node_position(text, func)
                raise FrameQLError(f"Unknown function {func.name!r}; supported UDFs are "
                                   f"{sorted(UDFS)} and aggregates {', '.join(AGGREGATES)}, "
                                   "SUM(predicate)", line, col_)
            args = [a.name.lower() for a in func.expressions]
            if name == "feature":
                ok = (len(func.expressions) == 2 and args[0] == "features"
                      and isinstance(func.expressions[1], exp.Literal)
                      and not func.expressions[1].is_string
                      and float(func.expressions[1].this).is_integer()
                      and 0 <= int(float(func.expressions[1].this)) < 12)
                if not ok:
                    line, col_ = _node_position(text, func)
                    raise FrameQLError("feature() takes the column 'features' and an entry "
                                       f"0 .. 11, e.g. feature(features, 3); got {func.sql()!r}",
                                       line, col_)
                continue
            if args != [UDFS[name][0]]:
                line, col_ = _node_position(text, func)
                raise FrameQLError(f"{name}() takes the column {UDFS[name][0]!r}; got "
                                   f"{func.sql()!r}", line, col_)
        elif not isinstance(func, allowed_funcs) and not isinstance(func, (exp.And, exp.Or)):
            if isinstance(func, exp.Binary) or isinstance(func, (exp.Not, exp.Paren, exp.In,
                                                                 exp.Between)):
                continue
            line, col_ = _node_position(text, func)
            raise FrameQLError(f"Unsupported function {func.sql()!r}; supported are UDFs "
                               f"{sorted(UDFS)}, FCOUNT(*), COUNT(*), COUNT(DISTINCT trackid), "
                               "SUM(predicate)", line, col_)
    for col in tree.find_all(exp.Column):
        if col.name.lower() not in COLUMNS:
            line, col_ = _node_position(text, col)
            raise FrameQLError(f"Unknown column {col.name!r}; FrameQL columns are "
                               f"{sorted(COLUMNS)}", line, col_)
        if col.name.lower() in ("mask", "content", "features"):
            parent = col.parent
            if not (isinstance(parent, exp.Anonymous) and parent.name.lower() in UDFS):
                line, col_ = _node_position(text, col)
                raise FrameQLError(f"{col.name!r} can only be used inside a UDF: "
                                   f"{sorted(UDFS)}", line, col_)


def _to_sql(node: exp.Expr) -> str:
    """Translate a FrameQL expression to DuckDB SQL over the stored relation."""

    def rewrite(n):
        if isinstance(n, exp.Anonymous) and n.name.lower() == "feature":
            k = int(float(n.expressions[1].this))
            return sqlglot.parse_one(UDFS["feature"][1].format(k=k), read="duckdb")
        if isinstance(n, exp.Anonymous) and n.name.lower() in UDFS:
            return sqlglot.parse_one(UDFS[n.name.lower()][1], read="duckdb")
        if isinstance(n, exp.Column):
            name = n.name.lower()
            return exp.column(name, quoted=True)
        return n

    return node.copy().transform(rewrite).sql(dialect="duckdb")


_OPS = {exp.GTE: ">=", exp.GT: ">", exp.EQ: "=", exp.LTE: "<=", exp.LT: "<", exp.NEQ: "!="}
_FLIP = {">=": "<=", ">": "<", "=": "=", "<=": ">=", "<": ">", "!=": "!="}


def _having_terms(text: str, having: exp.Having, det_sql: str) -> tuple[tuple[Term, ...], object]:
    """The per-frame HAVING's terms and how they combine (``None``: all must hold)."""
    terms: list[Term] = []

    def leaf(part) -> int:
        op = _OPS.get(type(part))
        ok = op is not None
        distinct = None
        if ok:
            left, right = part.this, part.expression
            if isinstance(left, exp.Literal) and not left.is_string:
                left, right, op = right, left, _FLIP[op]
            ok = isinstance(right, exp.Literal) and not right.is_string
        if ok:
            if isinstance(left, exp.Sum):
                pred = left.this
                sql = f"({det_sql}) AND ({_to_sql(pred)})"
            elif isinstance(left, exp.Count) and isinstance(left.this, exp.Star):
                pred = None
                sql = det_sql
            elif isinstance(left, exp.Count) and isinstance(left.this, exp.Distinct):
                cols = [e.name.lower() if isinstance(e, exp.Column) else None
                        for e in left.this.expressions]
                if cols not in (["class"], ["trackid"]):
                    line, col = _node_position(text, left)
                    raise FrameQLError("COUNT(DISTINCT ...) in a per-frame HAVING counts the "
                                       f"distinct 'class' or 'trackid' values; got {left.sql()!r}",
                                       line, col)
                pred, sql, distinct = None, det_sql, cols[0]
            else:
                ok = False
        if not ok:
            line, col = _node_position(text, part)
            raise FrameQLError(f"Unsupported HAVING condition {part.sql()!r}; use "
                               "SUM(<predicate>) <op> n, COUNT(*) <op> n or COUNT(DISTINCT "
                               "class) <op> n, joined by AND, OR and NOT", line, col)
        classes = tuple(sorted({lit.name for eq in (pred.find_all(exp.EQ, exp.In) if pred else [])
                                for lit in eq.find_all(exp.Literal)
                                if lit.is_string and _mentions_class(eq)}))
        terms.append(Term(sql=sql, op=op, threshold=float(right.this), classes=classes,
                          predicate=pred, distinct=distinct))
        return len(terms) - 1

    def walk(node):
        while isinstance(node, exp.Paren):
            node = node.this
        if isinstance(node, exp.Not):
            return ("not", walk(node.this))
        if isinstance(node, (exp.And, exp.Or)):
            kind = "and" if isinstance(node, exp.And) else "or"
            parts = []
            for sub in (node.this, node.expression):
                got = walk(sub)
                if isinstance(got, tuple) and got[0] == kind:
                    parts.extend(got[1])  # flatten a AND b AND c
                else:
                    parts.append(got)
            return (kind, parts)
        return leaf(node)

    logic = walk(having.this)
    if isinstance(logic, int) or (logic[0] == "and" and all(isinstance(p, int) for p in logic[1])):
        logic = None  # every term must hold: the plain form
    return tuple(terms), logic
