"""The local gateway's route table and event conversion (no sockets)."""

import base64

from pilothouse.embedded.gateway import Match, RouteTable
from pilothouse.embedded.template import HttpRoute
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
    ev = http_event(
        "post",
        "/v1/x",
        query="a=1&a=2&b=",
        headers={"Content-Type": "application/json", "X-Multi": "1", "Cookie": "s=1; t=2"},
        body=b'{"k": 1}',
        route_key="POST /v1/x",
    )
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
    result = {"statusCode": 201, "headers": {"X-A": "1"}, "body": "hi"}
    assert http_result(result) == (201, {"x-a": "1"}, b"hi")
    status, headers, body = http_result({"ok": True})  # a bare value: 200 JSON, as HTTP API does
    assert status == 200 and body == b'{"ok": true}'
    enc = base64.b64encode(b"\xff").decode()
    assert http_result({"statusCode": 200, "body": enc, "isBase64Encoded": True})[2] == b"\xff"


class _RecordingPool:
    def __init__(self) -> None:
        self.events: list[dict] = []

    def invoke(self, name: str, event: dict) -> dict:
        self.events.append(event)
        return {"statusCode": 200, "body": name}


def test_gateway_errors_are_problems_with_a_request_id():
    """Given a gateway with a 10-byte body limit
    When a request has no route, a wrong method, or too big a body
    Then each answer is problem+json with X-Request-Id, the same id and the path in the body."""
    import json

    from pilothouse.embedded.gateway import LocalGateway

    gateway = LocalGateway(ROUTES, _RecordingPool(), max_body_bytes=10)
    for (method, path, body), expected in [
        (("GET", "/nope", b""), 404),
        (("PUT", "/v1/components/web", b""), 405),
        (("DELETE", "/v1/components/web", b"x" * 11), 413),
    ]:
        status, headers, out = gateway.handle(method, path, "", {}, body)
        problem = json.loads(out)
        assert (status, problem["status"]) == (expected, expected)
        assert headers["content-type"] == "application/problem+json"
        assert problem["request_id"] == headers["x-request-id"] and problem["instance"] == path


def test_head_is_served_by_the_get_route_and_trace_never_reaches_a_function():
    """Given GET routes and an ANY route
    When HEAD comes for a GET route, and TRACE for a GET route and for the ANY route
    Then HEAD invokes the GET route as GET; TRACE is 405 with Allow, and no function sees it."""
    from pilothouse.embedded.gateway import LocalGateway

    pool = _RecordingPool()
    gateway = LocalGateway(ROUTES, pool)
    status, _, _ = gateway.handle("HEAD", "/v1/components/web", "", {}, b"")
    assert status == 200 and pool.events[-1]["requestContext"]["http"]["method"] == "GET"
    assert pool.events[-1]["pathParameters"] == {"name": "web"}

    status, headers, _ = gateway.handle("TRACE", "/v1/components/web", "", {}, b"")
    assert status == 405 and headers["allow"] == "DELETE, GET, HEAD"
    status, headers, _ = gateway.handle("TRACE", "/files/a", "", {}, b"")
    assert status == 405 and "TRACE" not in headers["allow"]
    assert len(pool.events) == 1


def test_function_answers_carry_the_request_id_of_their_event():
    """Given a gateway
    When a request reaches a function
    Then the event's requestContext.requestId is the X-Request-Id of the answer."""
    from pilothouse.embedded.gateway import LocalGateway

    pool = _RecordingPool()
    _, headers, _ = LocalGateway(ROUTES, pool).handle("GET", "/v1/components", "", {}, b"")
    assert headers["x-request-id"] == pool.events[-1]["requestContext"]["requestId"]


def test_a_failing_function_is_a_502_problem_with_a_request_id(caplog):
    """Given a function that raises with a secret in its message
    When a request reaches it
    Then 502 problem+json naming the error type, with the request id; the message is neither in
    the answer nor in the log."""
    import json

    from pilothouse.embedded.gateway import LocalGateway

    class Broken:
        def invoke(self, name: str, event: dict) -> dict:
            secret = "hunter" + "2"  # not in the source line a traceback shows
            raise RuntimeError(f"secret={secret}")

    status, headers, out = LocalGateway(ROUTES, Broken()).handle("GET", "/v1/components", "", {}, b"")
    problem = json.loads(out)
    assert status == 502 and headers["content-type"] == "application/problem+json"
    assert problem["request_id"] == headers["x-request-id"]
    assert "RuntimeError" in problem["detail"] and "hunter2" not in out.decode()
    assert "RuntimeError" in caplog.text and "hunter2" not in caplog.text


def test_an_answer_can_stream_its_body():
    """Given an answer whose body is an async iterator (what server-sent events will be)
    When the gateway's ASGI side sends it
    Then each chunk goes out as it comes, without a Content-Length, and hop-by-hop headers are dropped."""
    import asyncio

    from pilothouse.embedded.gateway_asgi import send_answer

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    async def events():
        for i in range(3):
            yield f"data: {i}\n\n".encode()

    headers = {"content-type": "text/event-stream", "transfer-encoding": "chunked", "x-a": "1"}
    asyncio.run(send_answer(send, 200, headers, events()))

    names = [name for name, _ in sent[0]["headers"]]
    assert names == [b"content-type", b"x-a"]
    assert [m["body"] for m in sent[1:]] == [b"data: 0\n\n", b"data: 1\n\n", b"data: 2\n\n", b""]
    assert [m.get("more_body", False) for m in sent[1:]] == [True, True, True, False]
