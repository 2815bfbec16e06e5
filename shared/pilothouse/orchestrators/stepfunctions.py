"""AWS Step Functions as the orchestrator: the workflows and executions API on boto3.

A Pilothouse workflow named ``w`` is the Standard state machine ``<prefix>w``; every update
publishes a new version. Executions, history, stop, redrive and task tokens go straight to Step
Functions; answers take the same shape as the embedded engine's (see
:mod:`pilothouse.services.executions`), so the HTTP API and CLI do not care which one runs.
"""

from __future__ import annotations

import json
import re
from functools import cached_property
from typing import Any

from pilothouse.errors import AlreadyExists, Conflict, NotFound, StoreError, ValidationFailed

#: a task token passed to a task function, as it appears in history parameters (JSON inside JSON)
_TASK_TOKEN = re.compile(r'\\"token\\":\s*\\"([^"\\]{8,})\\"')


def _hidden(d: dict[str, Any]) -> list[str]:
    """The capability token in an execution's input (never shown back)."""
    from pilothouse.domain.deployments import CAPABILITY_FIELD

    found = _json(d.get("input"))
    value = found.get(CAPABILITY_FIELD) if isinstance(found, dict) else None
    return [value] if isinstance(value, str) else []


STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE")


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z") if hasattr(value, "isoformat") else str(value)


def _version_of(answer: dict[str, Any]) -> int | None:
    """The version number at the end of a state machine version ARN (``...:stateMachine:name:3``)."""
    arn = answer.get("stateMachineVersionArn") or ""
    tail = arn.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


class StepFunctionsOrchestrator:
    """Implements :class:`pilothouse.ports.Orchestrator` with AWS Step Functions.

    ``arn_base`` (``arn:aws:states:<region>:<account>:``) is learned from the service when not given.
    """

    def __init__(
        self,
        *,
        role_arn: str,
        prefix: str = "",
        client: Any = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        arn_base: str | None = None,
    ) -> None:
        self.role_arn = role_arn
        self.prefix = prefix
        self._client = client
        self._region = region
        self._endpoint = endpoint_url
        if arn_base is not None:
            self.__dict__["_arn_base"] = arn_base  # takes the place of the cached_property

    @cached_property
    def client(self) -> Any:
        if self._client is not None:
            return self._client
        import boto3  # only the Step Functions orchestrator pays for boto3

        return boto3.client("stepfunctions", region_name=self._region, endpoint_url=self._endpoint)

    # -- errors ------------------------------------------------------------------------------------

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        try:
            return getattr(self.client, operation)(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            message = exc.response.get("Error", {}).get("Message", str(exc))
            if code in (
                "StateMachineDoesNotExist",
                "ExecutionDoesNotExist",
                "TaskDoesNotExist",
                "InvalidToken",
                "ResourceNotFound",
            ):
                raise NotFound(f"{code}: {message}") from None
            if code in ("StateMachineAlreadyExists",):
                raise AlreadyExists(f"{code}: {message}", extra={"field": "name"}) from None
            if code in (
                "ExecutionAlreadyExists",
                "ExecutionNotRedrivable",
                "TaskTimedOut",
                "ConflictException",
            ):
                raise Conflict(f"{code}: {message}") from None
            if code in (
                "InvalidDefinition",
                "InvalidName",
                "InvalidExecutionInput",
                "ValidationException",
                "InvalidOutput",
            ):
                raise ValidationFailed.field(
                    "definition" if "Definition" in code else "input", f"{code}: {message}"
                ) from None
            raise StoreError(f"Step Functions {operation}: {code}: {message}") from None

    # -- naming --------------------------------------------------------------------------------------

    @cached_property
    def _arn_base(self) -> str:
        """``arn:aws:states:<region>:<account>:`` learned from the first state machine ARN we see."""
        page = self._call("list_state_machines", maxResults=1)
        if page.get("stateMachines"):
            arn = page["stateMachines"][0]["stateMachineArn"]
            return arn.rsplit(":stateMachine:", 1)[0] + ":"
        import boto3

        sts = boto3.client("sts", region_name=self.client.meta.region_name, endpoint_url=self._endpoint)
        account = sts.get_caller_identity()["Account"]
        return f"arn:aws:states:{self.client.meta.region_name}:{account}:"

    def _sm_arn(self, workflow: str) -> str:
        return f"{self._arn_base}stateMachine:{self.prefix}{workflow}"

    def _ex_arn(self, workflow: str, name: str) -> str:
        return f"{self._arn_base}execution:{self.prefix}{workflow}:{name}"

    # -- workflows -----------------------------------------------------------------------------------

    def create_workflow(
        self, name: str, definition: dict, *, description: str = "", actor: str, shipped: bool = False
    ) -> dict:
        out = self._call(
            "create_state_machine",
            name=self.prefix + name,
            definition=json.dumps(definition),
            roleArn=self.role_arn,
            type="STANDARD",
            publish=True,
            versionDescription=description[:256] if description else "",
        )
        self._arn_base  # noqa: B018 - learn the ARN prefix now
        return self._workflow_view(name, out["stateMachineArn"], _version_of(out))

    def update_workflow(
        self,
        name: str,
        definition: dict,
        *,
        description: str | None = None,
        actor: str,
        shipped: bool = False,
    ) -> dict:
        out = self._call(
            "update_state_machine",
            stateMachineArn=self._sm_arn(name),
            definition=json.dumps(definition),
            publish=True,
            **({"versionDescription": description[:256]} if description else {}),
        )
        return self._workflow_view(name, self._sm_arn(name), _version_of(out))

    def _latest_version(self, arn: str) -> int | None:
        try:
            versions = self._call("list_state_machine_versions", stateMachineArn=arn).get(
                "stateMachineVersions", []
            )
        except StoreError:  # not every Step Functions stand-in lists versions (moto does not)
            return None
        return max((_version_of(v) or 0 for v in versions), default=None)

    def _workflow_view(self, name: str, arn: str, version: int | None = None) -> dict:
        sm = self._call("describe_state_machine", stateMachineArn=arn)
        return {
            "name": name,
            "version": version if version is not None else self._latest_version(arn),
            "definition": _json(sm["definition"]),
            "description": sm.get("description", ""),
            "created_at": _iso(sm.get("creationDate")),
            "updated_at": _iso(sm.get("updateDate") or sm.get("creationDate")),
            "state_machine_arn": arn,
        }

    def get_workflow(self, name: str, version: int | None = None) -> dict:
        arn = self._sm_arn(name)
        if version is not None:
            arn = f"{arn}:{version}"
        view = self._workflow_view(name, self._sm_arn(name))
        if version is not None:
            sm = self._call("describe_state_machine", stateMachineArn=arn)
            view.update(version=version, definition=_json(sm["definition"]))
        return view

    def list_workflows(self, *, limit: int = 50, cursor: str | None = None) -> tuple[list[dict], str | None]:
        kwargs: dict[str, Any] = {"maxResults": limit}
        if cursor:
            kwargs["nextToken"] = cursor
        out = self._call("list_state_machines", **kwargs)
        items = [
            {
                "name": sm["name"][len(self.prefix) :],
                "state_machine_arn": sm["stateMachineArn"],
                "created_at": _iso(sm.get("creationDate")),
            }
            for sm in out.get("stateMachines", [])
            if sm["name"].startswith(self.prefix)
        ]
        return items, out.get("nextToken")

    def delete_workflow(self, name: str) -> None:
        self._call("delete_state_machine", stateMachineArn=self._sm_arn(name))

    # -- executions ----------------------------------------------------------------------------------

    def _view(self, workflow: str, d: dict[str, Any]) -> dict[str, Any]:
        from pilothouse.domain.deployments import redact

        return redact(self._plain_view(workflow, d), _hidden(d))

    def _plain_view(self, workflow: str, d: dict[str, Any]) -> dict[str, Any]:
        return {
            "execution_arn": d["executionArn"],
            "name": d["name"],
            "workflow": workflow,
            "workflow_version": None,
            "status": d["status"],
            "input": _json(d.get("input")),
            "output": _json(d.get("output")),
            "error": d.get("error"),
            "cause": d.get("cause"),
            "start_date": _iso(d.get("startDate")),
            "stop_date": _iso(d.get("stopDate")),
            "redrive_count": d.get("redriveCount", 0),
            # a shipped state machine: its tasks carry the deployment's capability
            "trusted": workflow.startswith("pilothouse-"),
            "step": None,
            "positions": [],
            "waiting_tasks": [],
        }

    def start(
        self,
        workflow: str,
        *,
        name: str | None,
        input: Any,
        actor: str,
        request_id: str | None = None,
        trusted: bool = False,
    ) -> dict:
        """Internal tasks check the deployment's capability token themselves, so ``trusted`` needs no
        counterpart on Step Functions. Without ``name``, Step Functions picks one."""
        payload = json.dumps({} if input is None else input)
        if len(payload) > 256 * 1024:
            raise ValidationFailed.field("input", "must not exceed 256 KiB (States.DataLimitExceeded)")
        if name is None:
            started = self._call("start_execution", stateMachineArn=self._sm_arn(workflow), input=payload)
            return self._view(
                workflow, self._call("describe_execution", executionArn=started["executionArn"])
            )
        self._call("start_execution", stateMachineArn=self._sm_arn(workflow), name=name, input=payload)
        return self.describe(workflow, name)

    def describe(self, workflow: str, name: str) -> dict:
        return self._view(
            workflow, self._call("describe_execution", executionArn=self._ex_arn(workflow, name))
        )

    def list_executions(
        self, workflow: str, *, status: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[dict], str | None]:
        kwargs: dict[str, Any] = {"stateMachineArn": self._sm_arn(workflow), "maxResults": limit}
        if status:
            kwargs["statusFilter"] = status
        if cursor:
            kwargs["nextToken"] = cursor
        out = self._call("list_executions", **kwargs)
        items = [
            {
                "arn": e["executionArn"],
                "name": e["name"],
                "workflow": workflow,
                "workflow_version": None,
                "status": e["status"],
                "start_date": _iso(e.get("startDate")),
                "stop_date": _iso(e.get("stopDate")),
                "redrive_count": e.get("redriveCount", 0),
            }
            for e in out.get("executions", [])
        ]
        return items, out.get("nextToken")

    def history(
        self, workflow: str, name: str, *, limit: int = 100, cursor: str | None = None, reverse: bool = False
    ) -> tuple[list[dict], str | None]:
        kwargs: dict[str, Any] = {
            "executionArn": self._ex_arn(workflow, name),
            "maxResults": min(limit, 1000),
            "reverseOrder": reverse,
        }
        if cursor:
            kwargs["nextToken"] = cursor
        out = self._call("get_execution_history", **kwargs)
        events = [
            {**{k: v for k, v in e.items() if k != "timestamp"}, "timestamp": _iso(e.get("timestamp"))}
            for e in out.get("events", [])
        ]
        return self._redact_history(workflow, name, events), out.get("nextToken")

    def _redact_history(self, workflow: str, name: str, events: list[dict]) -> list[dict]:
        """History without the execution's capability token, nor the task tokens sent to its
        callback tasks (only the recipient gets one), which appear in the tasks' parameters."""
        from pilothouse.domain.deployments import redact

        hidden = _hidden(self._call("describe_execution", executionArn=self._ex_arn(workflow, name)))
        return redact(events, hidden + _TASK_TOKEN.findall(json.dumps(events)))

    def stop(self, workflow: str, name: str, *, error: str | None = None, cause: str | None = None) -> dict:
        kwargs: dict[str, Any] = {"executionArn": self._ex_arn(workflow, name)}
        if error:
            kwargs["error"] = error
        if cause:
            kwargs["cause"] = cause
        self._call("stop_execution", **kwargs)
        return self.describe(workflow, name)

    def redrive(self, workflow: str, name: str, *, actor: str | None = None) -> dict:
        """``actor``: recorded by the caller (``record_starter``) before this; unused here."""
        self._call("redrive_execution", executionArn=self._ex_arn(workflow, name))
        return self.describe(workflow, name)

    def send_task_success(self, token: str, output: Any) -> dict:
        self._call("send_task_success", taskToken=token, output=json.dumps(output))
        return {"token_accepted": True}

    def send_task_failure(self, token: str, error: str | None, cause: str | None) -> dict:
        kwargs: dict[str, Any] = {"taskToken": token}
        if error:
            kwargs["error"] = error[:256]
        if cause:
            kwargs["cause"] = cause[:32768]
        self._call("send_task_failure", **kwargs)
        return {"token_accepted": True}

    def send_task_heartbeat(self, token: str) -> dict:
        self._call("send_task_heartbeat", taskToken=token)
        return {"token_accepted": True}
