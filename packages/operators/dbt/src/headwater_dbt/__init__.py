"""headwater-dbt: dbt projects as Headwater tasks (``dbt.build``, ``dbt.run``, ``dbt.test``) and assets.

Importing this package does not import dbt: dbt loads the first time a dbt task runs.
"""

from __future__ import annotations

from headwater_dbt.assets import dbt_assets
from headwater_dbt.errors import DbtConnectionError, DbtError, DbtProjectError, DbtRunError, DbtTestFailure
from headwater_dbt.operators import DbtBuildOperator, DbtOperator, DbtRunOperator, DbtTestOperator
from headwater_dbt.results import NodeResult

__version__ = "0.1.0"

__all__ = [
    "DbtBuildOperator",
    "DbtConnectionError",
    "DbtError",
    "DbtOperator",
    "DbtProjectError",
    "DbtRunError",
    "DbtRunOperator",
    "DbtTestFailure",
    "DbtTestOperator",
    "NodeResult",
    "__version__",
    "dbt_assets",
]
