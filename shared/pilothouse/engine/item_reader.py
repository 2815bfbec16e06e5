"""The Distributed Map ``ItemReader``: what to read, and turning what was read into items.

Pure: the interpreter asks its driver to read (an internal task on the S3 resource, see
:mod:`pilothouse.engine.s3io`) and parses the answer here. Supported as on AWS:

* ``arn:aws:states:::s3:getObject`` of a JSON array (``InputType`` JSON, the default), JSON Lines
  (``JSONL``) or CSV (``CSV``, with ``CSVHeaderLocation`` ``FIRST_ROW`` or ``GIVEN`` and
  ``CSVHeaders``, ``CSVDelimiter`` COMMA, PIPE, SEMICOLON, SPACE or TAB);
* ``arn:aws:states:::s3:listObjectsV2`` of a ``Bucket`` and ``Prefix``: one item per object,
  ``{"Etag", "Key", "LastModified", "Size", "StorageClass"}``;
* ``ReaderConfig.MaxItems`` / ``MaxItemsPath``: read at most that many items.

Failures raise ``States.ItemReaderFailed`` (as AWS names it).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from . import paths
from .errors import ITEM_READER_FAILED, QUERY_EVALUATION_ERROR, StatesError

GET_OBJECT = "arn:aws:states:::s3:getObject"
LIST_OBJECTS = "arn:aws:states:::s3:listObjectsV2"
INPUT_TYPES = ("JSON", "JSONL", "CSV")
DELIMITERS = {"COMMA": ",", "PIPE": "|", "SEMICOLON": ";", "SPACE": " ", "TAB": "\t"}
#: AWS's bound on MaxItems
MAX_ITEMS_LIMIT = 100_000_000


@dataclass(frozen=True)
class ReadRequest:
    """A resolved ItemReader: the S3 call to make and how to parse its answer."""

    resource: str
    bucket: str
    key: str | None
    prefix: str
    input_type: str
    header_location: str
    headers: list | None
    delimiter: str
    max_items: int | None

    def payload(self, token: str | None = None) -> dict:
        """The parameters of the S3 call (a listing page after ``token``)."""
        if self.resource == GET_OBJECT:
            return {"Bucket": self.bucket, "Key": self.key}
        out: dict = {"Bucket": self.bucket, "Prefix": self.prefix}
        if token:
            out["ContinuationToken"] = token
        return out

    def to_dict(self) -> dict:
        """JSON-serializable form (kept in the execution state)."""
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, d: dict) -> ReadRequest:
        """Rebuild from :meth:`to_dict`."""
        return cls(**d)


def _fail(msg: str) -> StatesError:
    return StatesError(ITEM_READER_FAILED, msg)


def resolve(flow: Any, reader: dict, raw: Any, eff: Any) -> ReadRequest:
    """Evaluate the ItemReader of a state (its Parameters / Arguments, ReaderConfig)."""
    resource = reader.get("Resource")
    if resource not in (GET_OBJECT, LIST_OBJECTS):
        raise _fail(f"ItemReader Resource {resource!r} is not supported (use {GET_OBJECT} or {LIST_OBJECTS})")
    if flow.jsonata:
        params = flow.expr(reader.get("Arguments", {}), raw)
    else:
        params = paths.apply_template(reader.get("Parameters", {}), eff, flow.env, "ItemReader.Parameters")
    if not isinstance(params, dict):
        raise _fail("ItemReader parameters must be a JSON object")
    bucket = params.get("Bucket")
    if not isinstance(bucket, str) or not bucket:
        raise _fail("ItemReader parameters need a Bucket (a non-empty string)")
    key = params.get("Key")
    prefix = params.get("Prefix", "")
    if resource == GET_OBJECT and (not isinstance(key, str) or not key):
        raise _fail("ItemReader s3:getObject needs a Key (a non-empty string)")
    if not isinstance(prefix, str):
        raise _fail("ItemReader Prefix must be a string")
    cfg = reader.get("ReaderConfig") or {}
    if not isinstance(cfg, dict):
        raise _fail("ReaderConfig must be a JSON object")
    if flow.jsonata:
        cfg = {k: (flow.expr(v, raw) if k == "MaxItems" else v) for k, v in cfg.items()}
    input_type = cfg.get("InputType", "JSON")
    if resource == LIST_OBJECTS:
        input_type = "JSON"
    elif input_type not in INPUT_TYPES:
        raise _fail(f"ReaderConfig InputType {input_type!r} is not supported (use JSON, JSONL or CSV)")
    location = cfg.get("CSVHeaderLocation", "FIRST_ROW")
    headers = cfg.get("CSVHeaders")
    if input_type == "CSV":
        if location not in ("FIRST_ROW", "GIVEN"):
            raise _fail("ReaderConfig CSVHeaderLocation must be FIRST_ROW or GIVEN")
        if location == "GIVEN" and (
            not isinstance(headers, list) or not headers or not all(isinstance(h, str) for h in headers)
        ):
            raise _fail(
                "ReaderConfig CSVHeaders must be a non-empty list of strings when CSVHeaderLocation is GIVEN"
            )
    delimiter = cfg.get("CSVDelimiter", "COMMA")
    if delimiter not in DELIMITERS:
        raise _fail(f"ReaderConfig CSVDelimiter {delimiter!r} is not one of {', '.join(DELIMITERS)}")
    max_items = _max_items(flow, cfg, eff)
    return ReadRequest(
        resource, bucket, key, prefix, input_type, location, headers, DELIMITERS[delimiter], max_items
    )


def _max_items(flow: Any, cfg: dict, eff: Any) -> int | None:
    if "MaxItems" in cfg:
        value = cfg["MaxItems"]
    elif "MaxItemsPath" in cfg:
        value = paths.resolve(cfg["MaxItemsPath"], eff, flow.env, "MaxItemsPath")
    else:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ITEMS_LIMIT:
        msg = f"ReaderConfig MaxItems must be an integer between 0 and {MAX_ITEMS_LIMIT}, got {value!r}"
        raise StatesError(QUERY_EVALUATION_ERROR, msg) if flow.jsonata else _fail(msg)
    return value or None  # 0 means no limit, as on AWS


def parse_object(req: ReadRequest, body: Any) -> list:
    """The items of an object read by ``s3:getObject`` (``body``: its text)."""
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            raise _fail(f"s3://{req.bucket}/{req.key} is not UTF-8 text") from None
    if not isinstance(body, str):
        raise _fail("the object body must be text")
    where = f"s3://{req.bucket}/{req.key}"
    if req.input_type == "JSON":
        try:
            items = json.loads(body)
        except ValueError as exc:
            raise _fail(f"{where} is not valid JSON: {exc}") from None
        if not isinstance(items, list):
            raise _fail(f"{where} must hold a JSON array")
    elif req.input_type == "JSONL":
        items = []
        for number, line in enumerate(body.splitlines(), 1):
            if not line.strip():
                continue
            try:
                items.append(json.loads(line))
            except ValueError as exc:
                raise _fail(f"{where} line {number} is not valid JSON: {exc}") from None
            if req.max_items and len(items) >= req.max_items:
                break
    else:
        items = _csv_items(req, body, where)
    return items[: req.max_items] if req.max_items else items


def _csv_items(req: ReadRequest, body: str, where: str) -> list:
    rows = csv.reader(io.StringIO(body), delimiter=req.delimiter)
    try:
        headers = list(req.headers) if req.header_location == "GIVEN" and req.headers else next(rows, None)
        if not headers:
            raise _fail(f"{where} has no header row")
        items: list = []
        for row in rows:
            if not row:
                continue
            if len(row) > len(headers):
                raise _fail(f"{where} row {len(items) + 1} has more fields than headers")
            items.append({h: (row[i] if i < len(row) else "") for i, h in enumerate(headers)})
            if req.max_items and len(items) >= req.max_items:
                break
    except csv.Error as exc:
        raise _fail(f"{where} is not valid CSV: {exc}") from None
    return items


def list_items(req: ReadRequest, page: Any) -> tuple[list, str | None]:
    """The items of one ``s3:listObjectsV2`` page and the token of the next one."""
    if not isinstance(page, dict) or not isinstance(page.get("Contents", []), list):
        raise _fail("the listObjectsV2 answer must be an object with Contents")
    items = []
    for obj in page.get("Contents", []):
        if not isinstance(obj, dict) or not isinstance(obj.get("Key"), str):
            raise _fail("each listed object needs a Key")
        items.append(
            {
                "Etag": obj.get("Etag", obj.get("ETag", "")),
                "Key": obj["Key"],
                "LastModified": obj.get("LastModified", 0),
                "Size": obj.get("Size", 0),
                "StorageClass": obj.get("StorageClass", "STANDARD"),
            }
        )
    token = page.get("NextContinuationToken")
    return items, token if isinstance(token, str) and token else None
