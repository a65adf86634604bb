"""Open the metadata database: SQLite (WAL) or PostgreSQL, migrated to the current schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from headwater.errors import ConfigError
from headwater.secrets import mask


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes; WAL keeps it consistent
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def resolve_url(url: str, base_dir: Path | None = None) -> str:
    """Make a relative SQLite path absolute against ``base_dir`` (the project directory)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"db: cannot read {mask(url)!r} as a database URL") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        path = Path(parsed.database)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        path.parent.mkdir(parents=True, exist_ok=True)
        return str(parsed.set(database=str(path)))
    return url


def connect(url: str, *, base_dir: Path | None = None, migrate: bool = True) -> Engine:
    """An engine for ``url``, with SQLite tuned for WAL and the schema migrated to head."""
    url = resolve_url(url, base_dir)
    try:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            extra: dict[str, Any] = {}
            if not parsed.database or parsed.database == ":memory:":
                from sqlalchemy.pool import StaticPool

                extra["poolclass"] = StaticPool  # one shared connection: one in-memory database
            engine = create_engine(url, connect_args={"check_same_thread": False}, **extra)
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(url, pool_pre_ping=True)
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise ConfigError(f"db: cannot use {mask(url)!r}: {exc}") from None
    if migrate:
        from headwater.store.migrate import upgrade

        try:
            upgrade(engine)
        except OperationalError as exc:
            raise ConfigError(f"db: cannot open {mask(url)!r}: {mask(str(exc.orig))}") from None
    return engine
