"""Data-quality checks on a SQL table: the spec, the SQL per dialect, running them, the report, the operator base.

A plugin builds its check operator on :class:`SqlCheckOperator` (it only says how to connect)::

    class PostgresCheck(SqlCheckOperator):
        operator_name = "postgres.check"
        dialect = "postgres"

        def connect(self, ctx: Context) -> DBAPIConnection:
            return psycopg.connect(...)

    PostgresCheck("check_orders", conn="warehouse", table="orders", row_count_min=1,
                  not_null=["id", "amount"], unique=["id"], accepted_values={"status": ["open", "paid"]},
                  max_age=("updated_at", "1d"), sql=None)

Every check is one or two ``SELECT`` statements that only read; the operator fails the task with
:class:`DataQualityError` (never retried) whose message lists what failed, what was found and up to
five offending values.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from headwater.config.connections import check_conn
from headwater.errors import DefinitionError, PermanentError
from headwater.model.durations import Duration, parse_duration
from headwater.model.operator import Operator

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from headwater.model.context import Context
    from headwater.model.options import TaskOptionArgs

__all__ = [
    "DIALECTS",
    "Check",
    "CheckReport",
    "CheckResult",
    "CheckSpec",
    "DBAPIConnection",
    "DataQualityError",
    "Dialect",
    "SqlCheckOperator",
    "build_checks",
    "quote_identifier",
    "quote_table",
    "run_checks",
    "sql_literal",
]

Dialect = Literal["postgres", "snowflake", "sqlite"]
DIALECTS: tuple[Dialect, ...] = ("postgres", "snowflake", "sqlite")

#: How many offending values a failed check shows.
EXAMPLES = 5
#: A custom SQL check counts the rows it returns up to this many.
MAX_COUNTED_ROWS = 10_000

Value = str | int | float | bool


class DBAPICursor(Protocol):
    """The part of a PEP 249 cursor the checks use."""

    def execute(self, operation: Any, *args: Any, **kwargs: Any) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchmany(self, size: int = ...) -> Any: ...
    def close(self) -> Any: ...


class DBAPIConnection(Protocol):
    """The part of a PEP 249 connection the checks use (psycopg, sqlite3, snowflake-connector)."""

    def cursor(self) -> Any: ...
    def rollback(self) -> Any: ...
    def close(self) -> Any: ...


class DataQualityError(PermanentError):
    """A data-quality check failed; ``report`` says which, and what was found. Never retried."""

    def __init__(self, report: CheckReport) -> None:
        super().__init__(report.text())
        self.report = report


# -- identifiers and literals -------------------------------------------------------------------------------------

_SIMPLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Words that cannot be a bare column or table name in at least one of the dialects (quoted when given bare).
_RESERVED_WORDS = """
    all and any array as asc between both by case cast check collate column constraint create cross current
    current_date current_time current_timestamp current_user date default desc distinct do else end except
    false fetch for foreign from full grant group having ilike in initially inner intersect into is join
    lateral leading left like limit localtime localtimestamp natural not null offset on only or order outer
    primary qualify references regexp right rlike row rows sample select session_user some start table
    tablesample then time timestamp to trailing true union unique user using values when where window with
"""
_RESERVED = frozenset(_RESERVED_WORDS.split())


def _fold(name: str, dialect: Dialect) -> str:
    """How the database stores a bare identifier: postgres lowercases, snowflake uppercases, sqlite keeps it."""
    if dialect == "postgres":
        return name.lower()
    if dialect == "snowflake":
        return name.upper()
    return name


def _split_parts(name: str, *, what: str) -> list[tuple[str, bool]]:
    """``schema."My Table"`` -> [("schema", False), ("My Table", True)]: the dotted parts, and whether quoted."""
    parts: list[tuple[str, bool]] = []
    i, n = 0, len(name)
    while True:
        if i < n and name[i] == '"':
            j, buf = i + 1, []
            while True:
                k = name.find('"', j)
                if k < 0:
                    raise DefinitionError(f"{what}: unbalanced double quote in {name!r}")
                buf.append(name[j:k])
                if k + 1 < n and name[k + 1] == '"':  # "" inside quotes is one quote
                    buf.append('"')
                    j = k + 2
                    continue
                i = k + 1
                break
            part, quoted = "".join(buf), True
        else:
            k = name.find(".", i)
            end = n if k < 0 else k
            part, quoted = name[i:end].strip(), False
            i = end
        if not part:
            raise DefinitionError(f"{what}: empty name in {name!r}")
        if "\x00" in part:
            raise DefinitionError(f"{what}: NUL character in {name!r}")
        parts.append((part, quoted))
        if i >= n:
            return parts
        if name[i] != ".":
            raise DefinitionError(f"{what}: expected '.' after a quoted name in {name!r}")
        i += 1
        if i >= n:
            raise DefinitionError(f"{what}: empty name in {name!r}")


def _quote_part(part: str, quoted: bool, dialect: Dialect) -> str:
    if not quoted and _SIMPLE.match(part):
        if part.lower() not in _RESERVED:
            return part  # bare: the database folds its case as it does in the user's own SQL
        part = _fold(part, dialect)
    return '"' + part.replace('"', '""') + '"'


def quote_identifier(name: str, dialect: Dialect) -> str:
    """One identifier (a column) as SQL for ``dialect``.

    A plain name (``amount``) is written bare so the database folds its case as in the user's own SQL;
    a reserved word (``user``, ``order``) is quoted in the case the database folds bare names to; a
    name with other characters (``"Order Id"``) is quoted exactly; a name given in double quotes is kept.
    """
    parts = _split_parts(name, what="column")
    if len(parts) != 1:
        raise DefinitionError(f"column: expected one name, got {name!r}")
    return _quote_part(*parts[0], dialect)


def quote_table(name: str, dialect: Dialect) -> str:
    """A table name, optionally qualified (``schema.table``, ``db.schema.table``), as SQL for ``dialect``."""
    parts = _split_parts(name, what="table")
    if len(parts) > 3:
        raise DefinitionError(f"table: expected [database.][schema.]table, got {name!r}")
    return ".".join(_quote_part(part, quoted, dialect) for part, quoted in parts)


def sql_literal(value: Value, dialect: Dialect) -> str:
    """A string, number or boolean as a SQL literal for ``dialect`` (for accepted values; never user input)."""
    if isinstance(value, bool):
        if dialect == "sqlite":
            return "1" if value else "0"
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise DefinitionError(f"accepted_values: {value!r} is not a finite number")
        return repr(value)
    if isinstance(value, str):
        if "\x00" in value:
            raise DefinitionError("accepted_values: a value contains a NUL character")
        text = value.replace("'", "''")
        if dialect == "snowflake":  # backslash starts an escape sequence in Snowflake string literals
            text = text.replace("\\", "\\\\")
        return f"'{text}'"
    raise DefinitionError(f"accepted_values: expected strings, numbers or booleans, got {type(value).__name__}")


def _age_seconds(column: str, dialect: Dialect) -> str:
    """SQL for the seconds between ``max(column)`` and the database's "now"."""
    if dialect == "postgres":
        return f"EXTRACT(EPOCH FROM (now() - max({column})))"
    if dialect == "snowflake":
        return f"DATEDIFF('second', max({column}), CURRENT_TIMESTAMP())"
    return f"(julianday('now') - julianday(max({column}))) * 86400.0"


# -- the spec ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class CheckSpec:
    """What to check on ``table``. Build it with :meth:`build` (which takes lists, dicts and duration strings).

    - ``row_count_min``/``row_count_max``: bounds on the number of rows (inclusive).
    - ``not_null``: columns without NULLs.
    - ``unique``: columns (or tuples of columns, unique together) without duplicates (NULLs are ignored).
    - ``accepted_values``: column -> the only values allowed (NULLs are not checked: use ``not_null``).
    - ``max_age``: (timestamp column, seconds): the newest value is at most that old, by the database's clock.
    - ``sql``: a custom query that must return no rows (each row it returns is an offending one).
    """

    table: str
    row_count_min: int | None = None
    row_count_max: int | None = None
    not_null: tuple[str, ...] = ()
    unique: tuple[tuple[str, ...], ...] = ()
    accepted_values: tuple[tuple[str, tuple[Value, ...]], ...] = ()
    max_age: tuple[str, float] | None = None
    sql: str | None = None

    def __post_init__(self) -> None:
        self._validate()

    @classmethod
    def build(
        cls,
        *,
        table: str,
        row_count_min: int | None = None,
        row_count_max: int | None = None,
        not_null: Iterable[str] | str = (),
        unique: Iterable[str | Sequence[str]] | str = (),
        accepted_values: Mapping[str, Iterable[Value]] | None = None,
        max_age: tuple[str, Duration] | Sequence[object] | None = None,
        sql: str | None = None,
        task_id: str | None = None,
    ) -> CheckSpec:
        """Validate user values into a spec; a DefinitionError names ``task_id`` and the bad argument."""
        where = f"task '{task_id}': " if task_id else ""
        try:
            age: tuple[str, float] | None = None
            if max_age is not None:
                if isinstance(max_age, str | bytes) or not isinstance(max_age, Sequence) or len(max_age) != 2:
                    raise DefinitionError(f"max_age: expected (timestamp column, duration), got {max_age!r}")
                column, duration = max_age
                if not isinstance(column, str):
                    raise DefinitionError(f"max_age: the column must be a name, got {column!r}")
                if not isinstance(duration, _dt.timedelta | int | float | str):
                    raise DefinitionError(f"max_age: expected a duration like '1d', got {duration!r}")
                age = (column, parse_duration(duration, what="max_age"))
            if accepted_values is not None and not isinstance(accepted_values, Mapping):
                raise DefinitionError(
                    f"accepted_values: expected a mapping of column -> allowed values, got {accepted_values!r}"
                )
            accepted: list[tuple[str, tuple[Value, ...]]] = []
            for column, values in (accepted_values or {}).items():
                if isinstance(values, str | bytes) or not isinstance(values, Iterable):
                    raise DefinitionError(f"accepted_values[{column!r}]: expected a list of values, got {values!r}")
                accepted.append((column, tuple(values)))
            return cls(
                table=table,
                row_count_min=row_count_min,
                row_count_max=row_count_max,
                not_null=_names(not_null, "not_null"),
                unique=tuple(
                    (item,) if isinstance(item, str) else _names(item, "unique") for item in _items(unique, "unique")
                ),
                accepted_values=tuple(accepted),
                max_age=age,
                sql=sql,
            )
        except DefinitionError as exc:
            raise DefinitionError(where + exc.message, tasks=[task_id] if task_id else ()) from None

    def _validate(self) -> None:
        if not isinstance(self.table, str) or not self.table.strip():
            raise DefinitionError(f"table: expected a table name, got {self.table!r}")
        quote_table(self.table, "postgres")
        for name in ("row_count_min", "row_count_max"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise DefinitionError(f"{name}: expected a whole number >= 0, got {value!r}")
        if (
            self.row_count_min is not None
            and self.row_count_max is not None
            and self.row_count_min > self.row_count_max
        ):
            raise DefinitionError(
                f"row_count_min ({self.row_count_min}) is greater than row_count_max ({self.row_count_max})"
            )
        for column in self.not_null:
            _check_column(column, "not_null")
        for columns in self.unique:
            if not columns:
                raise DefinitionError("unique: an empty list of columns")
            for column in columns:
                _check_column(column, "unique")
        for column, values in self.accepted_values:
            _check_column(column, "accepted_values")
            if not values:
                raise DefinitionError(f"accepted_values[{column!r}]: expected at least one value")
            for value in values:
                sql_literal(value, "postgres")  # raises on a value that cannot be a literal
        if self.max_age is not None:
            column, seconds = self.max_age
            _check_column(column, "max_age")
            if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds <= 0:
                raise DefinitionError(f"max_age: expected a duration greater than zero, got {seconds!r}")
        if self.sql is not None and (not isinstance(self.sql, str) or not self.sql.strip()):
            raise DefinitionError(f"sql: expected a query that returns the offending rows, got {self.sql!r}")
        if not self.has_checks:
            raise DefinitionError(
                f"no check given for table {self.table!r}: set row_count_min/max, not_null, unique, "
                "accepted_values, max_age or sql"
            )

    @property
    def has_checks(self) -> bool:
        return bool(
            self.row_count_min is not None
            or self.row_count_max is not None
            or self.not_null
            or self.unique
            or self.accepted_values
            or self.max_age
            or self.sql
        )

    def describe(self) -> str:
        """One line: the table and the checks, e.g. ``orders: row_count>=1, not_null(id, amount), unique(id)``."""
        return f"{self.table}: " + ", ".join(check.name for check in build_checks(self, "postgres"))


def _items(value: object, what: str) -> list[Any]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, bytes) or not isinstance(value, Iterable):
        raise DefinitionError(f"{what}: expected a list of column names, got {value!r}")
    return list(value)


def _names(value: object, what: str) -> tuple[str, ...]:
    names = tuple(_items(value, what))
    for name in names:
        _check_column(name, what)
    return names


def _check_column(name: object, what: str) -> None:
    if not isinstance(name, str) or not name.strip():
        raise DefinitionError(f"{what}: expected a column name, got {name!r}")
    quote_identifier(name, "postgres")


# -- building the SQL --------------------------------------------------------------------------------------------

CheckKind = Literal["row_count", "not_null", "unique", "accepted_values", "max_age", "sql"]


@dataclass(frozen=True, slots=True)
class Check:
    """One check as SQL: ``count_sql`` returns one number (rows found, offending rows, or age in seconds)
    and ``examples_sql`` (if any) returns up to five offending values with their counts."""

    kind: CheckKind
    name: str
    count_sql: str
    examples_sql: str | None = None
    columns: tuple[str, ...] = ()


def _select(what: str, source: str, rest: str = "") -> str:
    """``SELECT what FROM source rest``: every part is built from quoted identifiers and rendered literals."""
    return f"SELECT {what} FROM {source}{' ' + rest if rest else ''}"  # noqa: S608 - identifiers are quoted


def build_checks(spec: CheckSpec, dialect: Dialect) -> list[Check]:
    """The SQL of every check of ``spec`` for ``dialect``, in a stable order."""
    if dialect not in DIALECTS:
        raise DefinitionError(f"unknown SQL dialect {dialect!r}: expected one of {', '.join(DIALECTS)}")
    table = quote_table(spec.table, dialect)
    checks: list[Check] = []
    if spec.row_count_min is not None or spec.row_count_max is not None:
        bounds = []
        if spec.row_count_min is not None:
            bounds.append(f">={spec.row_count_min}")
        if spec.row_count_max is not None:
            bounds.append(f"<={spec.row_count_max}")
        checks.append(Check("row_count", "row_count" + ",".join(bounds), _select("COUNT(*)", table)))
    for column in spec.not_null:
        col = quote_identifier(column, dialect)
        count = _select("COUNT(*)", table, f"WHERE {col} IS NULL")
        checks.append(Check("not_null", f"not_null({column})", count, None, (column,)))
    for columns in spec.unique:
        cols = ", ".join(quote_identifier(c, dialect) for c in columns)
        present = " AND ".join(f"{quote_identifier(c, dialect)} IS NOT NULL" for c in columns)
        dupes = _select(f"{cols}, COUNT(*) AS hw_rows", table, f"WHERE {present} GROUP BY {cols} HAVING COUNT(*) > 1")
        count = _select("COUNT(*)", f"({dupes}) dupes")
        by_position = ", ".join(str(i) for i in range(1, len(columns) + 1))
        examples = f"{dupes} ORDER BY {len(columns) + 1} DESC, {by_position} LIMIT {EXAMPLES}"
        checks.append(Check("unique", f"unique({', '.join(columns)})", count, examples, columns))
    for column, values in spec.accepted_values:
        col = quote_identifier(column, dialect)
        allowed = ", ".join(sql_literal(v, dialect) for v in values)
        where = f"WHERE {col} IS NOT NULL AND {col} NOT IN ({allowed})"
        count = _select("COUNT(*)", table, where)
        examples = _select(f"{col}, COUNT(*) AS hw_rows", table, f"{where} GROUP BY {col} ORDER BY 2 DESC, 1")
        examples += f" LIMIT {EXAMPLES}"
        checks.append(Check("accepted_values", f"accepted_values({column})", count, examples, (column,)))
    if spec.max_age is not None:
        column, _ = spec.max_age
        col = quote_identifier(column, dialect)
        age = _select(f"{_age_seconds(col, dialect)}, max({col})", table)
        checks.append(Check("max_age", f"max_age({column})", age, None, (column,)))
    if spec.sql is not None:
        checks.append(Check("sql", "sql", spec.sql.strip().rstrip(";").rstrip()))
    return checks


# -- results -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one check: passed or not, what was found (``count``: rows, offending rows; ``examples``:
    up to five offending values), and ``found``, the sentence a person reads."""

    name: str
    kind: CheckKind
    passed: bool
    found: str
    count: int | float | None = None
    examples: tuple[str, ...] = ()

    def text(self) -> str:
        mark = "ok" if self.passed else "FAILED"
        return f"{self.name}: {mark}: {self.found}"

    def as_dict(self) -> dict[str, object]:
        data: dict[str, object] = {"check": self.name, "passed": self.passed, "found": self.found}
        if self.count is not None:
            data["count"] = self.count
        if self.examples:
            data["examples"] = list(self.examples)
        return data


@dataclass(frozen=True, slots=True)
class CheckReport:
    """Every check run on ``table``; its :meth:`text` is the failure message."""

    table: str
    results: tuple[CheckResult, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        return all(result.passed for result in self.results)

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        return tuple(result for result in self.results if not result.passed)

    def text(self) -> str:
        """``3 of 5 checks failed on orders: not_null(amount): 2 NULL values; ...`` (or a line saying all passed)."""
        failures = self.failures
        if not failures:
            return f"all {len(self.results)} checks passed on {self.table}"
        head = f"{len(failures)} of {len(self.results)} checks failed on {self.table}"
        return head + ": " + "; ".join(f"{f.name}: {f.found}" for f in failures)

    def __str__(self) -> str:
        return self.text()

    def as_metadata(self) -> dict[str, object]:
        """JSON-ready: ``{"table", "passed", "checks": [...], "failed": [names]}`` for ``ctx.add_metadata``."""
        return {
            "table": self.table,
            "passed": self.passed,
            "checks": [result.as_dict() for result in self.results],
            "failed": [result.name for result in self.failures],
        }


def _show(value: object, limit: int = 80) -> str:
    if isinstance(value, tuple | list):
        return "(" + ", ".join(_show(v, limit) for v in value) + ")"
    if value is None:
        return "NULL"
    if isinstance(value, decimal.Decimal | int | float):
        return str(value)
    text = value.isoformat(sep=" ", timespec="seconds") if isinstance(value, _dt.datetime) else str(value)
    if isinstance(value, str):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _cursor_run(cursor: DBAPICursor, sql: str) -> None:
    cursor.execute(sql)


def _evaluate(check: Check, spec: CheckSpec, cursor: DBAPICursor) -> CheckResult:
    _cursor_run(cursor, check.count_sql)
    if check.kind == "sql":
        rows = cursor.fetchmany(EXAMPLES)
        shown = tuple(_show(row[0] if len(row) == 1 else tuple(row)) for row in rows)
        count, capped = len(rows), False
        while len(rows) == EXAMPLES and (more := cursor.fetchmany(1000)):
            count += len(more)
            if count >= MAX_COUNTED_ROWS:
                count, capped = MAX_COUNTED_ROWS, True
                break
        if count == 0:
            return CheckResult(check.name, check.kind, True, "no rows returned", 0)
        found = f"{'at least ' if capped else ''}{_plural(count, 'row')} returned (must return none), e.g. "
        found += ", ".join(shown)
        return CheckResult(check.name, check.kind, False, found, count, shown)
    row = cursor.fetchone()
    first = row[0] if row is not None else None
    if check.kind == "max_age":
        column, limit = spec.max_age or ("", 0.0)
        newest = row[1] if row is not None and len(row) > 1 else None
        if first is None:
            return CheckResult(check.name, check.kind, False, f"no {column} value (the table is empty or all NULL)")
        age = float(first)
        passed = age <= limit
        found = (
            f"newest {column} is {_show(newest)}, {_age_text(age)} old "
            f"({'within' if passed else 'more than'} the limit of {_age_text(limit)})"
        )
        return CheckResult(check.name, check.kind, passed, found, round(age, 3))
    count = int(first or 0)
    if check.kind == "row_count":
        low, high = spec.row_count_min, spec.row_count_max
        passed = (low is None or count >= low) and (high is None or count <= high)
        bounds = [f"at least {low}" if low is not None else "", f"at most {high}" if high is not None else ""]
        expected = " and ".join(b for b in bounds if b)
        return CheckResult(check.name, check.kind, passed, f"{_plural(count, 'row')} (expected {expected})", count)
    if check.kind == "not_null":
        if count == 0:
            return CheckResult(check.name, check.kind, True, "no NULL values", 0)
        return CheckResult(check.name, check.kind, False, f"{_plural(count, 'NULL value')}", count)
    # unique, accepted_values: the count is offending values (resp. rows), the examples come from a second query
    if count == 0:
        what = "no duplicates" if check.kind == "unique" else "no value outside the accepted ones"
        return CheckResult(check.name, check.kind, True, what, 0)
    examples: tuple[str, ...] = ()
    if check.examples_sql is not None:
        _cursor_run(cursor, check.examples_sql)
        width = len(check.columns)
        examples = tuple(
            f"{_show(row[0] if width == 1 else tuple(row[:width]))} ({_plural(int(row[width]), 'row')})"
            for row in cursor.fetchmany(EXAMPLES)
        )
    if check.kind == "unique":
        found = f"{_plural(count, 'duplicated value')}: {', '.join(examples)}"
    else:
        found = f"{_plural(count, 'row')} with other values: {', '.join(examples)}"
    return CheckResult(check.name, check.kind, False, found, count, examples)


def _age_text(seconds: float) -> str:
    """An age to two units at most: 45s, 12m30s, 5h20m, 3d4h."""
    total = round(max(seconds, 0.0))
    units = [("d", 86400), ("h", 3600), ("m", 60), ("s", 1)]
    parts: list[str] = []
    for suffix, size in units:
        count, total = divmod(total, size)
        if count or parts:
            parts.append(f"{count}{suffix}" if count else "")
        if len(parts) == 2:
            break
    return "".join(parts) or "0s"


def run_checks(connection: DBAPIConnection, spec: CheckSpec, dialect: Dialect) -> CheckReport:
    """Run every check of ``spec`` on a DB-API ``connection`` (read-only statements) and report.

    Database errors (a missing table or column, a lost connection) propagate from the driver unchanged;
    the transaction is rolled back either way.
    """
    results: list[CheckResult] = []
    cursor = connection.cursor()
    try:
        for check in build_checks(spec, dialect):
            results.append(_evaluate(check, spec, cursor))
    finally:
        try:
            cursor.close()
        finally:
            connection.rollback()
    return CheckReport(spec.table, tuple(results))


# -- the operator base -------------------------------------------------------------------------------------------


class SqlCheckOperator(Operator, ABC):
    """Run a :class:`CheckSpec` against a table; fail the task with :class:`DataQualityError` if any check fails.

    A plugin subclass sets ``operator_name`` and ``dialect`` and implements :meth:`connect`; it may override
    :meth:`dataset` (the lineage name of the table), :meth:`spec_for` (placeholders filled per run) and
    :meth:`translate_error` (how a driver error reads).
    The task reports ``reads=[dataset]``, adds ``checks`` metadata (see :meth:`CheckReport.as_metadata`)
    and returns the same dictionary when every check passes.
    """

    dialect: Dialect = "postgres"

    def __init__(
        self,
        task_id: str,
        *,
        conn: str,
        table: str,
        row_count_min: int | None = None,
        row_count_max: int | None = None,
        not_null: Iterable[str] | str = (),
        unique: Iterable[str | Sequence[str]] | str = (),
        accepted_values: Mapping[str, Iterable[Value]] | None = None,
        max_age: tuple[str, Duration] | Sequence[object] | None = None,
        sql: str | None = None,
        **options: Unpack[TaskOptionArgs],
    ) -> None:
        super().__init__(task_id, **options)
        check_conn(conn, task_id)
        self.conn = conn
        self.spec = CheckSpec.build(
            table=table,
            row_count_min=row_count_min,
            row_count_max=row_count_max,
            not_null=not_null,
            unique=unique,
            accepted_values=accepted_values,
            max_age=max_age,
            sql=sql,
            task_id=task_id,
        )

    @abstractmethod
    def connect(self, ctx: Context) -> DBAPIConnection:
        """Open a DB-API connection for connection ``self.conn`` (closed by the operator after the checks)."""

    def dataset(self, ctx: Context) -> str:
        """The lineage name of the checked table (``postgres://warehouse/public.orders``)."""
        return f"{self.dialect}://{self.conn}/{self.spec.table}"

    def spec_for(self, ctx: Context) -> CheckSpec:
        """The spec to run in this try (default: ``self.spec``); override to fill placeholders from ``ctx``."""
        return self.spec

    def translate_error(self, error: Exception) -> BaseException:
        """The exception to raise for a driver error met while checking (default: the error itself)."""
        return error

    def describe(self) -> str:
        return f"{type(self).__name__} on {self.conn}: {self.spec.describe()}"

    def execute(self, ctx: Context) -> dict[str, object]:
        spec = self.spec_for(ctx)
        connection = self.connect(ctx)
        try:
            report = run_checks(connection, spec, self.dialect)
        except Exception as exc:  # the driver's error, worded by the plugin
            translated = self.translate_error(exc)
            if translated is exc:
                raise
            raise translated from exc
        finally:
            connection.close()
        ctx.report_lineage(reads=[self.dataset(ctx)])
        metadata = report.as_metadata()
        ctx.add_metadata(checks=metadata)
        for result in report.results:
            (ctx.log.info if result.passed else ctx.log.error)("check %s", result.text())
        if not report.passed:
            raise DataQualityError(report)
        ctx.log.info("%s", report.text())
        return metadata
