"""The resolved-config read answers the JSON made once per version (``config_watch.Served.text``)
when answers are not validated (production's default), and a value that Powertools serializes when
they are: both give the same bytes, headers and ETag."""

from __future__ import annotations

from tests.support.specs import spec

SCHEMA = {"type": "object", "properties": {"port": {"type": "integer", "default": 80}}}


def _read(api, path: str):
    """(status, headers but the request id, body bytes) of one GET through the gateway."""
    route, _, query = path.partition("?")
    auth = {"authorization": f"Bearer {api.key}"}
    status, headers, body = api.gateway.handle("GET", route, query, auth, b"")
    return status, {k.lower(): v for k, v in headers.items() if k.lower() != "x-request-id"}, body


def test_the_answer_is_the_same_bytes_with_and_without_answer_validation(api, monkeypatch):
    assert api.post("/v1/components", spec("web", config_schema=SCHEMA))[0] == 201
    paths = ["/v1/components/web/config", "/v1/components/web/config?environment=development"]
    before_any = {p: _read(api, p) for p in paths}  # version 0: what the spec resolves to
    values = {
        "port": 8080,
        "name": 'h\u00e9llo \u2603 "quoted" </script>',
        "nested": {"a": [1, 2.5, None, True]},
    }
    status, _, _ = api.call("PUT", "/v1/components/web/config", {"values": values, "message": "m"})
    assert status in (200, 201, 202)
    validated = {p: _read(api, p) for p in paths}
    monkeypatch.setenv("PILOTHOUSE_RESPONSE_VALIDATION", "false")
    from pilothouse.settings import get_settings

    assert not get_settings().response_validation
    served = {p: _read(api, p) for p in paths}
    assert served == validated
    assert all(status == 200 for status, _, _ in served.values()), served
    body = served[paths[0]][2]
    assert b"\\u00e9" in body and b'", "' not in body  # ASCII-only, compact, as Powertools writes
    monkeypatch.setenv("PILOTHOUSE_RESPONSE_VALIDATION", "true")
    assert {p: _read(api, p) for p in paths} == validated
    assert before_any[paths[0]][0] == 200
    etag = served[paths[0]][1]["etag"]
    assert api.get("/v1/components/web/config", headers={"If-None-Match": etag})[0] == 304
