"""``s3.download``: one object to a file, or every object a glob or prefix selects to a directory."""

from __future__ import annotations

import os
from pathlib import Path
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


class S3DownloadOperator(S3Operator):
    """Download from ``bucket`` to the local path ``dest``.

    ``key`` names one object (saved as ``dest``, or inside ``dest`` when it is a directory or
    ends with ``/``) or is a glob (``raw/orders/*.parquet``); ``prefix`` selects every object
    under it. Selected objects keep their path below the glob's or prefix's last ``/`` inside
    the directory ``dest``. A glob or prefix matching nothing fails the task unless
    ``allow_empty``. The result: ``{"bucket", "keys", "files", "bytes"}``.
    """

    operator_name = "s3.download"

    def __init__(
        self,
        task_id: str,
        *,
        conn: str,
        bucket: str,
        dest: str | os.PathLike[str],
        key: str | None = None,
        prefix: str | None = None,
        allow_empty: bool = False,
        part_size: int | str = DEFAULT_PART_SIZE,
        max_concurrency: int = 4,
        **options: Unpack[TaskOptionArgs],
    ) -> None:
        what = f"task '{task_id}'"
        self.bucket = self._bucket(bucket, task_id)
        self.key = self._template(key, task_id, "key")
        self.prefix = self._template(prefix, task_id, "prefix")
        KeySelection.build(key=self.key, prefix=self.prefix, what=what)
        if not isinstance(dest, str | os.PathLike) or not os.fspath(dest):
            raise DefinitionError(f"{what}: dest must be a local path, got {dest!r}")
        self.dest = self._template(os.fspath(dest), task_id, "dest") or ""
        self.allow_empty = bool(allow_empty)
        self.transfer = TransferOptions.build(
            part_size=part_size, threshold=None, concurrency=max_concurrency, what=what
        )
        super().__init__(task_id, conn=conn, **options)

    def describe(self) -> str:
        selected = self.key if self.key is not None else f"{self.prefix}*"
        return f"download {s3_uri(self.bucket, selected)} -> {self.dest} (conn {self.conn})"

    def execute(self, ctx: Context) -> dict[str, object]:
        bucket = self.bucket_name(self.bucket, ctx)
        selection = self.selection(self.key, self.prefix, ctx)
        dest = ctx.path(self.render(self.dest, ctx, "dest"))
        client, _ = self.client(ctx)
        if selection.is_exact:
            key = selection.pattern
            target = dest / key.rsplit("/", 1)[-1] if dest.is_dir() or self.dest.endswith("/") else dest
            pairs = [(key, target)]
        else:
            try:
                found = [o.key for o in list_objects(client, bucket, selection) if not o.key.endswith("/")]
            except Exception as exc:
                raise self.error(exc, "list", bucket, selection.describe()) from None
            if not found and not self.allow_empty:
                raise S3PermanentError(
                    f"task '{self.task_id}': no object matches {s3_uri(bucket, selection.describe())} "
                    f"(connection '{self.conn}'); wait for it with s3.key, or pass allow_empty=True"
                )
            pairs = [(key, self._inside(dest, selection.relative(key), key)) for key in found]
        with Transfers(client, self.transfer, ctx) as transfers:
            for key, target in pairs:
                target.parent.mkdir(parents=True, exist_ok=True)
                transfers.download(bucket, key, str(target), label=key)
            transfers.wait(lambda exc, key: self.error(exc, "download", bucket, str(key)))
        keys = [key for key, _ in pairs]
        files = [str(target) for _, target in pairs]
        total = sum(Path(f).stat().st_size for f in files)
        ctx.log.info("downloaded %d object(s), %d bytes, from s3://%s/ to %s", len(keys), total, bucket, dest)
        if keys:
            ctx.report_lineage(reads=lineage(bucket, keys, selection.list_prefix))
        return {"bucket": bucket, "keys": keys, "files": files, "bytes": total}

    def _inside(self, dest: Path, relative: str, key: str) -> Path:
        """``dest/relative``, refusing keys that would land outside ``dest`` (``../`` in a key)."""
        target = (dest / relative).resolve()
        if not target.is_relative_to(dest.resolve()):
            raise S3PermanentError(
                f"task '{self.task_id}': the key {key!r} would be written outside {str(dest)!r}; not downloaded"
            )
        return target
