"""Remembers: SQLAlchemy tables, Alembic migrations, and the queries the engine and CLI use."""
