"""The plugin's hooks: registrations only, so loading the plugin imports neither psycopg nor sqlglot."""

from __future__ import annotations

from headwater.plugin import Register, hookimpl


@hookimpl
def headwater_register_operators(register: Register) -> None:
    register("postgres.query", "headwater_postgres.query:PostgresOperator")
    register("postgres.extract", "headwater_postgres.extract:PostgresExtract")
    register("postgres.copy", "headwater_postgres.copy:PostgresCopyLoad")
    register("postgres.check", "headwater_postgres.check:SqlCheck")


@hookimpl
def headwater_register_sensors(register: Register) -> None:
    register("postgres.sensor", "headwater_postgres.sensor:SqlSensor")
    register("sql.condition", "headwater_postgres.sensor:SqlSensor")


@hookimpl
def headwater_register_connection_types(register: Register) -> None:
    register("postgres", "headwater_postgres.connection:connect")
    register("postgresql", "headwater_postgres.connection:connect")
