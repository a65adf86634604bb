"""Headwater: a fast, plugin-based pipeline orchestrator.

The public API is re-exported here and imported lazily, so ``import headwater``
stays cheap (no SQLAlchemy, rich, pydantic or plugins until used).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from headwater._version import __version__

_EXPORTS: dict[str, str] = {
    "Pipeline": "headwater.model.pipeline",
    "task": "headwater.model.python_operator",
    "asset": "headwater.model.asset",
    "AssetDefinition": "headwater.model.asset",
    "AssetOperator": "headwater.model.asset",
    "Materialization": "headwater.model.asset",
    "TaskFunction": "headwater.model.python_operator",
    "unmapped": "headwater.model.mapped",
    "MappedOperator": "headwater.model.mapped",
    "PythonOperator": "headwater.model.python_operator",
    "Operator": "headwater.model.operator",
    "BashOperator": "headwater.builtins.bash",
    "NotifyOperator": "headwater.builtins.notify",
    "Sensor": "headwater.builtins.sensors",
    "FileSensor": "headwater.builtins.sensors",
    "Retry": "headwater.model.retry",
    "TriggerRule": "headwater.model.trigger_rules",
    "TaskState": "headwater.model.states",
    "RunState": "headwater.model.states",
    "TaskOptions": "headwater.model.options",
    "Context": "headwater.model.context",
    "DataInterval": "headwater.model.context",
    "Skip": "headwater.model.context",
    "TaskCancelled": "headwater.model.context",
    "Connection": "headwater.config.connections",
    "get_connection": "headwater.config.connections",
    "DefinitionError": "headwater.errors",
    "ConfigError": "headwater.errors",
    "HeadwaterError": "headwater.errors",
    "PermanentError": "headwater.errors",
    "load_operator": "headwater.plugin.registry",
    "FileArrival": "headwater.model.triggers",
    "AssetUpdated": "headwater.model.triggers",
    "Webhook": "headwater.model.triggers",
    "DatabaseChange": "headwater.model.triggers",
    "Trigger": "headwater.model.triggers",
    "HourlyPartitions": "headwater.model.partitions",
    "DailyPartitions": "headwater.model.partitions",
    "WeeklyPartitions": "headwater.model.partitions",
    "MonthlyPartitions": "headwater.model.partitions",
    "StaticPartitions": "headwater.model.partitions",
    "PartitionsDefinition": "headwater.model.partitions",
    "PartitionWindow": "headwater.model.partitions",
    "PartitionMapping": "headwater.model.partitions",
    "IdentityPartitionMapping": "headwater.model.partitions",
    "TimeWindowPartitionMapping": "headwater.model.partitions",
    "AllPartitionMapping": "headwater.model.partitions",
    "StaticPartitionMapping": "headwater.model.partitions",
    "Freshness": "headwater.model.freshness",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:
    from headwater.builtins.bash import BashOperator as BashOperator
    from headwater.builtins.notify import NotifyOperator as NotifyOperator
    from headwater.builtins.sensors import FileSensor as FileSensor
    from headwater.builtins.sensors import Sensor as Sensor
    from headwater.config.connections import Connection as Connection
    from headwater.config.connections import get_connection as get_connection
    from headwater.errors import ConfigError as ConfigError
    from headwater.errors import DefinitionError as DefinitionError
    from headwater.errors import HeadwaterError as HeadwaterError
    from headwater.errors import PermanentError as PermanentError
    from headwater.model.asset import AssetDefinition as AssetDefinition
    from headwater.model.asset import AssetOperator as AssetOperator
    from headwater.model.asset import Materialization as Materialization
    from headwater.model.asset import asset as asset
    from headwater.model.context import Context as Context
    from headwater.model.context import DataInterval as DataInterval
    from headwater.model.context import Skip as Skip
    from headwater.model.context import TaskCancelled as TaskCancelled
    from headwater.model.freshness import Freshness as Freshness
    from headwater.model.mapped import MappedOperator as MappedOperator
    from headwater.model.mapped import unmapped as unmapped
    from headwater.model.operator import Operator as Operator
    from headwater.model.options import TaskOptions as TaskOptions
    from headwater.model.partitions import AllPartitionMapping as AllPartitionMapping
    from headwater.model.partitions import DailyPartitions as DailyPartitions
    from headwater.model.partitions import HourlyPartitions as HourlyPartitions
    from headwater.model.partitions import IdentityPartitionMapping as IdentityPartitionMapping
    from headwater.model.partitions import MonthlyPartitions as MonthlyPartitions
    from headwater.model.partitions import PartitionMapping as PartitionMapping
    from headwater.model.partitions import PartitionsDefinition as PartitionsDefinition
    from headwater.model.partitions import PartitionWindow as PartitionWindow
    from headwater.model.partitions import StaticPartitionMapping as StaticPartitionMapping
    from headwater.model.partitions import StaticPartitions as StaticPartitions
    from headwater.model.partitions import TimeWindowPartitionMapping as TimeWindowPartitionMapping
    from headwater.model.partitions import WeeklyPartitions as WeeklyPartitions
    from headwater.model.pipeline import Pipeline as Pipeline
    from headwater.model.python_operator import PythonOperator as PythonOperator
    from headwater.model.python_operator import TaskFunction as TaskFunction
    from headwater.model.python_operator import task as task
    from headwater.model.retry import Retry as Retry
    from headwater.model.states import RunState as RunState
    from headwater.model.states import TaskState as TaskState
    from headwater.model.trigger_rules import TriggerRule as TriggerRule
    from headwater.model.triggers import AssetUpdated as AssetUpdated
    from headwater.model.triggers import DatabaseChange as DatabaseChange
    from headwater.model.triggers import FileArrival as FileArrival
    from headwater.model.triggers import Trigger as Trigger
    from headwater.model.triggers import Webhook as Webhook
    from headwater.plugin.registry import load_operator as load_operator


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'headwater' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
