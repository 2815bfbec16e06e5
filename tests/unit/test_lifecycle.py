"""The lifecycle table of DESIGN §3, for every state × command and every transitional outcome."""

import pytest

from pilothouse.domain.lifecycle import (
    Command,
    Outcome,
    State,
    TransitionError,
    allowed_commands,
    apply,
    complete,
)

EXPECTED = {
    (State.REGISTERED, Command.DEPLOY): State.DEPLOYING,
    (State.REGISTERED, Command.DEREGISTER): None,
    (State.RUNNING, Command.SCALE): State.SCALING,
    (State.RUNNING, Command.UPDATE): State.UPDATING,
    (State.RUNNING, Command.ROLLBACK): State.UPDATING,
    (State.RUNNING, Command.STOP): State.STOPPING,
    (State.FAILED, Command.RETRY): State.DEPLOYING,
    (State.FAILED, Command.DEREGISTER): None,
    (State.STOPPED, Command.DEREGISTER): None,
}


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("command", list(Command))
def test_every_state_and_command(state, command):
    """Given any state and command, then the table's answer comes back or the command is refused
    with the commands the state does allow."""
    if (state, command) in EXPECTED:
        assert apply(state, command) == EXPECTED[(state, command)]
    else:
        with pytest.raises(TransitionError) as info:
            apply(state, command)
        assert info.value.state == state
        assert info.value.allowed == allowed_commands(state)
        assert command.value not in info.value.allowed


@pytest.mark.parametrize(
    ("state", "outcome", "expected"),
    [
        (State.DEPLOYING, Outcome.SUCCEEDED, State.RUNNING),
        (State.DEPLOYING, Outcome.FAILED, State.FAILED),
        (State.DEPLOYING, Outcome.REVERTED, State.RUNNING),
        (State.SCALING, Outcome.SUCCEEDED, State.RUNNING),
        (State.SCALING, Outcome.FAILED, State.RUNNING),
        (State.UPDATING, Outcome.SUCCEEDED, State.RUNNING),
        (State.UPDATING, Outcome.FAILED, State.FAILED),
        (State.UPDATING, Outcome.REVERTED, State.RUNNING),
        (State.STOPPING, Outcome.SUCCEEDED, State.STOPPED),
        (State.STOPPING, Outcome.FAILED, State.FAILED),
    ],
)
def test_outcomes(state, outcome, expected):
    """Given a transitional state, when its job ends, then the component rests in the table's state."""
    assert complete(state, outcome) == expected


@pytest.mark.parametrize("state", [State.REGISTERED, State.RUNNING, State.STOPPED, State.FAILED])
def test_resting_states_take_no_outcome(state):
    """A job outcome for a component that is not in transition is refused."""
    with pytest.raises(TransitionError):
        complete(state, Outcome.SUCCEEDED)


def test_stopped_is_terminal_but_deregisterable():
    """Stopped allows only deregister."""
    assert allowed_commands(State.STOPPED) == ["deregister"]
    assert allowed_commands(State.DEPLOYING) == []
