"""``headwater scheduler``: the long-running process that starts runs on time and drives them."""

from __future__ import annotations

import logging
import signal
import sys
from types import FrameType

import click

from headwater.cli.common import load_project_from, reports_errors


@click.command()
@click.option("--executor", "executor_name", default=None, help="Executor to run tasks on (default: settings).")
@click.option(
    "--exit-when-idle",
    is_flag=True,
    help="Stop once no run is due, queued or running (for scripts and tests).",
)
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors.")
@click.pass_context
@reports_errors
def scheduler(ctx: click.Context, executor_name: str | None, exit_when_idle: bool, quiet: bool) -> None:
    """Create runs from the pipelines' schedules and drive them (stop with Ctrl-C or SIGTERM).

    On SIGTERM or Ctrl-C running tries may finish for up to [scheduler] shutdown_grace;
    the rest are handed back and resumed by the next scheduler, never lost.
    """
    from headwater.engine.launch import load_executor, open_store
    from headwater.engine.scheduler import Scheduler, SchedulerOptions

    project = load_project_from(ctx)
    settings = project.settings
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    name = executor_name or settings.executor
    executor = load_executor(name, parallelism=settings.concurrency)
    options = SchedulerOptions.from_settings(settings.scheduler)
    store = open_store(project)
    sched = Scheduler(project, store=store, executor=executor, executor_name=name, options=options)

    def _stop(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger("headwater.scheduler").info("received %s: stopping", signal.Signals(signum).name)
        sched.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    click.echo(f"scheduler {sched.owner} on {project.pipelines_dir} (executor {name})", err=True)
    try:
        sched.run_forever(exit_when_idle=exit_when_idle)
    finally:
        store.close()


COMMANDS = [scheduler]
