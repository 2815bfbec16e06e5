"""The Distributed Map ``ResultWriter``: AWS's result files and manifest, built without I/O.

With ``Resource`` ``arn:aws:states:::s3:putObject`` and ``Parameters`` (``Bucket``, ``Prefix``)
the results of a map run are exported in AWS's layout::

    <Prefix>/<map run id>/manifest.json      {"DestinationBucket", "MapRunArn", "ResultFiles":
                                              {"FAILED": [...], "PENDING": [...], "SUCCEEDED": [...]}}
    <Prefix>/<map run id>/SUCCEEDED_0.json   one entry per child execution that succeeded
    <Prefix>/<map run id>/FAILED_0.json      ... that failed, timed out or was aborted
    <Prefix>/<map run id>/PENDING_0.json     ... items never started (the run failed first)

and the state's result is ``{"MapRunArn", "ResultWriterDetails": {"Bucket", "Key"}}`` (the key of
the manifest). ``WriterConfig`` chooses ``Transformation`` (NONE: the execution entries, the
default when exporting; COMPACT: the outputs; FLATTEN: the outputs, arrays flattened) and
``OutputType`` (JSON array or JSONL lines). A ResultWriter with only a WriterConfig shapes the
state's result the same way without exporting.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from . import paths
from .errors import StatesError
from .s3io import PUT_OBJECTS

RESULT_WRITER_FAILED = "States.ResultWriterFailed"
TRANSFORMATIONS = ("NONE", "COMPACT", "FLATTEN")
OUTPUT_TYPES = ("JSON", "JSONL")
#: child statuses written to the FAILED file
FAILED_STATUSES = ("FAILED", "TIMED_OUT", "ABORTED")


@dataclass(frozen=True)
class WriterSpec:
    """A resolved ResultWriter."""

    bucket: str | None
    prefix: str
    transformation: str
    output_type: str

    @property
    def exports(self) -> bool:
        """True when results are written to the object store."""
        return self.bucket is not None

    def to_dict(self) -> dict:
        """JSON-serializable form (kept in the execution state)."""
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, d: dict) -> WriterSpec:
        """Rebuild from :meth:`to_dict`."""
        return cls(**d)


def _fail(msg: str) -> StatesError:
    return StatesError(RESULT_WRITER_FAILED, msg)


def resolve(flow: Any, writer: dict, raw: Any, eff: Any) -> WriterSpec:
    """Evaluate the ResultWriter of a state."""
    cfg = writer.get("WriterConfig") or {}
    exports = "Resource" in writer
    transformation = cfg.get("Transformation", "NONE" if exports else "COMPACT")
    output_type = cfg.get("OutputType", "JSON")
    if transformation not in TRANSFORMATIONS:
        raise _fail(f"WriterConfig Transformation must be one of {', '.join(TRANSFORMATIONS)}")
    if output_type not in OUTPUT_TYPES:
        raise _fail(f"WriterConfig OutputType must be one of {', '.join(OUTPUT_TYPES)}")
    if not exports:
        return WriterSpec(None, "", transformation, output_type)
    if writer["Resource"] != PUT_OBJECTS:
        raise _fail(f"ResultWriter Resource must be {PUT_OBJECTS}")
    if flow.jsonata:
        params = flow.expr(writer.get("Arguments", {}), raw)
    else:
        params = paths.apply_template(writer.get("Parameters", {}), eff, flow.env, "ResultWriter.Parameters")
    if not isinstance(params, dict) or not isinstance(params.get("Bucket"), str) or not params["Bucket"]:
        raise _fail("ResultWriter parameters need a Bucket (a non-empty string)")
    prefix = params.get("Prefix", "")
    if not isinstance(prefix, str):
        raise _fail("ResultWriter Prefix must be a string")
    return WriterSpec(params["Bucket"], prefix.strip("/"), transformation, output_type)


def transform(spec: WriterSpec, entries: list) -> list:
    """The values a ResultWriter emits for the execution ``entries`` (see :func:`entry`)."""
    if spec.transformation == "NONE":
        return entries
    out: list = []
    for e in entries:
        if e["Status"] != "SUCCEEDED":
            out.append(e)  # a failed child's entry is kept whole (as with NONE)
            continue
        value = json.loads(e["Output"])
        if spec.transformation == "FLATTEN" and isinstance(value, list):
            out.extend(value)
        else:
            out.append(value)
    return out


def entry(
    *,
    name: str,
    arn: str,
    state_machine_arn: str,
    input: Any,
    status: str,
    output: Any = None,
    error: str | None = None,
    cause: str | None = None,
    start: str | None = None,
    stop: str | None = None,
) -> dict:
    """One child execution as AWS describes it in a result file."""
    e: dict = {
        "ExecutionArn": arn,
        "Input": json.dumps(input, separators=(",", ":")),
        "InputDetails": {"Included": True},
        "Name": name,
    }
    if status == "SUCCEEDED":
        e["Output"] = json.dumps(output, separators=(",", ":"))
        e["OutputDetails"] = {"Included": True}
    elif status != "PENDING":
        e["Error"] = error or ""
        e["Cause"] = cause or ""
    redrivable = status in FAILED_STATUSES
    e.update(
        {
            "RedriveCount": 0,
            "RedriveStatus": "REDRIVABLE" if redrivable else "NOT_REDRIVABLE",
            "RedriveStatusReason": (
                "Execution is redrivable" if redrivable else f"Execution is {status} and cannot be redriven"
            ),
            "StartDate": start,
            "StateMachineArn": state_machine_arn,
            "Status": status,
            "StopDate": stop,
        }
    )
    if status == "PENDING":
        for k in ("StartDate", "StopDate"):
            e.pop(k)
    return e


def _body(spec: WriterSpec, values: list) -> str:
    if spec.output_type == "JSONL":
        return "".join(json.dumps(v, separators=(",", ":")) + "\n" for v in values)
    return json.dumps(values, separators=(",", ":"))


def files(spec: WriterSpec, map_run_id: str, map_run_arn: str, entries: list) -> tuple[list, dict]:
    """The objects to write ``[{"Key", "Body"}]`` and the state's result."""
    base = f"{spec.prefix}/{map_run_id}" if spec.prefix else map_run_id
    ext = "jsonl" if spec.output_type == "JSONL" else "json"
    groups: dict = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
    for e in entries:
        status = e["Status"]
        groups["FAILED" if status in FAILED_STATUSES else status].append(e)
    objects = []
    listed: dict = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
    for status, group in groups.items():
        if not group:
            continue
        key = f"{base}/{status}_0.{ext}"
        body = _body(spec, transform(spec, group))
        objects.append({"Key": key, "Body": body})
        listed[status].append({"Key": key, "Size": len(body.encode("utf-8"))})
    manifest_key = f"{base}/manifest.json"
    manifest = {"DestinationBucket": spec.bucket, "MapRunArn": map_run_arn, "ResultFiles": listed}
    objects.append({"Key": manifest_key, "Body": json.dumps(manifest, separators=(",", ":"))})
    result = {"MapRunArn": map_run_arn, "ResultWriterDetails": {"Bucket": spec.bucket, "Key": manifest_key}}
    return objects, result
