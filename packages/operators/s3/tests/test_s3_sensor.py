"""S3KeySensor (``s3.key``) against a real S3 server: a key, a glob, a prefix, waiting and giving up."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from conftest import BUCKET, put, run

from headwater import Pipeline, task
from headwater_s3 import S3KeySensor

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from headwater import Context


def test_the_sensor_returns_the_matching_keys(s3: S3Client, lake: str, tmp_path: Path) -> None:
    put(s3, "raw/orders/day1.parquet")
    put(s3, "raw/orders/day2.parquet")
    put(s3, "raw/orders/day2.csv")
    put(s3, "raw/orders/nested/day0.parquet")

    @task
    def load(files: list[str]) -> int:
        return len(files)

    with Pipeline("sense") as p:
        found = S3KeySensor("glob", conn=lake, bucket=BUCKET, key="raw/orders/*.parquet", poke_interval=0.05)
        S3KeySensor("exact", conn=lake, bucket=BUCKET, key="raw/orders/day2.csv", poke_interval=0.05)
        S3KeySensor("prefix", conn=lake, bucket=BUCKET, prefix="raw/orders/", min_objects=4, poke_interval=0.05)
        load(found)  # type: ignore[arg-type]
    result, _, _ = run(p, tmp_path / "hw")
    assert result.ok, result.summary
    assert result.results["glob"] == ["raw/orders/day1.parquet", "raw/orders/day2.parquet"]
    assert result.results["exact"] == ["raw/orders/day2.csv"]
    assert len(result.results["prefix"]) == 4  # type: ignore[arg-type]
    assert result.results["load"] == 2


def test_the_sensor_waits_for_an_object_that_arrives_later(s3: S3Client, lake: str, tmp_path: Path) -> None:
    first_poke = threading.Event()

    class Watching(S3KeySensor):
        def poke(self, ctx: Context) -> list[str]:
            found = super().poke(ctx)
            first_poke.set()
            return found

    def arrive() -> None:
        """Puts the object once the sensor has looked (and found nothing) at least once."""
        if first_poke.wait(30):
            put(s3, "landing/ready.flag")

    with Pipeline("late") as p:
        Watching("wait", conn=lake, bucket=BUCKET, key="landing/*.flag", poke_interval=0.05, wait_timeout="60s")
    arriver = threading.Thread(target=arrive)
    arriver.start()
    try:
        result, _, logs = run(p, tmp_path / "hw")
    finally:
        first_poke.set()
        arriver.join(30)
    assert result.ok, result.summary
    assert result.results["wait"] == ["landing/ready.flag"]
    assert "no match yet for s3://lake-raw/landing/*.flag" in logs


def test_the_sensor_gives_up_after_its_wait_timeout(s3: S3Client, lake: str, tmp_path: Path) -> None:
    with Pipeline("never") as p:
        S3KeySensor("wait", conn=lake, bucket=BUCKET, key="never/*.csv", poke_interval=0.05, wait_timeout=0.2)
    result, _, _ = run(p, tmp_path / "hw")
    summary = result.summary.task("wait")
    assert summary.state == "failed"
    assert "SensorTimeout" in (summary.error or "")


def test_a_missing_bucket_fails_the_sensor_at_once(lake: str, tmp_path: Path) -> None:
    with Pipeline("no_bucket") as p:
        S3KeySensor("wait", conn=lake, bucket="no-such-bucket", key="a.csv", wait_timeout="1h", retries=2)
    result, _, _ = run(p, tmp_path / "hw")
    summary = result.summary.task("wait")
    assert (summary.state, summary.tries) == ("failed", 1)
    assert "the bucket 'no-such-bucket' does not exist" in (summary.error or "")
