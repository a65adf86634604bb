"""The plugin's hooks: registrations only, so loading the plugin imports neither httpx nor the operators."""

from __future__ import annotations

from headwater.plugin import Register, hookimpl


@hookimpl
def headwater_register_operators(register: Register) -> None:
    register("http.extract", "headwater_http.extract:HttpExtract")


@hookimpl
def headwater_register_sensors(register: Register) -> None:
    register("http.sensor", "headwater_http.sensor:HttpSensor")


@hookimpl
def headwater_register_connection_types(register: Register) -> None:
    register("http", "headwater_http.connection:connect")
    register("https", "headwater_http.connection:connect")
