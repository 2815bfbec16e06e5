"""What a component spec shows of itself in a log line, and the commands a view offers."""

from __future__ import annotations

from pilothouse.domain.components import ComponentSpec
from pilothouse.domain.lifecycle import State, allowed_commands
from pilothouse.services.components import _allowed
from tests.support.specs import spec


def test_a_spec_repr_names_the_spec_and_shows_none_of_its_config_or_target():
    """Given a spec whose config and target environment hold values (a password, say), When it is
    formatted (as Powertools' debug line formats a route's arguments), Then the text names the
    spec and holds neither those values nor the rest of its content."""
    model = ComponentSpec.model_validate(
        spec(
            "billing",
            config={"greeting": "hunter2-config"},
            target={
                "command": ["{python}", "app.py", "--port", "{port}"],
                "env": {"DB_PASSWORD": "hunter2-env"},
            },
        )
    )
    text = repr(model)
    assert (
        text == "ComponentSpec(name='billing', provider='local', environment='development', version='1.0.0')"
    )
    assert "hunter2" not in f"{model!r} {[model]} { ({'spec': model}) }"


def test_every_state_offers_the_lifecycle_commands_and_each_view_its_own_list():
    """Given the allowed commands are worked out once per state, Then each state's list is the
    lifecycle table's, and a caller changing one view's list changes no other view's."""
    for state in State:
        assert _allowed(state.value) == allowed_commands(state)
    first = _allowed(State.RUNNING.value)
    first.append("self-destruct")
    assert "self-destruct" not in _allowed(State.RUNNING.value)
