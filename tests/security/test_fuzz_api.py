"""Schemathesis over /v1/openapi.json against a running `pilothouse dev`: no input makes a 5xx, and
every error is RFC 9457 problem+json with a request id (issue 17, tests and figures).

Bounded: a few examples per operation, on a server of its own under tmp, loopback only.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from pilothouse.embedded.dev import DevServer
from tests.support.controlplane import ADMIN_KEY, ROOT

pytestmark = pytest.mark.slow

EXAMPLES_PER_OPERATION = 15


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from pilothouse.wiring import reset_services

    data = tmp_path_factory.mktemp("fuzz") / "data"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PILOTHOUSE_ADMIN_KEY", ADMIN_KEY)
        mp.setenv("PILOTHOUSE_DATA_DIR", str(data))
        mp.setenv("PILOTHOUSE_STORE", "sqlite")
        mp.setenv("PILOTHOUSE_QUEUE", "local")
        mp.setenv("POWERTOOLS_LOG_LEVEL", "CRITICAL")
        reset_services()
        dev = DevServer("127.0.0.1", 0, data, ROOT)
        dev.start()
        try:
            yield dev
        finally:
            dev.stop()
            reset_services()


def _document() -> dict:
    from pilothouse.api.meta import openapi_document

    return openapi_document()  # the very document /v1/openapi.json serves


schema = schemathesis.openapi.from_dict(_document())


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_makes_a_server_error(case, server):
    """Given an admin key, when schemathesis sends generated requests to each operation, then no
    answer is a 5xx and every error is problem+json carrying X-Request-Id."""
    response = case.call(base_url=server.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30)
    assert response.status_code < 500, (
        case.method,
        case.formatted_path,
        response.status_code,
        response.text[:500],
    )
    if response.status_code >= 400:
        assert _header(response, "content-type").startswith("application/problem+json"), response.text[:300]
        assert _header(response, "x-request-id"), dict(response.headers)
        assert response.json().get("status") == response.status_code


def _header(response, name: str) -> str:
    value = response.headers.get(name) or response.headers.get(name.title()) or ""
    return value[0] if isinstance(value, list) else value
