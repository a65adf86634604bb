"""``DbtOperator`` and its registered forms ``dbt.build``, ``dbt.run`` and ``dbt.test``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from headwater import DefinitionError, Operator
from headwater_dbt.manifest import read_manifest
from headwater_dbt.runner import COMMANDS, DbtInvocation, DbtOutcome, run_dbt, target_dir
from headwater_dbt.selection import as_selectors
from headwater_dbt.templating import check_vars, render_vars

if TYPE_CHECKING:
    from typing import Unpack

    from headwater import Context
    from headwater.plugin import TaskOptionArgs

_RUNNABLE = tuple(c for c in COMMANDS if c != "parse")


class DbtOperator(Operator):
    """Run ``dbt <command>`` on a project in this process; dbt's output goes to the task's log.

    >>> DbtOperator("dbt_build", project_dir="dbt/shop", select="tag:daily", vars={"day": "2026-03-01"})

    The result is a summary (counts per status and each node's result). Failed data tests fail the
    task with a report naming each test and its failing rows; a failed model names the model and
    the database's message. Relative paths start at the project directory (where headwater.toml is).
    """

    operator_name = "dbt"
    #: the dbt command a subclass always runs (None: the ``command`` argument)
    fixed_command: ClassVar[str | None] = None

    def __init__(
        self,
        task_id: str,
        *,
        project_dir: str | Path,
        command: str | None = None,
        profiles_dir: str | Path | None = None,
        target: str | None = None,
        select: str | Iterable[str] | None = None,
        exclude: str | Iterable[str] | None = None,
        vars: Mapping[str, object] | None = None,  # noqa: A002 - dbt's own name for them
        full_refresh: bool = False,
        conn: str | None = None,
        **options: Unpack[TaskOptionArgs],
    ) -> None:
        where = f"task '{task_id}'"
        chosen = self.fixed_command or command or "build"
        if command is not None and self.fixed_command is not None and command != self.fixed_command:
            raise DefinitionError(
                f"{where}: {self.operator_name} always runs dbt {self.fixed_command}", tasks=[task_id]
            )
        if chosen not in _RUNNABLE:
            raise DefinitionError(
                f"{where}: command must be one of {', '.join(_RUNNABLE)}, got {chosen!r}", tasks=[task_id]
            )
        if not isinstance(project_dir, str | Path) or not str(project_dir):
            raise DefinitionError(
                f"{where}: project_dir must be a path to a dbt project, got {project_dir!r}", tasks=[task_id]
            )
        if profiles_dir is not None and not isinstance(profiles_dir, str | Path):
            raise DefinitionError(f"{where}: profiles_dir must be a path, got {profiles_dir!r}", tasks=[task_id])
        for label, value in (("target", target), ("conn", conn)):
            if value is not None and (not isinstance(value, str) or not value):
                raise DefinitionError(f"{where}: {label} must be a non-empty string, got {value!r}", tasks=[task_id])
        if conn is not None and profiles_dir is not None:
            raise DefinitionError(f"{where}: give conn or profiles_dir, not both", tasks=[task_id])
        if vars is not None and not isinstance(vars, Mapping):
            raise DefinitionError(f"{where}: vars must be a dict, got {vars!r}", tasks=[task_id])
        if not isinstance(full_refresh, bool):
            raise DefinitionError(f"{where}: full_refresh must be true or false, got {full_refresh!r}", tasks=[task_id])
        if full_refresh and chosen not in ("build", "run", "seed"):
            raise DefinitionError(
                f"{where}: full_refresh applies to build, run and seed, not {chosen}", tasks=[task_id]
            )
        check_vars(vars or {}, what="vars", task_id=task_id)
        try:
            self.select = as_selectors(select, "select") or ()
            self.exclude = as_selectors(exclude, "exclude") or ()
        except DefinitionError as exc:
            raise DefinitionError(f"{where}: {exc.message}", tasks=[task_id]) from None
        self.command = chosen
        self.project_dir = Path(project_dir)
        self.profiles_dir = Path(profiles_dir) if profiles_dir is not None else None
        self.target = target
        self.vars = dict(vars or {})
        self.full_refresh = full_refresh
        self.conn = conn
        super().__init__(task_id, **options)

    def invocation(self, ctx: Context, variables: Mapping[str, object] | None = None) -> DbtInvocation:
        """The dbt invocation this task runs: relative paths start at ``ctx.project_dir``, ``variables`` as vars."""
        return DbtInvocation(
            command=self.command,
            project_dir=ctx.path(self.project_dir).resolve(),
            profiles_dir=ctx.path(self.profiles_dir).resolve() if self.profiles_dir is not None else None,
            target=self.target,
            select=self.select,
            exclude=self.exclude,
            vars=self.vars if variables is None else variables,
            full_refresh=self.full_refresh,
            conn=self.conn,
        )

    def execute(self, ctx: Context) -> dict[str, object]:
        outcome = run_dbt(self.invocation(ctx, render_vars(self.vars, ctx)), ctx.log)
        _report_lineage(ctx, outcome)
        return outcome.summary()

    def describe(self) -> str:
        parts = [f"dbt {self.command} {self.project_dir}"]
        if self.select:
            parts.append(f"--select {' '.join(self.select)}")
        if self.exclude:
            parts.append(f"--exclude {' '.join(self.exclude)}")
        if self.target:
            parts.append(f"--target {self.target}")
        if self.conn:
            parts.append(f"(connection {self.conn})")
        return " ".join(parts)


class DbtBuildOperator(DbtOperator):
    """``dbt build``: seeds, models, snapshots and their tests, in graph order (registered as ``dbt.build``)."""

    operator_name = "dbt.build"
    fixed_command = "build"


class DbtRunOperator(DbtOperator):
    """``dbt run``: the models (registered as ``dbt.run``)."""

    operator_name = "dbt.run"
    fixed_command = "run"


class DbtTestOperator(DbtOperator):
    """``dbt test``: the data tests, failing the task with a report of each failed test (``dbt.test``)."""

    operator_name = "dbt.test"
    fixed_command = "test"


def _report_lineage(ctx: Context, outcome: DbtOutcome) -> None:
    """Writes: what this run built; reads: their parents that it did not build (sources, other models)."""
    built = [r.unique_id for r in outcome.results if r.resource_type in ("model", "seed", "snapshot")]
    tested = [t for r in outcome.results if r.resource_type == "test" for t in r.tested]
    if not built and not tested:
        return
    path = target_dir(outcome.invocation.project_dir) / "manifest.json"
    try:
        manifest = read_manifest(path)
    except DefinitionError as exc:
        ctx.log.warning("no lineage reported: %s", exc)
        return
    written = set(built)
    parents = [p for uid in built for p in manifest.parents(uid) if p not in written]
    writes = manifest.datasets(built)
    reads = manifest.datasets([*parents, *(t for t in tested if t not in written)])
    if reads or writes:
        ctx.report_lineage(reads=reads, writes=writes)
