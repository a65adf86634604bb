"""Errors the user can act on: each names what is wrong and where."""

from __future__ import annotations

from collections.abc import Iterable


class HeadwaterError(Exception):
    """Base class of every error Headwater reports to a user."""


class DefinitionError(HeadwaterError):
    """A pipeline definition is invalid (a cycle, an unknown dependency, a bad option...).

    ``file``, ``pipeline`` and ``tasks`` say where; the CLI prints them with the
    message and exits 2.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        pipeline: str | None = None,
        tasks: Iterable[str] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.pipeline = pipeline
        self.tasks = tuple(tasks)

    def located(self, *, file: str | None = None, pipeline: str | None = None) -> DefinitionError:
        """Fill in the location if it is not known yet (returns self)."""
        if self.file is None and file is not None:
            self.file = file
        if self.pipeline is None and pipeline is not None:
            self.pipeline = pipeline
        return self

    def __str__(self) -> str:
        where = []
        if self.file:
            where.append(self.file)
        if self.pipeline:
            where.append(f"pipeline '{self.pipeline}'")
        prefix = ": ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class ConfigError(HeadwaterError):
    """The configuration (headwater.toml, environment, connections) is invalid."""


class UsageError(HeadwaterError):
    """A command was called with bad arguments (unknown pipeline, bad date, ...)."""


class PluginError(HeadwaterError):
    """A plugin is missing, broken, or does not provide what a pipeline names."""


class PermanentError(HeadwaterError):
    """A task failure that trying again cannot fix (bad SQL, a missing bucket, refused credentials).

    Raised inside a task (operators raise it, or a subclass), it fails the task at once: it is never
    retried, whatever the task's ``retry_on`` says. Its message is the task's error, as given.
    """
