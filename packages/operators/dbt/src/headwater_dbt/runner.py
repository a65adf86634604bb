"""Run one dbt command in this process with dbt's programmatic runner; its events go to the task's log.

dbt is imported here, on the first invocation, never when the plugin or ``headwater_dbt`` is imported.
dbt keeps global state, so invocations in one process take turns (a lock); run several dbt tasks at
once with the process executor.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from headwater.plugin import mask
from headwater_dbt.errors import DbtConnectionError, DbtError, DbtProjectError, DbtRunError, DbtTestFailure
from headwater_dbt.profiles import (
    CONNECTION_TARGET,
    mask_profile_secrets,
    project_file,
    project_profile_name,
    resolve_profiles_dir,
    write_connection_profile,
)
from headwater_dbt.results import (
    ERROR_STATUSES,
    NodeResult,
    check_report,
    clean,
    counts,
    failure_report,
    from_run_result,
)

#: dbt commands the runner knows how to read the results of
COMMANDS = ("build", "run", "test", "seed", "snapshot", "parse")
_FULL_REFRESH = frozenset({"build", "run", "seed"})
_LOCK = threading.Lock()
_LEVELS = {"info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}
_TRANSIENT = re.compile(
    r"connection refused|could not connect|connection to server .* failed|timeout expired|timed out|"
    r"server closed the connection|connection reset|could not translate host name|too many connections|"
    r"terminating connection|deadlock detected|could not serialize access",
    re.IGNORECASE,
)
_SETTINGS = ("--no-use-colors", "--no-send-anonymous-usage-stats", "--no-version-check", "--log-level", "none")

LogTarget = logging.Logger | logging.LoggerAdapter[logging.Logger]


@dataclass(frozen=True, kw_only=True)
class DbtInvocation:
    """One dbt command against one project: what ``dbt <command> --select ... --vars ...`` would run."""

    command: str
    project_dir: Path
    profiles_dir: str | Path | None = None
    target: str | None = None
    select: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    vars: Mapping[str, object] = field(default_factory=dict)
    full_refresh: bool = False
    #: a Headwater connection id: dbt gets a profile built from it instead of profiles.yml
    conn: str | None = None

    def args(self, profiles_dir: Path | None, target: str | None) -> list[str]:
        """dbt's command line (without the program name)."""
        args = [self.command, "--project-dir", str(self.project_dir)]
        if profiles_dir is not None:
            args += ["--profiles-dir", str(profiles_dir)]
        if target:
            args += ["--target", target]
        if self.select:
            args += ["--select", *self.select]
        if self.exclude:
            args += ["--exclude", *self.exclude]
        if self.vars:
            args += ["--vars", json.dumps(dict(self.vars), default=str)]
        if self.full_refresh and self.command in _FULL_REFRESH:
            args.append("--full-refresh")
        return [*args, *_SETTINGS]

    def where(self) -> str:
        """Where this runs, for error messages: the project, the target, the connection."""
        parts = [f"project {self.project_dir}"]
        if self.conn:
            parts.append(f"connection {self.conn!r}")
        parts.append(f"target {self.target or (CONNECTION_TARGET if self.conn else 'default')}")
        return ", ".join(parts)


@dataclass(frozen=True)
class DbtOutcome:
    """A successful invocation: every node's result, in dbt's order."""

    invocation: DbtInvocation
    results: tuple[NodeResult, ...]
    elapsed: float

    def result_for(self, unique_id: str) -> NodeResult | None:
        """The result of node ``unique_id`` (None if it did not run)."""
        return next((r for r in self.results if r.unique_id == unique_id), None)

    def summary(self) -> dict[str, object]:
        """The task's result: the command, counts per status, and each node's result."""
        return {
            "command": self.invocation.command,
            "elapsed": round(self.elapsed, 3),
            "counts": counts(self.results),
            "nodes": [r.as_dict() for r in self.results],
        }


def target_dir(project_dir: Path) -> Path:
    """Where dbt writes ``manifest.json`` and ``run_results.json`` (``DBT_TARGET_PATH`` or ``target/``)."""
    env = os.environ.get("DBT_TARGET_PATH")
    if env:
        return Path(env) if Path(env).is_absolute() else project_dir / env
    return project_dir / "target"


def run_dbt(invocation: DbtInvocation, log: LogTarget) -> DbtOutcome:
    """Run ``invocation``; raise a :class:`~headwater_dbt.errors.DbtError` with one clear message if it failed."""
    project_dir = invocation.project_dir
    project_file(project_dir)  # DbtProjectError naming the path when there is no project
    if invocation.conn is not None:
        from headwater import get_connection

        conn = get_connection(invocation.conn)  # ConfigError naming the connection when it is not set
        target = invocation.target or CONNECTION_TARGET
        with tempfile.TemporaryDirectory(prefix="headwater-dbt-") as tmp:
            write_connection_profile(Path(tmp), project_profile_name(project_dir), target, conn)
            return _invoke(invocation, Path(tmp), target, log)
    profiles_dir = resolve_profiles_dir(project_dir, invocation.profiles_dir)
    mask_profile_secrets(profiles_dir)
    return _invoke(invocation, profiles_dir, invocation.target, log)


def _invoke(invocation: DbtInvocation, profiles_dir: Path | None, target: str | None, log: LogTarget) -> DbtOutcome:
    args = invocation.args(profiles_dir, target)
    log.info("dbt %s", " ".join(_shown(args)))
    if not _LOCK.acquire(blocking=False):
        log.info("waiting for another dbt invocation in this process to finish (dbt runs one at a time)")
        _LOCK.acquire()
    try:
        started = time.monotonic()
        runner_class: Any = importlib.import_module("dbt.cli.main").dbtRunner
        res = runner_class(callbacks=[_forward_to(log)]).invoke(args)
        elapsed = time.monotonic() - started
    finally:
        _LOCK.release()
    where = invocation.where()
    if res.exception is not None:
        raise _classify(res.exception, invocation.command, where)
    results = _node_results(res.result)
    if not res.success:
        message, details, only_tests = failure_report(invocation.command, results, where)
        for line in details:
            log.error("%s", mask(line))
        if only_tests:
            raise DbtTestFailure(mask(message), [r for r in results if r.failed], check_report(results))
        errors = [r for r in results if r.status in ERROR_STATUSES]
        if errors and all(_TRANSIENT.search(r.message or "") for r in errors):
            raise DbtConnectionError(mask(message))
        raise DbtRunError(mask(message), results)
    warned = [r for r in results if r.status == "warn"]
    for r in warned:
        log.warning("dbt test %s warned: %s failing row(s)", r.name, r.failures)
    return DbtOutcome(invocation, results, elapsed)


def _shown(args: Sequence[str]) -> list[str]:
    shown = list(args[: -len(_SETTINGS)])
    return [mask(a) for a in shown]


def _node_results(result: object) -> tuple[NodeResult, ...]:
    items = getattr(result, "results", None)
    if not isinstance(items, list | tuple):
        return ()
    return tuple(from_run_result(item) for item in items)


def _classify(exc: BaseException, command: str, where: str) -> DbtError:
    text = mask(clean(str(exc))).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()] or [type(exc).__name__]
    detail = ": ".join(lines[:2]) + "".join(f" {line}" for line in lines[2:])
    name = type(exc).__name__
    if "Connect" in name or _TRANSIENT.search(text):
        return DbtConnectionError(f"dbt {command} could not reach the database ({where}): {detail}")
    return DbtProjectError(f"dbt {command} failed before running any node ({where}): {name}: {detail}")


def _forward_to(log: LogTarget) -> Callable[[Any], None]:
    def forward(event: Any) -> None:
        info = event.info
        level = _LEVELS.get(str(info.level))
        if level is None:
            return
        text = clean(str(info.msg)).rstrip()
        if text.strip():
            log.log(level, "%s", mask(text))

    return forward
