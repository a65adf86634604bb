"""Registers the S3 operators, sensor, connection types, event source and result store (imports nothing heavy)."""

from __future__ import annotations

from headwater.plugin import Register, hookimpl


@hookimpl
def headwater_register_operators(register: Register) -> None:
    register("s3.upload", "headwater_s3.upload:S3UploadOperator")
    register("s3.download", "headwater_s3.download:S3DownloadOperator")
    register("s3.copy", "headwater_s3.copy:S3CopyOperator")
    register("s3.delete", "headwater_s3.delete:S3DeleteOperator")
    register("s3.list", "headwater_s3.listing:S3ListOperator")


@hookimpl
def headwater_register_sensors(register: Register) -> None:
    register("s3.key", "headwater_s3.sensor:S3KeySensor")


@hookimpl
def headwater_register_connection_types(register: Register) -> None:
    register("s3", "headwater_s3.connection:connect")
    register("aws", "headwater_s3.connection:connect")


@hookimpl
def headwater_register_event_sources(register: Register) -> None:
    register("s3", "headwater_s3.source:S3ObjectArrivalSource")


@hookimpl
def headwater_register_result_stores(register: Register) -> None:
    register("s3", "headwater_s3.result_store:S3ResultStore")
