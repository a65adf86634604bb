"""Which tables a SQL script reads and writes, for lineage (parsed with sqlglot, imported only when called).

sqlglot is not a dependency of the core: the plugins that call :func:`tables_in` depend on it. Without
sqlglot, or on SQL it cannot parse, the answer is two empty lists (lineage is best effort, never an error).
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["tables_in"]

_log = logging.getLogger(__name__)

# Our dialect names -> sqlglot's.
_DIALECTS = {"postgres": "postgres", "postgresql": "postgres", "snowflake": "snowflake", "sqlite": "sqlite"}


def tables_in(sql: str, dialect: str = "postgres") -> tuple[list[str], list[str]]:
    """``(reads, writes)``: the tables ``sql`` (one statement or a script) reads from and writes to.

    Names are as written in the SQL, qualified as written (``public.orders``, ``db.schema.t``), bare
    identifiers folded the way the database folds them (lower case; upper case for Snowflake), in order
    of first appearance, without duplicates. CTE names are not tables. A table that is written is not
    also listed as read unless a statement reads it. Returns ``([], [])`` when sqlglot is missing or
    cannot parse ``sql``.

    >>> tables_in("insert into mart.daily select * from raw.orders join raw.users using (id)")
    (['raw.orders', 'raw.users'], ['mart.daily'])
    """
    try:
        import sqlglot
        from sqlglot import exp
    except ImportError:  # pragma: no cover - depends on the environment
        _log.debug("sqlglot is not installed: no lineage from SQL")
        return [], []
    read_dialect = _DIALECTS.get(dialect.lower(), dialect.lower())
    try:
        statements = sqlglot.parse(sql, read=read_dialect)
    except Exception as exc:  # sqlglot's ParseError, TokenError, or an unknown dialect
        _log.debug("cannot parse SQL for lineage: %s", exc)
        return [], []
    reads: list[str] = []
    writes: list[str] = []
    for statement in statements:
        if statement is None:
            continue
        try:
            _collect(statement, exp, read_dialect, reads, writes)
        except Exception as exc:  # an AST shape we did not expect: no lineage rather than a failed task
            _log.debug("cannot read lineage from a statement: %s", exc)
    return reads, writes


def _collect(statement: Any, exp: Any, dialect: str, reads: list[str], writes: list[str]) -> None:
    targets: list[Any] = []
    if isinstance(statement, exp.Insert | exp.Delete | exp.Update | exp.Merge):
        target = statement.this
        if isinstance(target, exp.Schema):  # INSERT INTO t (a, b)
            target = target.this
        if isinstance(target, exp.Table):
            targets.append(target)
    elif isinstance(statement, exp.Create):
        kind = str(statement.args.get("kind") or "").upper()
        target = statement.this
        if isinstance(target, exp.Schema):
            target = target.this
        if kind in {"TABLE", "VIEW"} and isinstance(target, exp.Table):
            targets.append(target)
    elif isinstance(statement, exp.Copy):  # COPY t FROM ... (a load); COPY (query) TO ... reads
        target = statement.this
        if isinstance(target, exp.Schema):
            target = target.this
        if isinstance(target, exp.Table):
            (targets if statement.args.get("kind") else []).append(target)
    elif isinstance(statement, exp.TruncateTable):
        targets.extend(t for t in statement.expressions if isinstance(t, exp.Table))
    elif isinstance(statement, exp.Drop | exp.Alter):
        target = statement.this
        if isinstance(target, exp.Table):
            targets.append(target)
    ctes = {cte.alias_or_name.lower() for cte in statement.find_all(exp.CTE)}
    target_ids = {id(t) for t in targets}
    for table in targets:
        _add(writes, _name(table, dialect))
    for table in statement.find_all(exp.Table):
        if id(table) in target_ids or not table.name:
            continue
        name = _name(table, dialect)
        if not table.db and table.name.lower() in ctes:
            continue
        if isinstance(statement, exp.Copy) and not statement.args.get("kind") and table is statement.this:
            _add(reads, name)  # COPY t TO ...: reads t
            continue
        _add(reads, name)


def _name(table: Any, dialect: str) -> str:
    parts = [table.args.get(key) for key in ("catalog", "db", "this")]
    names = []
    for part in parts:
        if part is None:
            continue
        text = part.name
        if not part.args.get("quoted"):
            text = text.upper() if dialect == "snowflake" else text.lower()
        if text:
            names.append(text)
    return ".".join(names)


def _add(items: list[str], name: str) -> None:
    if name and name not in items:
        items.append(name)
