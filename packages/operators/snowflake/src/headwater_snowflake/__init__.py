"""headwater-snowflake: Snowflake queries and scripts, stage loads, data-quality checks, backfill warehouses.

The operators are imported lazily, so ``import headwater_snowflake`` costs nothing until one is used::

    from headwater_snowflake import SnowflakeOperator, SnowflakeStageLoad, SnowflakeCheck
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_EXPORTS = {
    "SnowflakeOperator": "headwater_snowflake.query",
    "SnowflakeStageLoad": "headwater_snowflake.load",
    "SnowflakeCheck": "headwater_snowflake.check",
    "SnowflakeError": "headwater_snowflake.errors",
    "SnowflakeUnavailable": "headwater_snowflake.errors",
    "SnowflakeSettings": "headwater_snowflake.connection",
    "SnowflakeSession": "headwater_snowflake.session",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:
    from headwater_snowflake.check import SnowflakeCheck as SnowflakeCheck
    from headwater_snowflake.connection import SnowflakeSettings as SnowflakeSettings
    from headwater_snowflake.errors import SnowflakeError as SnowflakeError
    from headwater_snowflake.errors import SnowflakeUnavailable as SnowflakeUnavailable
    from headwater_snowflake.load import SnowflakeStageLoad as SnowflakeStageLoad
    from headwater_snowflake.query import SnowflakeOperator as SnowflakeOperator
    from headwater_snowflake.session import SnowflakeSession as SnowflakeSession


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'headwater_snowflake' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
