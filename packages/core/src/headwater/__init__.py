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
    "TaskFunction": "headwater.model.python_operator",
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
    "load_operator": "headwater.plugin.registry",
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
    from headwater.model.context import Context as Context
    from headwater.model.context import DataInterval as DataInterval
    from headwater.model.context import Skip as Skip
    from headwater.model.context import TaskCancelled as TaskCancelled
    from headwater.model.operator import Operator as Operator
    from headwater.model.options import TaskOptions as TaskOptions
    from headwater.model.pipeline import Pipeline as Pipeline
    from headwater.model.python_operator import PythonOperator as PythonOperator
    from headwater.model.python_operator import TaskFunction as TaskFunction
    from headwater.model.python_operator import task as task
    from headwater.model.retry import Retry as Retry
    from headwater.model.states import RunState as RunState
    from headwater.model.states import TaskState as TaskState
    from headwater.model.trigger_rules import TriggerRule as TriggerRule
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
