"""headwater-s3: S3 operators, a key sensor, an object-arrival trigger and a result store for Headwater.

Names are imported lazily, so ``from headwater_s3 import S3ObjectArrival`` in a pipeline file
does not import boto3.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "S3UploadOperator": "headwater_s3.upload",
    "S3DownloadOperator": "headwater_s3.download",
    "S3CopyOperator": "headwater_s3.copy",
    "S3DeleteOperator": "headwater_s3.delete",
    "S3ListOperator": "headwater_s3.listing",
    "S3KeySensor": "headwater_s3.sensor",
    "S3ObjectArrival": "headwater_s3.trigger",
    "S3ResultStore": "headwater_s3.result_store",
    "S3TransientError": "headwater_s3.errors",
    "S3PermanentError": "headwater_s3.errors",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:
    from headwater_s3.copy import S3CopyOperator as S3CopyOperator
    from headwater_s3.delete import S3DeleteOperator as S3DeleteOperator
    from headwater_s3.download import S3DownloadOperator as S3DownloadOperator
    from headwater_s3.errors import S3PermanentError as S3PermanentError
    from headwater_s3.errors import S3TransientError as S3TransientError
    from headwater_s3.listing import S3ListOperator as S3ListOperator
    from headwater_s3.result_store import S3ResultStore as S3ResultStore
    from headwater_s3.sensor import S3KeySensor as S3KeySensor
    from headwater_s3.trigger import S3ObjectArrival as S3ObjectArrival
    from headwater_s3.upload import S3UploadOperator as S3UploadOperator


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'headwater_s3' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
