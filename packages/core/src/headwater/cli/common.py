"""What every command shares: exit codes, error reporting, finding the project."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import click

from headwater.errors import HeadwaterError, UsageError
from headwater.secrets import mask

if TYPE_CHECKING:
    from headwater.config.settings import Project
    from headwater.store.repository import Store

P = ParamSpec("P")
R = TypeVar("R")

EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE = 0, 1, 2


def fail(message: str) -> None:
    """Print one error line and exit 2."""
    click.echo(f"error: {mask(message)}", err=True)
    sys.exit(EXIT_USAGE)


def reports_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn Headwater's user-facing errors into a clear message and exit code 2, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except HeadwaterError as exc:
            fail(str(exc))
            raise AssertionError("unreachable") from None

    return wrapper


def existing_store(project: Project) -> Store:
    """The project's store for reading; UsageError (exit 2) when its database does not exist yet."""
    from headwater.engine.launch import open_existing_store

    store = open_existing_store(project)
    if store is None:
        raise UsageError(f"no runs yet: the database {mask(project.settings.db)} does not exist")
    return store


def load_project_from(ctx: click.Context, target: str | None = None) -> Project:
    """The project of ``--project``, else of TARGET's folder when it is a file, else of the working directory."""
    from headwater.config.settings import load_project

    project_dir = (ctx.obj or {}).get("project_dir")
    if project_dir is None and target is not None:
        from headwater.loader.project import looks_like_file

        path = Path(target)
        if looks_like_file(target) and path.is_file():
            project_dir = path.resolve().parent
    return load_project(project_dir)
