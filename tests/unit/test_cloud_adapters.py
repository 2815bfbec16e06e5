"""The Azure Functions and Google Cloud trigger adapters (runtime/azure_functions.py,
runtime/gcp_functions.py), the schedule conversions and the per-invocation instances, on their own:
each request becomes the event the Lambda-shaped handler expects, and its answer goes back."""

from __future__ import annotations

import base64
import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pilothouse.runtime.cloud_entries import entries
from pilothouse.runtime.instances import HandlerPool
from pilothouse.runtime.schedules import ncrontab, unix_cron

func = pytest.importorskip("azure.functions")
from azure.functions.queue import QueueMessage  # noqa: E402 - what the worker passes (with dequeue_count)
from azure.functions.timer import TimerRequest  # noqa: E402


def _pool(handler) -> HandlerPool:
    return HandlerPool(Path("unused/app.py"), loader=lambda path: handler)


# -- schedules -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "azure", "gcp"),
    [
        ("rate(1 minute)", "0 */1 * * * *", "*/1 * * * *"),
        ("rate(5 minutes)", "0 */5 * * * *", "*/5 * * * *"),
        ("rate(1 hour)", "0 0 */1 * * *", "0 */1 * * *"),
        ("rate(6 hours)", "0 0 */6 * * *", "0 */6 * * *"),
        ("rate(1 day)", "0 0 0 * * *", "0 0 * * *"),
        ("cron(0 18 ? * MON-FRI *)", "0 0 18 * * MON-FRI", "0 18 * * MON-FRI"),
        ("cron(30 2 ? * 1,7 *)", "0 30 2 * * 0,6", "30 2 * * 0,6"),
        ("cron(15 3 1 * ? *)", "0 15 3 1 * *", "15 3 1 * *"),
    ],
)
def test_schedules_convert_exactly(expression, azure, gcp):
    """Given an EventBridge expression, Then NCRONTAB and unix cron say the same times (days of the
    week renumbered from EventBridge's 1-7 to cron's 0-6)."""
    assert ncrontab(expression) == azure
    assert unix_cron(expression) == gcp


@pytest.mark.parametrize(
    "expression",
    [
        "rate(7 minutes)",
        "rate(5 hours)",
        "rate(2 days)",
        "cron(0 0 L * ? *)",
        "cron(0 0 ? * 3#2 *)",
        "cron(0 0 * * ? 2027)",
        "every minute",
        "cron(0 0 * *)",
    ],
)
def test_schedules_that_cannot_be_carried_over_are_refused(expression):
    """Given an expression no cron can say exactly, Then the conversion raises naming it."""
    with pytest.raises(ValueError, match="rate|cron|neither"):
        ncrontab(expression)


def test_every_catalogue_schedule_converts():
    """Every schedule of the catalogue has an Azure and a Google Cloud spelling."""
    sweeps = [e for e in entries() if e.kind == "schedule"]
    assert sweeps and all(e.ncrontab and e.unix_cron for e in sweeps)


# -- Azure -----------------------------------------------------------------------------------------


def test_azure_http_request_becomes_the_api_gateway_event_and_back():
    """Given an Azure HttpRequest with a route parameter, query, headers and body
    When the HTTP trigger runs the handler
    Then the handler sees the payload-2.0 event (path, route key, parameters, lower-cased headers,
    caller address) and the HttpResponse carries its status, headers and body."""
    from pilothouse.runtime import azure_functions as adapt

    seen = {}

    def handler(event, context):
        seen["event"], seen["context"] = event, context
        return {"statusCode": 201, "headers": {"Content-Type": "application/json"}, "body": '{"ok": true}'}

    run = adapt.http_trigger(_pool(handler), name="get_component", route="/v1/components/{name}", timeout=29)
    req = func.HttpRequest(
        method="POST",
        url="https://app.azurewebsites.net/v1/components/web%20app?limit=2&x=a",
        headers={
            "Authorization": "Bearer k",
            "X-Forwarded-For": "203.0.113.9:5123",
            "Content-Type": "application/json",
        },
        params={"limit": "2", "x": "a"},
        route_params={"name": "web app"},
        body=b'{"v": 1}',
    )
    answer = run(req)
    event = seen["event"]
    assert event["rawPath"] == "/v1/components/web%20app"
    assert event["routeKey"] == "POST /v1/components/{name}"
    assert event["pathParameters"] == {"name": "web app"}
    assert event["queryStringParameters"] == {"limit": "2", "x": "a"}
    assert event["headers"]["authorization"] == "Bearer k"
    assert event["requestContext"]["http"]["sourceIp"] == "203.0.113.9"
    assert json.loads(event["body"]) == {"v": 1}
    assert seen["context"].function_name == "get_component"
    assert seen["context"].get_remaining_time_in_millis() <= 29_000
    assert answer.status_code == 201
    assert answer.headers["content-type"] == "application/json"
    assert json.loads(answer.get_body()) == {"ok": True}


def test_azure_binary_body_goes_base64_and_comes_back_raw():
    """A binary request body reaches the handler base64-encoded; a base64 answer leaves as bytes."""
    from pilothouse.runtime import azure_functions as adapt

    raw = bytes(range(256))

    def handler(event, context):
        assert event["isBase64Encoded"] and base64.b64decode(event["body"]) == raw
        return {
            "statusCode": 200,
            "isBase64Encoded": True,
            "body": base64.b64encode(raw).decode(),
            "headers": {"content-type": "application/octet-stream"},
        }

    run = adapt.http_trigger(_pool(handler), name="x", route="/v1/x", timeout=29)
    req = func.HttpRequest(
        method="PUT",
        url="http://localhost/v1/x",
        headers={"content-type": "application/octet-stream"},
        body=raw,
    )
    assert run(req).get_body() == raw


def _envelope(body: str | None = None, *, ref: str | None = None, attributes: dict | None = None) -> bytes:
    """An Azure queue message's text as the queue adapter sends it (the host has undone the Base64)."""
    env: dict = {"id": "ph-1", "t": 1_765_000_000.5, "a": attributes or {}}
    env.update({"b": body} if ref is None else {"ref": ref})
    return json.dumps(env).encode()


class _FakeClaims:
    """The claim-check container of the queue adapter, as the trigger uses it (payload, delete)."""

    def __init__(self, blobs: dict[str, str]) -> None:
        self.blobs = blobs
        self.deleted: list[str] = []

    def payload(self, ref: str) -> str:
        return self.blobs[ref]

    def delete_payload(self, ref: str) -> None:
        self.deleted.append(ref)
        self.blobs.pop(ref, None)


def test_azure_queue_message_becomes_one_sqs_record_and_failures_raise():
    """Given an Azure QueueMessage holding the adapter's envelope, the handler gets a one-record SQS
    batch with the envelope's body, id, attributes and send time and Azure's dequeue count; a record
    the handler reports failed raises, so the host retries and poisons it."""
    from pilothouse.runtime import azure_functions as adapt

    batches = []

    def handler(event, context):
        batches.append(event)
        body = event["Records"][0]["body"]
        return {"batchItemFailures": [{"itemIdentifier": "ph-1"}] if body == "bad" else []}

    run = adapt.queue_trigger(_pool(handler), name="run_job", queue="pilothouse-jobs", timeout=900)
    inserted = datetime(2026, 12, 2, 7, 0, tzinfo=UTC)
    raw = _envelope('{"job": 1}', attributes={"trace": "t1"})
    run(QueueMessage(id="m1", body=raw, dequeue_count=3, insertion_time=inserted, pop_receipt="r"))
    record = batches[0]["Records"][0]
    assert record["body"] == '{"job": 1}' and record["messageId"] == "ph-1"
    assert record["attributes"]["ApproximateReceiveCount"] == "3"
    assert record["attributes"]["SentTimestamp"] == "1765000000500"
    assert record["messageAttributes"]["trace"]["stringValue"] == "t1"
    assert record["eventSourceARN"].endswith(":pilothouse-jobs")
    with pytest.raises(adapt.QueueRecordFailed, match="ph-1"):
        run(QueueMessage(id="m1", body=_envelope("bad")))


def test_azure_queue_trigger_reads_claim_checks_and_deletes_them_once_handled():
    """A large message travels as a claim check: the handler gets the blob's body; the blob is
    deleted when the handler succeeds and kept (for the retry, then the poison queue) when it fails."""
    from pilothouse.runtime import azure_functions as adapt

    big = "x" * 200_000
    fake = _FakeClaims({"pilothouse-jobs/ph-1": big, "pilothouse-jobs/ph-2": "bad"})
    claims = adapt.ClaimChecks(lambda: fake)  # type: ignore[arg-type, return-value]
    seen = []

    def handler(event, context):
        body = event["Records"][0]["body"]
        seen.append(body)
        return {"batchItemFailures": [{"itemIdentifier": "x"}] if body == "bad" else []}

    run = adapt.queue_trigger(
        _pool(handler), name="run_job", queue="pilothouse-jobs", timeout=900, claims=claims
    )
    run(QueueMessage(id="m1", body=_envelope(ref="pilothouse-jobs/ph-1")))
    assert seen == [big] and fake.deleted == ["pilothouse-jobs/ph-1"]
    with pytest.raises(adapt.QueueRecordFailed):
        run(QueueMessage(id="m2", body=_envelope(ref="pilothouse-jobs/ph-2")))
    assert fake.deleted == ["pilothouse-jobs/ph-1"] and "pilothouse-jobs/ph-2" in fake.blobs


def test_azure_claim_checks_make_one_queue_adapter_for_concurrent_messages():
    """Given 40 claim-checked messages handled at once by one trigger (the host runs a batch of 16
    in parallel), Then one queue adapter is made for all of them and each handler call gets its own
    body; a blob that is gone (handled already) is skipped without calling the handler."""
    from pilothouse.messaging.azure_queue import AzureQueueError
    from pilothouse.runtime import azure_functions as adapt

    made = []
    blobs = {f"q/{i}": f"body-{i}" for i in range(40)}

    class Claims(_FakeClaims):
        def payload(self, ref: str) -> str:
            threading.Event().wait(0.001)
            if ref not in self.blobs:
                raise AzureQueueError("gone", "BlobNotFound")
            return super().payload(ref)

    def factory():
        threading.Event().wait(0.005)  # a slow first connection: every thread asks meanwhile
        made.append(1)
        return Claims(blobs)

    got: list[str] = []
    lock = threading.Lock()

    def handler(event, context):
        with lock:
            got.append(event["Records"][0]["body"])
        return {"batchItemFailures": []}

    run = adapt.queue_trigger(
        _pool(handler), name="run_job", queue="q", timeout=60, claims=adapt.ClaimChecks(factory)
    )
    errors: list[BaseException] = []
    barrier = threading.Barrier(40)

    def call(i: int) -> None:
        barrier.wait()
        try:
            run(QueueMessage(id=f"m{i}", body=_envelope(ref=f"q/{i}")))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == [] and made == [1]
    assert sorted(got) == sorted(f"body-{i}" for i in range(40)) and blobs == {}
    run(QueueMessage(id="m0", body=_envelope(ref="q/0")))  # redelivered after it was handled
    assert len(got) == 40


def test_azure_queue_trigger_refuses_a_message_that_is_not_an_envelope():
    """A message not sent by the queue adapter (raw text, JSON without id/body) raises before the
    handler runs: the host retries it and then moves it to <queue>-poison."""
    from pilothouse.messaging.azure_queue import AzureQueueError
    from pilothouse.runtime import azure_functions as adapt

    calls = []
    run = adapt.queue_trigger(
        _pool(lambda e, c: calls.append(e)), name="run_job", queue="pilothouse-jobs", timeout=900
    )
    for raw in (b'{"job": 1}', b"plain text", b"[1]"):
        with pytest.raises(AzureQueueError):
            run(QueueMessage(id="m1", body=raw))
    assert calls == []


def test_azure_timer_becomes_a_scheduled_event():
    """A timer firing reaches the sweep as an EventBridge scheduled event naming its function."""
    from pilothouse.runtime import azure_functions as adapt

    events = []
    run = adapt.timer_trigger(_pool(lambda e, c: events.append(e)), name="sweep", timeout=120)
    run(TimerRequest(past_due=True))
    assert events[0]["detail-type"] == "Scheduled Event"
    assert (
        events[0]["resources"] == ["azure-functions:timer:sweep"] and events[0]["detail"]["past_due"] is True
    )


# -- Google Cloud ------------------------------------------------------------------------------------


def _push_envelope(body: str, attributes: dict | None = None) -> dict:
    return {
        "message": {
            "data": base64.b64encode(body.encode()).decode(),
            "messageId": "1234",
            "publishTime": "2026-12-02T07:00:00Z",
            "attributes": attributes or {},
        },
        "subscription": "projects/p/subscriptions/pilothouse-jobs-run-job",
    }


def _cloud_event(data):
    from cloudevents.http import CloudEvent

    attrs = {
        "type": "google.cloud.pubsub.topic.v1.messagePublished",
        "source": "//pubsub.googleapis.com/t",
        "id": "ev1",
    }
    return CloudEvent(attrs, data)


def test_gcp_queue_event_uses_the_adapters_push_decoder_and_refuses_what_is_not_one():
    """The trigger decodes with messaging/pubsub.decode_push: the port's id and send time (ph-id,
    ph-sent-at), user attributes only, Pub/Sub's delivery attempt as the receive count; anything
    that is not a push delivery raises the port's InvalidParameter."""
    from pilothouse.messaging.base import InvalidParameter
    from pilothouse.runtime import gcp_functions as adapt

    attrs = {"k": "v", "ph-id": "port-7", "ph-sent-at": "1765000000.25"}
    event = _cloud_event(_push_envelope('{"a": "é"}', attrs) | {"deliveryAttempt": 4})
    record = adapt.queue_event_of(event, queue="pilothouse-jobs")["Records"][0]
    assert record["body"] == '{"a": "é"}' and record["messageId"] == "port-7"
    assert record["attributes"]["ApproximateReceiveCount"] == "4"
    assert record["attributes"]["SentTimestamp"] == "1765000000250"
    assert set(record["messageAttributes"]) == {"k"}
    plain = adapt.queue_event_of(_cloud_event(_push_envelope("x")), queue="q")["Records"][0]
    assert plain["messageId"] == "1234"
    assert plain["attributes"]["SentTimestamp"] == str(
        int(datetime(2026, 12, 2, 7, 0, tzinfo=UTC).timestamp() * 1000)
    )
    for bad in (None, {}, {"message": "x"}, {"message": {"data": "%%%"}}, {"message": {"data": "/w=="}}):
        with pytest.raises(InvalidParameter):
            adapt.queue_event_of(_cloud_event(bad), queue="q")


def test_gcp_delayed_message_pushed_early_is_refused_then_handled_when_due():
    """A message sent with a delay carries ph-deliver-at; pushed before then, the function raises
    NotYetDue without running the handler (Pub/Sub nacks and pushes it again); pushed when due,
    the handler gets it."""
    import time as _time

    from pilothouse.runtime import gcp_functions as adapt

    seen = []
    run = adapt.queue_entry(
        _pool(lambda e, c: seen.append(e) or {"batchItemFailures": []}),
        name="run_job",
        queue="pilothouse-jobs",
        timeout=900,
    )
    early = _cloud_event(_push_envelope("later", {"ph-deliver-at": str(_time.time() + 120)}))
    with pytest.raises(adapt.NotYetDue) as caught:
        run(early)
    assert 100 < caught.value.due_in <= 120 and seen == []
    due = _cloud_event(_push_envelope("later", {"ph-deliver-at": str(_time.time() - 1)}))
    run(due)
    assert [e["Records"][0]["body"] for e in seen] == ["later"]
    assert seen[0]["Records"][0]["messageAttributes"] == {}


def test_gcp_http_request_becomes_the_api_gateway_event_and_back():
    """Given a Flask request on a route with parameters, the handler sees the payload-2.0 event
    with the captures decoded; its answer is the Flask response."""
    import flask

    from pilothouse.runtime import gcp_functions as adapt

    seen = {}

    def handler(event, context):
        seen["event"] = event
        return {"statusCode": 404, "headers": {"content-type": "application/problem+json"}, "body": "{}"}

    run = adapt.http_entry(
        _pool(handler),
        name="describe_execution",
        route="/v1/workflows/{workflow}/executions/{execution}",
        timeout=29,
    )
    app = flask.Flask("t")
    with app.test_request_context(
        "/v1/workflows/w%201/executions/e1?x=1", method="GET", headers={"X-Api-Key": "k"}
    ):
        answer = run(flask.request)
    event = seen["event"]
    assert event["pathParameters"] == {"workflow": "w 1", "execution": "e1"}
    assert event["rawQueryString"] == "x=1" and event["headers"]["x-api-key"] == "k"
    assert event["routeKey"] == "GET /v1/workflows/{workflow}/executions/{execution}"
    assert answer.status_code == 404 and answer.headers["content-type"] == "application/problem+json"


def test_gcp_cloud_event_becomes_one_sqs_record_and_failures_raise():
    from cloudevents.http import CloudEvent

    from pilothouse.runtime import gcp_functions as adapt

    batches = []

    def handler(event, context):
        batches.append(event)
        return {
            "batchItemFailures": [{"itemIdentifier": "x"}] if event["Records"][0]["body"] == "bad" else []
        }

    run = adapt.queue_entry(_pool(handler), name="run_job", queue="pilothouse-jobs", timeout=900)
    attrs = {
        "type": "google.cloud.pubsub.topic.v1.messagePublished",
        "source": "//pubsub.googleapis.com/t",
        "id": "ev1",
    }
    run(CloudEvent(attrs, _push_envelope('{"job": 2}', {"trace": "t1"})))
    record = batches[0]["Records"][0]
    assert record["body"] == '{"job": 2}' and record["messageId"] == "1234"
    assert record["messageAttributes"]["trace"]["stringValue"] == "t1"
    with pytest.raises(adapt.QueueRecordFailed):
        run(CloudEvent(attrs, _push_envelope("bad")))


def test_instances_are_never_shared_by_concurrent_calls():
    """Given 50 concurrent calls through one pool, each instance serves one call at a time: no
    instance is entered twice at once, and idle instances are reused afterwards."""
    busy: set[int] = set()
    lock = threading.Lock()
    clashes = []
    made = []

    def loader(path):
        def handler(event, context):
            me = id(handler)
            with lock:
                if me in busy:
                    clashes.append(me)
                busy.add(me)
            threading.Event().wait(0.002)
            with lock:
                busy.discard(me)
            return event

        made.append(handler)
        return handler

    pool = HandlerPool(Path("x/app.py"), loader=loader)
    barrier = threading.Barrier(50)

    def call(i):
        barrier.wait()
        with pool.instance() as handler:
            assert handler(i, None) == i

    threads = [threading.Thread(target=call, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert clashes == []
    assert pool.loaded == len(made) >= 1
    before = pool.loaded
    with pool.instance():
        pass
    assert pool.loaded == before  # reused, not loaded again
