"""A small HTTP client for the Pilothouse API: bearer auth, idempotency keys, problem details, paging."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pilothouse.cli.prog import program

if TYPE_CHECKING:  # httpx loads only for a test transport
    import httpx

DEFAULT_URL = "http://127.0.0.1:8080"

#: tests set this to an ``httpx.MockTransport`` so every client the CLI builds talks to it
TRANSPORT: httpx.BaseTransport | None = None


def _param(value: Any) -> str:
    """A query parameter as httpx writes one (booleans as true/false)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


#: how often a request is sent again when the API says when to retry (429 / 503 + Retry-After)
RETRIES_WHEN_TOLD = 3
#: the longest Retry-After the CLI waits out by itself (longer: the error is shown)
MAX_WAIT_SECONDS = 60.0
#: how the CLI waits (tests replace it)
SLEEP = time.sleep
#: a CA bundle (PEM) trusted besides the system's for https:// URLs (``--ca-file``)
CA_FILE: str | None = None


def tls_context() -> Any:
    """The context https:// requests verify the server with: the system's CAs, and ``CA_FILE``'s.
    Certificates and host names are always checked."""
    import ssl

    ctx = ssl.create_default_context()
    if CA_FILE:
        try:
            ctx.load_verify_locations(cafile=CA_FILE)
        except (OSError, ssl.SSLError) as exc:
            raise ConnectionFailed(CA_FILE, f"--ca-file cannot be read: {exc}") from None
    return ctx


def _retry_after(status: int, headers: dict[str, str]) -> float | None:
    """Seconds to wait before sending again, when the answer says so; None: do not retry."""
    if status not in (429, 503):
        return None
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    try:
        wait = float(value) if value is not None else None
    except ValueError:
        return None
    return wait if wait is not None and 0 <= wait <= MAX_WAIT_SECONDS else None


def _notice(text: str) -> None:
    import sys

    print(text, file=sys.stderr)


class ApiError(Exception):
    """The API answered with an error; ``problem`` is its RFC 9457 body (or one made up for it)."""

    def __init__(self, status: int, problem: dict[str, Any]):
        super().__init__(problem.get("detail") or problem.get("title") or f"HTTP {status}")
        self.status = status
        self.problem = problem
        #: where the request's body came from (a file name), to name it instead of "body"
        self.body_source: str | None = None


class ConnectionFailed(ApiError):
    """The API could not be reached at all."""

    def __init__(self, url: str, reason: str):
        super().__init__(
            0,
            {
                "title": "Cannot reach the Pilothouse API",
                "detail": f"{url}: {reason}",
                "hint": f"is the control plane running ({program()} dev)? is --url / PILOTHOUSE_URL right?",
            },
        )


def _problem(status: int, reason: str, content: bytes) -> dict[str, Any]:
    import json

    try:
        body = json.loads(content) if content else None
    except ValueError:
        body = None
    if isinstance(body, dict) and ("title" in body or "detail" in body):
        return body
    text = content.decode("utf-8", "replace").strip()
    return {
        "title": reason or "Error",
        "status": status,
        "detail": text[:500] if text else f"HTTP {status}",
    }


class Client:
    """Requests go out with the standard library's ``urllib`` (it starts in a few milliseconds;
    httpx and its CLI extras take a tenth of a second to import, longer than the rest of a command),
    or through ``transport``/:data:`TRANSPORT`, an httpx transport, which is how the tests serve the
    real API in process."""

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
    ):
        self.url = (url or DEFAULT_URL).rstrip("/")
        self.timeout = timeout
        self.headers = {"Accept": "application/json, application/problem+json"}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"
        self._http: httpx.Client | None = None
        transport = transport or TRANSPORT
        if transport is not None:
            import httpx

            self._http = httpx.Client(
                base_url=self.url, headers=self.headers, timeout=timeout, transport=transport
            )

    def close(self) -> None:
        if self._http is not None:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """Send one request; the decoded JSON answer (None for 204), or ApiError."""
        import json as jsonlib

        headers = {}
        if method == "POST":
            headers["Idempotency-Key"] = idempotency_key or str(uuid.uuid4())
        clean = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        send = self._send_httpx if self._http is not None else self._send_urllib
        for attempt in range(RETRIES_WHEN_TOLD + 1):
            status, reason, content, answer_headers = send(method, path, clean, json, headers)
            wait = _retry_after(status, answer_headers)
            if wait is None or attempt == RETRIES_WHEN_TOLD:
                break
            # told to come back later (429, or 503 with Retry-After): wait as told, then send again
            # (a POST keeps its Idempotency-Key, so the retry cannot act twice)
            _notice(f"{status} from the API: retrying in {wait:g} s (Retry-After)")
            SLEEP(wait)
        if status >= 400:
            raise ApiError(status, _problem(status, reason, content))
        if status == 204 or not content:
            return None
        return jsonlib.loads(content)

    def _send_httpx(
        self, method: str, path: str, params: dict[str, str], body: Any, headers: dict[str, str]
    ) -> tuple[int, str, bytes, dict[str, str]]:
        import httpx

        assert self._http is not None
        try:
            response = self._http.request(method, path, params=params, json=body, headers=headers)
        except httpx.TransportError as exc:
            raise ConnectionFailed(self.url, str(exc) or type(exc).__name__) from None
        return response.status_code, response.reason_phrase, response.content, dict(response.headers)

    def _send_urllib(
        self, method: str, path: str, params: dict[str, str], body: Any, headers: dict[str, str]
    ) -> tuple[int, str, bytes, dict[str, str]]:
        import json
        import urllib.error
        import urllib.parse
        import urllib.request

        url = self.url + path + ("?" + urllib.parse.urlencode(params) if params else "")
        data = None
        all_headers = {**self.headers, **headers}
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            all_headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=all_headers)
        try:
            context = tls_context() if url.startswith("https:") else None
            with urllib.request.urlopen(request, timeout=self.timeout, context=context) as response:  # noqa: S310
                return response.status, response.reason or "", response.read(), dict(response.headers)
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, str(exc.reason or ""), exc.read(), dict(exc.headers or {})
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise ConnectionFailed(self.url, str(reason) or type(exc).__name__) from None

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any = None, *, idempotency_key: str | None = None) -> Any:
        return self.request(
            "POST", path, json=body if body is not None else {}, idempotency_key=idempotency_key
        )

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, json=body)

    def pages(self, path: str, params: dict[str, Any], *, follow: bool) -> Iterator[tuple[list, str | None]]:
        """Pages of a list endpoint as (items, next_cursor); all of them if ``follow``."""
        params = dict(params)
        while True:
            body = self.get(path, **params)
            items, cursor = body.get("items", []), body.get("next_cursor")
            yield items, cursor
            if not follow or not cursor:
                return
            params["cursor"] = cursor

    def collect(self, path: str, params: dict[str, Any], *, follow: bool) -> tuple[list, str | None]:
        """The items of one page (or of all pages if ``follow``) and the cursor that is left."""
        items: list = []
        cursor = None
        for page, cursor in self.pages(path, params, follow=follow):  # noqa: B007 (the last one is wanted)
            items.extend(page)
        return items, cursor
