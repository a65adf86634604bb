"""Bring a database to the current schema with Alembic (skipped, cheaply, when already current)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

#: The newest revision in ``migrations/versions``; a test keeps it in step with Alembic's head.
HEAD = "0003"
MIGRATIONS = Path(__file__).with_name("migrations")


def current_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError:
        return None


def upgrade(engine: Engine) -> None:
    """Migrate to HEAD. Alembic is imported only when there is something to do."""
    if current_revision(engine) == HEAD:
        return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
