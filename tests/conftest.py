"""Shared setup for the cross-package integration tests (run by `nox -s integration`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from headwater.plugin.manager import reset_manager


@pytest.fixture(autouse=True)
def fresh_plugin_manager() -> Iterator[None]:
    """Each test discovers the installed plugins anew, so no test sees another's registrations."""
    reset_manager()
    yield
    reset_manager()
