"""Helpers for tests that drive an in-process `pilothouse dev` (DevServer) over real HTTP."""

from __future__ import annotations

import time

import httpx
from tests.support.controlplane import ADMIN_KEY

from pilothouse.embedded.dev import DevServer


def wait_state(client: httpx.Client, name: str, timeout: float = 60.0) -> dict:
    """Poll a component until it rests (no longer in a transitional state)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/v1/components/{name}").json()
        if body["state"] not in ("Deploying", "Updating", "Scaling", "Stopping"):
            return body
        time.sleep(0.1)
    raise AssertionError(f"{name} still {body['state']} after {timeout}s")


def client_for(server: DevServer) -> httpx.Client:
    """An HTTP client for the server, with the seeded admin key."""
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30)
