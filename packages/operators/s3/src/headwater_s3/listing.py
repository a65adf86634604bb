"""``s3.list``: the keys under a prefix (or matching a glob), handed to downstream tasks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from headwater import DefinitionError
from headwater_s3.base import S3Operator, s3_uri
from headwater_s3.keys import KeySelection, list_objects

if TYPE_CHECKING:
    from typing import Unpack

    from headwater import Context
    from headwater.plugin import TaskOptionArgs


class S3ListOperator(S3Operator):
    """List the keys of ``bucket`` under ``prefix`` (default: all) or matching the glob ``key``.

    The result is the sorted list of keys; with ``details=True`` a list of
    ``{"key", "size", "etag", "last_modified"}``. ``limit`` keeps the first that many
    (in key order). Keys ending with ``/`` (folder markers) are left out unless
    ``include_folders``.
    """

    operator_name = "s3.list"

    def __init__(
        self,
        task_id: str,
        *,
        conn: str,
        bucket: str,
        prefix: str | None = None,
        key: str | None = None,
        details: bool = False,
        limit: int | None = None,
        include_folders: bool = False,
        **options: Unpack[TaskOptionArgs],
    ) -> None:
        what = f"task '{task_id}'"
        self.bucket = self._bucket(bucket, task_id)
        self.prefix = self._template(prefix, task_id, "prefix")
        self.key = self._template(key, task_id, "key")
        KeySelection.build(key=self.key, prefix=self.prefix, what=what, required=False)
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise DefinitionError(f"{what}: limit must be a whole number >= 1, got {limit!r}", tasks=[task_id])
        self.limit = limit
        self.details = bool(details)
        self.include_folders = bool(include_folders)
        super().__init__(task_id, conn=conn, **options)

    def describe(self) -> str:
        selected = self.key if self.key is not None else f"{self.prefix or ''}*"
        return f"list {s3_uri(self.bucket, selected)} (conn {self.conn})"

    def execute(self, ctx: Context) -> list[str] | list[dict[str, str | int]]:
        bucket = self.bucket_name(self.bucket, ctx)
        if self.key is None and self.prefix is None:
            selection = KeySelection("", is_prefix=True)
        else:
            selection = self.selection(self.key, self.prefix, ctx)
        client, _ = self.client(ctx)
        found = []
        try:
            for info in list_objects(client, bucket, selection):
                if info.key.endswith("/") and not self.include_folders:
                    continue
                found.append(info)
                if self.limit is not None and len(found) >= self.limit:
                    break
        except Exception as exc:
            raise self.error(exc, "list", bucket, selection.describe()) from None
        ctx.log.info("%d key(s) match s3://%s/%s", len(found), bucket, selection.describe())
        if self.details:
            return [info.as_json() for info in found]
        return [info.key for info in found]
