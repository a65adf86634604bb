"""What a dbt task raises: permanent failures are never retried, an unreachable warehouse is (``ConnectionError``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from headwater import PermanentError
from headwater.plugin import DataQualityError

if TYPE_CHECKING:
    from headwater.plugin import CheckReport
    from headwater_dbt.results import NodeResult


class DbtError(Exception):
    """Base of every error a dbt task raises; its message is one line, complete and free of credentials."""


class DbtProjectError(DbtError, PermanentError):
    """The project cannot be used: no ``dbt_project.yml``, a bad profile or target, a parse error."""


class DbtRunError(DbtError, PermanentError):
    """A model, seed or snapshot failed; the message names it and gives the database's error."""

    def __init__(self, message: str, results: Sequence[NodeResult] = ()) -> None:
        PermanentError.__init__(self, message)
        self.results = tuple(results)


class DbtTestFailure(DbtError, DataQualityError):  # noqa: N818 - reads as what happened: a test failed
    """dbt data tests failed: a failed data-quality check. ``failures`` names each test and its failing rows;
    ``report`` is the same :class:`~headwater.plugin.CheckReport` the SQL checks give (one check per test)."""

    def __init__(self, message: str, failures: Sequence[NodeResult] = (), report: CheckReport | None = None) -> None:
        PermanentError.__init__(self, message)
        self.failures = tuple(failures)
        if report is not None:
            self.report = report


class DbtConnectionError(DbtError, ConnectionError):
    """dbt could not reach the warehouse (refused, timed out, dropped): transient, retried like ``ConnectionError``."""
