"""``s3.upload``: a local file, or every file of a directory, to a bucket (multipart above a size)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headwater import DefinitionError
from headwater_s3.base import S3Operator, lineage, s3_uri
from headwater_s3.errors import S3PermanentError
from headwater_s3.keys import KeySelection, common_prefix, glob_to_regex
from headwater_s3.transfer import DEFAULT_PART_SIZE, TransferOptions, Transfers

if TYPE_CHECKING:
    from typing import Unpack

    from mypy_boto3_s3 import S3Client

    from headwater import Context
    from headwater.plugin import TaskOptionArgs


class S3UploadOperator(S3Operator):
    """Upload ``source`` (a file, or a directory's files) to ``bucket`` under ``key``.

    A file goes to ``key`` (or ``key`` + its name when ``key`` is empty or ends with ``/``);
    a directory's files matching ``include`` go under the prefix ``key``, keeping their relative
    paths. Files larger than ``multipart_threshold`` (default: ``part_size``) go up in parts of
    ``part_size`` (at least 5MiB), ``max_concurrency`` at a time. With ``replace=False`` keys that
    already exist are left alone. The result: ``{"bucket", "keys", "skipped", "bytes"}``.
    """

    operator_name = "s3.upload"

    def __init__(
        self,
        task_id: str,
        *,
        conn: str,
        bucket: str,
        source: str | os.PathLike[str],
        key: str = "",
        include: str = "**",
        replace: bool = True,
        part_size: int | str = DEFAULT_PART_SIZE,
        multipart_threshold: int | str | None = None,
        max_concurrency: int = 4,
        extra_args: Mapping[str, Any] | None = None,
        **options: Unpack[TaskOptionArgs],
    ) -> None:
        what = f"task '{task_id}'"
        self.bucket = self._bucket(bucket, task_id)
        if not isinstance(source, str | os.PathLike) or not os.fspath(source):
            raise DefinitionError(f"{what}: source must be a local file or directory path, got {source!r}")
        self.source = self._template(os.fspath(source), task_id, "source") or ""
        self.key = self._template(key, task_id, "key") or ""
        if not isinstance(include, str) or not include:
            raise DefinitionError(f"{what}: include must be a glob like '**/*.csv', got {include!r}")
        self.include = include
        KeySelection.build(key=include, prefix=None, what=f"{what}: include").regex()
        if not isinstance(replace, bool):
            raise DefinitionError(f"{what}: replace must be true or false, got {replace!r}")
        self.replace = replace
        self.transfer = TransferOptions.build(
            part_size=part_size, threshold=multipart_threshold, concurrency=max_concurrency, what=what
        )
        if extra_args is not None and not isinstance(extra_args, Mapping):
            raise DefinitionError(f"{what}: extra_args must be a mapping like {{'ContentType': 'text/csv'}}")
        self.extra_args = dict(extra_args or {})
        super().__init__(task_id, conn=conn, **options)

    def describe(self) -> str:
        return f"upload {self.source} -> {s3_uri(self.bucket, self.key)} (conn {self.conn})"

    def _plan(self, source: Path, key: str) -> list[tuple[Path, str]]:
        """(local file, key) pairs to upload."""
        if source.is_file():
            return [(source, key + source.name if not key or key.endswith("/") else key)]
        if not source.is_dir():
            raise S3PermanentError(f"task '{self.task_id}': the source {str(source)!r} does not exist")
        prefix = key if not key or key.endswith("/") else key + "/"
        include = re.compile(glob_to_regex(self.include), re.DOTALL)
        pairs = []
        for path in sorted(source.rglob("*")):
            relative = path.relative_to(source).as_posix()
            if path.is_file() and include.fullmatch(relative):
                pairs.append((path, prefix + relative))
        return pairs

    def _existing(self, client: S3Client, bucket: str, keys: list[str]) -> set[str]:
        if self.replace or not keys:
            return set()
        from headwater_s3.keys import list_objects

        common = common_prefix(keys)
        try:
            return {info.key for info in list_objects(client, bucket, KeySelection(common, is_prefix=True))}
        except Exception as exc:
            raise self.error(exc, "list", bucket, common) from None

    def execute(self, ctx: Context) -> dict[str, object]:
        from boto3.s3.transfer import S3Transfer

        bucket = self.bucket_name(self.bucket, ctx)
        source = ctx.path(self.render(self.source, ctx, "source"))
        pairs = self._plan(source, self.render(self.key, ctx, "key"))
        allowed = set(S3Transfer.ALLOWED_UPLOAD_ARGS)
        unknown = sorted(set(self.extra_args) - allowed)
        if unknown:
            raise S3PermanentError(
                f"task '{self.task_id}': extra_args {', '.join(unknown)} are not upload arguments; "
                f"allowed: {', '.join(sorted(allowed))}"
            )
        client, _ = self.client(ctx)
        existing = self._existing(client, bucket, [key for _, key in pairs])
        todo = [(path, key) for path, key in pairs if key not in existing]
        total = 0
        with Transfers(client, self.transfer, ctx) as transfers:
            for path, key in todo:
                transfers.upload(str(path), bucket, key, dict(self.extra_args), label=(path, key))
                total += path.stat().st_size
            transfers.wait(lambda exc, label: self.error(exc, f"upload {label[0]} to", bucket, label[1]))  # type: ignore[index]
        keys = [key for _, key in todo]
        for key in sorted(existing):
            ctx.log.info("s3://%s/%s exists: not replaced (replace=False)", bucket, key)
        ctx.log.info("uploaded %d file(s), %d bytes, to s3://%s/", len(keys), total, bucket)
        if keys:
            ctx.report_lineage(writes=lineage(bucket, keys, common_prefix(keys)))
        return {"bucket": bucket, "keys": keys, "skipped": sorted(existing), "bytes": total}
