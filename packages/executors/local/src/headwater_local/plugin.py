"""Registers the ``local`` executor (imports nothing heavy: the class loads when first used)."""

from __future__ import annotations

from headwater.plugin import Register, hookimpl


@hookimpl
def headwater_register_executors(register: Register) -> None:
    register("local", "headwater_local.executor:LocalExecutor")
