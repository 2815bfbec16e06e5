"""An in-memory stand-in for the Pilothouse HTTP API, served through ``httpx.MockTransport``.

Commands move a component to its transitional state; each later GET of the component moves the
job on one step (started, then finished with the outcome set in ``outcomes``), so ``--wait`` sees
a realistic sequence. ``requests`` records everything sent.
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


@dataclass
class FakeApi:
    key: str = "ph_test_secret"
    components: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: (name, command) → "succeeded" | "failed" | "reverted" | "hang"
    outcomes: dict[tuple[str, str], str] = field(default_factory=dict)
    keys: list[dict[str, Any]] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)
    page_size: int | None = None
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
