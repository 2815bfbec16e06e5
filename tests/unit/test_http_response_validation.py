"""Response validation is a setting: on, an answer that does not match its endpoint's annotation
fails loudly; off, answers go out as built, byte for byte what validation would have sent."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pilothouse.embedded.functions import LambdaContext
from pilothouse.runtime.events import http_event
from pilothouse.runtime.http import _ResponseValidation, http_function
from pilothouse.runtime.operations import Operation
from pilothouse.settings import Settings
from pilothouse.wiring import Services


def _hooks(settings: Settings):
    services = Services(settings)

    class Hooks:
        def services(self):
            return services

        def authenticate(self, services, key):  # pragma: no cover - the operation needs no permission
            raise AssertionError

        def audit(self, services, **kwargs):  # pragma: no cover - a GET is not audited
            raise AssertionError

    return Hooks()


def _wrong_answer() -> dict[str, Any]:
    return ["not", "a", "dict"]  # type: ignore[return-value]


def _good_answer() -> dict[str, Any]:
    return {"name": "web", "n": 1, "ok": True, "items": [{"a": None}], "text": "é ✓"}


def _op(func) -> Operation:
    return Operation(
        name=func.__name__, method="GET", path="/x", func=func, permission=None, summary="", tag="t"
    )


@pytest.mark.parametrize("validate", [True, False])
def test_the_switch_decides_whether_a_wrong_answer_is_caught(validate):
    # Given an endpoint that answers a list where its annotation says dict
    settings = Settings(store="memory", queue="memory", response_validation=validate)
    handler = http_function(_op(_wrong_answer), hooks=_hooks(settings))
    # When it is called
    result = handler(http_event("GET", "/x"), None)
    # Then with validation on the answer is refused (an internal error, logged), off it goes out
    if validate:
        assert result["statusCode"] == 500, result
        assert result["headers"]["Content-Type"] == "application/problem+json"
    else:
        assert result["statusCode"] == 200 and json.loads(result["body"]) == ["not", "a", "dict"]


def test_a_good_answer_is_the_same_bytes_either_way():
    # Given the same endpoint built with validation on and off
    answers = []
    for validate in (True, False):
        settings = Settings(store="memory", queue="memory", response_validation=validate)
        handler = http_function(_op(_good_answer), hooks=_hooks(settings))
        result = handler(http_event("GET", "/x", request_id="r1"), None)
        answers.append((result["statusCode"], result["headers"], result["body"]))
    # Then status, headers and body are identical
    assert answers[0] == answers[1]


def _paged_answer(limit: int = 5) -> dict[str, Any]:
    return {"limit": limit}


def test_the_resolver_runs_our_switch_in_place_of_powertools_response_validation():
    # Given the resolver of an HTTP function whose route Powertools validates (a query parameter)
    # (a Powertools upgrade that renames the hook fails here)
    handler = http_function(_op(_paged_answer), hooks=_hooks(Settings(store="memory", queue="memory")))
    assert isinstance(handler.resolver._response_validation_middleware, _ResponseValidation)


@pytest.mark.parametrize("validate", [True, False])
@pytest.mark.parametrize("func", [_good_answer, _paged_answer])
def test_with_and_without_powertools_request_validation_the_answers_agree(func, validate):
    # Given an endpoint without parameters (served without Powertools' validation) and one with a
    # query parameter (served with it)
    settings = Settings(store="memory", queue="memory", response_validation=validate)
    handler = http_function(_op(func), hooks=_hooks(settings))
    # When called, Then it answers as it would with validation on every route
    result = handler(http_event("GET", "/x", query="limit=7", request_id="r1"), None)
    assert result["statusCode"] == 200
    assert json.loads(result["body"]) == (func(7) if func is _paged_answer else func())
    assert result["headers"]["Content-Type"] == "application/json"


def test_settings_default_off_and_the_suite_turns_it_on():
    assert Settings().response_validation is False
    assert Settings.from_environ({"PILOTHOUSE_RESPONSE_VALIDATION": "true"}).response_validation is True


def _wrong_mutation(name: str) -> dict[str, Any]:
    return ["not", "a", "dict", name]  # type: ignore[return-value]


@pytest.mark.parametrize("idempotency_key", [None, "k1"])
@pytest.mark.parametrize("validate", [True, False])
def test_a_mutation_served_without_request_validation_has_its_answer_checked_too(validate, idempotency_key):
    # Given a mutation that takes only its path's name (served without Powertools' validation),
    # answering a list where its annotation says dict, called with and without an Idempotency-Key
    settings = Settings(store="memory", queue="memory", response_validation=validate)
    hooks = _hooks(settings)
    hooks.audit = lambda services, **kwargs: None  # type: ignore[method-assign]
    op = Operation(
        name="wrong_mutation",
        method="POST",
        path="/x/<name>",
        func=_wrong_mutation,
        permission=None,
        mutating=True,
        summary="",
        tag="t",
    )
    handler = http_function(op, hooks=hooks)
    headers = {"idempotency-key": idempotency_key} if idempotency_key else {}
    # When it is called
    event = http_event("POST", "/x/web", headers=headers, path_parameters={"name": "web"})
    result = handler(event, LambdaContext("wrong_mutation", 30))
    # Then the switch decides, on the idempotent path as on the other
    if validate:
        assert result["statusCode"] == 500, result
    else:
        assert result["statusCode"] == 200 and json.loads(result["body"]) == ["not", "a", "dict", "web"]


@pytest.mark.parametrize("validate", [True, False])
@pytest.mark.parametrize("names", [["register_component"], ["get_component", "list_components"]])
@pytest.mark.parametrize("method,body", [("GET", None), ("POST", "{}"), ("DELETE", None)])
def test_a_path_no_route_matches_is_a_404_problem_either_way(validate, names, method, body):
    # Given a function serving operations that answer a model (the resolver validates answers, and
    # its not-found runs that validation with no guard, so no request context is active)
    from pilothouse.api import components

    settings = Settings(store="memory", queue="memory", response_validation=validate)
    handler = http_function(*(getattr(components, n) for n in names), hooks=_hooks(settings))
    # When a request names a path it does not serve
    result = handler(http_event(method, "/nowhere/at/all", body=body), LambdaContext("x", 30))
    # Then the answer is the not-found problem, not an exception out of the handler
    assert result["statusCode"] == 404, result
    assert result["headers"]["Content-Type"] == "application/problem+json"
    assert json.loads(result["body"])["detail"] == "no route for /nowhere/at/all"
