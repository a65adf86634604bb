"""The plugin's hooks: registrations only, so loading the plugin imports neither slack-sdk nor our modules."""

from __future__ import annotations

from headwater.plugin import Register, hookimpl


@hookimpl
def headwater_register_notifiers(register: Register) -> None:
    register("slack", "headwater_slack.notifier:SlackNotifier")


@hookimpl
def headwater_register_operators(register: Register) -> None:
    register("slack.message", "headwater_slack.operator:SlackOperator")


@hookimpl
def headwater_register_connection_types(register: Register) -> None:
    register("slack", "headwater_slack.client:connect")
    register("slack+webhook", "headwater_slack.client:connect")
