"""A spec's target is validated by its provider's model and kept as that model dumps it (None left
out); a wrong target is named field by field, for its provider."""

from __future__ import annotations

import copy
import threading

import pytest
from pydantic import ValidationError

from pilothouse.domain import components
from pilothouse.domain.components import TARGETS, ComponentSpec

TARGET_CASES = [
    ("local", {"command": ["{python}", "app.py", "--port", "{port}"]}),
    ("local", {"command": "python app.py --port {port}", "env": {"A": "1"}, "cwd": "/srv", "port": 8080}),
    ("local", {"command": ["x", "{port}"], "versions": {"1.0": {"args": ["-v"], "env": {"B": "2"}}}}),
    ("aws-lambda", {"function_name": "f"}),
    ("aws-lambda", {"function_name": "f", "health_url": "https://h.example/{version}", "alarms": ["a"]}),
    ("kubernetes", {"namespace": "n", "deployment": "d", "image": None}),
    ("azure-functions", {"app_name": "a", "resource_group": "g", "slot": "s"}),
    ("cloud-run", {"service": "s", "region": "r"}),
]

WRONG_TARGETS = [
    ("local", {"command": ["x"]}),  # no {port}
    ("local", {"command": ["x", "{port}"], "env": {"A=B": "1"}, "port": 80}),
    ("local", {"command": [], "extra": 1}),
    ("aws-lambda", {"function_name": "", "health_url": "ftp://x"}),
    ("kubernetes", {}),
]


def spec(provider: str, target: dict) -> dict:
    return {"name": "web", "provider": provider, "version": "1.0.0", "target": target}


@pytest.mark.parametrize(("provider", "target"), TARGET_CASES)
def test_a_target_is_kept_as_its_model_dumps_it(provider, target):
    # Given a valid target of each provider; When a spec naming it is validated
    validated = ComponentSpec.model_validate(spec(provider, target))
    # Then its target is the provider model's dump without None values, types included
    expected = TARGETS[provider].model_validate(target).model_dump(exclude_none=True)
    assert validated.target == expected
    assert repr(validated.target) == repr(expected)


@pytest.mark.parametrize(("provider", "target"), WRONG_TARGETS)
def test_a_wrong_target_is_named_field_by_field_for_its_provider(provider, target):
    # Given a wrong target; When a spec naming it is validated
    with pytest.raises(ValidationError) as caught:
        ComponentSpec.model_validate(spec(provider, target))
    # Then each error is the provider model's own, placed inside the target, naming the provider
    with pytest.raises(ValidationError) as own:
        TARGETS[provider].model_validate(target)
    expected = [
        (
            ("target", *e["loc"]),
            f"{e['msg'].removeprefix('Value error, ')} (for provider {provider})",
            e["type"],
        )
        for e in own.value.errors()
    ]
    assert [(e["loc"], e["msg"], e["type"]) for e in caught.value.errors()] == expected


@pytest.fixture
def fresh_targets():
    components._valid_target.cache_clear()
    yield
    components._valid_target.cache_clear()


@pytest.mark.parametrize(("provider", "target"), TARGET_CASES)
def test_a_target_validated_again_comes_from_the_cache_as_a_new_copy(fresh_targets, provider, target):
    # Given a target validated once, and the spec's copy of it changed afterwards
    first = ComponentSpec.model_validate(spec(provider, target))
    first.target["changed"] = {"by": "the caller"}
    # When an equal target is validated again
    again = ComponentSpec.model_validate(spec(provider, copy.deepcopy(target)))
    # Then it is the model's dump (types included), a copy of its own, from the cache
    expected = TARGETS[provider].model_validate(target).model_dump(exclude_none=True)
    assert repr(again.target) == repr(expected)
    assert components._valid_target.cache_info().hits == 1


@pytest.mark.parametrize(("provider", "target"), WRONG_TARGETS)
def test_a_wrong_target_is_named_the_second_time_too(fresh_targets, provider, target):
    # Given a wrong target validated once; When validated again; Then the same errors
    errors = []
    for _ in range(2):
        with pytest.raises(ValidationError) as caught:
            ComponentSpec.model_validate(spec(provider, target))
        errors.append(caught.value.errors())
    assert errors[0] == errors[1]


def test_targets_differing_only_in_types_are_validated_each_for_itself(fresh_targets):
    # Given targets Python finds equal (1 == True) but a model does not
    one = {"command": ["x", "{port}"], "port": 8080, "grace_seconds": 1}
    other = {"command": ["x", "{port}"], "port": 8080, "grace_seconds": True}
    # When both are validated, one after the other
    first = ComponentSpec.model_validate(spec("local", one)).target
    second = ComponentSpec.model_validate(spec("local", other)).target
    # Then each is its own model's dump
    assert repr(first) == repr(TARGETS["local"].model_validate(one).model_dump(exclude_none=True))
    assert repr(second) == repr(TARGETS["local"].model_validate(other).model_dump(exclude_none=True))


def test_a_large_or_unusual_target_is_validated_as_it_is(fresh_targets):
    # Given a target beyond the size kept, and one holding a str subclass marshal does not carry
    class Text(str):
        pass

    large = {"command": ["x", "{port}"], "env": {"A": "x" * components.TARGET_MAX_BYTES}}
    unusual = {"command": [Text("x"), "{port}"]}
    # When validated; Then as the model dumps them, and nothing was kept
    for target in (large, unusual):
        validated = ComponentSpec.model_validate(spec("local", target)).target
        assert validated == TARGETS["local"].model_validate(target).model_dump(exclude_none=True)
    assert components._valid_target.cache_info().currsize == 0


def test_threads_validating_targets_at_once_each_get_their_own_answer(fresh_targets):
    # Given 8 threads validating good and wrong targets of several providers at once
    cases = [*TARGET_CASES, *WRONG_TARGETS]
    expected = {}
    for provider, target in cases:
        try:
            expected[repr((provider, target))] = repr(
                TARGETS[provider].model_validate(target).model_dump(exclude_none=True)
            )
        except ValidationError:
            expected[repr((provider, target))] = None
    wrong: list[str] = []
    start = threading.Barrier(8)

    def worker(t: int) -> None:
        start.wait()
        for i in range(100):
            provider, target = cases[(t + i) % len(cases)]
            try:
                got = ComponentSpec.model_validate(spec(provider, copy.deepcopy(target))).target
            except ValidationError:
                got = None
            if (repr(got) if got is not None else None) != expected[repr((provider, target))]:
                wrong.append(f"thread {t} call {i}")
            elif got is not None:
                got["changed"] = t  # a copy of its own: no other thread sees this

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then every answer is the model's own
    assert wrong == []
