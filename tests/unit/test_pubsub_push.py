"""decode_push: the push envelope and the messagePublished CloudEvent give the worker's Message."""

from __future__ import annotations

import base64

import pytest

from pilothouse.messaging.base import InvalidParameter
from pilothouse.messaging.pubsub import DELIVER_AT, ID, SENT_AT, decode_push

SUBSCRIPTION = "projects/p/subscriptions/pilothouse-jobs"


def _envelope(attributes: dict[str, str], *, attempt: int | None = 3) -> dict:
    envelope = {
        "message": {
            "data": base64.b64encode('{"job": "é"}'.encode()).decode(),
            "attributes": attributes,
            "messageId": "1234",
            "publishTime": "2026-12-02T07:00:00.123456789Z",
        },
        "subscription": SUBSCRIPTION,
    }
    if attempt is not None:
        envelope["deliveryAttempt"] = attempt
    return envelope


def test_push_envelope_decodes_to_the_message_the_worker_consumes():
    """Given a push envelope of a message sent by PubSubQueue, when decoded, then the Message has the
    adapter's id and send time, the caller's attributes only, and the delivery attempt."""
    push = decode_push(_envelope({ID: "abc", SENT_AT: "1800000000.5", "kind": "job"}), now=0)

    assert push.message.id == "abc"
    assert push.message.body == '{"job": "é"}'
    assert push.message.attributes == {"kind": "job"}
    assert push.message.receive_count == 3
    assert push.message.sent_at == 1800000000.5
    assert push.message.receipt_handle == "push:1234"
    assert (push.subscription, push.due_in) == (SUBSCRIPTION, 0.0)


def test_cloudevent_message_published_decodes_the_same():
    """Given the CloudEvent google.cloud.pubsub.topic.v1.messagePublished (as a dict, or its data),
    when decoded, then the same Message comes out; without a delivery attempt it counts 1, and a
    message published without our attributes keeps Pub/Sub's id and publish time."""
    data = _envelope({"kind": "job"}, attempt=None)
    event = {
        "specversion": "1.0",
        "type": "google.cloud.pubsub.topic.v1.messagePublished",
        "source": "//pubsub.googleapis.com/projects/p/topics/pilothouse-jobs",
        "id": "1234",
        "data": data,
    }
    for payload in (event, data):
        push = decode_push(payload, now=0)
        assert (push.message.id, push.message.receive_count) == ("1234", 1)
        assert push.message.sent_at == pytest.approx(1796194800.123456)
        assert push.message.attributes == {"kind": "job"}


def test_an_early_delayed_message_says_how_early():
    """Given a delayed message pushed before it is due, when decoded, then due_in says by how much
    (the trigger refuses it and Pub/Sub's retry back-off brings it back)."""
    push = decode_push(_envelope({DELIVER_AT: "1000.0"}), now=990.0)
    assert push.due_in == 10.0


@pytest.mark.parametrize(
    "payload",
    [{}, {"message": "x"}, {"data": {"message": {"data": "not base64!"}}}, {"message": {"data": "//79"}}],
    ids=["empty", "not-an-object", "bad-base64", "not-utf8"],
)
def test_anything_else_is_refused(payload):
    """Given a payload that is no push delivery, when decoded, then InvalidParameter."""
    with pytest.raises(InvalidParameter):
        decode_push(payload)
