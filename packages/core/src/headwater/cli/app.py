"""The click command group: the commands are defined in run_cmds, inspect_cmds and project_cmds."""

from __future__ import annotations

from pathlib import Path

import click

from headwater._version import __version__
from headwater.cli import (
    assets_cmd,
    backfill_cmd,
    inspect_cmds,
    ops_cmds,
    project_cmds,
    run_cmds,
    scheduler_cmd,
    why_cmd,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="headwater", message="%(prog)s %(version)s")
@click.option(
    "--project",
    "project_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Project directory (default: found from the working directory upwards).",
)
@click.pass_context
def cli(ctx: click.Context, project_dir: Path | None) -> None:
    """Headwater: schedule tasks and data assets, retry what fails, tell people what needs them."""
    ctx.obj = {"project_dir": project_dir}


for _module in (run_cmds, backfill_cmd, assets_cmd, inspect_cmds, ops_cmds, project_cmds, scheduler_cmd, why_cmd):
    for _command in _module.COMMANDS:
        cli.add_command(_command)
