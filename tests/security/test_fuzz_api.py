"""Schemathesis over /v1/openapi.json against a running `pilothouse dev`, with every check the
installed schemathesis has (issue 10 §4, issue 17): no input makes a 5xx; every answer has a status,
content type, headers and body the document declares; schema-valid input is accepted and
schema-invalid input refused; and every error is RFC 9457 problem+json with a request id.

Bounded: a few examples per operation, on a server of its own under tmp, loopback only.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks
from schemathesis.config import SchemathesisConfig

from pilothouse.embedded.dev import DevServer
from tests.support.controlplane import ADMIN_KEY, ROOT

pytestmark = pytest.mark.slow

EXAMPLES_PER_OPERATION = 10

#: every response check of the installed schemathesis (the stateful ones, use_after_free and
#: ensure_resource_availability, need a recorded scenario and pass on one call)
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
    checks.positive_data_acceptance,
    checks.negative_data_rejection,
    checks.missing_required_header,
    checks.ignored_auth,
    checks.unsupported_method,
    checks.allow_header_conformance,
    checks.use_after_free,
    checks.ensure_resource_availability,
]


#: operations whose bodies the server checks beyond what a JSON Schema can say, answering a
#: schema-valid body 422 with the fields at fault: a component spec against its provider (a local
#: component needs target.command) and its scaling bounds (min <= replicas <= max), a strategy
#: against the strategies, a version against the spec's versions, a workflow definition against the
#: Amazon States Language (a valid JSON text is not yet a valid state machine); and an execution's
#: input or a task's output given as text is JSON text (as Step Functions takes it), which must
#: parse (a 400 naming the field)
CHECKED_BEYOND_THE_SCHEMA = frozenset(
    {
        "start_execution",
        "send_task_success",
        "register_component",
        "deploy_component",
        "update_component",
        "retry_component",
        "rollback_component",
        "create_workflow",
        "update_workflow",
        "start_promotion",
        # a policy's rule is CEL: it must compile (a 422 naming the rule)
        "create_policy",
        "update_policy",
        "test_policy",
        # a system's members and a webhook source's rules name components: they must exist (and a
        # rule's JSONPath/JSONata must compile)
        "create_system",
        "update_system",
        "create_webhook_source",
        "update_webhook_source",
        # an autoscaling policy needs one of target_tracking, step_scaling or scheduled, and config
        # content needs its format: rules across fields (each 422 names the body)
        "set_autoscaling",
        "set_component_config",
        "put_config_set",
        "put_environment_config",
        # an EMF document's directives name members of the document (CloudWatch's EMF spec)
        "put_metrics",
        # start/end are an ISO 8601 time, epoch seconds or a duration: which ISO times exist
        # (no February 30th) is not something a pattern says
        "component_metrics",
        # a channel's url must pass the outbound guard (a scheme it allows, a host that is not
        # private or loopback when it resolves): not a pattern
        "create_notification_channel",
    }
)


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


def _config() -> SchemathesisConfig:
    """Schemathesis' own defaults, but a schema-violating body may also be refused 413: a string
    within its maxLength of characters can exceed the body limit in bytes (\\uXXXX escapes)."""
    refusals = [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429, "5xx"]  # its defaults + 413
    return SchemathesisConfig.from_dict(
        {"checks": {"negative_data_rejection": {"expected-statuses": refusals}}}
    )


schema = schemathesis.openapi.from_dict(_document(), config=_config())


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_does_what_its_document_says(case, server):
    """Given an admin key, when schemathesis sends generated requests to each operation, then no
    answer is a 5xx, every error is problem+json carrying X-Request-Id, and every check of
    schemathesis passes against the document."""
    headers = {"X-Api-Key": ADMIN_KEY}  # the ApiKey scheme: schemathesis then checks it is enforced
    positive = case.meta is not None and case.meta.generation.mode.is_positive
    if positive and case.query and "cursor" in case.query:
        # a cursor is opaque: only one the server issued is valid, and none can be made up
        del case.query["cursor"]
    response = case.call(base_url=server.url, headers=headers, timeout=30)
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
    semantic = (
        positive
        and response.status_code in (400, 422)
        and case.operation.definition.raw.get("operationId") in CHECKED_BEYOND_THE_SCHEMA
    )
    if semantic:  # naming the fields it refuses
        assert response.json().get("errors") or response.json().get("field"), response.text[:300]
    run = [c for c in CHECKS if not (semantic and c is checks.positive_data_acceptance)]
    case.validate_response(response, checks=run, headers=headers)


def _header(response, name: str) -> str:
    value = response.headers.get(name) or response.headers.get(name.title()) or ""
    return value[0] if isinstance(value, list) else value
