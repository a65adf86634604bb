"""Pytest fixtures for testing pipelines (enabled automatically when headwater is installed)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from headwater.engine.clock import FakeClock


@pytest.fixture
def headwater_clock() -> FakeClock:
    """A FakeClock starting at 2026-01-01T00:00:00Z; retries and timers advance it without sleeping."""
    return FakeClock()


@pytest.fixture
def headwater_run(headwater_clock: FakeClock) -> Callable[..., object]:
    """``headwater_run(pipeline, **kwargs)``: :func:`headwater.testing.run_pipeline` with the fake clock."""
    from headwater.testing import run_pipeline

    def run(pipeline: object, **kwargs: object) -> object:
        kwargs.setdefault("clock", headwater_clock)
        return run_pipeline(pipeline, **kwargs)  # type: ignore[arg-type]

    return run
