"""The core's registrations: the same hooks every outside plugin implements."""

from __future__ import annotations

from headwater.plugin.spec import Register, hookimpl


@hookimpl
def headwater_register_executors(register: Register) -> None:
    register("inline", "headwater.executors.inline:InlineExecutor")


@hookimpl
def headwater_register_operators(register: Register) -> None:
    register("python", "headwater.model.python_operator:PythonOperator")
    register("bash", "headwater.builtins.bash:BashOperator")
    register("notify", "headwater.builtins.notify:NotifyOperator")


@hookimpl
def headwater_register_sensors(register: Register) -> None:
    register("file.exists", "headwater.builtins.sensors:FileSensor")


@hookimpl
def headwater_register_notifiers(register: Register) -> None:
    register("console", "headwater.builtins.notify:ConsoleNotifier")


@hookimpl
def headwater_register_event_sources(register: Register) -> None:
    register("file", "headwater.engine.events.files:FileArrivalSource")
    register("asset", "headwater.engine.events.assets:AssetUpdatedSource")
    register("webhook", "headwater.engine.events.webhook:WebhookSource")
    register("database", "headwater.engine.events.database:DatabaseChangeSource")
