"""The plugin's hooks: registrations only, so loading the plugin imports nothing else."""

from __future__ import annotations

from headwater.plugin import Register, hookimpl


@hookimpl
def headwater_register_operators(register: Register) -> None:
    register("greeting.hello", "headwater_greeting.operators:GreetOperator")
