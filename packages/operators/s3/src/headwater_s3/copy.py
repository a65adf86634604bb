"""``s3.copy``: objects from one bucket or key to another, server-side (multipart for large objects)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from headwater import DefinitionError
from headwater_s3.base import S3Operator, lineage, s3_uri
from headwater_s3.errors import S3PermanentError
from headwater_s3.keys import KeySelection, list_objects
from headwater_s3.transfer import DEFAULT_PART_SIZE, TransferOptions, Transfers

if TYPE_CHECKING:
    from typing import Unpack

    from headwater import Context
    from headwater.plugin import TaskOptionArgs


class S3CopyOperator(S3Operator):
    """Copy ``source_key`` (a key or a glob) or everything under ``source_prefix`` to ``dest_bucket``.

    One key goes to ``dest_key`` (or ``dest_prefix`` + its name; by default the same key, so
    ``dest_bucket`` must then differ). A glob's or prefix's objects go under ``dest_prefix``,
    keeping their path below the glob's or prefix's last ``/``. ``dest_bucket`` defaults to
    ``source_bucket``. The result: ``{"bucket", "keys", "sources"}`` (destination keys, and the
    source keys in the same order).
    """

    operator_name = "s3.copy"

    def __init__(
        self,
        task_id: str,
        *,
        conn: str,
        source_bucket: str,
        source_key: str | None = None,
        source_prefix: str | None = None,
        dest_bucket: str | None = None,
        dest_key: str | None = None,
        dest_prefix: str | None = None,
        allow_empty: bool = False,
        part_size: int | str = DEFAULT_PART_SIZE,
        max_concurrency: int = 4,
        **options: Unpack[TaskOptionArgs],
    ) -> None:
        what = f"task '{task_id}'"
        self.source_bucket = self._bucket(source_bucket, task_id)
        self.dest_bucket = self._bucket(dest_bucket, task_id) if dest_bucket is not None else self.source_bucket
        self.source_key = self._template(source_key, task_id, "source_key")
        self.source_prefix = self._template(source_prefix, task_id, "source_prefix")
        selection = KeySelection.build(key=self.source_key, prefix=self.source_prefix, what=f"{what}: source")
        self.dest_key = self._template(dest_key, task_id, "dest_key")
        self.dest_prefix = self._template(dest_prefix, task_id, "dest_prefix")
        if self.dest_key is not None and self.dest_prefix is not None:
            raise DefinitionError(f"{what}: give dest_key or dest_prefix, not both", tasks=[task_id])
        if self.dest_key is not None and not selection.is_exact:
            raise DefinitionError(
                f"{what}: a glob or prefix copies many objects: give dest_prefix, not dest_key", tasks=[task_id]
            )
        if self.dest_key is None and self.dest_prefix is None and self.dest_bucket == self.source_bucket:
            raise DefinitionError(
                f"{what}: copying to the same bucket needs dest_key or dest_prefix (or give dest_bucket)",
                tasks=[task_id],
            )
        self.allow_empty = bool(allow_empty)
        self.transfer = TransferOptions.build(
            part_size=part_size, threshold=None, concurrency=max_concurrency, what=what
        )
        super().__init__(task_id, conn=conn, **options)

    def describe(self) -> str:
        source = self.source_key if self.source_key is not None else f"{self.source_prefix}*"
        dest = self.dest_key if self.dest_key is not None else (self.dest_prefix or "")
        return f"copy {s3_uri(self.source_bucket, source)} -> {s3_uri(self.dest_bucket, dest)} (conn {self.conn})"

    def execute(self, ctx: Context) -> dict[str, object]:
        source_bucket = self.bucket_name(self.source_bucket, ctx)
        dest_bucket = self.bucket_name(self.dest_bucket, ctx)
        selection = self.selection(self.source_key, self.source_prefix, ctx, name="source")
        dest_key = None if self.dest_key is None else self.render(self.dest_key, ctx, "dest_key")
        dest_prefix = None if self.dest_prefix is None else self.render(self.dest_prefix, ctx, "dest_prefix")
        client, _ = self.client(ctx)
        if selection.is_exact:
            sources = [selection.pattern]
        else:
            try:
                sources = [o.key for o in list_objects(client, source_bucket, selection) if not o.key.endswith("/")]
            except Exception as exc:
                raise self.error(exc, "list", source_bucket, selection.describe()) from None
            if not sources and not self.allow_empty:
                raise S3PermanentError(
                    f"task '{self.task_id}': no object matches {s3_uri(source_bucket, selection.describe())} "
                    f"(connection '{self.conn}'); nothing to copy (pass allow_empty=True to allow it)"
                )
        pairs = [(source, self._target(selection, source, dest_key, dest_prefix)) for source in sources]
        with Transfers(client, self.transfer, ctx) as transfers:
            for source, target in pairs:
                copy_source = {"Bucket": source_bucket, "Key": source}
                transfers.copy(copy_source, dest_bucket, target, label=source)
            transfers.wait(lambda exc, key: self.error(exc, f"copy to {dest_bucket} from", source_bucket, str(key)))
        keys = [target for _, target in pairs]
        ctx.log.info("copied %d object(s) from s3://%s/ to s3://%s/", len(keys), source_bucket, dest_bucket)
        if keys:
            ctx.report_lineage(
                reads=lineage(source_bucket, sources, selection.list_prefix),
                writes=lineage(dest_bucket, keys, dest_prefix or dest_key or ""),
            )
        return {"bucket": dest_bucket, "keys": keys, "sources": sources}

    @staticmethod
    def _target(selection: KeySelection, source: str, dest_key: str | None, dest_prefix: str | None) -> str:
        if dest_key is not None:
            return dest_key + source.rsplit("/", 1)[-1] if dest_key.endswith("/") else dest_key
        if dest_prefix is None:
            return source
        if selection.is_exact:
            return dest_prefix + source.rsplit("/", 1)[-1]
        return dest_prefix + selection.relative(source)
