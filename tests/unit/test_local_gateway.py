"""The local gateway's route table and event conversion (no sockets)."""

import base64

from pilothouse.local.gateway import Match, RouteTable
from pilothouse.local.template import HttpRoute
from pilothouse.runtime.events import http_event, http_result

ROUTES = [
    HttpRoute("List", "GET", "/v1/components"),
    HttpRoute("Get", "GET", "/v1/components/{name}"),
    HttpRoute("Events", "GET", "/v1/components/{name}/events"),
    HttpRoute("Special", "GET", "/v1/components/special"),
    HttpRoute("Del", "DELETE", "/v1/components/{name}"),
    HttpRoute("Files", "ANY", "/files/{proxy+}"),
]


def test_literal_segments_beat_captures():
    table = RouteTable(ROUTES)
    assert table.match("GET", "/v1/components/special").route.function == "Special"
    m = table.match("GET", "/v1/components/web")
    assert m.route.function == "Get" and m.params == {"name": "web"}
    assert table.match("GET", "/v1/components/web/events").route.function == "Events"


def test_wrong_method_is_partial_with_allowed_methods():
    m = RouteTable(ROUTES).match("PUT", "/v1/components/web")
    assert m.match is Match.PARTIAL and m.allowed == ("DELETE", "GET")
    assert RouteTable(ROUTES).match("GET", "/nope").match is Match.NONE


def test_greedy_proxy_and_any_method():
    m = RouteTable(ROUTES).match("POST", "/files/a/b/c.txt")
    assert m.route.function == "Files" and m.params == {"proxy": "a/b/c.txt"}


def test_http_event_is_payload_2_0():
    ev = http_event("post", "/v1/x", query="a=1&a=2&b=", headers={"Content-Type": "application/json",
                    "X-Multi": "1", "Cookie": "s=1; t=2"}, body=b'{"k": 1}', route_key="POST /v1/x")
    assert ev["version"] == "2.0" and ev["routeKey"] == "POST /v1/x"
    assert ev["queryStringParameters"] == {"a": "1,2", "b": ""}
    assert ev["headers"]["content-type"] == "application/json" and "cookie" not in ev["headers"]
    assert ev["cookies"] == ["s=1", "t=2"]
    assert ev["body"] == '{"k": 1}' and ev["isBase64Encoded"] is False
    assert ev["requestContext"]["http"]["method"] == "POST"


def test_binary_bodies_are_base64():
    ev = http_event("POST", "/x", headers={"content-type": "application/octet-stream"}, body=b"\x00\x01")
    assert ev["isBase64Encoded"] and base64.b64decode(ev["body"]) == b"\x00\x01"


def test_results_convert_back():
    assert http_result({"statusCode": 201, "headers": {"X-A": "1"}, "body": "hi"}) == (201, {"x-a": "1"}, b"hi")
    status, headers, body = http_result({"ok": True})  # a bare value: 200 JSON, as HTTP API does
    assert status == 200 and body == b'{"ok": true}'
    enc = base64.b64encode(b"\xff").decode()
    assert http_result({"statusCode": 200, "body": enc, "isBase64Encoded": True})[2] == b"\xff"
