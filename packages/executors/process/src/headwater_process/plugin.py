"""Registers the ``process`` executor (imports nothing heavy: the class loads when first used)."""

from __future__ import annotations

from headwater.plugin import Register, hookimpl


@hookimpl
def headwater_register_executors(register: Register) -> None:
    register("process", "headwater_process.executor:ProcessExecutor")
