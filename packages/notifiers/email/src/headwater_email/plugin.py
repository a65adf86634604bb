"""Registers the ``email`` notifier, the ``email.send`` operator and the ``smtp``/``smtps`` connection types.

Registrations only: nothing else is imported until a pipeline or the alerter uses a name.
"""

from __future__ import annotations

from headwater.plugin import Register, hookimpl


@hookimpl
def headwater_register_notifiers(register: Register) -> None:
    register("email", "headwater_email.notifier:EmailNotifier")


@hookimpl
def headwater_register_operators(register: Register) -> None:
    register("email.send", "headwater_email.operator:EmailOperator")


@hookimpl
def headwater_register_connection_types(register: Register) -> None:
    register("smtp", "headwater_email.transport:connect")
    register("smtps", "headwater_email.transport:connect")
