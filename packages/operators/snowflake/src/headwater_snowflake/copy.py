"""The text of ``PUT`` and ``COPY INTO`` statements: stages, file formats and copy options, validated and quoted."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from headwater import DefinitionError
from headwater.plugin import quote_identifier, quote_table

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_WORD = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_IDENT = r'(?:[A-Za-z_][A-Za-z0-9_$]*|"[^"\n]+")'
# @name, @db.schema.name, @%table, @schema.%table, @~ ; then an optional /path without spaces or quotes
_STAGE = re.compile(rf"^@(~|(?:{_IDENT}\.){{0,2}}%?{_IDENT})(/[^\s'\";\\]*)?$")
#: Options whose value is a keyword (``TYPE = CSV``, ``ON_ERROR = CONTINUE``), written bare when it is one word.
KEYWORD_OPTIONS = frozenset(
    {"TYPE", "COMPRESSION", "BINARY_FORMAT", "MATCH_BY_COLUMN_NAME", "ON_ERROR", "VALIDATION_MODE", "LOAD_MODE"}
)
#: External locations COPY INTO can read with a storage integration.
URL_SCHEMES = ("s3://", "s3gov://", "gcs://", "azure://")

OptionValue = str | int | float | bool | Sequence[str | int | float]


def string_literal(value: str) -> str:
    """``value`` as a Snowflake string literal (``'`` and ``\\`` escaped)."""
    if "\x00" in value:
        raise DefinitionError("a NUL character cannot be written in a Snowflake string")
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _value(key: str, value: object, *, what: str) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        if key in KEYWORD_OPTIONS and _WORD.match(value):
            return value.upper()
        return string_literal(value)
    if isinstance(value, Sequence) and not isinstance(value, bytes):
        items = []
        for item in value:
            if isinstance(item, bool) or not isinstance(item, str | int | float):
                raise DefinitionError(f"{what}: {key.lower()}: expected strings or numbers in the list, got {item!r}")
            items.append(string_literal(item) if isinstance(item, str) else repr(item))
        return "(" + ", ".join(items) + ")"
    raise DefinitionError(f"{what}: {key.lower()}: expected text, a number, true/false or a list, got {value!r}")


def render_options(options: Mapping[str, object], *, what: str) -> str:
    """``{"type": "csv", "skip_header": 1}`` -> ``TYPE = CSV SKIP_HEADER = 1`` (keys checked, values quoted)."""
    if not isinstance(options, Mapping):
        raise DefinitionError(f"{what}: expected a mapping of option -> value, got {options!r}")
    parts = []
    for key, value in options.items():
        if not isinstance(key, str) or not _KEY.match(key):
            raise DefinitionError(f"{what}: {key!r} is not an option name")
        name = key.upper()
        parts.append(f"{name} = {_value(name, value, what=what)}")
    return " ".join(parts)


def file_format_clause(file_format: str | Mapping[str, object] | None) -> str:
    """``FILE_FORMAT = (...)``: a named file format (a string) or inline options (a mapping); "" for None."""
    if file_format is None:
        return ""
    if isinstance(file_format, str):
        return f"FILE_FORMAT = (FORMAT_NAME = {string_literal(file_format)})"
    return f"FILE_FORMAT = ({render_options(file_format, what='file_format')})"


def stage_reference(stage: str) -> str:
    """A stage location as written after ``FROM`` or in ``PUT``: ``@name[/path]`` (the ``@`` is added if missing)."""
    text = stage.strip()
    if not text.startswith("@"):
        text = "@" + text
    if not _STAGE.match(text):
        raise DefinitionError(
            f"stage: expected @name, @schema.name, @%table or @~ with an optional /path (no spaces or quotes), "
            f"got {stage!r}"
        )
    return text


def table_stage(table: str) -> str:
    """The table's own stage: ``raw.orders`` -> ``@raw.%orders``."""
    quoted = quote_table(table, "snowflake")
    if quoted.endswith('"'):
        start = quoted.rfind('"', 0, len(quoted) - 1)
        while start > 0 and quoted[start - 1] == '"':  # "" inside a quoted name
            start = quoted.rfind('"', 0, start - 1)
        namespace, name = quoted[:start].rstrip("."), quoted[start:]
    else:
        namespace, _, name = quoted.rpartition(".")
    return f"@{namespace + '.' if namespace else ''}%{name}"


def join_stage(stage: str, path: str) -> str:
    """``@stage`` + ``a/b/`` -> ``@stage/a/b/`` (one slash between)."""
    return stage.rstrip("/") + "/" + path.strip("/") + "/"


def put_statement(path: str, stage: str, *, overwrite: bool = True, auto_compress: bool = True) -> str:
    """``PUT 'file:///abs/path' @stage/prefix/ ...``: upload local file(s) (``*`` wildcards allowed) to a stage."""
    if "'" in path or "\x00" in path or "\n" in path:
        raise DefinitionError(f"file: a path with a quote or a newline cannot be PUT: {path!r}")
    return (
        f"PUT 'file://{path}' {stage_reference(stage)} "
        f"AUTO_COMPRESS = {'TRUE' if auto_compress else 'FALSE'} OVERWRITE = {'TRUE' if overwrite else 'FALSE'}"
    )


def check_url(url: str) -> str:
    """An external location (``s3://bucket/prefix/``) for COPY INTO."""
    if not url.startswith(URL_SCHEMES) or any(ch in url for ch in "'\\\n\x00"):
        raise DefinitionError(f"url: expected {', '.join(URL_SCHEMES)} followed by a bucket and path, got {url!r}")
    return url


def copy_statement(
    table: str,
    source: str,
    *,
    file_format: str | Mapping[str, object] | None = None,
    storage_integration: str | None = None,
    pattern: str | None = None,
    columns: Sequence[str] = (),
    options: Mapping[str, object] | None = None,
) -> str:
    """``COPY INTO <table> FROM <source> ...``: ``source`` is a stage reference (``@...``) or an external URL
    (``s3://...``, read through ``storage_integration``: credentials never appear in the statement)."""
    parts = [f"COPY INTO {quote_table(table, 'snowflake')}"]
    if columns:
        parts[0] += " (" + ", ".join(quote_identifier(column, "snowflake") for column in columns) + ")"
    if source.startswith("@"):
        if storage_integration is not None:
            raise DefinitionError("storage_integration: only for loading from a URL (s3://...), not from a stage")
        parts.append(f"FROM {stage_reference(source)}")
    else:
        parts.append(f"FROM {string_literal(check_url(source))}")
        if storage_integration is None:
            raise DefinitionError(
                "storage_integration: required to load from a URL (Snowflake reads the bucket through it; "
                "credentials are never put in a statement)"
            )
        parts.append(f"STORAGE_INTEGRATION = {quote_identifier(storage_integration, 'snowflake')}")
    clause = file_format_clause(file_format)
    if clause:
        parts.append(clause)
    if pattern is not None:
        parts.append(f"PATTERN = {string_literal(pattern)}")
    if options:
        parts.append(render_options(options, what="copy_options"))
    return " ".join(parts)
