"""A spec's target is validated by its provider's model and kept as that model dumps it (None left
out); a wrong target is named field by field, for its provider."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

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
