"""The ``dashboard`` function: ``GET /`` and ``GET /{proxy+}`` (API Gateway HTTP API payload 2.0).

    /, /components/<name>, /deployments/<id>, /workflows[/<name>[/executions/<id>]], /audit, /keys,
    /callback                    the shell (public: it holds no data, only the script that signs in)
    /static/<file>               the stylesheet, the script and htmx (package data), cached for a year
    /ui/oidc                     public: the OIDC issuers a browser may sign in with (issuer, client id)
    /ui/<page path>[?part=live]  the page's fragment for the bearer's principal, with an ETag
    /ui/stream                   server-sent events: answered by the embedded gateway; here 404, so
                                 the script polls the fragment with If-None-Match instead

Every answer carries a strict Content-Security-Policy (scripts and styles from this origin only,
nothing inline) and ``X-Content-Type-Options: nosniff``; fragments ``Cache-Control: no-store``.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, unquote

from pilothouse.dashboard.api_calls import ApiCalls, ApiProblem
from pilothouse.errors import PilothouseError

STATIC_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
PAGES = re.compile(
    r"^/(components/[^/]+|deployments/[^/]+|workflows(/[^/]+(/executions/[^/]+)?)?|audit|keys|callback)?$"
)


def csp(connect: tuple[str, ...] = ()) -> str:
    """The Content-Security-Policy of every answer (``connect``: OIDC issuers' origins)."""
    sources = " ".join(("'self'", *connect))
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src {sources}; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )


def _origin(url: str) -> str:
    match = re.match(r"^(https?://[^/]+)", url)
    return match.group(1) if match else ""


@cache
def _static(name: str) -> bytes:
    return resources.files("pilothouse.dashboard").joinpath("static", name).read_bytes()


@cache
def asset_version(name: str) -> str:
    """A short digest of a static file, the ``?v=`` that lets it be cached for a year."""
    try:
        return hashlib.sha256(_static(name)).hexdigest()[:12]
    except FileNotFoundError:
        return "missing"


@cache
def environment() -> Any:
    """The Jinja2 environment (autoescape on for every template; loaded from package data)."""
    from jinja2 import ChainableUndefined, Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("pilothouse.dashboard", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=ChainableUndefined,  # a field an older record lacks renders empty
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["asset"] = lambda name: f"/static/{name}?v={asset_version(name)}"
    env.filters["ago"] = _ago
    env.filters["short"] = lambda text, n=12: str(text or "")[:n]
    env.filters["pretty"] = lambda value: json.dumps(value, indent=2, sort_keys=True, default=str)
    return env


def _ago(text: Any) -> str:
    from pilothouse.dashboard.pages import epoch

    t = epoch(text)
    if t is None:
        return str(text or "")
    delta = max(0, int(time.time() - t))
    if delta < 90:
        return f"{delta} s ago"
    if delta < 5400:
        return f"{delta // 60} min ago"
    if delta < 172800:
        return f"{delta // 3600} h ago"
    return f"{delta // 86400} d ago"


def _answer(status: int, body: str | bytes, content_type: str, headers: dict[str, str] | None = None) -> dict:
    out_headers = {
        "Content-Type": content_type,
        "Content-Security-Policy": csp(),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        **(headers or {}),
    }
    text = body.decode() if isinstance(body, bytes) else body
    return {"statusCode": status, "headers": out_headers, "body": text, "isBase64Encoded": False}


def _problem(status: int, title: str, detail: str) -> dict:
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail})
    return _answer(status, body, "application/problem+json", {"Cache-Control": "no-store"})


def render(template: str, **values: Any) -> str:
    return environment().get_template(template).render(**values)


def shell(connect: tuple[str, ...] = ()) -> dict:
    return _answer(
        200,
        render("shell.html"),
        "text/html; charset=utf-8",
        {"Cache-Control": "no-cache", "Content-Security-Policy": csp(connect)},
    )


def static(name: str, query: dict[str, str]) -> dict:
    suffix = name[name.rfind(".") :] if "." in name else ""
    if "/" in name or suffix not in STATIC_TYPES:
        return _problem(404, "Not found", f"no asset {name[:100]!r}")
    try:
        body = _static(name)
    except FileNotFoundError:
        return _problem(404, "Not found", f"no asset {name[:100]!r}")
    forever = query.get("v") == asset_version(name)
    cache_control = "public, max-age=31536000, immutable" if forever else "no-cache"
    etag = f'"{asset_version(name)}"'
    return _answer(200, body, STATIC_TYPES[suffix], {"Cache-Control": cache_control, "ETag": etag})


def _services() -> Any:
    from pilothouse.wiring import request_hooks

    hooks = request_hooks()
    return hooks, hooks.services()


def _presented(headers: dict[str, str]) -> str | None:
    auth = headers.get("authorization") or ""
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return headers.get("x-api-key")


def oidc_issuers() -> list[dict[str, str]]:
    _, services = _services()
    return [{"issuer": i.issuer, "client_id": i.audience} for i in services.settings.oidc_issuers]


def fragment(path: str, query: dict[str, str], headers: dict[str, str], request_id: str) -> dict:
    """The fragment of the page at ``path`` (``/ui`` taken off) for the presented credentials."""
    from pilothouse.dashboard import pages

    hooks, services = _services()
    try:
        principal = hooks.authenticate(services, _presented(headers))
    except PilothouseError as exc:
        return _problem(exc.status, "Unauthorized", str(exc))
    limit = getattr(hooks, "limit", None)
    try:  # one token of the caller's read bucket per fragment, as one API read
        rate_headers = limit(services, principal, operation="dashboard", method="GET") if limit else {}
    except PilothouseError as exc:  # 429: Retry-After and the RateLimit headers, as the API answers
        answer = _problem(exc.status, "Too many requests", str(exc))
        answer["headers"].update(getattr(exc, "headers", None) or {})
        return answer
    calls = ApiCalls(services, principal, request_id=request_id)
    parts = [unquote(p) for p in path.strip("/").split("/") if p]
    live = query.get("part") == "live"
    try:
        if parts in ([], ["overview"]):
            view = pages.overview(calls, principal, query)
        elif len(parts) == 2 and parts[0] == "components":
            view = pages.component(calls, principal, parts[1])
        elif len(parts) == 2 and parts[0] == "deployments":
            view = pages.deployment(calls, principal, parts[1])
        elif parts == ["workflows"]:
            view = pages.workflows(calls, principal)
        elif len(parts) == 2 and parts[0] == "workflows":
            view = pages.workflow(calls, principal, parts[1])
        elif len(parts) == 4 and parts[0] == "workflows" and parts[2] == "executions":
            view = pages.execution(calls, principal, parts[1], parts[3])
        elif parts == ["audit"]:
            view = pages.audit(calls, principal, query)
        elif parts == ["keys"]:
            view = pages.keys(calls, principal)
        else:
            return _problem(404, "Not found", f"no page {path[:200]!r}")
    except ApiProblem as exc:
        body = render("problem.html", problem=exc.problem, status=exc.status)
        return _answer(exc.status, body, "text/html; charset=utf-8", {"Cache-Control": "no-store"})
    me = {"id": principal.id, "role": principal.role.label, "admin": principal.can(_keys_admin())}
    body = render(view.template, live=live, me=me, **view.values)
    if not live:  # who is signed in, for the header (the shell itself holds nothing of the caller)
        body = render("me.html", me=me) + body
    etag = '"' + hashlib.sha256(body.encode()).hexdigest()[:20] + '"'
    cache_headers = {
        "Cache-Control": "no-store",
        "ETag": etag,
        "Vary": "Authorization",
        **(rate_headers or {}),
    }
    if etag in (headers.get("if-none-match") or ""):
        return {"statusCode": 304, "headers": cache_headers, "body": "", "isBase64Encoded": False}
    return _answer(200, body, "text/html; charset=utf-8", cache_headers)


def _keys_admin() -> Any:
    from pilothouse.domain.security import Permission

    return Permission.KEYS_ADMIN


def handle(event: dict) -> dict:
    """One request to the dashboard; every answer carries ``X-Request-Id`` as the API's do."""
    request_id = (event.get("requestContext") or {}).get("requestId") or uuid.uuid4().hex
    answer = _route(event, request_id)
    answer.setdefault("headers", {})["X-Request-Id"] = request_id
    return answer


def _route(event: dict, request_id: str) -> dict:
    path = event.get("rawPath") or "/"
    method = ((event.get("requestContext") or {}).get("http") or {}).get("method", "GET")
    if method not in ("GET", "HEAD"):
        return _problem(405, "Method not allowed", "the dashboard only answers GET")
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    query = dict(parse_qsl(event.get("rawQueryString") or ""))
    if path.startswith("/static/"):
        return static(path[len("/static/") :], query)
    if path == "/ui/oidc":
        return _answer(
            200, json.dumps({"issuers": oidc_issuers()}), "application/json", {"Cache-Control": "no-cache"}
        )
    if path == "/ui/stream":
        return _problem(404, "Not found", "this gateway cannot stream; poll the fragment with If-None-Match")
    if path == "/ui" or path.startswith("/ui/"):
        return fragment(path[3:], query, headers, request_id)
    if PAGES.match(path):
        return shell(tuple(sorted({_origin(i["issuer"]) for i in oidc_issuers()} - {""})))
    return _problem(404, "Not found", f"no page {path[:200]!r}")


def handler(event: dict, context: Any) -> dict:
    """The Lambda handler of the ``dashboard`` function."""
    return handle(event)
