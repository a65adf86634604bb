"""Managed transfers (multipart above a threshold, parallel parts) that stop when the task is stopped."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from headwater import DefinitionError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from s3transfer.futures import TransferFuture
    from s3transfer.manager import TransferManager

    from headwater import Context

#: S3 refuses multipart parts smaller than this (except the last one).
MIN_PART_SIZE = 5 * 1024 * 1024
DEFAULT_PART_SIZE = 8 * 1024 * 1024
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(value: object, what: str) -> int:
    """Bytes from an int or a string like ``"8MiB"``, ``"5 MB"``, ``"1GiB"``; DefinitionError otherwise."""
    if isinstance(value, bool):
        raise DefinitionError(f"{what}: expected a size like '8MiB' or a number of bytes, got {value!r}")
    if isinstance(value, int):
        number = value
    else:
        match = _SIZE.match(value) if isinstance(value, str) else None
        unit = _UNITS.get(match.group(2).lower()) if match else None
        if match is None or unit is None:
            raise DefinitionError(
                f"{what}: expected a size like '8MiB', '100MB' or a number of bytes, got {value!r} "
                "(units: B, KB, MB, GB, KiB, MiB, GiB)"
            )
        number = int(float(match.group(1)) * unit)
    if number <= 0:
        raise DefinitionError(f"{what}: expected a size greater than zero, got {value!r}")
    return number


@dataclass(frozen=True, slots=True)
class TransferOptions:
    """How big objects move: parts of ``part_size`` bytes, multipart from ``threshold``, ``concurrency`` at once."""

    part_size: int = DEFAULT_PART_SIZE
    threshold: int = DEFAULT_PART_SIZE
    concurrency: int = 4

    @classmethod
    def build(cls, *, part_size: object, threshold: object, concurrency: object, what: str) -> TransferOptions:
        size = parse_size(part_size, f"{what}: part_size")
        if size < MIN_PART_SIZE:
            raise DefinitionError(f"{what}: part_size must be at least 5MiB (S3's smallest part), got {part_size!r}")
        limit = size if threshold is None else parse_size(threshold, f"{what}: multipart_threshold")
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or not 1 <= concurrency <= 64:
            raise DefinitionError(f"{what}: max_concurrency must be a whole number from 1 to 64, got {concurrency!r}")
        return cls(part_size=size, threshold=limit, concurrency=concurrency)


class Transfers:
    """Runs uploads, downloads and copies through s3transfer; :meth:`wait` returns when all are done.

    If the task is stopped (timeout, shutdown) while waiting, the transfers in flight are
    cancelled (multipart uploads aborted) and TaskCancelled is raised.
    """

    def __init__(self, client: S3Client, options: TransferOptions, ctx: Context) -> None:
        from boto3.s3.transfer import TransferConfig
        from s3transfer.manager import TransferManager
        from s3transfer.subscribers import BaseSubscriber

        done = self._done = threading.Event()

        class _Wake(BaseSubscriber):
            def on_done(self, future: TransferFuture, **kwargs: Any) -> None:
                done.set()

        self._subscriber = _Wake()
        config = TransferConfig(
            multipart_threshold=options.threshold,
            multipart_chunksize=options.part_size,
            max_concurrency=options.concurrency,
        )
        self.manager: TransferManager = TransferManager(client, config)
        self.ctx = ctx
        self._futures: list[tuple[TransferFuture, object]] = []

    def __enter__(self) -> Transfers:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.manager.shutdown(cancel=exc is not None, cancel_msg="the task was stopped")

    def upload(self, filename: str, bucket: str, key: str, extra_args: dict[str, Any], label: object) -> None:
        future = self.manager.upload(filename, bucket, key, extra_args, [self._subscriber])
        self._futures.append((future, label))

    def download(self, bucket: str, key: str, filename: str, label: object) -> None:
        future = self.manager.download(bucket, key, filename, None, [self._subscriber])
        self._futures.append((future, label))

    def copy(self, source: dict[str, str], bucket: str, key: str, label: object) -> None:
        future = self.manager.copy(source, bucket, key, None, [self._subscriber])
        self._futures.append((future, label))

    def wait(self, on_error: Callable[[BaseException, object], Exception]) -> None:
        """Wait for every transfer; the first failure (in submission order) is raised as ``on_error(exc, label)``."""
        while True:
            self._done.clear()
            if all(future.done() for future, _ in self._futures):
                break
            self.ctx.check_cancelled()
            self._done.wait(0.5)
        for future, label in self._futures:
            try:
                future.result()
            except Exception as exc:
                raise on_error(exc, label) from None
        self._futures.clear()
