"""headwater-snowflake: Snowflake queries, stage loads, data-quality checks and backfill warehouses."""

__version__ = "0.1.0"
