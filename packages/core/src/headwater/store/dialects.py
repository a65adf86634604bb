"""What the store's queries share across SQLite and PostgreSQL: ON CONFLICT inserts, bounded IN lists, UTC times."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Table

from headwater.errors import ConfigError

T = TypeVar("T")
#: Values per ``IN (...)`` list: well under SQLite's limit on bound parameters.
CHUNK = 500


def conflict_insert(conn: Connection, table: Table, *, what: str = "the metadata store") -> Any:
    """An INSERT for ``table`` in ``conn``'s dialect, which takes ``on_conflict_do_nothing/do_update``."""
    name = conn.dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    if name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table)
    raise ConfigError(f"{what} needs SQLite or PostgreSQL, not {name}")


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """``items`` in slices of at most ``size`` (for ``IN`` lists)."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


def utc(value: datetime | None) -> datetime | None:
    """An aware datetime in UTC (what every time column stores)."""
    return None if value is None else value.astimezone(UTC)
