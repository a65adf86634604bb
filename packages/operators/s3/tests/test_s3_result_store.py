"""The s3 result store: large results and cached results in a bucket, through the store and a real run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from conftest import REGION, SECRET, keys, read

from headwater import ConfigError
from headwater_s3 import S3PermanentError, S3ResultStore

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

RESULTS = "lake-results"

PIPELINE = """
from headwater import Pipeline, task

@task(cache=True)
def big(ctx):
    ctx.log.info("computing the big result")
    return [{"row": n, "text": "x" * 40} for n in range(3000)]   # ~150 KB of JSON: beyond the inline limit

@task
def total(rows):
    return len(rows)

with Pipeline("big_results") as pipeline:
    total(big())
"""


@pytest.fixture
def results_bucket(s3: S3Client) -> str:
    s3.create_bucket(Bucket=RESULTS, CreateBucketConfiguration={"LocationConstraint": REGION})
    return RESULTS


def test_put_get_and_read_by_key(s3: S3Client, lake: str, results_bucket: str) -> None:
    store = S3ResultStore(f"s3://{results_bucket}/hw/results?conn={lake}")
    uri = store.put("run-1/extract.json", b'{"rows": 3}')
    assert uri == f"s3://{results_bucket}/hw/results/run-1/extract.json"
    assert store.get(uri) == b'{"rows": 3}'
    assert store.read("run-1/extract.json") == b'{"rows": 3}'
    assert store.read("run-1/missing.json") is None  # the task cache's miss
    store.put("run-1/extract.json", b'{"rows": 4}')  # replaced whole
    assert read(s3, "hw/results/run-1/extract.json", bucket=results_bucket) == b'{"rows": 4}'


def test_a_missing_bucket_or_a_bad_url_is_a_clear_error(lake: str, results_bucket: str) -> None:
    store = S3ResultStore(f"s3://no-such-bucket/hw?conn={lake}")
    with pytest.raises(S3PermanentError, match="the bucket 'no-such-bucket' does not exist"):
        store.put("a.json", b"{}")
    with pytest.raises(ConfigError, match="unknown option"):
        S3ResultStore(f"s3://{results_bucket}/hw?connection={lake}")
    with pytest.raises(ConfigError, match="not a valid bucket name"):
        S3ResultStore("s3://Bad_Bucket/hw")
    with pytest.raises(ConfigError, match="connection 'nowhere' is not defined"):
        S3ResultStore(f"s3://{results_bucket}/hw?conn=nowhere")


def _headwater(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("headwater")), *args],
        cwd=project,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _engine_run(project_dir: Path, results_url: str) -> tuple[object, dict[str, object]]:
    """Run PIPELINE in this process through the real engine with ``results = results_url``."""
    from headwater.config.settings import Project, Settings
    from headwater.engine.launch import run_pipeline
    from headwater.executors.base import EncodedResult
    from headwater.loader.files import load_file
    from headwater.results import decode_result
    from headwater.store.database import connect
    from headwater.store.repository import Store

    file = project_dir / "pipelines" / "big_results.py"
    (pipeline,) = load_file(file)
    settings = Settings(db=f"sqlite:///{project_dir / 'hw.db'}", results=results_url, executor="inline")
    store = Store(connect(settings.db, base_dir=project_dir))
    try:
        summary = run_pipeline(Project(project_dir, settings, None), pipeline, store=store, executor="inline")
        results = {
            task_id: decode_result(EncodedResult(enc, value), store_url=results_url)
            for task_id, (enc, value) in store.results(summary.run_id).items()
        }
    finally:
        store.close()
    return summary, results


def test_the_engine_keeps_large_results_in_s3_and_hits_the_cache(
    s3: S3Client, lake: str, results_bucket: str, tmp_path: Path
) -> None:
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "big_results.py").write_text(textwrap.dedent(PIPELINE))
    url = f"s3://{results_bucket}/hw?conn={lake}"
    first, results = _engine_run(tmp_path, url)
    assert first.ok, first  # type: ignore[attr-defined]
    assert results["total"] == 3000
    assert len(results["big"]) == 3000  # type: ignore[arg-type]  # read back from S3
    stored = keys(s3, results_bucket)
    assert [k for k in stored if k.startswith("hw/cache/big_results/big/")], stored
    assert [k for k in stored if k.endswith("/big.json") and not k.startswith("hw/cache/")], stored
    second, results = _engine_run(tmp_path, url)
    assert second.task("big").cached  # type: ignore[attr-defined]
    assert results["total"] == 3000


def test_a_real_run_keeps_large_results_in_s3_and_hits_the_cache(
    s3: S3Client, lake: str, results_bucket: str, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    (project / "pipelines").mkdir(parents=True)
    (project / "headwater.toml").write_text(
        textwrap.dedent(
            f"""
            pipelines = "pipelines/"
            db = "sqlite:///.headwater/hw.db"
            executor = "inline"
            results = "s3://{results_bucket}/hw?conn={lake}"
            """
        )
    )
    (project / "pipelines" / "big_results.py").write_text(textwrap.dedent(PIPELINE))
    first = _headwater(project, "run", "big_results")
    assert first.returncode == 0, first.stdout + first.stderr
    stored = keys(s3, results_bucket)
    result_keys = [k for k in stored if k.endswith("/big.json") and not k.startswith("hw/cache/")]
    cache_keys = [k for k in stored if k.startswith("hw/cache/big_results/big/")]
    assert len(result_keys) == 1 and len(cache_keys) == 1, stored
    rows = json.loads(read(s3, result_keys[0], bucket=results_bucket))
    assert len(rows) == 3000
    assert not (project / ".headwater" / "results").exists()  # nothing went to the local folder

    second = _headwater(project, "run", "big_results")
    assert second.returncode == 0, second.stdout + second.stderr
    history = _headwater(project, "history", "big_results")
    assert "cache hit" in history.stdout + second.stdout, history.stdout + second.stdout
    assert SECRET not in first.stdout + first.stderr + second.stdout + second.stderr + history.stdout
