"""The ``[scheduler]`` settings table: timings of the long-running scheduler."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class SchedulerSettings(BaseModel):
    """``[scheduler]`` in headwater.toml. Durations accept seconds or strings like ``"30s"``, ``"5m"``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tick: float = 5.0
    lease_ttl: float = 30.0
    heartbeat_timeout: float | None = 60.0
    parse_interval: float = 10.0
    shutdown_grace: float = 30.0
    max_runs: int = Field(default=64, ge=1)
    backfill_concurrency: int | None = Field(default=None, ge=1)
    priority: Literal["critical_path", "fifo"] = "critical_path"
    # event triggers (docs/event-triggers.md)
    event_poll_interval: float = 2.0  # how often file and asset triggers look for news
    webhook_host: str = "127.0.0.1"  # the webhook server's bind address (it starts only if a Webhook trigger exists)
    webhook_port: int = Field(default=8790, ge=0, le=65535)  # 0: any free port (logged)

    @field_validator(
        "tick",
        "lease_ttl",
        "heartbeat_timeout",
        "parse_interval",
        "shutdown_grace",
        "event_poll_interval",
        mode="before",
    )
    @classmethod
    def _duration(cls, value: object) -> object:
        if value is None or isinstance(value, int | float):
            return value
        from headwater.errors import DefinitionError
        from headwater.model.durations import parse_duration

        try:
            return parse_duration(value, what="duration")  # type: ignore[arg-type]
        except DefinitionError as exc:
            raise ValueError(exc.message) from None

    @field_validator("tick", "lease_ttl", "parse_interval", "event_poll_interval")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be more than 0 seconds")
        return value
