"""The base of the S3 operators: a connection id, its client at run time, lineage and error helpers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from headwater import DefinitionError, Operator
from headwater.plugin import check_conn, check_template, render_template
from headwater_s3.errors import S3DefinitionError, s3_error
from headwater_s3.keys import KeySelection, check_bucket

if TYPE_CHECKING:
    from typing import Unpack

    from mypy_boto3_s3 import S3Client

    from headwater import Context
    from headwater.plugin import TaskOptionArgs
    from headwater_s3.connection import S3Settings

#: Lineage names at most this many keys one by one; beyond it, the prefix they share.
LINEAGE_LIMIT = 100
#: How errors name the arguments a selection's key and prefix come from, by the selection's name.
_SELECTION_ARGUMENTS = {"key": ("key", "prefix"), "source": ("source_key", "source_prefix")}


def s3_uri(bucket: str, key: str = "") -> str:
    return f"s3://{bucket}/{key}"


def lineage(bucket: str, keys: Sequence[str], prefix: str) -> list[str]:
    """``s3://bucket/key`` for each key, or ``s3://bucket/prefix`` when there are more than LINEAGE_LIMIT."""
    if len(keys) <= LINEAGE_LIMIT:
        return [s3_uri(bucket, key) for key in keys]
    return [s3_uri(bucket, prefix)]


class S3Access:
    """What S3 tasks share: templates checked and filled, the connection's client, errors worded.

    Mixed into :class:`S3Operator` and the key sensor; expects ``task_id`` and ``conn``.
    """

    task_id: str
    conn: str

    @staticmethod
    def _template(value: str | None, task_id: str, name: str) -> str | None:
        if value is not None:
            if not isinstance(value, str):
                raise DefinitionError(f"task '{task_id}': {name} must be a string, got {value!r}", tasks=[task_id])
            check_template(value, what=name, task_id=task_id)
        return value

    @staticmethod
    def render(value: str, ctx: Context, what: str) -> str:
        """``value`` with its placeholders filled from this run (TemplateError, not retried, for a value it lacks)."""
        return render_template(value, ctx, what=what)

    def selection(self, key: str | None, prefix: str | None, ctx: Context, name: str = "key") -> KeySelection:
        """The keys ``key`` / ``prefix`` select in this run (templates filled in)."""
        key_what, prefix_what = _SELECTION_ARGUMENTS.get(name, (name, "prefix"))
        try:
            return KeySelection.build(
                key=None if key is None else self.render(key, ctx, key_what),
                prefix=None if prefix is None else self.render(prefix, ctx, prefix_what),
                what=f"task '{self.task_id}': {name}",
            )
        except DefinitionError as exc:
            raise S3DefinitionError(exc.message) from None

    def bucket_name(self, bucket: str, ctx: Context) -> str:
        name = self.render(bucket, ctx, "bucket")
        try:
            return check_bucket(name, f"task '{self.task_id}'")
        except DefinitionError as exc:
            raise S3DefinitionError(exc.message) from None

    def client(self, ctx: Context) -> tuple[S3Client, S3Settings]:
        """The boto3 client of ``conn`` (ConfigError, never retried, if the connection is not usable)."""
        from headwater_s3.connection import client_for, settings_for

        settings = settings_for(self.conn)
        try:
            return client_for(settings), settings
        except Exception as exc:  # a profile that does not exist, a bad region...
            raise s3_error(exc, action="connect to S3 with", where=settings.describe(), conn_id=None) from None

    def error(self, exc: BaseException, action: str, bucket: str, key: str = "") -> Exception:
        """``exc`` as a clear S3TransientError / S3PermanentError naming this task's connection."""
        return s3_error(exc, action=action, where=s3_uri(bucket, key), conn_id=self.conn)

    @staticmethod
    def _bucket(bucket: object, task_id: str) -> str:
        name = check_bucket(bucket, f"task '{task_id}'")
        check_template(name, what="bucket", task_id=task_id)
        return name


class S3Operator(S3Access, Operator):
    """An operator on the S3 connection ``conn`` (``HEADWATER_CONN_<ID>=s3://...``)."""

    def __init__(self, task_id: str, *, conn: str, **options: Unpack[TaskOptionArgs]) -> None:
        self.conn = check_conn(conn, task_id)
        super().__init__(task_id, **options)
