"""PostgreSQL column types -> Arrow types, so a Parquet extract has one schema from the first batch to the last."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped]
    from psycopg import Column

# Type OIDs of PostgreSQL's built-in types.
_BOOL, _BYTEA, _INT8, _INT2, _INT4, _OID = 16, 17, 20, 21, 23, 26
_JSON, _JSONB, _FLOAT4, _FLOAT8, _NUMERIC = 114, 3802, 700, 701, 1700
_DATE, _TIME, _TIMESTAMP, _TIMESTAMPTZ = 1082, 1083, 1114, 1184


def _arrow_type(column: Column) -> pa.DataType:
    import pyarrow as pa

    oid = column.type_code
    if oid == _BOOL:
        return pa.bool_()
    if oid in (_INT2, _INT4, _INT8, _OID):
        return pa.int64()
    if oid in (_FLOAT4, _FLOAT8):
        return pa.float64()
    if oid == _NUMERIC:
        precision, scale = column.precision, column.scale
        if precision and scale is not None and precision <= 38:
            return pa.decimal128(precision, scale)
        return pa.string()  # numeric without a declared precision: exact as text
    if oid == _DATE:
        return pa.date32()
    if oid == _TIME:
        return pa.time64("us")
    if oid == _TIMESTAMP:
        return pa.timestamp("us")
    if oid == _TIMESTAMPTZ:
        return pa.timestamp("us", tz="UTC")
    if oid == _BYTEA:
        return pa.binary()
    return pa.string()  # text, varchar, uuid, json, arrays, enums...: as text


def arrow_schema(description: Sequence[Column]) -> pa.Schema:
    """The Arrow schema of a query's columns."""
    import pyarrow as pa

    return pa.schema([pa.field(column.name, _arrow_type(column)) for column in description])


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)


def to_arrow_batch(rows: Sequence[Sequence[Any]], schema: pa.Schema) -> pa.RecordBatch:
    """One batch of rows as an Arrow record batch of ``schema``."""
    import pyarrow as pa

    columns = []
    for index, field in enumerate(schema):
        values = [row[index] for row in rows]
        if pa.types.is_string(field.type):
            values = [_as_text(v) for v in values]
        elif pa.types.is_binary(field.type):
            values = [bytes(v) if v is not None else None for v in values]
        columns.append(pa.array(values, type=field.type))
    return pa.RecordBatch.from_arrays(columns, schema=schema)
