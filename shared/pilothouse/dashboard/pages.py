"""The dashboard's fragments: what each page shows, gathered from the API's read answers.

Each function takes the caller's :class:`~pilothouse.dashboard.api_calls.ApiCalls`, the principal
(what decides which buttons appear) and the request's query, and answers a :class:`View`: a template
name and its values. Buttons are only offered to a principal whose role allows the operation they
call; the operation checks again when it is called.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pilothouse.dashboard import asl_graph, charts
from pilothouse.dashboard.api_calls import ApiCalls, ApiProblem
from pilothouse.domain.security import Permission, Principal

ACTIVE = ("pending", "in_progress", "paused", "awaiting_approval", "rolling_back")
STATES = ("Registered", "Deploying", "Running", "Scaling", "Updating", "Stopping", "Stopped", "Failed")
ENVIRONMENTS = ("development", "staging", "production")
STRATEGIES = (
    "canary",
    "Canary10Percent5Minutes",
    "Linear10PercentEvery1Minute",
    "blue-green",
    "rolling",
    "all-at-once",
)
#: the largest fleet the overview lists (pages of 500 from the API)
MOST_COMPONENTS = 5000


@dataclass
class View:
    template: str
    values: dict[str, Any] = field(default_factory=dict)


def epoch(text: Any) -> float | None:
    """Seconds since the epoch of an ISO 8601 time (None when it is not one)."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _can(principal: Principal, name: str) -> bool:
    return principal.can(Permission(name))


def overview(calls: ApiCalls, principal: Principal, query: dict[str, str]) -> View:
    env = query.get("environment") if query.get("environment") in ENVIRONMENTS else None
    state = query.get("state") if query.get("state") in STATES else None
    search = (query.get("q") or "").strip()[:100]
    from pilothouse.domain.lifecycle import State

    items = calls.collect(
        "list_components",
        most=MOST_COMPONENTS,
        limit=500,
        environment=env,
        state=State(state) if state else None,
    )
    if search:
        needle = search.lower()
        items = [c for c in items if needle in str(c.get("name", "")).lower()]
    freezes = calls.call("list_freezes").get("items") or []
    recent = calls.call("list_deployments", limit=50).get("items") or []
    return View(
        "overview.html",
        {
            "components": items,
            "freezes": freezes,
            "active": [d for d in recent if d.get("status") in ACTIVE],
            "finished": [d for d in recent if d.get("status") not in ACTIVE][:10],
            "filters": {"environment": env or "", "state": state or "", "q": search},
            "states": STATES,
            "environments": ENVIRONMENTS,
        },
    )


def _series(calls: ApiCalls, name: str, metric: str, stat: str) -> list[tuple[float, float | None]]:
    answer = calls.call("component_metrics", name=name, metric=metric, stat=stat, period=60, start="1h")
    out: list[tuple[float, float | None]] = []
    for p in answer.get("points") or []:
        t = epoch(p.get("timestamp"))
        if t is not None:
            out.append((t, p.get("value")))
    return out


def component_charts(calls: ApiCalls, name: str, deployments: list[dict]) -> list[Any]:
    """Request rate, error rate and p99 of the last hour, with a marker at each deployment's start."""
    try:
        requests = _series(calls, name, "requests", "Sum")
        errors = dict(_series(calls, name, "errors", "Sum"))
        p99 = _series(calls, name, "latency_ms", "p99")
    except ApiProblem as exc:
        return [f"metrics are not available: {exc}"]
    markers = []
    start = min((t for t, _ in requests + p99), default=None)
    for d in deployments:
        t = epoch(d.get("created_at"))
        if t is not None and (start is None or t >= start):
            markers.append((t, f"deployment {d.get('id')} {d.get('to_version') or ''} ({d.get('status')})"))
    rate = [(t, None if v is None else v / 60.0) for t, v in requests]
    error_rate = [(t, None if not v else 100.0 * (errors.get(t) or 0.0) / v) for t, v in requests]
    return [
        charts.line_chart("request rate", rate, unit="req/s", markers=markers),
        charts.line_chart("error rate", error_rate, unit="%", markers=markers),
        charts.line_chart("p99 latency", p99, unit="ms", markers=markers),
    ]


def component(calls: ApiCalls, principal: Principal, name: str) -> View:
    comp = calls.call("get_component", name=name)
    events = calls.call("component_events", name=name, order="desc", limit=50).get("items") or []
    deployments = calls.call("list_deployments", component=name, limit=20).get("items") or []
    placement = comp.get("placement") or {}
    allowed = set(comp.get("allowed_commands") or [])
    return View(
        "component.html",
        {
            "c": comp,
            "events": events,
            "deployments": deployments,
            "revisions": placement.get("revisions") or [],
            "weights": (placement.get("weights") or {}),
            "charts": component_charts(calls, name, deployments),
            "strategies": STRATEGIES,
            "can_deploy": _can(principal, "components:deploy"),
            "can_operate": _can(principal, "components:operate"),
            "allowed": allowed,
        },
    )


def step_text(s: dict[str, Any]) -> str:
    """What a plan step does, in words."""
    kind = s.get("kind")
    if kind == "set_weight":
        return f"set weight {s.get('weight')}%"
    if kind == "pause":
        return f"bake {s['seconds']} s" if s.get("seconds") is not None else "pause until promoted"
    if kind == "replicas":
        return f"{s.get('revision')} replicas → {s.get('replicas')}"
    if kind == "analysis":
        a = s.get("analysis") or {}
        limits = []
        if a.get("max_error_rate") is not None:
            limits.append(f"errors ≤ {float(a['max_error_rate']):.1%}")
        if a.get("max_p99_ms") is not None:
            limits.append(f"p99 ≤ {a['max_p99_ms']:g} ms")
        return "analysis" + (f" ({', '.join(limits)})" if limits else "")
    return str(kind or "step")


def _bake_ends(step: dict[str, Any]) -> float | None:
    started = epoch(step.get("started_at"))
    if step.get("kind") != "pause" or step.get("seconds") is None or started is None:
        return None
    return started + float(step["seconds"])


def _analysis_rows(d: dict[str, Any]) -> list[tuple[str, float | None, float | None, bool | None]]:
    limits: dict[Any, dict[str, Any]] = {
        s.get("index"): (s.get("analysis") or {}) for s in d.get("steps") or [] if s.get("kind") == "analysis"
    }
    rows: list[tuple[str, float | None, float | None, bool | None]] = []
    for m in d.get("analysis") or []:
        metrics = m.get("metrics") or {}
        limit = limits.get(m.get("step")) or {}
        verdict = m.get("verdict")
        passed = None if verdict is None else verdict in ("pass", "passed", "ok", "healthy")
        rate = metrics.get("error_rate")
        if rate is not None:
            most = limit.get("max_error_rate")
            rows.append(
                (
                    f"step {m.get('step')} errors %",
                    100 * float(rate),
                    None if most is None else 100 * float(most),
                    passed,
                )
            )
        if metrics.get("p99_ms") is not None:
            rows.append(
                (f"step {m.get('step')} p99 ms", float(metrics["p99_ms"]), limit.get("max_p99_ms"), passed)
            )
    return rows


CONTROLS = (
    # (action, label, permission, what happens, statuses where it applies)
    (
        "approve",
        "Approve",
        "deployments:approve",
        "approves the waiting step; the deployment goes on",
        ("awaiting_approval",),
    ),
    (
        "reject",
        "Reject",
        "deployments:approve",
        "rejects the waiting step; the deployment rolls back",
        ("awaiting_approval",),
    ),
    (
        "promote",
        "Promote",
        "deployments:control",
        "ends the current pause or bake and goes to the next step",
        ("in_progress", "paused"),
    ),
    (
        "promote_full",
        "Promote fully",
        "deployments:control",
        "skips every remaining step and sends all traffic to the new version",
        ("in_progress", "paused", "awaiting_approval"),
    ),
    (
        "pause",
        "Pause",
        "deployments:control",
        "holds the deployment at its current step until resumed",
        ("in_progress",),
    ),
    ("resume", "Resume", "deployments:control", "lets a paused deployment go on", ("paused",)),
    (
        "abort",
        "Abort",
        "deployments:control",
        "stops the deployment and rolls traffic back to the stable version",
        ACTIVE[:4],
    ),
    (
        "rollback",
        "Break-glass rollback",
        "deployments:control",
        "rolls back at once, past freezes and policies; the reason is audited",
        ACTIVE,
    ),
)


def deployment(calls: ApiCalls, principal: Principal, deployment_id: str) -> View:
    d = calls.call("get_deployment", deployment_id=deployment_id)
    events = calls.call("deployment_events", deployment_id=deployment_id).get("items") or []
    status = d.get("status")
    paused = bool(d.get("paused"))
    buttons = []
    for action, label, permission, what, statuses in CONTROLS:
        effective = "paused" if paused and status == "in_progress" else status
        if effective in statuses and _can(principal, permission):
            buttons.append({"action": action, "label": label, "what": what})
    steps = [{**s, "text": step_text(s), "bake_ends": _bake_ends(s)} for s in d.get("steps") or []]
    weights = [(str(k), float(v)) for k, v in (d.get("weights") or {}).items() if isinstance(v, int | float)]
    return View(
        "deployment.html",
        {
            "d": d,
            "steps": steps,
            "events": events,
            "traffic": charts.traffic_bar(weights),
            "analysis": charts.analysis_chart(_analysis_rows(d)),
            "buttons": buttons,
            "active": status in ACTIVE,
        },
    )


def workflows(calls: ApiCalls, principal: Principal) -> View:
    items = calls.collect("list_workflows", most=1000, limit=500)
    return View("workflows.html", {"workflows": items})


def workflow(calls: ApiCalls, principal: Principal, name: str) -> View:
    wf = calls.call("get_workflow", workflow=name)
    executions = calls.call("list_executions", workflow=name, limit=50).get("items") or []
    return View(
        "workflow.html",
        {
            "wf": wf,
            "graph": asl_graph.draw(wf.get("definition") or {}),
            "executions": executions,
            "can_run": _can(principal, "executions:run"),
        },
    )


def execution(calls: ApiCalls, principal: Principal, name: str, execution_id: str) -> View:
    ex = calls.call("describe_execution", workflow=name, execution=execution_id)
    history = calls.call("execution_history", workflow=name, execution=execution_id, limit=1000)
    events = history.get("events") or history.get("items") or []
    version = ex.get("version") if isinstance(ex.get("version"), int) else None
    wf = calls.call("get_workflow", workflow=name, version=version)
    visited, current, failed = asl_graph.path_of(events)
    running = ex.get("status") == "RUNNING"
    return View(
        "execution.html",
        {
            "ex": ex,
            "wf_name": name,
            "events": events[-200:],
            "graph": asl_graph.draw(
                wf.get("definition") or {},
                visited=visited,
                current=current if running else None,
                failed=failed,
            ),
            "can_run": _can(principal, "executions:run"),
            "running": running,
        },
    )


def audit(calls: ApiCalls, principal: Principal, query: dict[str, str]) -> View:
    filters = {
        k: (query.get(k) or "").strip()[:200] for k in ("principal", "operation", "outcome", "since", "until")
    }
    items = calls.collect(
        "list_audit",
        most=500,
        limit=500,
        principal=filters["principal"] or None,
        operation_name=filters["operation"] or None,
    )
    outcome = filters["outcome"]
    if outcome in ("success", "failure"):
        items = [r for r in items if (int(r.get("status") or 0) < 400) == (outcome == "success")]
    since, until = epoch(filters["since"]), epoch(filters["until"])
    if since is not None or until is not None:
        items = [
            r
            for r in items
            if (t := epoch(r.get("at") or r.get("timestamp"))) is not None
            and (since is None or t >= since)
            and (until is None or t <= until)
        ]
    return View("audit.html", {"records": items[:300], "filters": filters})


def keys(calls: ApiCalls, principal: Principal) -> View:
    items = calls.collect("list_api_keys", most=2000, limit=500)
    return View("keys.html", {"keys": items, "roles": ("viewer", "operator", "deployer", "admin")})
