"""An in-memory stand-in for the Pilothouse HTTP API, served through ``httpx.MockTransport``.

Commands move a component to its transitional state; each later GET of the component moves the
job on one step (started, then finished with the outcome set in ``outcomes``), so ``--wait`` sees
a realistic sequence. Workflow executions move the same way: each read of a RUNNING one takes it
one state on, to the end set in ``execution_outcomes``. ``requests`` records everything sent.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

import httpx

TRANSITIONAL = {
    "deploy": "Deploying",
    "retry": "Deploying",
    "update": "Updating",
    "scale": "Scaling",
    "stop": "Stopping",
}
ALLOWED = {
    "Registered": ["deploy", "deregister"],
    "Running": ["scale", "update", "stop"],
    "Stopped": ["deregister"],
    "Failed": ["retry", "deregister"],
}
FROM = {"deploy": "Registered", "retry": "Failed", "update": "Running", "scale": "Running", "stop": "Running"}


def problem(status: int, title: str, detail: str, **extra: Any) -> httpx.Response:
    body = {
        "type": f"https://pilothouse.dev/problems/{title.lower().replace(' ', '-')}",
        "title": title,
        "status": status,
        "detail": detail,
        "request_id": "req-1",
        **extra,
    }
    return httpx.Response(status, json=body, headers={"Content-Type": "application/problem+json"})


# -- workflows and executions ----------------------------------------------------------------------------

STEPS = ["Prepare", "Work"]


class _Workflows:
    """The workflow endpoints of :class:`FakeApi` (mixed in below)."""

    def add_workflow(
        self, name: str, definition: dict | None = None, description: str = ""
    ) -> dict[str, Any]:
        view = {
            "name": name,
            "version": 1,
            "definition": definition
            or {"StartAt": "Prepare", "States": {"Prepare": {"Type": "Pass", "End": True}}},
            "description": description,
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
        }
        self.workflows[name] = view
        self.workflow_versions[name] = [dict(view)]
        return view

    def add_execution(
        self, workflow: str, name: str, status: str = "RUNNING", **fields: Any
    ) -> dict[str, Any]:
        view = {
            "execution_arn": f"arn:aws:states:local:000000000000:execution:{workflow}:{name}",
            "name": name,
            "workflow": workflow,
            "workflow_version": self.workflows.get(workflow, {}).get("version", 1),
            "status": status,
            "input": {},
            "output": None,
            "error": None,
            "cause": None,
            "start_date": "2026-01-01T00:00:00.000Z",
            "stop_date": None if status == "RUNNING" else "2026-01-01T00:00:05.000Z",
            "redrive_count": 0,
            "step": 0,
            "positions": [{"run": "root", "state": STEPS[0], "phase": "ENTERED"}]
            if status == "RUNNING"
            else [],
            "waiting_tasks": [],
            **fields,
        }
        self.executions[(workflow, name)] = view
        return view

    def _move(self, e: dict[str, Any]) -> None:
        if e["status"] != "RUNNING":
            return
        outcome = self.execution_outcomes.get(e["workflow"], "SUCCEEDED")
        if outcome == "hang" or e["waiting_tasks"]:
            return
        e["step"] += 1
        if e["step"] < len(STEPS):
            e["positions"] = [{"run": "root", "state": STEPS[e["step"]], "phase": "TASK_RUNNING"}]
            return
        if outcome == "callback":
            e["positions"] = [{"run": "root", "state": "Approve", "phase": "TASK_RUNNING"}]
            e["waiting_tasks"] = [
                {
                    "task_id": "task-1",
                    "state": "Approve",
                    "resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                    "callback": True,
                }
            ]
            return
        self._end(
            e,
            "SUCCEEDED" if outcome == "SUCCEEDED" else "FAILED",
            output={"done": True, "input": e["input"]} if outcome == "SUCCEEDED" else None,
            error=None if outcome == "SUCCEEDED" else "Work.Broken",
            cause=None if outcome == "SUCCEEDED" else "the work went wrong",
        )

    @staticmethod
    def _end(
        e: dict[str, Any], status: str, *, output: Any = None, error: Any = None, cause: Any = None
    ) -> None:
        e.update(
            status=status,
            output=output,
            error=error,
            cause=cause,
            positions=[],
            waiting_tasks=[],
            stop_date="2026-01-01T00:00:09.000Z",
        )

    def _history(self, e: dict[str, Any]) -> list[dict[str, Any]]:
        events = [
            {
                "id": 1,
                "previousEventId": 0,
                "type": "ExecutionStarted",
                "timestamp": e["start_date"],
                "executionStartedEventDetails": {"input": json.dumps(e["input"])},
            }
        ]
        for state in STEPS[: e["step"] + 1]:
            n = len(events) + 1
            events.append(
                {
                    "id": n,
                    "previousEventId": n - 1,
                    "type": "PassStateEntered",
                    "timestamp": e["start_date"],
                    "stateEnteredEventDetails": {"name": state, "input": "{}"},
                }
            )
        if e["status"] == "FAILED":
            n = len(events) + 1
            events.append(
                {
                    "id": n,
                    "previousEventId": n - 1,
                    "type": "ExecutionFailed",
                    "timestamp": e["stop_date"],
                    "executionFailedEventDetails": {"error": e["error"], "cause": e["cause"]},
                }
            )
        return events

    def _workflows(
        self, request: httpx.Request, rest: list[str], body: Any, q: httpx.QueryParams
    ) -> httpx.Response:
        m = request.method
        if not rest:
            if m == "POST":
                if body["name"] in self.workflows:
                    return problem(409, "Already exists", f"a workflow named {body['name']!r} exists already")
                if not isinstance(body.get("definition"), dict) or "StartAt" not in body["definition"]:
                    return problem(
                        422,
                        "Validation failed",
                        "$.StartAt: is required",
                        errors=[
                            {"field": "definition.StartAt", "path": "$.StartAt", "message": "is required"}
                        ],
                    )
                view = self.add_workflow(body["name"], body["definition"], body.get("description", ""))
                return httpx.Response(201, json=view)
            return self._page(sorted(self.workflows.values(), key=lambda w: w["name"]), q)
        name, rest = rest[0], rest[1:]
        if not rest:
            w = self.workflows.get(name)
            if w is None:
                return problem(404, "Not found", f"no workflow named {name!r}")
            if m == "DELETE":
                del self.workflows[name]
                return httpx.Response(204)
            if m == "PUT":
                w.update(
                    version=w["version"] + 1, definition=body["definition"], updated_at="2026-01-02T00:00:00Z"
                )
                if body.get("description") is not None:
                    w["description"] = body["description"]
                self.workflow_versions[name].append(dict(w))
                return httpx.Response(200, json=w)
            if q.get("version"):
                versions = self.workflow_versions[name]
                v = int(q["version"])
                if v > len(versions):
                    return problem(404, "Not found", f"workflow {name!r} has no version {v}")
                return httpx.Response(200, json=versions[v - 1])
            return httpx.Response(200, json=w)
        # executions
        if len(rest) == 1:
            if m == "POST":
                if name not in self.workflows:
                    return problem(404, "Not found", f"no workflow named {name!r}")
                ex_name = body.get("name") or f"run-{len(self.executions) + 1}"
                value = body.get("input")
                if isinstance(value, str):
                    value = json.loads(value)
                e = self.add_execution(name, ex_name, input={} if value is None else value)
                return httpx.Response(201, json=json.loads(json.dumps(e)))
            items = [
                {
                    "arn": e["execution_arn"],
                    **{
                        k: e[k]
                        for k in (
                            "name",
                            "workflow",
                            "workflow_version",
                            "status",
                            "start_date",
                            "stop_date",
                            "redrive_count",
                        )
                    },
                }
                for (wf, _), e in self.executions.items()
                if wf == name and (not q.get("status") or e["status"] == q["status"])
            ]
            return self._page(items, q)
        e = self.executions.get((name, rest[1]))
        if e is None:
            return problem(404, "Not found", f"no execution {rest[1]!r} of workflow {name!r}")
        action = rest[2] if len(rest) > 2 else None
        if action is None:
            self._move(e)
            return httpx.Response(200, json=e)
        if action == "history":
            events = self._history(e)
            if q.get("reverse") == "true":
                events.reverse()
            size = int(q.get("limit", 100))
            start = int(q.get("cursor") or 0)
            nxt = str(start + size) if start + size < len(events) else None
            return httpx.Response(200, json={"events": events[start : start + size], "next_cursor": nxt})
        if action == "stop":
            if e["status"] == "RUNNING":
                self._end(e, "ABORTED", error=(body or {}).get("error"), cause=(body or {}).get("cause"))
            return httpx.Response(200, json=e)
        if action == "redrive":
            if e["status"] not in ("FAILED", "TIMED_OUT", "ABORTED"):
                return problem(
                    409,
                    "Conflict",
                    f"only a failed, timed-out or aborted execution can be "
                    f"redriven; this one is {e['status']}",
                    execution_status=e["status"],
                )
            self.execution_outcomes[name] = "SUCCEEDED"
            e.update(
                status="RUNNING",
                step=0,
                redrive_count=e["redrive_count"] + 1,
                stop_date=None,
                error=None,
                cause=None,
                positions=[{"run": "root", "state": STEPS[0], "phase": "ENTERED"}],
            )
            return httpx.Response(200, json=e)
        return problem(404, "Not found", request.url.path)

    def _task_token(self, action: str, body: Any) -> httpx.Response:
        token = (body or {}).get("token", "")
        workflow, _, name = token.partition("/")
        e = self.executions.get((workflow, name))
        if e is None or not e["waiting_tasks"]:
            return problem(
                404, "Not found", "no task is waiting for this token (TaskDoesNotExist or TaskTimedOut)"
            )
        if action == "success":
            value = body.get("output")
            self._end(e, "SUCCEEDED", output=json.loads(value) if isinstance(value, str) else value)
        elif action == "failure":
            self._end(e, "FAILED", error=body.get("error") or "States.TaskFailed", cause=body.get("cause"))
        elif action != "heartbeat":
            return problem(404, "Not found", action)
        return httpx.Response(200, json=e)


@dataclass
class FakeApi(_Workflows):
    key: str = "ph_test_secret"
    components: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: (name, command) → "succeeded" | "failed" | "reverted" | "hang"
    outcomes: dict[tuple[str, str], str] = field(default_factory=dict)
    keys: list[dict[str, Any]] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)
    page_size: int | None = None
    #: workflows: name → the latest view; versions: name → every view published
    workflows: dict[str, dict[str, Any]] = field(default_factory=dict)
    workflow_versions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: (workflow, name) → execution view; each read of a RUNNING one moves it one state on
    executions: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    #: workflow → "SUCCEEDED" | "FAILED" | "callback" (waits for a task token) | "hang"
    execution_outcomes: dict[str, str] = field(default_factory=dict)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    # -- helpers tests use -------------------------------------------------------------------------
    def add(self, name: str, state: str = "Registered", **fields: Any) -> dict[str, Any]:
        view = {
            "name": name,
            "state": state,
            "allowed_commands": ALLOWED.get(state, []),
            "environment": "development",
            "provider": "local",
            "version": None,
            "replicas": 0,
            "url": None,
            "last_error": None,
            "operation": None,
            "spec": {"name": name, "version": "1.0.0", "config": {"step": 2, "color": "blue"}},
            "placement": None,
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
            "record_version": 1,
            **fields,
        }
        self.components[name] = view
        self._event(name, "registered", None, "Registered")
        return view

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path == path]

    def _event(self, name: str, kind: str, before: str | None, after: str | None, **detail: Any) -> dict:
        n = next(self._ids)
        event = {
            "id": f"{n:06d}",
            "component": name,
            "at": f"2026-01-01T00:00:{n:02d}Z",
            "type": kind,
            "from": before,
            "to": after,
            "actor": "system",
            "request_id": "req",
            **detail,
        }
        self.events.setdefault(name, []).append(event)
        return event

    # -- the job, one step per read --------------------------------------------------------------------
    def _advance(self, c: dict[str, Any]) -> None:
        op = c.get("operation")
        if not op:
            return
        cmd = op["command"]
        outcome = self.outcomes.get((c["name"], cmd), "succeeded")
        if outcome == "hang":
            return
        if not op.get("started"):
            op["started"] = True
            self._event(c["name"], f"{cmd}.started", c["state"], c["state"], operation_id=op["id"])
            return
        before = c["state"]
        params = op["params"]
        detail: dict[str, Any] = {"operation_id": op["id"]}
        if outcome == "succeeded":
            c["last_error"] = None
            if cmd in ("deploy", "retry", "update"):
                c["version"] = params.get("version") or c["spec"]["version"]
                c["replicas"] = c["replicas"] or 1
                c["url"] = f"http://127.0.0.1:9{len(c['name'])}00"
                if "config" in params:
                    c["spec"]["config"] = params["config"]
            if cmd == "scale":
                c["replicas"] = params["replicas"]
            c["state"] = "Stopped" if cmd == "stop" else "Running"
        else:
            reason = f"{c['name']} {cmd} went wrong"
            c["last_error"] = {"command": cmd, "reason": reason, "logs": ["line one", "boom"], "at": "now"}
            c["state"] = "Running" if (outcome == "reverted" or cmd == "scale") else "Failed"
            detail.update(reason=reason, logs=["line one", "boom"])
        c["operation"] = None
        c["allowed_commands"] = ALLOWED[c["state"]]
        self._event(c["name"], f"{cmd}.{outcome}", before, c["state"], version=c["version"], **detail)

    # -- routing ---------------------------------------------------------------------------------------
    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/v1/health":
            return httpx.Response(200, json={"status": "ok", "version": "9.9.9"})
        if request.headers.get("Authorization") != f"Bearer {self.key}":
            return problem(401, "Unauthorized", "a valid API key or bearer token is required")
        body = json.loads(request.content) if request.content else None
        parts = path.strip("/").split("/")[1:]  # after v1
        q = request.url.params
        if parts == ["components"]:
            if request.method == "POST":
                return self._register(body)
            items = [
                c
                for c in sorted(self.components.values(), key=lambda c: c["name"])
                if (not q.get("state") or c["state"] == q["state"])
                and (not q.get("environment") or c["environment"] == q["environment"])
            ]
            return self._page(items, q)
        if parts[0] == "components" and len(parts) >= 2:
            return self._component(request, parts[1], parts[2:], body, q)
        if parts == ["api-keys"]:
            if request.method == "POST":
                record = {
                    "id": f"k{len(self.keys) + 1}",
                    "name": body["name"],
                    "role": body["role"],
                    "created_at": "now",
                    "expires_at": None,
                    "revoked_at": None,
                    "prefix": "ph_k1_",
                }
                self.keys.append(record)
                return httpx.Response(201, json={**record, "key": "ph_k1_SECRETSECRETSECRET"})
            return self._page(self.keys, q)
        if parts[0] == "api-keys" and request.method == "DELETE":
            for k in self.keys:
                if k["id"] == parts[1]:
                    k["revoked_at"] = "later"
                    return httpx.Response(200, json=k)
            return problem(404, "Not found", f"no API key with id {parts[1]!r}")
        if parts[:1] == ["workflows"]:
            return self._workflows(request, parts[1:], body, q)
        if parts[:1] == ["task-tokens"] and len(parts) == 2 and request.method == "POST":
            return self._task_token(parts[1], body)
        if parts == ["audit"]:
            items = [
                a
                for a in self.audit
                if all(not q.get(f) or a[f] == q[f] for f in ("principal", "operation", "target"))
            ]
            return self._page(items, q)
        return problem(404, "Not found", path)

    def _page(self, items: list, q: httpx.QueryParams) -> httpx.Response:
        size = self.page_size or int(q.get("limit", 50))
        start = int(q.get("cursor") or 0)
        chunk = items[start : start + size]
        nxt = str(start + size) if start + size < len(items) else None
        return httpx.Response(200, json={"items": chunk, "next_cursor": nxt})

    def _register(self, spec: Any) -> httpx.Response:
        if not isinstance(spec, dict) or "name" not in spec:
            return problem(
                422,
                "Validation failed",
                "name: Field required",
                errors=[{"field": "name", "message": "Field required", "in": "body"}],
            )
        if spec["name"] in self.components:
            return problem(409, "Already exists", f"a component named {spec['name']!r} exists already")
        view = self.add(spec["name"])
        view["spec"] = {**view["spec"], **spec}
        return httpx.Response(201, json=view)

    def _component(
        self, request: httpx.Request, name: str, rest: list[str], body: Any, q: httpx.QueryParams
    ) -> httpx.Response:
        c = self.components.get(name)
        if rest == ["events"]:
            if name not in self.events:
                return problem(404, "Not found", f"no component named {name!r}")
            items = list(self.events[name])
            if q.get("order") == "desc":
                items.reverse()
            return self._page(items, q)
        if c is None:
            return problem(404, "Not found", f"no component named {name!r}")
        if not rest:
            if request.method == "DELETE":
                if "deregister" not in c["allowed_commands"]:
                    return self._illegal("deregister", c)
                del self.components[name]
                self._event(name, "deregistered", c["state"], None)
                return httpx.Response(204)
            self._advance(c)
            return httpx.Response(200, json=c)
        cmd = rest[0]
        if FROM.get(cmd) != c["state"]:
            return self._illegal(cmd, c)
        if cmd == "scale" and not 1 <= body.get("replicas", 0) <= 4:
            return problem(
                422,
                "Validation failed",
                "replicas: must lie between 1 and 4",
                errors=[{"field": "replicas", "message": "must lie between 1 and 4", "in": "body"}],
            )
        op = {
            "id": f"op{next(self._ids)}",
            "command": cmd,
            "params": body or {},
            "requested_at": "now",
            "requested_by": "key:test",
        }
        before = c["state"]
        c.update(state=TRANSITIONAL[cmd], operation=op, allowed_commands=[])
        self._event(name, f"{cmd}.requested", before, c["state"], operation_id=op["id"], params=body or {})
        return httpx.Response(202, json=json.loads(json.dumps(c)))

    def _illegal(self, cmd: str, c: dict[str, Any]) -> httpx.Response:
        allowed = ALLOWED.get(c["state"], [])
        return problem(
            409,
            "Illegal transition",
            f"cannot {cmd} a component in state {c['state']}; allowed in {c['state']}: "
            + (", ".join(allowed) or "none"),
            state=c["state"],
            command=cmd,
            allowed_commands=allowed,
        )
