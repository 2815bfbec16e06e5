"""The HTTP runtime's shortcuts around Powertools answer as Powertools does."""

from __future__ import annotations

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from hypothesis import given
from hypothesis import strategies as st

from pilothouse.runtime.events import http_event
from pilothouse.runtime.http import _ProxyEventV2

NAMES = st.sampled_from(
    ["Accept-Encoding", "accept-encoding", "ACCEPT-ENCODING", "Origin", "x-a", "X-A", "b"]
)
VALUES = st.text(alphabet="ab ,;=gzip", max_size=12)


@given(st.lists(st.tuples(NAMES, VALUES), max_size=8))
def test_resolved_headers_are_powertools_own(pairs):
    """Given any headers (names differing in case only, values with commas), Then the one-pass
    resolved headers equal Powertools' own, item by item and lookup by lookup."""
    event = http_event("GET", "/v1/x", headers=dict(pairs))
    ours, theirs = (
        _ProxyEventV2(event).resolved_headers_field,
        APIGatewayProxyEventV2(event).resolved_headers_field,
    )
    assert type(ours) is type(theirs)
    assert list(ours.items()) == list(theirs.items())
    for name in ("accept-encoding", "Accept-Encoding", "origin", "X-A", "missing"):
        assert ours.get(name, "") == theirs.get(name, "")


def test_resolved_headers_of_an_event_without_headers():
    event = {"version": "2.0", "rawPath": "/", "requestContext": {"http": {"method": "GET"}}}
    assert (
        _ProxyEventV2(event).resolved_headers_field
        == APIGatewayProxyEventV2(event).resolved_headers_field
        == {}
    )
