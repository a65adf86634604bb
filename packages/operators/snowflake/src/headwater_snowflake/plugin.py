"""The plugin's hooks: registrations only, so loading the plugin imports neither the connector nor sqlglot."""

from __future__ import annotations

from headwater.plugin import Register, hookimpl


@hookimpl
def headwater_register_operators(register: Register) -> None:
    register("snowflake.query", "headwater_snowflake.query:SnowflakeOperator")
    register("snowflake.load", "headwater_snowflake.load:SnowflakeStageLoad")
    register("snowflake.check", "headwater_snowflake.check:SnowflakeCheck")


@hookimpl
def headwater_register_connection_types(register: Register) -> None:
    register("snowflake", "headwater_snowflake.connection:connect")
