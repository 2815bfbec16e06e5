"""The ports and the wiring: adapters given through the constructor, ports the services can rely on,
and the HTTP runtime's authentication and audit injected rather than imported."""

from __future__ import annotations

import json

from pilothouse.clock import ManualClock
from pilothouse.settings import Settings
from pilothouse.wiring import Services


class FakeProvider:
    name = "local"

    def close(self) -> None:
        pass


class FakeInvoker:
    def invoke(self, function, payload):
        return {"ran": function}

    def timeout_of(self, function):
        return 7.0


def test_adapters_given_to_the_constructor_are_the_ones_used():
    """Given an invoker, an orchestrator and a provider passed to Services, then the services use
    those (no private field is touched) and build the ports nobody gave from the settings."""
    invoker, orchestrator, provider = FakeInvoker(), object(), FakeProvider()
    services = Services(
        Settings(store="memory", queue="memory"),
        ManualClock(),
        invoker=invoker,
        orchestrator=orchestrator,
        providers={"local": provider},
    )
    assert services.invoker is invoker
    assert services.orchestrator is orchestrator
    assert services.provider("local") is provider
    assert type(services.store).__name__ == "MemoryStore"


def test_queues_without_a_url_say_so_through_the_port():
    """Given the in-memory queue, url_of is part of the port and answers None (only SQS has URLs)."""
    services = Services(Settings(store="memory", queue="memory"))
    assert services.queue.url_of(services.settings.task_messages_queue) is None


def test_the_http_runtime_authenticates_and_audits_through_the_hooks_it_is_given():
    """Given an HTTP function built with its own hooks, when a mutating call arrives, then the key is
    checked by the hook's authenticate and the call recorded by the hook's audit."""
    from pilothouse.api.keys import revoke_api_key
    from pilothouse.domain.security import Principal, Role
    from pilothouse.runtime.events import http_event, http_result
    from pilothouse.runtime.http import http_function

    services = Services(Settings(store="memory", queue="memory"))
    seen: dict[str, object] = {}

    class Hooks:
        def services(self):
            return services

        def authenticate(self, services, key):
            seen["key"] = key
            return Principal(id="tester", name="tester", role=Role.VIEWER)

        def audit(self, services, *, principal, operation, resource, request_id, status, detail=None):
            seen["audit"] = (principal, operation, status)

    handler = http_function(revoke_api_key, hooks=Hooks())
    event = http_event(
        "DELETE",
        "/v1/api-keys/k1",
        headers={"authorization": "Bearer secret-1"},
        route_key="DELETE /v1/api-keys/{key_id}",
        path_parameters={"key_id": "k1"},
    )
    status, _headers, body = http_result(handler(event, None))
    assert seen["key"] == "secret-1"
    assert status == 403, json.loads(body)  # a viewer may not revoke keys
    assert seen["audit"] == ("tester", "revoke_api_key", 403)
