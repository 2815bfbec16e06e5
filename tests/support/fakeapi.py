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


# -- deployments, freezes, promotions --------------------------------------------------------------------

DEPLOYING = {"deploy", "update", "retry"}
FINAL = {"succeeded", "rolled_back", "failed", "aborted"}


class _Deployments:
    """The deployment endpoints of :class:`FakeApi` (mixed in below).

    With ``track_deployments`` on, a deploy, update or retry starts a deployment (its id the
    operation's id) whose plan the real strategy compiler makes; each read of the deployment moves
    it one step on (a pause without seconds and an approval wait for a control). Its component
    finishes only once the deployment has ended. ``deployment_outcomes[name]``: "succeeded",
    "rolled_back" (the first analysis, else health, step fails), "failed" (so does the rollback)
    or "hang". ``deployment_lag``: reads that answer 404 before a new deployment shows.
    """

    def _tick(self) -> str:
        n = next(self._ids)
        return f"2026-01-01T00:{n // 60 % 60:02d}:{n % 60:02d}Z"

    def _dep_event(self, d: dict[str, Any], kind: str, **detail: Any) -> None:
        events = self.deployment_events.setdefault(d["id"], [])
        events.append(
            {
                "id": f"{len(events) + 1:06d}",
                "deployment": d["id"],
                "at": self._tick(),
                "type": kind,
                "actor": detail.pop("actor", "system"),
                **detail,
            }
        )

    def start_deployment(
        self,
        c: dict[str, Any],
        op: dict[str, Any],
        steps: list[dict] | None = None,
        strategy: dict | None = None,
    ) -> dict[str, Any] | None:
        from pilothouse.domain.deployments import compile_plan, parse_strategy

        params = op["params"]
        if steps is None:
            parsed = parse_strategy(params.get("strategy"))
            steps = compile_plan(
                parsed, replicas=max(c["replicas"] or 1, 1), first_deploy=c["version"] is None
            )
            strategy = parsed.model_dump(exclude_none=True)
        now = self._tick()
        from_version = c["version"]
        d = {
            "id": op["id"],
            "component": c["name"],
            "environment": c["environment"],
            "provider": c["provider"],
            "command": op["command"],
            "from_version": from_version,
            "to_version": params.get("version")
            or (c["version"] if op["command"] == "update" else None)
            or c["spec"]["version"],
            "strategy": strategy,
            "workflow": "pilothouse-"
            + {"linear": "canary", "custom": "canary"}.get(
                strategy.get("type", "all-at-once"), strategy.get("type", "all-at-once")
            ),
            "execution": op["id"],
            "status": "pending",
            "steps": [
                {"index": i, **s, "status": "pending", "started_at": None, "finished_at": None}
                for i, s in enumerate(steps)
            ],
            "current_step": None,
            "weights": {from_version: 100} if from_version else {},
            "analysis": [],
            "approvals": [],
            "waiting_for": None,
            "pending_token": None,
            "paused": False,
            "abort_requested": None,
            "promote_full": False,
            "outcome": None,
            "error": None,
            "initiated_by": op["requested_by"],
            "created_at": now,
            "updated_at": now,
            "finished_at": None,
            "_reads": 0,
        }
        self.deployments[d["id"]] = d
        self._dep_event(d, "created", status="pending", actor=op["requested_by"])
        return d

    # -- moving on, one step per read ----------------------------------------------------------------
    def _fails_at(self, d: dict[str, Any]) -> int:
        kinds = [s["kind"] for s in d["steps"]]
        for kind in ("analysis", "health"):
            if kind in kinds:
                return kinds.index(kind)
        return len(kinds) - 1

    def _wait(self, d: dict[str, Any], kind: str, index: int, status: str, seconds: Any = None) -> None:
        d["pending_token"] = {"kind": kind, "index": index, "since": self._tick(), "seconds": seconds}
        d["waiting_for"] = kind
        d["status"] = status
        self._dep_event(d, f"{kind}.waiting", index=index)

    def _begin(self, d: dict[str, Any], index: int) -> None:
        if index >= len(d["steps"]):
            d.update(
                status="succeeded",
                outcome="succeeded",
                finished_at=self._tick(),
                current_step=None,
                weights={d["to_version"]: 100},
            )
            self._dep_event(d, "succeeded", status="succeeded")
            return
        step = d["steps"][index]
        d["current_step"] = index
        step["started_at"] = self._tick()
        if step["kind"] == "approval":
            step["status"] = "waiting"
            self._wait(d, "approval", index, "awaiting_approval")
        elif step["kind"] == "pause" and (step.get("seconds") is None or not d["promote_full"]):
            step["status"] = "waiting"
            self._wait(
                d,
                "pause",
                index,
                "in_progress" if step.get("seconds") is not None else "paused",
                step.get("seconds"),
            )
        else:
            step["status"] = "running"
            self._dep_event(d, "step.started", index=index)

    def _finish_step(self, d: dict[str, Any], index: int, status: str = "succeeded") -> None:
        step = d["steps"][index]
        step.update(status=status, finished_at=self._tick())
        d["pending_token"], d["waiting_for"] = None, None
        if status == "succeeded" and step["kind"] == "set_weight":
            w = step["weight"]
            d["weights"] = {d["to_version"]: w}
            if d["from_version"] and w < 100:
                d["weights"][d["from_version"]] = 100 - w
        self._dep_event(d, f"step.{status}", index=index)

    def _roll_back(self, d: dict[str, Any], error: str) -> None:
        d.update(status="rolling_back", error=error, pending_token=None, waiting_for=None)
        self._dep_event(d, "rolling_back", error=error)

    def _end_rollback(self, d: dict[str, Any]) -> None:
        abort = d["abort_requested"] or {}
        outcome = self._outcome(d)
        if outcome == "failed" or not d["from_version"]:
            status = "aborted" if abort and not abort.get("break_glass") and d["from_version"] else "failed"
            if outcome == "failed":
                d["error"] = f"rollback failed: {d['error']}"
        else:
            status = "aborted" if abort and not abort.get("break_glass") else "rolled_back"
            d["weights"] = {d["from_version"]: 100}
        d.update(status=status, outcome=status, finished_at=self._tick(), current_step=None)
        self._dep_event(d, status, status=status)

    def _outcome(self, d: dict[str, Any]) -> str:
        """The outcome set for this component and version, else for the component (keys
        ``(name, version)`` or ``name``)."""
        by_version = self.deployment_outcomes.get((d["component"], d.get("to_version")))  # type: ignore[call-overload]
        return by_version or self.deployment_outcomes.get(d["component"], "succeeded")

    def _move_deployment(self, d: dict[str, Any]) -> None:
        outcome = self._outcome(d)
        if d["status"] in FINAL or outcome == "hang":
            return
        if d["status"] == "rolling_back":
            self._end_rollback(d)
            return
        if d["pending_token"]:
            token = d["pending_token"]
            if token["kind"] == "pause" and token["seconds"] is not None:  # a bake ends by itself
                self._finish_step(d, token["index"])
                d["status"] = "in_progress"
                self._begin(d, token["index"] + 1)
            return
        if d["paused"]:
            d["status"] = "paused"
            self._wait(d, "gate", 0 if d["current_step"] is None else d["current_step"] + 1, "paused")
            return
        if d["status"] == "pending":
            d["status"] = "in_progress"
            self._begin(d, 0)
            return
        index = d["current_step"]
        step = d["steps"][index]
        failing = outcome in ("rolled_back", "failed") and index == self._fails_at(d)
        if step["kind"] == "analysis":
            if d["promote_full"]:
                self._finish_step(d, index, "skipped")
                self._begin(d, index + 1)
                return
            rate = 0.25 if failing else 0.0
            d["analysis"].append(
                {
                    "step": index,
                    "at": self._tick(),
                    "metrics": {
                        "requests": 120,
                        "errors": int(120 * rate),
                        "error_rate": rate,
                        "p99_ms": 42.0,
                        "window_seconds": 60,
                        "alarms_in_alarm": [],
                    },
                    "health": {"healthy": True, "checked": 1, "failing": 0},
                    "verdict": "fail" if failing else "pass",
                    "counted_as": "fail" if failing else "pass",
                    "reasons": ["error rate 0.250 > 0.05"] if failing else [],
                    "no_data_policy": "pass",
                }
            )
        if failing:
            self._finish_step(d, index, "failed")
            reason = "error rate 0.250 > 0.05" if step["kind"] == "analysis" else "1 of 1 instances unhealthy"
            self._roll_back(d, f"AnalysisFailed: {reason}")
            return
        self._finish_step(d, index)
        self._begin(d, index + 1)

    # -- routing -------------------------------------------------------------------------------------
    def _deployments(
        self, request: httpx.Request, rest: list[str], body: Any, q: httpx.QueryParams
    ) -> httpx.Response:
        if not rest:
            items = [
                self._dep_view(d)
                for d in sorted(self.deployments.values(), key=lambda d: d["id"], reverse=True)
                if all(not q.get(f) or d[f] == q[f] for f in ("component", "environment", "status"))
            ]
            return self._page(items, q)
        d = self.deployments.get(rest[0])
        if d is not None and d["_reads"] < self.deployment_lag:
            d["_reads"] += 1
            d = None
        if d is None:
            return problem(404, "Not found", f"no deployment {rest[0]!r}")
        if len(rest) == 1:
            self._move_deployment(d)
            return httpx.Response(200, json=self._dep_view(d))
        action = rest[1]
        if action == "events":
            return self._page(self.deployment_events.get(d["id"], []), q)
        return self._control(d, action, body or {})

    @staticmethod
    def _dep_view(d: dict[str, Any]) -> dict[str, Any]:
        return json.loads(json.dumps({k: v for k, v in d.items() if not k.startswith("_")}))

    def _control(self, d: dict[str, Any], action: str, body: dict[str, Any]) -> httpx.Response:
        if d["status"] in FINAL:
            return problem(
                409,
                "Conflict",
                f"deployment {d['id']} has ended ({d['status']})",
                deployment_status=d["status"],
            )
        token = d["pending_token"] or {}

        def not_waiting() -> httpx.Response:
            return problem(
                409,
                "Conflict",
                f"deployment {d['id']} is not waiting for that (status {d['status']})",
                deployment_status=d["status"],
            )

        if action in ("approve", "reject"):
            if token.get("kind") != "approval":
                return not_waiting()
            if not self.can_approve:
                return problem(
                    403,
                    "Forbidden",
                    "approving deployments needs the deployments:approve permission",
                    required_permission="deployments:approve",
                )
            ok = action == "approve"
            text = body.get("comment" if ok else "reason", "")
            d["approvals"].append(
                {
                    "by": "key:test",
                    "name": "tester",
                    "decision": "approved" if ok else "rejected",
                    "comment": text,
                    "at": self._tick(),
                }
            )
            self._dep_event(d, f"approval.{'approved' if ok else 'rejected'}", actor="key:test", comment=text)
            if ok:
                self._finish_step(d, token["index"])
                d["status"] = "in_progress"
                self._begin(d, token["index"] + 1)
            else:
                self._finish_step(d, token["index"], "failed")
                self._roll_back(d, f"Rejected: {text or 'rejected by key:test'}")
        elif action == "promote":
            full = bool(body.get("full"))
            if not full and token.get("kind") != "pause":
                return not_waiting()
            d["promote_full"] = d["promote_full"] or full
            self._dep_event(d, "promoted", full=full, actor="key:test")
            if token.get("kind") == "pause":
                self._finish_step(d, token["index"], "skipped" if full else "succeeded")
                d["status"] = "in_progress"
                self._begin(d, token["index"] + 1)
        elif action == "pause":
            if not d["paused"]:
                d["paused"] = True
                self._dep_event(d, "pause.requested", actor="key:test")
        elif action == "resume":
            d["paused"] = False
            if token.get("kind") == "gate":
                d.update(
                    pending_token=None,
                    waiting_for=None,
                    status="pending" if d["current_step"] is None else "in_progress",
                )
            self._dep_event(d, "resumed", actor="key:test")
        elif action in ("abort", "rollback"):
            reason = body.get("reason", "")
            d["abort_requested"] = {
                "by": "key:test",
                "reason": reason or ("break-glass rollback" if action == "rollback" else ""),
                "at": self._tick(),
                **({"break_glass": True} if action == "rollback" else {}),
            }
            self._dep_event(
                d,
                "abort.requested" if action == "abort" else "rollback.break_glass",
                actor="key:test",
                reason=reason,
            )
            self._roll_back(d, f"{'Aborted' if action == 'abort' else 'BreakGlass'}: {reason or 'key:test'}")
        else:
            return problem(404, "Not found", action)
        return httpx.Response(200, json=self._dep_view(d))

    def _component_rollback(self, c: dict[str, Any], body: dict[str, Any]) -> httpx.Response:
        op = c.get("operation")
        if op and op["id"] in self.deployments:
            d = self.deployments[op["id"]]
            if d["status"] not in FINAL:
                d["abort_requested"] = {
                    "by": "key:test",
                    "reason": "break-glass rollback of the component",
                    "at": self._tick(),
                    "break_glass": True,
                }
                self._roll_back(d, "BreakGlass: break-glass rollback of the component")
            return httpx.Response(202, json=json.loads(json.dumps(c)))
        target = body.get("version") or c.get("previous_version")
        if c["state"] != "Running" or not target:
            return problem(
                409,
                "Conflict",
                f"component {c['name']!r} has no previous version to roll back to; name one",
                field="version",
            )
        strategy = {"type": "custom", "steps": [{"kind": "prepare"}, {"kind": "set_weight", "weight": 100}]}
        return self._start_command(c, "update", {"version": target, "strategy": strategy}, rollback=True)

    def _freezes(self, request: httpx.Request, rest: list[str], body: Any) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json={"items": list(self.freezes.values())})
        if request.method == "POST":
            if body.get("scope") not in ("component", "environment") or not body.get("reason"):
                return problem(
                    422,
                    "Validation failed",
                    "scope: component or environment",
                    errors=[{"field": "scope", "message": "component or environment", "in": "body"}],
                )
            record = {**body, "by": "key:test", "at": self._tick()}
            self.freezes[(body["scope"], body["target"])] = record
            return httpx.Response(201, json=record)
        if self.freezes.pop(tuple(rest[:2]), None) is None:
            return problem(404, "Not found", f"{rest[0]} {rest[1]!r} is not frozen")
        return httpx.Response(204)

    def _promotion(self, body: dict[str, Any]) -> httpx.Response:
        for name in (body["source"], body["target"]):
            if name not in self.components:
                return problem(404, "Not found", f"no component named {name!r}")
        workflow = "pilothouse-promote-environment"
        if workflow not in self.workflows:
            self.add_workflow(workflow)
        name = f"promo-{len(self.executions) + 1:04d}"
        e = self.add_execution(workflow, name, input={**body, "initiator": "key:test"})
        return httpx.Response(201, json=json.loads(json.dumps(e)))


@dataclass
class FakeApi(_Workflows, _Deployments):
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
    #: deployments (see :class:`_Deployments`): off by default, so components finish on their own
    track_deployments: bool = False
    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)
    deployment_events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: component → "succeeded" | "rolled_back" | "failed" | "hang"
    deployment_outcomes: dict[Any, str] = field(default_factory=dict)
    deployment_lag: int = 0
    can_approve: bool = True
    freezes: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
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
        dep = self.deployments.get(op["id"])
        reason = f"{c['name']} {cmd} went wrong"
        if outcome == "hang":
            return
        if not op.get("started"):
            op["started"] = True
            self._event(c["name"], f"{cmd}.started", c["state"], c["state"], operation_id=op["id"])
            return
        if dep is not None:  # the deployment decides
            if dep["status"] not in FINAL:
                return
            outcome = (
                "succeeded"
                if dep["status"] == "succeeded"
                else ("reverted" if dep["from_version"] else "failed")
            )
            reason = dep["error"] or f"deployment {dep['id']} ended {dep['status']}"
        before = c["state"]
        params = op["params"]
        detail: dict[str, Any] = {"operation_id": op["id"]}
        if outcome == "succeeded":
            c["last_error"] = None
            if cmd in ("deploy", "retry", "update"):
                if c["version"] and c["version"] != (params.get("version") or c["spec"]["version"]):
                    c["previous_version"] = c["version"]
                c["version"] = params.get("version") or c["spec"]["version"]
                c["replicas"] = c["replicas"] or 1
                c["url"] = f"http://127.0.0.1:9{len(c['name'])}00"
                if "config" in params:
                    c["spec"]["config"] = params["config"]
            if cmd == "scale":
                c["replicas"] = params["replicas"]
            c["state"] = "Stopped" if cmd == "stop" else "Running"
        else:
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
        if parts[:1] == ["deployments"]:
            return self._deployments(request, parts[1:], body, q)
        if parts[:1] == ["freezes"]:
            return self._freezes(request, parts[1:], body)
        if parts == ["promotions"] and request.method == "POST":
            return self._promotion(body)
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
        if cmd == "rollback":
            return self._component_rollback(c, body or {})
        if FROM.get(cmd) != c["state"]:
            return self._illegal(cmd, c)
        if cmd == "scale" and not 1 <= body.get("replicas", 0) <= 4:
            return problem(
                422,
                "Validation failed",
                "replicas: must lie between 1 and 4",
                errors=[{"field": "replicas", "message": "must lie between 1 and 4", "in": "body"}],
            )
        if cmd in DEPLOYING and self.track_deployments:
            for key in (("component", name), ("environment", c["environment"])):
                if key in self.freezes:
                    f = self.freezes[key]
                    return problem(
                        409,
                        "Conflict",
                        f"{key[0]} {key[1]!r} is frozen: {f['reason']} (by {f['by']} at {f['at']})",
                        frozen=f,
                    )
        return self._start_command(c, cmd, body or {})

    def _start_command(
        self, c: dict[str, Any], cmd: str, body: dict[str, Any], rollback: bool = False
    ) -> httpx.Response:
        name = c["name"]
        op = {
            "id": f"op{next(self._ids):04d}",
            "command": cmd,
            "params": body,
            "requested_at": "now",
            "requested_by": "key:test",
        }
        if cmd in DEPLOYING and self.track_deployments:
            from pydantic import ValidationError

            try:
                self.start_deployment(c, op)
            except ValidationError as exc:
                return problem(
                    422,
                    "Validation failed",
                    f"strategy: {exc.errors()[0]['msg']}",
                    errors=[{"field": "strategy", "message": exc.errors()[0]["msg"], "in": "body"}],
                )
        before = c["state"]
        c.update(state=TRANSITIONAL[cmd], operation=op, allowed_commands=[])
        self._event(
            name,
            f"{cmd}.requested",
            before,
            c["state"],
            operation_id=op["id"],
            params=body,
            **({"break_glass": True} if rollback else {}),
        )
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
