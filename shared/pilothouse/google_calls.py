"""What the Google Cloud adapters (Cloud KMS, Secret Manager) share about a call: the status name
of a failed one, and the CRC32C checksums the APIs exchange to detect corruption in transit."""

from __future__ import annotations


def status_name(exc: BaseException) -> str:
    """The canonical status name of an API error, on gRPC (the exception's class) and on the REST
    transport (where the class follows the HTTP status only and the body names the status)."""
    status = getattr(exc, "grpc_status_code", None)
    if status is not None:
        return str(status.name)
    try:
        return str(exc.response.json()["error"]["status"])  # type: ignore[attr-defined]
    except Exception:
        return f"HTTP {getattr(exc, 'code', None) or type(exc).__name__}"


def crc32c(data: bytes) -> int:
    import google_crc32c  # type: ignore[import-untyped, import-not-found, unused-ignore]

    return int(google_crc32c.value(data))
