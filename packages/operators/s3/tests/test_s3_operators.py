"""Every S3 operator against a real S3 server (moto) through boto3: results, lineage, multipart, templates."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from conftest import BUCKET, REGION, keys, put, read, run

from headwater import DefinitionError, Pipeline, load_operator, task
from headwater_s3 import (
    S3CopyOperator,
    S3DeleteOperator,
    S3DownloadOperator,
    S3KeySensor,
    S3ListOperator,
    S3UploadOperator,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MIB = 1024 * 1024


def test_the_operators_are_registered_under_dotted_names() -> None:
    assert load_operator("s3.upload") is S3UploadOperator
    assert load_operator("s3.download") is S3DownloadOperator
    assert load_operator("s3.copy") is S3CopyOperator
    assert load_operator("s3.delete") is S3DeleteOperator
    assert load_operator("s3.list") is S3ListOperator
    assert load_operator("s3.key") is S3KeySensor


def test_upload_a_file_and_a_directory_with_lineage(s3: S3Client, lake: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "orders" / "2026").mkdir(parents=True)
    (data / "orders" / "a.csv").write_text("id\n1\n")
    (data / "orders" / "2026" / "b.csv").write_text("id\n2\n")
    (data / "orders" / "notes.txt").write_text("skip me")
    (data / "report.csv").write_text("total\n3\n")
    with Pipeline("upload") as p:
        S3UploadOperator("one", conn=lake, bucket=BUCKET, source=str(data / "report.csv"), key="reports/{{ ds }}/")
        S3UploadOperator("many", conn=lake, bucket=BUCKET, source=data / "orders", key="raw/orders", include="**/*.csv")
    result, lineage, logs = run(p, tmp_path / "hw", logical_date=datetime(2026, 3, 1, tzinfo=UTC))
    assert result.ok, result.summary
    day = "2026-03-01"
    assert result.results["one"] == {
        "bucket": BUCKET,
        "keys": [f"reports/{day}/report.csv"],
        "skipped": [],
        "bytes": 8,
    }
    assert result.results["many"]["keys"] == ["raw/orders/2026/b.csv", "raw/orders/a.csv"]  # type: ignore[index]
    assert keys(s3) == ["raw/orders/2026/b.csv", "raw/orders/a.csv", f"reports/{day}/report.csv"]
    assert read(s3, "raw/orders/a.csv") == b"id\n1\n"
    assert ("many", "writes", f"s3://{BUCKET}/raw/orders/a.csv") in lineage
    assert ("one", "writes", f"s3://{BUCKET}/reports/{day}/report.csv") in lineage
    assert "uploaded 2 file(s)" in logs


def test_upload_with_replace_false_leaves_existing_keys(s3: S3Client, lake: str, tmp_path: Path) -> None:
    put(s3, "in/a.csv", "old")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_text("new")
    (tmp_path / "in" / "b.csv").write_text("new")
    with Pipeline("no_replace") as p:
        S3UploadOperator("up", conn=lake, bucket=BUCKET, source=tmp_path / "in", key="in/", replace=False)
    result, _, _ = run(p, tmp_path / "hw")
    assert result.results["up"]["keys"] == ["in/b.csv"]  # type: ignore[index]
    assert result.results["up"]["skipped"] == ["in/a.csv"]  # type: ignore[index]
    assert read(s3, "in/a.csv") == b"old"


def test_a_file_larger_than_the_part_size_goes_up_in_parts(s3: S3Client, lake: str, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    block = os.urandom(MIB)
    big.write_bytes(block * 11)  # 11 MiB: three parts of at most 5 MiB
    with Pipeline("multipart") as p:
        S3UploadOperator("up", conn=lake, bucket=BUCKET, source=big, key="big/big.bin", part_size="5MiB")
    result, _, _ = run(p, tmp_path / "hw")
    assert result.ok, result.summary
    head = s3.head_object(Bucket=BUCKET, Key="big/big.bin")
    assert head["ContentLength"] == 11 * MIB
    assert head["ETag"].strip('"').endswith("-3")  # a multipart upload's ETag counts its parts
    assert read(s3, "big/big.bin") == block * 11


def test_download_one_key_a_glob_and_a_prefix(s3: S3Client, lake: str, tmp_path: Path) -> None:
    put(s3, "raw/orders/day1.parquet", "one")
    put(s3, "raw/orders/day2.parquet", "two")
    put(s3, "raw/orders/day2.csv", "csv")
    put(s3, "raw/orders/old/day0.parquet", "zero")
    out = tmp_path / "out"
    with Pipeline("download") as p:
        S3DownloadOperator("one", conn=lake, bucket=BUCKET, key="raw/orders/day1.parquet", dest=out / "single.parquet")
        S3DownloadOperator("glob", conn=lake, bucket=BUCKET, key="raw/orders/*.parquet", dest=out / "glob")
        S3DownloadOperator("prefix", conn=lake, bucket=BUCKET, prefix="raw/orders/", dest=out / "all")
    result, lineage, _ = run(p, tmp_path / "hw")
    assert result.ok, result.summary
    assert (out / "single.parquet").read_text() == "one"
    assert sorted(p.name for p in (out / "glob").iterdir()) == ["day1.parquet", "day2.parquet"]
    assert (out / "all" / "old" / "day0.parquet").read_text() == "zero"
    assert result.results["glob"]["keys"] == ["raw/orders/day1.parquet", "raw/orders/day2.parquet"]  # type: ignore[index]
    assert result.results["prefix"]["bytes"] == 3 + 3 + 3 + 4  # type: ignore[index]
    assert ("glob", "reads", f"s3://{BUCKET}/raw/orders/day2.parquet") in lineage


def test_download_of_a_glob_matching_nothing_fails_not_retried(s3: S3Client, lake: str, tmp_path: Path) -> None:
    with Pipeline("download_none") as p:
        S3DownloadOperator("get", conn=lake, bucket=BUCKET, key="raw/*.parquet", dest=tmp_path / "out", retries=2)
    result, _, _ = run(p, tmp_path / "hw")
    summary = result.summary.task("get")
    assert (summary.state, summary.tries) == ("failed", 1)
    assert "no object matches s3://lake-raw/raw/*.parquet (connection 'lake')" in (summary.error or "")


def test_copy_a_key_and_a_glob_across_buckets(s3: S3Client, lake: str, tmp_path: Path) -> None:
    s3.create_bucket(Bucket="lake-staging", CreateBucketConfiguration={"LocationConstraint": REGION})
    put(s3, "raw/a.csv", "a")
    put(s3, "raw/2026/b.csv", "b")
    put(s3, "raw/c.json", "c")
    with Pipeline("copy") as p:
        S3CopyOperator("same", conn=lake, source_bucket=BUCKET, source_key="raw/a.csv", dest_key="archive/a.csv")
        S3CopyOperator(
            "glob",
            conn=lake,
            source_bucket=BUCKET,
            source_key="raw/**/*.csv",
            dest_bucket="lake-staging",
            dest_prefix="csv/",
        )
    result, lineage, _ = run(p, tmp_path / "hw")
    assert result.ok, result.summary
    assert read(s3, "archive/a.csv") == b"a"
    assert keys(s3, "lake-staging") == ["csv/2026/b.csv", "csv/a.csv"]
    assert result.results["glob"] == {  # type: ignore[comparison-overlap]
        "bucket": "lake-staging",
        "keys": ["csv/2026/b.csv", "csv/a.csv"],
        "sources": ["raw/2026/b.csv", "raw/a.csv"],
    }
    assert ("glob", "reads", f"s3://{BUCKET}/raw/a.csv") in lineage
    assert ("glob", "writes", "s3://lake-staging/csv/a.csv") in lineage


def test_delete_keys_globs_and_a_prefix(s3: S3Client, lake: str, tmp_path: Path) -> None:
    for key in ("tmp/a.csv", "tmp/b.csv", "tmp/c.json", "old/x", "old/y/z", "keep/me"):
        put(s3, key)
    with Pipeline("delete") as p:
        S3DeleteOperator("globs", conn=lake, bucket=BUCKET, keys=["tmp/*.csv", "tmp/missing.txt"])
        S3DeleteOperator("prefix", conn=lake, bucket=BUCKET, prefix="old/")
    result, lineage, _ = run(p, tmp_path / "hw")
    assert result.ok, result.summary
    assert keys(s3) == ["keep/me", "tmp/c.json"]
    assert result.results["globs"] == {  # type: ignore[comparison-overlap]
        "bucket": BUCKET,
        "deleted": ["tmp/a.csv", "tmp/b.csv", "tmp/missing.txt"],
        "count": 3,
    }
    assert result.results["prefix"]["count"] == 2  # type: ignore[index]
    assert ("prefix", "writes", f"s3://{BUCKET}/old/y/z") in lineage


def test_delete_more_than_one_request_holds(s3: S3Client, lake: str, tmp_path: Path) -> None:
    for n in range(1005):
        put(s3, f"many/{n:04d}", b"")
    with Pipeline("delete_many") as p:
        S3DeleteOperator("all", conn=lake, bucket=BUCKET, keys="many/*")
    result, lineage, _ = run(p, tmp_path / "hw")
    assert result.results["all"]["count"] == 1005  # type: ignore[index]
    assert keys(s3) == []
    assert lineage == {("all", "writes", f"s3://{BUCKET}/many/")}  # past 100 keys: their prefix


def test_list_hands_keys_to_downstream_tasks(s3: S3Client, lake: str, tmp_path: Path) -> None:
    for key in ("raw/orders/1.parquet", "raw/orders/2.parquet", "raw/orders/x.csv", "raw/orders/", "other/3"):
        put(s3, key, b"abc")

    @task
    def count(files: list[str]) -> int:
        return len(files)

    with Pipeline("listing") as p:
        found = S3ListOperator("found", conn=lake, bucket=BUCKET, key="raw/orders/*.parquet")
        S3ListOperator("detailed", conn=lake, bucket=BUCKET, prefix="raw/", details=True, limit=2)
        S3ListOperator("everything", conn=lake, bucket=BUCKET)
        count(found)  # type: ignore[arg-type]
    result, _, _ = run(p, tmp_path / "hw")
    assert result.results["found"] == ["raw/orders/1.parquet", "raw/orders/2.parquet"]
    assert result.results["count"] == 2
    detailed = result.results["detailed"]
    assert [d["key"] for d in detailed] == ["raw/orders/1.parquet", "raw/orders/2.parquet"]  # type: ignore[attr-defined]
    assert detailed[0]["size"] == 3  # type: ignore[index]
    assert result.results["everything"] == [
        "other/3",
        "raw/orders/1.parquet",
        "raw/orders/2.parquet",
        "raw/orders/x.csv",
    ]  # the folder marker raw/orders/ is left out


def test_templates_use_the_runs_params(s3: S3Client, lake: str, tmp_path: Path) -> None:
    put(s3, "exports/acme/2026.csv", "x")
    with Pipeline("templated", params={"customer": "acme"}) as p:
        S3ListOperator("found", conn=lake, bucket=BUCKET, prefix="exports/{{ params.customer }}/")
    result, _, _ = run(p, tmp_path / "hw")
    assert result.results["found"] == ["exports/acme/2026.csv"]


def test_a_template_value_the_run_lacks_fails_the_task_once(s3: S3Client, lake: str, tmp_path: Path) -> None:
    with Pipeline("untemplated") as p:
        S3ListOperator("missing", conn=lake, bucket=BUCKET, prefix="exports/{{ params.customer }}/", retries=2)
        S3ListOperator("unpartitioned", conn=lake, bucket=BUCKET, prefix="exports/{{ partition }}/", retries=2)
    result, _, _ = run(p, tmp_path / "hw")
    assert len(result.tries["missing"]) == 1
    assert "prefix: {{ params.customer }}: the run has no param 'customer'" in (result.tries["missing"][0].error or "")
    assert len(result.tries["unpartitioned"]) == 1
    assert "prefix: {{ partition }} is used but this run has no partition" in (
        result.tries["unpartitioned"][0].error or ""
    )


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: S3ListOperator("t", conn="lake", bucket="Bad_Bucket"), "not a valid bucket name"),
        (lambda: S3ListOperator("t", conn="", bucket="lake-raw"), "conn: expected a connection id"),
        (lambda: S3DownloadOperator("t", conn="lake", bucket="lake-raw", dest="x"), "give key="),
        (
            lambda: S3DownloadOperator("t", conn="lake", bucket="lake-raw", key="a", prefix="b", dest="x"),
            "not both",
        ),
        (
            lambda: S3UploadOperator("t", conn="lake", bucket="lake-raw", source="f", part_size="1MiB"),
            "at least 5MiB",
        ),
        (lambda: S3UploadOperator("t", conn="lake", bucket="lake-raw", source="f", part_size="lots"), "a size like"),
        (lambda: S3UploadOperator("t", conn="lake", bucket="lake-raw", source="f", key="{{ dss }}"), "{{ dss }}"),
        (lambda: S3ListOperator("t", conn="lake", bucket="lake-{{ dss }}"), "bucket: unknown placeholder {{ dss }}"),
        (lambda: S3DeleteOperator("t", conn="lake", bucket="lake-raw", prefix=""), "keys='**'"),
        (lambda: S3DeleteOperator("t", conn="lake", bucket="lake-raw", keys="a[b"), "unbalanced"),
        (
            lambda: S3CopyOperator("t", conn="lake", source_bucket="lake-raw", source_key="a"),
            "same bucket needs dest_key",
        ),
        (
            lambda: S3CopyOperator("t", conn="lake", source_bucket="lake-raw", source_prefix="a/", dest_key="b"),
            "give dest_prefix",
        ),
        (lambda: S3KeySensor("t", conn="lake", bucket="lake-raw", key="a", min_objects=0), "min_objects"),
    ],
)
def test_bad_arguments_are_definition_errors_naming_the_task(make: object, message: str) -> None:
    with pytest.raises(DefinitionError) as info:
        make()  # type: ignore[operator]
    assert message in str(info.value)
    assert "task 't'" in str(info.value) or "'t'" in str(info.value)


def test_constructors_do_no_io_and_describe_themselves() -> None:
    up = S3UploadOperator("up", conn="nowhere", bucket="lake-raw", source="/does/not/exist", key="x/")
    assert up.describe() == "upload /does/not/exist -> s3://lake-raw/x/ (conn nowhere)"
    sensor = S3KeySensor("wait", conn="nowhere", bucket="lake-raw", key="raw/*.parquet")
    assert sensor.describe() == "wait for s3://lake-raw/raw/*.parquet (conn nowhere)"


def test_a_yaml_pipeline_uses_the_registered_names_through_the_cli(s3: S3Client, lake: str, tmp_path: Path) -> None:
    import subprocess
    import sys
    import textwrap

    project = tmp_path / "project"
    (project / "pipelines").mkdir(parents=True)
    (project / "data.csv").write_text("id\n1\n")
    (project / "headwater.toml").write_text('db = "sqlite:///.headwater/hw.db"\nexecutor = "inline"\n')
    (project / "pipelines" / "landing.yaml").write_text(
        textwrap.dedent(
            f"""
            id: landing
            tasks:
              - id: upload
                operator: s3.upload
                conn: {lake}
                bucket: {BUCKET}
                source: data.csv
                key: "landing/{{{{ ds_nodash }}}}/"
              - id: wait
                operator: s3.key
                conn: {lake}
                bucket: {BUCKET}
                key: "landing/*/data.csv"
                poke_interval: 1s
                depends_on: [upload]
              - id: archive
                operator: s3.copy
                conn: {lake}
                source_bucket: {BUCKET}
                source_prefix: landing/
                dest_prefix: archive/
                depends_on: [wait]
              - id: fetch
                operator: s3.download
                conn: {lake}
                bucket: {BUCKET}
                key: "landing/{{{{ ds_nodash }}}}/data.csv"
                dest: "downloads/{{{{ ds_nodash }}}}/"
                depends_on: [upload]
            """
        )
    )
    elsewhere = tmp_path / "elsewhere"  # relative local paths start at the project, not the working directory
    elsewhere.mkdir()
    headwater = [str(Path(sys.executable).with_name("headwater")), "--project", str(project)]
    done = subprocess.run(
        [*headwater, "run", "landing", "--date", "2026-03-01"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert keys(s3) == ["archive/20260301/data.csv", "landing/20260301/data.csv"]
    assert (project / "downloads" / "20260301" / "data.csv").read_text() == "id\n1\n"
    assert list(elsewhere.iterdir()) == []


def test_ctx_client_gives_a_boto3_client_for_an_s3_connection(s3: S3Client, lake: str, tmp_path: Path) -> None:
    from headwater import Context

    @task
    def buckets(ctx: Context) -> list[str]:
        client = ctx.client(lake)
        return [b["Name"] for b in client.list_buckets()["Buckets"]]  # type: ignore[attr-defined]

    with Pipeline("client") as p:
        buckets()
    result, _, _ = run(p, tmp_path / "hw")
    assert result.results["buckets"] == [BUCKET]
