"""A small HTTP client for the Pilothouse API: bearer auth, idempotency keys, problem details, paging."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pilothouse.cli.prog import program

if TYPE_CHECKING:  # httpx loads with the first Client: --help and offline commands never need it
    import httpx

DEFAULT_URL = "http://127.0.0.1:8080"

#: tests set this to an ``httpx.MockTransport`` so every client the CLI builds talks to it
TRANSPORT: httpx.BaseTransport | None = None


class ApiError(Exception):
    """The API answered with an error; ``problem`` is its RFC 9457 body (or one made up for it)."""

    def __init__(self, status: int, problem: dict[str, Any]):
        super().__init__(problem.get("detail") or problem.get("title") or f"HTTP {status}")
        self.status = status
        self.problem = problem


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


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and ("title" in body or "detail" in body):
        return body
    text = response.text.strip()
    return {
        "title": response.reason_phrase or "Error",
        "status": response.status_code,
        "detail": text[:500] if text else f"HTTP {response.status_code}",
    }


class Client:
    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
    ):
        import httpx

        self.url = (url or DEFAULT_URL).rstrip("/")
        headers = {"Accept": "application/json, application/problem+json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.Client(
            base_url=self.url, headers=headers, timeout=timeout, transport=transport or TRANSPORT
        )

    def close(self) -> None:
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
        import httpx

        headers = {}
        if method == "POST":
            headers["Idempotency-Key"] = idempotency_key or str(uuid.uuid4())
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._http.request(method, path, params=clean, json=json, headers=headers)
        except httpx.TransportError as exc:
            raise ConnectionFailed(self.url, str(exc) or type(exc).__name__) from None
        if response.status_code >= 400:
            raise ApiError(response.status_code, _problem(response))
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any = None, *, idempotency_key: str | None = None) -> Any:
        return self.request(
            "POST", path, json=body if body is not None else {}, idempotency_key=idempotency_key
        )

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

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
