"""headwater-postgres: PostgreSQL operators (query, extract, COPY load), a SQL sensor and data-quality checks.

The operators are imported lazily (``from headwater_postgres import PostgresOperator`` loads psycopg then).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_EXPORTS = {
    "PostgresOperator": "headwater_postgres.query",
    "PostgresExtract": "headwater_postgres.extract",
    "PostgresCopyLoad": "headwater_postgres.copy",
    "SqlSensor": "headwater_postgres.sensor",
    "SqlCheck": "headwater_postgres.check",
    "PostgresError": "headwater_postgres.errors",
    "PostgresUnavailable": "headwater_postgres.errors",
    "connect": "headwater_postgres.connection",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:
    from headwater_postgres.check import SqlCheck as SqlCheck
    from headwater_postgres.connection import connect as connect
    from headwater_postgres.copy import PostgresCopyLoad as PostgresCopyLoad
    from headwater_postgres.errors import PostgresError as PostgresError
    from headwater_postgres.errors import PostgresUnavailable as PostgresUnavailable
    from headwater_postgres.extract import PostgresExtract as PostgresExtract
    from headwater_postgres.query import PostgresOperator as PostgresOperator
    from headwater_postgres.sensor import SqlSensor as SqlSensor


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'headwater_postgres' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
