"""The hook contract between Headwater and its plugins.

Every hook takes keyword arguments and is prefixed ``headwater_``. Registration
hooks receive a ``register(name, import_string)`` callback: the import string
(``"package.module:Attribute"``) is resolved only when a pipeline uses the name,
so installing a plugin costs nothing until it is used.
"""

from __future__ import annotations

from typing import Protocol

import pluggy

PROJECT = "headwater"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class Register(Protocol):
    """The callback a registration hook receives: ``register(name, "module:Attr")``."""

    def __call__(self, name: str, target: str, /) -> None: ...


@hookspec
def headwater_register_executors(register: Register) -> None:
    """Called once when executors are first needed: register executor classes by name.

    ``register("celery", "headwater_celery.executor:CeleryExecutor")``. The class
    must implement :class:`headwater.plugin.Executor`.
    """


@hookspec
def headwater_register_operators(register: Register) -> None:
    """Called once when operators are first looked up by name (YAML pipelines, ``load_operator``).

    ``register("postgres.query", "headwater_postgres.operators:PostgresOperator")``.
    The class must subclass :class:`headwater.Operator`.
    """


@hookspec
def headwater_register_sensors(register: Register) -> None:
    """Called once when sensors are first looked up by name: ``register("file.exists", "...:FileSensor")``.

    The class must subclass :class:`headwater.Sensor`.
    """


@hookspec
def headwater_register_notifiers(register: Register) -> None:
    """Called once when notifiers are first looked up: ``register("slack", "...:SlackNotifier")``.

    The class must implement :class:`headwater.plugin.Notifier`.
    """


@hookspec
def headwater_register_connection_types(register: Register) -> None:
    """Called once when a connection's client is first built: ``register("postgres", "...:connect")``.

    The target is a callable taking a :class:`headwater.Connection` and returning a client.
    The name is the URI scheme of ``HEADWATER_CONN_<ID>`` values.
    """


@hookspec
def headwater_register_result_stores(register: Register) -> None:
    """Called once when a result store is first needed: ``register("s3", "...:S3ResultStore")``.

    The class must implement :class:`headwater.plugin.ResultStore`; it is chosen by
    the URL scheme of the ``results`` setting. The protocol is ``put(key, data) -> uri``
    (atomic), ``get(uri) -> bytes`` and, since task caching, ``read(key) -> bytes | None``
    (None when nothing is stored under ``key``): cached results live in the same store
    under ``cache/<pipeline>/<task>/<sha256>.json``. A store without ``read`` still
    stores results; cached tasks then always run (a warning is logged in the try log).
    """


@hookspec
def headwater_register_event_sources(register: Register) -> None:
    """Called once when the scheduler first starts watching event triggers: ``register("s3", "...:S3Source")``.

    The name is a trigger kind (``Trigger.kind`` of the plugin's trigger class); the
    class must subclass :class:`headwater.plugin.EventSource` and is built with the
    triggers of that kind (see ``docs/event-triggers.md``).
    """
