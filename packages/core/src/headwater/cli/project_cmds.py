"""``headwater init`` and ``headwater plugins``."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from headwater.cli.common import reports_errors
from headwater.errors import UsageError

TEMPLATE = Path(__file__).with_name("templates") / "project"


@click.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))
@reports_errors
def init(directory: Path) -> None:
    """Scaffold a project in DIRECTORY (default: here) with a pipeline that runs as is."""
    if (directory / "headwater.toml").exists():
        raise UsageError(f"{directory / 'headwater.toml'} already exists: not overwriting a project")
    if not TEMPLATE.is_dir():
        raise UsageError(f"the project template is missing from this installation ({TEMPLATE})")
    directory.mkdir(parents=True, exist_ok=True)
    for source in sorted(TEMPLATE.rglob("*")):
        if "__pycache__" in source.parts:
            continue
        target = directory / source.relative_to(TEMPLATE)
        if source.is_dir():
            target.mkdir(exist_ok=True)
        elif not target.exists():
            shutil.copyfile(source, target)
    click.echo(f"created a Headwater project in {directory}")
    click.echo(f"next: cd {directory} && headwater list && headwater run example")


@click.command()
@reports_errors
def plugins() -> None:
    """List discovered plugins, their versions, and what each registered."""
    from headwater.plugin.manager import get_manager

    for info in get_manager().plugins():
        status = "disabled" if info.disabled else ("BROKEN" if info.error else "ok")
        click.echo(f"{info.name} ({info.dist} {info.version}) [{status}]")
        if info.error:
            click.echo(f"    error: {info.error}")
        for reg in sorted(info.registrations, key=lambda r: (r.kind, r.name)):
            click.echo(f"    {reg.kind.value:<16} {reg.name:<20} {reg.target}")


COMMANDS = [init, plugins]
