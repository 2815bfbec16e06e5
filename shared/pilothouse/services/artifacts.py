"""Two public operations a user workflow's Task may call (see ``workflow_operations``): check a
generated GitHub Actions workflow, and keep a result as a blob under its execution's prefix.

    >>> sorted(check_pipeline("on: push\\njobs:\\n  ci:\\n    runs-on: ubuntu-latest\\n"
    ...     "    steps:\\n      - name: Test\\n        run: pytest\\n"))
    ['jobs', 'steps', 'valid']
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pilothouse.services.context import ServiceContext

ERROR_INVALID = "Pipeline.Invalid"
MAX_ARTIFACT_BYTES = 1_048_576


class PipelineInvalid(Exception):
    """The YAML does not parse, or is not a GitHub Actions workflow with named steps."""


class CheckPipelineArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    yaml: str = Field(min_length=1, max_length=262_144)


class PutArtifactArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filename: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
    content: str = Field(max_length=MAX_ARTIFACT_BYTES)
    content_type: str = Field(default="text/plain; charset=utf-8", max_length=100)


def check_pipeline(text: str) -> dict[str, Any]:
    """The jobs and step names of a GitHub Actions workflow; PipelineInvalid when it is not one."""
    import yaml

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PipelineInvalid(f"the YAML does not parse: {exc}") from None
    if not isinstance(doc, dict):
        raise PipelineInvalid("a workflow is a mapping")
    trigger = doc.get("on", doc.get(True))  # YAML 1.1 reads a bare `on` key as True
    if not trigger:
        raise PipelineInvalid("a workflow needs 'on' (its triggers)")
    jobs = doc.get("jobs")
    if not isinstance(jobs, dict) or not jobs:
        raise PipelineInvalid("a workflow needs at least one job under 'jobs'")
    steps: list[str] = []
    for job_id, job in jobs.items():
        if not isinstance(job, dict) or "runs-on" not in job or not isinstance(job.get("steps"), list):
            raise PipelineInvalid(f"job {job_id!r} needs runs-on and a list of steps")
        for i, step in enumerate(job["steps"]):
            if not isinstance(step, dict) or not ("run" in step or "uses" in step):
                raise PipelineInvalid(f"step {i} of job {job_id!r} needs run or uses")
            if "run" in step and not step.get("name"):
                raise PipelineInvalid(f"step {i} of job {job_id!r} runs a command without a name")
            steps.append(str(step.get("name") or step.get("uses")))
    return {"valid": True, "jobs": list(jobs), "steps": steps}


def put_artifact(
    services: ServiceContext, workflow: str, execution: str, args: PutArtifactArgs
) -> dict[str, Any]:
    """Keep ``content`` as ``artifacts/<workflow>/<execution>/<filename>``; its key, size and digest."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "-", execution)
    key = f"artifacts/{workflow}/{safe}/{args.filename}"
    data = args.content.encode("utf-8")
    info = services.blobs.put(key, data, content_type=args.content_type)
    return {"key": info.key, "bytes": info.size, "sha256": hashlib.sha256(data).hexdigest()}
