"""``snowflake.load``: PUT local files to a stage then COPY INTO a table, or COPY from a stage or an S3 URL."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from headwater import DefinitionError, Operator
from headwater.plugin import (
    PermanentError,
    check_template,
    quote_identifier,
    quote_table,
    render_template,
    split_statements,
    template_values,
)
from headwater_snowflake.base import SessionOptions, dataset, table_name
from headwater_snowflake.copy import (
    check_url,
    copy_statement,
    file_format_clause,
    join_stage,
    put_statement,
    render_options,
    stage_reference,
    table_stage,
)

if TYPE_CHECKING:
    from typing import Unpack

    from headwater.plugin import Context, TaskOptionArgs
    from headwater_snowflake.session import SnowflakeSession

_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")
#: COPY reports one row per file; the result keeps at most this many.
MAX_FILES_SHOWN = 100
_FAILED = frozenset({"LOAD_FAILED", "PARTIALLY_LOADED"})
_FILE_KEYS = ("file", "status", "rows_parsed", "rows_loaded", "errors_seen", "first_error", "first_error_line")


class SnowflakeStageLoad(Operator):
    """Load files into ``table`` with COPY INTO, from one of three sources:

    - ``file``: local file(s) (a path, ``*`` wildcards allowed; relative paths start at the project directory), first
      PUT to ``stage`` (default: the table's own stage) under a folder of this run and task, then copied;
    - ``stage``: files already in a stage (``@my_stage/orders/``), e.g. an external stage on S3;
    - ``url``: an external location (``s3://bucket/orders/{{ ds }}/``) read through ``storage_integration``.

    ``file_format`` is a named file format (a string) or inline options (``{"type": "csv", "skip_header": 1}``);
    ``copy_options`` are COPY options (``{"on_error": "abort_statement", "purge": true}``); ``pattern`` a regular
    expression on file names; ``columns`` the table columns the file's fields go to. The result reports the
    files and rows loaded; a file that failed to load (with ``on_error`` letting the COPY go on) is a warning.
    """

    operator_name = "snowflake.load"

    def __init__(
        self,
        task_id: str,
        *,
        conn: str,
        table: str,
        file: str | None = None,
        stage: str | None = None,
        url: str | None = None,
        storage_integration: str | None = None,
        file_format: str | Mapping[str, object] | None = None,
        copy_options: Mapping[str, object] | None = None,
        pattern: str | None = None,
        columns: Sequence[str] = (),
        warehouse: str | None = None,
        backfill_warehouse: str | None = None,
        query_tag: str | bool | None = None,
        **options: Unpack[TaskOptionArgs],
    ) -> None:
        self.session_options = SessionOptions.build(
            task_id, conn=conn, warehouse=warehouse, backfill_warehouse=backfill_warehouse, query_tag=query_tag
        )
        self.conn = self.session_options.conn
        try:
            _check_arguments(
                table=table,
                file=file,
                stage=stage,
                url=url,
                storage_integration=storage_integration,
                file_format=file_format,
                copy_options=copy_options,
                pattern=pattern,
                columns=columns,
            )
        except DefinitionError as exc:
            raise DefinitionError(f"task '{task_id}': {exc.message}", tasks=[task_id]) from None
        self.table = table
        self.file = file
        self.stage = stage
        self.url = url
        self.storage_integration = storage_integration
        self.file_format = file_format
        self.copy_options = dict(copy_options or {})
        self.pattern = pattern
        self.columns = tuple(columns)
        super().__init__(task_id, **options)

    def describe(self) -> str:
        source = self.url or self.file or self.stage
        return f"{self.session_options.describe()}: load {source} into {self.table}"

    def _local_path(self, ctx: Context, values: dict[str, object]) -> str:
        path = ctx.path(render_template(str(self.file), values, what="file")).absolute()
        if not any(ch in path.name for ch in "*?") and not path.is_file():
            raise PermanentError(f"file: {path} does not exist")
        return str(path)

    def _run_folder(self, ctx: Context) -> str:
        parts = ("headwater", ctx.pipeline_id, ctx.run_id, ctx.task_id)
        return "/".join(_UNSAFE.sub("_", part) for part in parts)

    def plan(self, ctx: Context) -> LoadPlan:
        """The statements this try runs (placeholders filled; a local file must exist). No connection needed."""
        values = template_values(ctx)
        pattern = render_template(self.pattern, values, what="pattern") if self.pattern is not None else None
        put: str | None = None
        if self.url is not None:
            source = check_url(render_template(self.url, values, what="url"))
            reads = source
        else:
            stage = stage_reference(render_template(self.stage, values, what="stage")) if self.stage else None
            if self.file is not None:
                path = self._local_path(ctx, values)
                source = join_stage(stage or table_stage(self.table), self._run_folder(ctx))
                put, reads = put_statement(path, source), f"file://{path}"
            else:
                assert stage is not None  # checked by the constructor
                source, reads = stage, f"snowflake://{self.conn}/{stage}"
        copy = copy_statement(
            self.table,
            source,
            file_format=self.file_format,
            storage_integration=self.storage_integration,
            pattern=pattern,
            columns=self.columns,
            options=self.copy_options,
        )
        return LoadPlan(source=source, reads=reads, copy=copy, put=put)

    def execute(self, ctx: Context) -> dict[str, object]:
        plan = self.plan(ctx)
        settings = self.session_options.settings(ctx)
        target = dataset(settings, table_name(self.table))
        with self.session_options.open(ctx) as session:
            uploaded = self._put(session, plan.put, plan.source) if plan.put is not None else []
            rows, _ = session.run(split_statements(plan.copy, "snowflake")[0], keep_rows=True)
        result = LoadResult.from_rows(target, rows or [], uploaded)
        if result.files_failed:
            ctx.log.warning(
                "%d file(s) did not load completely into %s: %s",
                result.files_failed,
                self.table,
                "; ".join(result.failures()),
            )
        elif not result.files_loaded:
            ctx.log.warning("no file was loaded into %s (no new file in %s)", self.table, plan.source)
        ctx.log.info("loaded %d row(s) from %d file(s) into %s", result.rows_loaded, result.files_loaded, self.table)
        ctx.report_lineage(reads=[plan.reads], writes=[target])
        ctx.add_metadata(
            rows_loaded=result.rows_loaded, files_loaded=result.files_loaded, files_failed=result.files_failed
        )
        return result.as_dict()

    def _put(self, session: SnowflakeSession, put: str, folder: str) -> list[str]:
        rows, _ = session.run(split_statements(put, "snowflake")[0], keep_rows=True)
        uploaded = []
        for row in rows or []:
            lowered = {key.lower(): value for key, value in row.items()}
            status = str(lowered.get("status", "")).upper()
            if status not in ("UPLOADED", "SKIPPED"):
                raise PermanentError(
                    f"snowflake {self.conn!r}: PUT {lowered.get('source')} to {folder} failed: "
                    f"{status or '?'} {lowered.get('message') or ''}".rstrip()
                )
            uploaded.append(str(lowered.get("target") or lowered.get("source")))
        if not uploaded:
            raise PermanentError(f"file: no file matches {self.file}")
        session.log.info("uploaded %d file(s) to %s", len(uploaded), folder)
        return uploaded


def _check_arguments(
    *,
    table: str,
    file: str | None,
    stage: str | None,
    url: str | None,
    storage_integration: str | None,
    file_format: str | Mapping[str, object] | None,
    copy_options: Mapping[str, object] | None,
    pattern: str | None,
    columns: Sequence[str],
) -> None:
    """DefinitionError for arguments no run can use (the caller names the task)."""
    if not isinstance(table, str) or not table.strip():
        raise DefinitionError(f"table: expected a table name, got {table!r}")
    quote_table(table, "snowflake")
    if file is None and url is None and stage is None:
        raise DefinitionError("give file= (local files to PUT), stage= (files in a stage) or url= (s3://...)")
    if file is not None and url is not None:
        raise DefinitionError("give file= or url=, not both")
    if url is not None and stage is not None:
        raise DefinitionError("give stage= or url=, not both")
    for name, value in (("file", file), ("stage", stage), ("url", url)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise DefinitionError(f"{name}: expected text, got {value!r}")
    if stage is not None and "{{" not in stage:
        stage_reference(stage)
    if url is not None and "{{" not in url:
        check_url(url)
    if storage_integration is not None and url is None:
        raise DefinitionError("storage_integration: only for loading from a url= (s3://...)")
    if url is not None and storage_integration is None:
        raise DefinitionError(
            "storage_integration: required with url= (Snowflake reads the bucket through it; "
            "credentials are never written in a statement)"
        )
    if storage_integration is not None:
        quote_identifier(storage_integration, "snowflake")
    if file_format is not None and not isinstance(file_format, str | Mapping):
        raise DefinitionError(f"file_format: expected a format name or options, got {file_format!r}")
    file_format_clause(file_format)
    if copy_options is not None:
        render_options(copy_options, what="copy_options")
    if pattern is not None and not isinstance(pattern, str):
        raise DefinitionError(f"pattern: expected a regular expression, got {pattern!r}")
    if isinstance(columns, str) or not all(isinstance(c, str) for c in columns):
        raise DefinitionError(f"columns: expected a list of column names, got {columns!r}")
    for column in columns:
        quote_identifier(column, "snowflake")
    for name, value in (("file", file), ("stage", stage), ("url", url), ("pattern", pattern)):
        if value is not None:
            check_template(value, what=name)


@dataclass(frozen=True, slots=True)
class LoadPlan:
    """The statements of one load: ``put`` (None when the files are already staged) then ``copy``."""

    source: str
    reads: str
    copy: str
    put: str | None = None


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What a COPY INTO did, file by file (``files``: COPY's rows: file, status, rows_parsed, rows_loaded...)."""

    table: str
    files: tuple[dict[str, object], ...] = ()
    uploaded: tuple[str, ...] = ()

    @classmethod
    def from_rows(cls, table: str, rows: list[dict[str, object]], uploaded: list[str]) -> LoadResult:
        files = []
        for row in rows:
            lowered = {key.lower(): value for key, value in row.items()}
            if "file" in lowered:  # not the one-row "Copy executed with 0 files processed."
                files.append({key: lowered[key] for key in _FILE_KEYS if key in lowered})
        return cls(table, tuple(files), tuple(uploaded))

    def _count(self, statuses: frozenset[str]) -> int:
        return sum(1 for f in self.files if str(f.get("status", "")).upper() in statuses)

    def _sum(self, key: str) -> int:
        return sum(_int(f.get(key)) for f in self.files)

    @property
    def files_loaded(self) -> int:
        return self._count(frozenset({"LOADED", "PARTIALLY_LOADED"}))

    @property
    def files_failed(self) -> int:
        return self._count(_FAILED)

    @property
    def rows_loaded(self) -> int:
        return self._sum("rows_loaded")

    def failures(self) -> list[str]:
        """``file: first error`` for each file that did not load completely."""
        return [
            f"{f.get('file')}: {f.get('first_error') or f.get('status')}"
            for f in self.files
            if str(f.get("status", "")).upper() in _FAILED
        ]

    def as_dict(self) -> dict[str, object]:
        """The task's result: counts, the files uploaded, and COPY's report of (at most 100) files."""
        return {
            "table": self.table,
            "files_loaded": self.files_loaded,
            "files_failed": self.files_failed,
            "files_skipped": self._count(frozenset({"LOAD_SKIPPED"})),
            "rows_loaded": self.rows_loaded,
            "rows_parsed": self._sum("rows_parsed"),
            "errors_seen": self._sum("errors_seen") if self.files_failed else 0,
            "uploaded": list(self.uploaded),
            "files": list(self.files[:MAX_FILES_SHOWN]),
        }


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
