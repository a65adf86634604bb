"""The SQL an operator runs: inline or from a file, templated, split into statements, parameters, values as JSON.

Shared by the SQL plugins (PostgreSQL, Snowflake); exported from :mod:`headwater.plugin`.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, overload

from headwater.errors import DefinitionError, PermanentError
from headwater.templating import check_template, render_template, template_values

if TYPE_CHECKING:
    from headwater.model.context import Context

__all__ = [
    "SqlDialect",
    "SqlParameters",
    "SqlSource",
    "Statement",
    "check_parameters",
    "json_value",
    "render_parameters",
    "split_statements",
]

#: The dialects :func:`split_statements` knows.
SqlDialect = Literal["postgres", "snowflake"]
#: Query parameters: a mapping (named placeholders), a list (positional placeholders) or None.
SqlParameters = Mapping[str, object] | Sequence[object] | None

_DIALECTS: frozenset[str] = frozenset({"postgres", "snowflake"})
# A PostgreSQL dollar-quote opener: ``$$`` or ``$tag$``.
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
# A bind placeholder: ``?`` or ``:1`` (qmark / numeric).
_PLACEHOLDER = re.compile(r"\?|:\d+")


# -- statements ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement of a script: its text (no trailing ``;``), its 1-based number and the line it starts on."""

    text: str
    index: int
    line: int
    #: the statement's text with string literals and comments blanked out (to look for keywords and binds)
    code: str = ""

    def line_of(self, offset: int) -> int:
        """The script line of character ``offset`` (0-based) of this statement's text (clamped to the text)."""
        return self.line + self.text.count("\n", 0, max(0, min(offset, len(self.text))))

    def script_line(self, statement_line: int) -> int:
        """The script line of line ``statement_line`` (1-based) of this statement."""
        return self.line + max(statement_line, 1) - 1

    @property
    def has_placeholders(self) -> bool:
        """Whether the statement has ``?`` or ``:N`` bind placeholders outside strings and comments."""
        return bool(_PLACEHOLDER.search(self.code))

    @property
    def first_word(self) -> str:
        """The statement's first keyword, upper-cased (``SELECT``, ``PUT``, ``USE``)."""
        words = self.code.split(None, 1)
        return words[0].upper() if words else ""

    def preview(self, limit: int = 200) -> str:
        """The statement on one line, cut to ``limit`` characters."""
        text = " ".join(self.text.split())
        return text if len(text) <= limit else text[: limit - 1] + "…"


def split_statements(script: str, dialect: SqlDialect = "postgres") -> list[Statement]:
    """The statements of ``script`` separated by top-level ``;``; pieces holding only comments are dropped.

    Both dialects know ``'...'`` strings (``''`` is a quote), ``"..."`` identifiers, ``--`` line comments and
    ``/* */`` block comments. ``postgres``: ``E'...'`` strings with backslash escapes, ``$tag$...$tag$`` bodies,
    nested block comments. ``snowflake``: backslash escapes in every string, ``$$...$$`` bodies, ``//`` comments.
    """
    if dialect not in _DIALECTS:
        raise ValueError(f"split_statements: unknown dialect {dialect!r} (known: {', '.join(sorted(_DIALECTS))})")
    snowflake = dialect == "snowflake"
    statements: list[Statement] = []
    first = -1  # offset of the current piece's first meaningful character (-1: none yet)
    code: list[str] = []  # the current piece with strings and comments blanked
    i, n = 0, len(script)

    def close(end: int) -> None:
        nonlocal first
        if first >= 0:
            text = script[first:end].rstrip()
            line = script.count("\n", 0, first) + 1
            statements.append(Statement(text, len(statements) + 1, line, "".join(code).strip()))
        first = -1
        code.clear()

    while i < n:
        ch = script[i]
        if (ch == "-" and script.startswith("--", i)) or (snowflake and ch == "/" and script.startswith("//", i)):
            end = script.find("\n", i)
            i = n if end < 0 else end
            code.append(" ")
            continue
        if ch == "/" and script.startswith("/*", i):
            i = _skip_block_comment(script, i, nested=not snowflake)
            code.append(" ")
            continue
        if ch == ";":
            close(i)
            i += 1
            continue
        if not ch.isspace() and first < 0:
            first = i
        if ch == "'":
            escapes = snowflake or (i > 0 and script[i - 1] in "eE" and (i < 2 or not _is_word(script[i - 2])))
            i = _skip_quoted(script, i, "'", escapes)
            code.append("''")
        elif ch == '"':
            i = _skip_quoted(script, i, '"', False)
            code.append('""')
        elif ch == "$" and (tag := _dollar_tag(script, i, snowflake)):
            end = script.find(tag, i + len(tag))
            i = n if end < 0 else end + len(tag)
            code.append("$$$$")
        else:
            code.append(ch)
            i += 1
    close(n)
    return statements


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _dollar_tag(script: str, i: int, snowflake: bool) -> str | None:
    """The dollar-quote opening at ``i`` (``$$``, or ``$tag$`` in PostgreSQL), None if there is none."""
    if snowflake:
        return "$$" if script.startswith("$$", i) else None
    if i > 0 and _is_word(script[i - 1]):
        return None
    match = _DOLLAR_TAG.match(script, i)
    return match.group(0) if match else None


def _skip_block_comment(script: str, i: int, *, nested: bool) -> int:
    """The offset just past the ``/* */`` comment opening at ``i`` (the end of the script if it is not closed)."""
    n = len(script)
    if not nested:
        end = script.find("*/", i + 2)
        return n if end < 0 else end + 2
    depth, i = 1, i + 2
    while i < n and depth:
        if script.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif script.startswith("*/", i):
            depth, i = depth - 1, i + 2
        else:
            i += 1
    return i


def _skip_quoted(script: str, i: int, quote: str, backslash_escapes: bool) -> int:
    """The offset just past the quoted text opening at ``i`` (a doubled quote is one quote)."""
    i += 1
    n = len(script)
    while i < n:
        ch = script[i]
        if backslash_escapes and ch == "\\":
            i += 2
            continue
        if ch == quote:
            if i + 1 < n and script[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    return n


# -- the SQL of a task ---------------------------------------------------------------------------------------------


class SqlSource:
    """SQL given as ``sql=`` (checked when defined) or ``sql_file=`` (read when the task runs), with placeholders."""

    def __init__(self, task_id: str, sql: object, sql_file: object, *, dialect: SqlDialect | None = None) -> None:
        self.dialect = dialect
        if (sql is None) == (sql_file is None):
            raise DefinitionError(f"task '{task_id}': give either sql= or sql_file=", tasks=[task_id])
        if sql is not None and (not isinstance(sql, str) or not sql.strip()):
            raise DefinitionError(f"task '{task_id}': sql: expected SQL text, got {sql!r}", tasks=[task_id])
        if sql_file is not None and (not isinstance(sql_file, str | Path) or not str(sql_file).strip()):
            raise DefinitionError(f"task '{task_id}': sql_file: expected a path, got {sql_file!r}", tasks=[task_id])
        self.sql: str | None = sql if isinstance(sql, str) else None
        self.sql_file = None if sql_file is None else str(sql_file)
        if self.sql is not None:
            check_template(self.sql, task_id=task_id, what="sql")
            if dialect is not None and not split_statements(self.sql, dialect):
                raise DefinitionError(f"task '{task_id}': sql: no statement (only comments?)", tasks=[task_id])
        else:
            check_template(str(self.sql_file), task_id=task_id, what="sql_file")

    def describe(self) -> str:
        """The file, or the inline SQL on one line cut to 60 characters."""
        if self.sql_file is not None:
            return self.sql_file
        text = " ".join((self.sql or "").split())
        return text if len(text) <= 60 else text[:59] + "…"

    @property
    def label(self) -> str | None:
        """How errors name where the SQL came from (the file), None for inline SQL."""
        return self.sql_file

    def load(self, ctx: Context) -> str:
        """The SQL with its placeholders filled (a relative ``sql_file`` starts at the project directory)."""
        values = template_values(ctx)
        if self.sql is not None:
            return render_template(self.sql, values, what="sql")
        path = ctx.path(render_template(str(self.sql_file), values, what="sql_file"))
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise PermanentError(f"sql_file: cannot read {path}: {exc.strerror or exc}") from None
        return render_template(text, values, what=str(self.sql_file))

    def script(self, ctx: Context) -> tuple[str, list[Statement]]:
        """The loaded SQL and its statements (in the source's ``dialect``); PermanentError if it has none."""
        assert self.dialect is not None, "script() needs the dialect given to SqlSource"
        sql = self.load(ctx)
        statements = split_statements(sql, self.dialect)
        if not statements:
            raise PermanentError(f"{self.label or 'sql'}: no statement to run")
        return sql, statements


# -- parameters ----------------------------------------------------------------------------------------------------


@overload
def check_parameters(parameters: object, task_id: str, *, named: None, positional: str) -> list[object] | None: ...
@overload
def check_parameters(
    parameters: object, task_id: str, *, named: str = "%(name)s", positional: str = "%s"
) -> SqlParameters: ...
def check_parameters(
    parameters: object, task_id: str, *, named: str | None = "%(name)s", positional: str = "%s"
) -> SqlParameters:
    """``parameters`` checked: a mapping for ``named`` placeholders (None: not allowed) or a list for ``positional``.

    The error names the placeholders (PostgreSQL's ``%(name)s`` and ``%s`` by default). With ``named=None`` a
    list comes back as a new list.
    """
    if parameters is None:
        return None
    if named is not None and isinstance(parameters, Mapping):
        return parameters
    if isinstance(parameters, Sequence) and not isinstance(parameters, str | bytes):
        return parameters if named is not None else list(parameters)
    expected = (
        f"a mapping (for {named}) or a list (for {positional})"
        if named is not None
        else f"a list of values for {positional} placeholders"
    )
    raise DefinitionError(f"task '{task_id}': parameters: expected {expected}, got {parameters!r}", tasks=[task_id])


@overload
def render_parameters(parameters: None, ctx: Context) -> None: ...
@overload
def render_parameters(parameters: Mapping[str, object], ctx: Context) -> dict[str, object]: ...
@overload
def render_parameters(parameters: Sequence[object], ctx: Context) -> list[object]: ...
def render_parameters(parameters: SqlParameters, ctx: Context) -> dict[str, object] | list[object] | None:
    """Placeholders in string parameter values filled from the context (then bound by the driver, never spliced)."""
    if parameters is None:
        return None
    values = template_values(ctx)

    def one(value: object) -> object:
        return render_template(value, values, what="parameters") if isinstance(value, str) else value

    if isinstance(parameters, Mapping):
        return {key: one(value) for key, value in parameters.items()}
    return [one(value) for value in parameters]


# -- values --------------------------------------------------------------------------------------------------------


def json_value(value: object) -> object:
    """A database value as JSON: numerics -> int (whole) or float, dates and times -> ISO 8601, binary -> hex.

    Non-finite floats and decimals become strings, intervals seconds, UUIDs strings; mappings and lists are
    converted item by item, anything else becomes its ``str``.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            return str(value)
        return int(value) if value == value.to_integral_value() and abs(value) < 2**53 else float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    return str(value)
