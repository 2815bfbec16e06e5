"""DynamoDB's native point-in-time export as a backup's source (``settings.backup_dynamodb_export``).

:func:`export_encoded` asks DynamoDB for an ``ExportTableToPointInTime`` of the table (the table
must have point-in-time recovery: ``template.yaml`` and ``serverless.yml`` turn it on) into
``s3://<bucket>/<prefix>`` in the ``DYNAMODB_JSON`` format, sealed at rest with the bucket's KMS
key when one is given, waits for it (``DescribeExport``), then streams the export's data files
(gzip JSON Lines, one ``{"Item": {...}}`` a line) as :class:`~pilothouse.ports.EncodedItem` s: the
same items a scan gives (expired ones left out), all as of the one export time. The backup then
seals them into its own chunks and manifest as from any scan, so restore, verify and drills read
an export-based backup like any other. The export's objects are deleted once read (or when the
backup fails), so no unsealed copy of the store stays in the bucket.

Where the data files are: AWS writes ``<prefix>/AWSDynamoDB/<export id>/data/*.json.gz`` beside a
``manifest-files.json``; moto (5.2.5) writes one ``<prefix>/AWSDynamoDB/<uuid>/data/<uuid>.gz`` and
no manifests. The prefix is the backup's own, so every ``.gz`` under ``<prefix>/AWSDynamoDB/`` in
a ``data/`` folder is this export's (both layouts).
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from typing import Any

from pilothouse.errors import StoreError
from pilothouse.ports import EncodedItem
from pilothouse.ports.store import encode_document

#: how long an export may take before the backup gives up (AWS: minutes even for a small table)
EXPORT_TIMEOUT_SECONDS = 3600.0


class PointInTimeExport:
    """The items of one finished export, streamed; ``consistency`` says what the copy is."""

    def __init__(self, s3: Any, bucket: str, prefix: str, description: dict[str, Any], now: float) -> None:
        self._s3, self.bucket, self.prefix = s3, bucket, prefix
        self.description = description
        self._now = now
        export_time: Any = description.get("ExportTime")
        when = export_time.isoformat() if export_time is not None else "the export's start"
        self.consistency = (
            "a point-in-time copy: DynamoDB ExportTableToPointInTime "
            f"({description.get('ExportArn', '?')}), the table as at {when}; no write after that "
            "time is in the copy, none is half in it"
        )

    def _keys(self) -> list[str]:
        keys: list[str] = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=f"{self.prefix}/AWSDynamoDB/"
        ):
            keys.extend(o["Key"] for o in page.get("Contents", []))
        return keys

    def __iter__(self) -> Iterator[EncodedItem]:
        data_files = sorted(k for k in self._keys() if "/data/" in k and k.endswith(".gz"))
        for key in data_files:
            body = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"]
            with gzip.GzipFile(fileobj=body) as lines:
                for line in lines:
                    if line.strip():
                        item = _encoded(json.loads(line)["Item"])
                        if item.expires_at is None or item.expires_at > self._now:
                            yield item

    def close(self) -> None:
        """Delete the export's objects (the unsealed copy of the table)."""
        keys = self._keys()
        for start in range(0, len(keys), 1000):
            self._s3.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": k} for k in keys[start : start + 1000]], "Quiet": True},
            )


def _encoded(attrs: dict[str, Any]) -> EncodedItem:
    """One exported item (DynamoDB JSON) as the store wrote it (see :mod:`pilothouse.store.dynamodb`)."""
    try:
        data = attrs["data"]["S"]
        if "\\u" in data:  # written by json.dumps(ensure_ascii=False): only an escape needs it again
            data = encode_document(json.loads(data))
        expires = attrs.get("expires_at", {}).get("N")
        return EncodedItem(
            attrs["pk"]["S"],
            attrs["sk"]["S"],
            int(attrs["version"]["N"]),
            float(expires) if expires is not None else None,
            data,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreError(f"an exported item is not one of this store's records: {exc}") from exc


def export_encoded(
    client: Any,
    s3: Any,
    table_name: str,
    *,
    bucket: str,
    prefix: str,
    kms_key_id: str | None,
    token: str,
    now: float,
    poll_seconds: float = 1.0,
    timeout: float = EXPORT_TIMEOUT_SECONDS,
) -> PointInTimeExport:
    """Export ``table_name`` to ``s3://bucket/prefix`` and wait for it (``client``: a botocore
    DynamoDB client; ``token``: the export's idempotency token, the backup id)."""
    from botocore.exceptions import ClientError

    try:
        table_arn = client.describe_table(TableName=table_name)["Table"]["TableArn"]
        pitr = client.describe_continuous_backups(TableName=table_name)["ContinuousBackupsDescription"]
        status = pitr.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus")
        if status != "ENABLED":
            raise StoreError(
                f"DynamoDB table {table_name!r} has no point-in-time recovery (status {status}): turn it on "
                "(the stack does) or set backup_dynamodb_export to false to back up with a Scan"
            )
        request: dict[str, Any] = {
            "TableArn": table_arn,
            "S3Bucket": bucket,
            "S3Prefix": prefix,
            "ExportFormat": "DYNAMODB_JSON",
            "ExportType": "FULL_EXPORT",
            "ClientToken": token,
        }
        if kms_key_id:
            request.update(S3SseAlgorithm="KMS", S3SseKmsKeyId=kms_key_id)
        else:
            request["S3SseAlgorithm"] = "AES256"
        export = client.export_table_to_point_in_time(**request)["ExportDescription"]
        deadline = time.monotonic() + timeout
        while export.get("ExportStatus") == "IN_PROGRESS":
            if time.monotonic() > deadline:
                arn = export.get("ExportArn")
                raise StoreError(f"the DynamoDB export {arn} did not finish in {timeout:.0f}s")
            time.sleep(poll_seconds)
            export = client.describe_export(ExportArn=export["ExportArn"])["ExportDescription"]
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise StoreError(
            f"DynamoDB export failed: {error.get('Code')}: {error.get('Message')}",
            extra={"store_error": error.get("Code")},
        ) from exc
    result = PointInTimeExport(s3, bucket, prefix, export, now)
    if export.get("ExportStatus") != "COMPLETED":
        result.close()
        raise StoreError(
            f"the DynamoDB export {export.get('ExportArn')} ended {export.get('ExportStatus')}: "
            f"{export.get('FailureCode')}: {export.get('FailureMessage')}"
        )
    return result
