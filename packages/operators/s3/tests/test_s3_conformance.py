"""Every S3 operator and the key sensor held to the core's OperatorConformance suite, against moto."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from conftest import BUCKET, put

from headwater.testing.conformance import OperatorConformance
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


@pytest.fixture
def landed(s3: S3Client) -> S3Client:
    """The bucket holds raw/orders/day1.csv."""
    put(s3, "raw/orders/day1.csv")
    return s3


class TestS3Upload(OperatorConformance):
    operator_class = S3UploadOperator
    operator_name = "s3.upload"

    @pytest.fixture
    def operator_kwargs(self, s3: S3Client, lake: str, tmp_path: Path) -> dict[str, object]:
        (tmp_path / "orders.csv").write_text("id\n1\n")
        return {"conn": lake, "bucket": BUCKET, "source": str(tmp_path / "orders.csv"), "key": "raw/"}


class TestS3Download(OperatorConformance):
    operator_class = S3DownloadOperator
    operator_name = "s3.download"

    @pytest.fixture
    def operator_kwargs(self, landed: S3Client, lake: str, tmp_path: Path) -> dict[str, object]:
        return {"conn": lake, "bucket": BUCKET, "key": "raw/orders/*.csv", "dest": str(tmp_path / "out")}


class TestS3Copy(OperatorConformance):
    operator_class = S3CopyOperator
    operator_name = "s3.copy"

    @pytest.fixture
    def operator_kwargs(self, landed: S3Client, lake: str) -> dict[str, object]:
        return {"conn": lake, "source_bucket": BUCKET, "source_key": "raw/orders/day1.csv", "dest_prefix": "copy/"}


class TestS3Delete(OperatorConformance):
    operator_class = S3DeleteOperator
    operator_name = "s3.delete"

    @pytest.fixture
    def operator_kwargs(self, landed: S3Client, lake: str) -> dict[str, object]:
        return {"conn": lake, "bucket": BUCKET, "prefix": "raw/"}


class TestS3List(OperatorConformance):
    operator_class = S3ListOperator
    operator_name = "s3.list"

    @pytest.fixture
    def operator_kwargs(self, landed: S3Client, lake: str) -> dict[str, object]:
        return {"conn": lake, "bucket": BUCKET, "prefix": "raw/"}


class TestS3KeySensor(OperatorConformance):
    operator_class = S3KeySensor
    operator_name = "s3.key"

    @pytest.fixture
    def operator_kwargs(self, landed: S3Client, lake: str) -> dict[str, object]:
        return {"conn": lake, "bucket": BUCKET, "key": "raw/orders/*.csv", "poke_interval": 0.05}
