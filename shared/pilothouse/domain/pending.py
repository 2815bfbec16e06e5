"""A component's pending command, typed.

A component's pending command (its record's ``operation``) carries the compiled strategy plan
and the promotion's notification token as fields of their own. Releases before this one kept them
as hidden keys inside the command's parameters (``_strategy``, ``_steps``, ``_notify_token``); reading an
operation maps that old spelling onto the fields, so records written by an older release stay
readable. For example::

    >>> old = {"id": "1", "command": "deploy", "params": {"version": "v2", "_steps": []}}
    >>> op = PendingCommand.model_validate(old)
    >>> op.params, op.steps
    ({'version': 'v2'}, [])
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from pilothouse.domain.records import LEGACY_PARAM_FIELDS, public_operation


class PendingCommand(BaseModel):
    """The long command a component is carrying out (its record's ``operation``).

    ``params`` hold only what the caller asked for (version, config, replicas); what the control
    plane derived lives in fields: the strategy and its compiled ``steps`` for commands that run
    as deployments, and ``notify_token`` when a promotion waits for the deployment's end.
    Keys this model does not name (``started_at``, ``deployment_started``) are kept as they are.
    """

    model_config = ConfigDict(extra="allow")

    id: str
    command: str
    params: dict[str, Any] = {}
    strategy: dict[str, Any] | None = None
    steps: list[dict[str, Any]] | None = None
    notify_token: str | None = None
    requested_at: str | None = None
    requested_epoch: int | float | None = None
    requested_by: str | None = None
    request_id: str | None = None
    attempt: int = 0
    lease_until: int | float | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_legacy(cls, data: Any) -> Any:
        """Move the hidden keys of an older release's ``params`` onto the fields."""
        if not isinstance(data, dict):
            return data
        params = data.get("params")
        if not isinstance(params, dict) or not any(k in params for k in LEGACY_PARAM_FIELDS):
            return data
        out = {**data, "params": {k: v for k, v in params.items() if k not in LEGACY_PARAM_FIELDS}}
        for old, new in LEGACY_PARAM_FIELDS.items():
            if old in params and out.get(new) is None:
                out[new] = params[old]
        return out

    @property
    def runs_as_deployment(self) -> bool:
        """Deploy, update and retry carry a compiled plan and run as a strategy workflow."""
        return self.steps is not None

    def stored(self) -> dict[str, Any]:
        """The JSON the record keeps (only the keys that were given: absent stays absent)."""
        return self.model_dump(mode="json", exclude_unset=True)

    def public(self) -> dict[str, Any]:
        """The operation as the component's answer shows it (see :func:`public_operation`)."""
        return public_operation(self.stored())

    def event_params(self) -> dict[str, Any]:
        """The parameters as the command's event shows them: the plan is named, not listed."""
        out = dict(self.params)
        if self.strategy:
            out["strategy"] = self.strategy.get("preset") or self.strategy.get("type")
        return out


def operation_of(data: dict[str, Any]) -> PendingCommand | None:
    """The typed pending command of a stored component record (None when idle)."""
    op = data.get("operation")
    return PendingCommand.model_validate(op) if op else None
