"""The whole plugin API: hook markers, the executor and notifier contracts, registries, and the SQL helpers.

A plugin module implements hooks from :mod:`headwater.plugin.spec` with
``@hookimpl`` and is declared under the ``headwater`` entry-point group::

    [project.entry-points.headwater]
    myplugin = "my_package.plugin"
"""

from __future__ import annotations

from headwater.config.connections import check_conn
from headwater.config.root import project_root_of
from headwater.engine.events.sources import Emitter as EventEmitter
from headwater.engine.events.sources import EventSource, Payload, PollingSource, SourceContext, Subscription
from headwater.errors import ConfigError, PermanentError
from headwater.executors.base import (
    EncodedResult,
    EventKind,
    EventSink,
    Executor,
    ExecutorHealth,
    TaskEvent,
    TaskKey,
    TaskSubmission,
)
from headwater.executors.worker import execute_submission
from headwater.model.context import Context, Skip, TaskCancelled
from headwater.model.durations import parse_duration
from headwater.model.operator import Operator
from headwater.model.options import TaskOptionArgs
from headwater.model.triggers import Trigger
from headwater.plugin.manager import Kind, PluginInfo, Registration, get_manager
from headwater.plugin.notifier import Alert, AlertKind, Notifier
from headwater.plugin.registry import load_operator
from headwater.plugin.spec import Register, hookimpl, hookspec
from headwater.results import ResultStore
from headwater.secrets import add_secret, mask
from headwater.sql_checks import (
    CheckReport,
    CheckResult,
    CheckSpec,
    DataQualityError,
    SqlCheckOperator,
    quote_identifier,
    quote_table,
    run_checks,
)
from headwater.sql_lineage import tables_in
from headwater.sql_source import (
    SqlDialect,
    SqlParameters,
    SqlSource,
    Statement,
    check_parameters,
    json_value,
    render_parameters,
    split_statements,
)
from headwater.templating import TemplateError, check_template, render_template, template_values

__all__ = [
    "Alert",
    "AlertKind",
    "CheckReport",
    "CheckResult",
    "CheckSpec",
    "ConfigError",
    "Context",
    "DataQualityError",
    "EncodedResult",
    "EventEmitter",
    "EventKind",
    "EventSink",
    "EventSource",
    "Executor",
    "ExecutorHealth",
    "Kind",
    "Notifier",
    "Operator",
    "Payload",
    "PermanentError",
    "PluginInfo",
    "PollingSource",
    "Register",
    "Registration",
    "ResultStore",
    "Skip",
    "SourceContext",
    "SqlCheckOperator",
    "SqlDialect",
    "SqlParameters",
    "SqlSource",
    "Statement",
    "Subscription",
    "TaskCancelled",
    "TaskEvent",
    "TaskKey",
    "TaskOptionArgs",
    "TaskSubmission",
    "TemplateError",
    "Trigger",
    "add_secret",
    "check_conn",
    "check_parameters",
    "check_template",
    "execute_submission",
    "get_manager",
    "hookimpl",
    "hookspec",
    "json_value",
    "load_operator",
    "mask",
    "parse_duration",
    "project_root_of",
    "quote_identifier",
    "quote_table",
    "render_parameters",
    "render_template",
    "run_checks",
    "split_statements",
    "tables_in",
    "template_values",
]
