"""The component lifecycle of DESIGN §3, as data.

    >>> apply(State.REGISTERED, Command.DEPLOY)
    <State.DEPLOYING: 'Deploying'>
    >>> complete(State.SCALING, Outcome.FAILED)
    <State.RUNNING: 'Running'>

Commands move a component out of a resting state; the job a command starts ends in an outcome
that moves it on. Anything else is illegal and reported with the commands the state allows.
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    REGISTERED = "Registered"
    DEPLOYING = "Deploying"
    RUNNING = "Running"
    SCALING = "Scaling"
    UPDATING = "Updating"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    FAILED = "Failed"


class Command(StrEnum):
    DEPLOY = "deploy"
    UPDATE = "update"
    #: break-glass: back to the previous (or a named) version at once, skipping gates and analysis
    ROLLBACK = "rollback"
    SCALE = "scale"
    STOP = "stop"
    RETRY = "retry"
    DEREGISTER = "deregister"


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    #: the change failed but the previous version still serves (a failed update that kept the old one)
    REVERTED = "reverted"


#: command → (states it is allowed in → the state it leads to; None means the record is removed)
TRANSITIONS: dict[Command, dict[State, State | None]] = {
    Command.DEPLOY: {State.REGISTERED: State.DEPLOYING},
    Command.RETRY: {State.FAILED: State.DEPLOYING},
    Command.SCALE: {State.RUNNING: State.SCALING},
    Command.UPDATE: {State.RUNNING: State.UPDATING},
    Command.ROLLBACK: {State.RUNNING: State.UPDATING},
    Command.STOP: {State.RUNNING: State.STOPPING},
    Command.DEREGISTER: {State.REGISTERED: None, State.STOPPED: None, State.FAILED: None},
}

#: transitional state → outcome of its job → resting state
OUTCOMES: dict[State, dict[Outcome, State]] = {
    # REVERTED: a retry whose deployment rolled back to the version that still serves
    State.DEPLOYING: {
        Outcome.SUCCEEDED: State.RUNNING,
        Outcome.FAILED: State.FAILED,
        Outcome.REVERTED: State.RUNNING,
    },
    State.SCALING: {
        Outcome.SUCCEEDED: State.RUNNING,
        Outcome.FAILED: State.RUNNING,
        Outcome.REVERTED: State.RUNNING,
    },
    State.UPDATING: {
        Outcome.SUCCEEDED: State.RUNNING,
        Outcome.FAILED: State.FAILED,
        Outcome.REVERTED: State.RUNNING,
    },
    State.STOPPING: {Outcome.SUCCEEDED: State.STOPPED, Outcome.FAILED: State.FAILED},
}

TRANSITIONAL = frozenset(OUTCOMES)
TERMINAL = frozenset({State.STOPPED})


class TransitionError(Exception):
    """A command or outcome that the current state does not allow."""

    def __init__(self, command: str, state: State, allowed: list[str]):
        super().__init__(f"cannot {command} in state {state}")
        self.command = command
        self.state = state
        self.allowed = allowed


def allowed_commands(state: State) -> list[str]:
    """The commands a component in ``state`` accepts, in a stable order."""
    return [c.value for c, table in TRANSITIONS.items() if state in table]


def apply(state: State, command: Command) -> State | None:
    """The state ``command`` leads to from ``state`` (None: removed), or TransitionError."""
    table = TRANSITIONS[command]
    if state not in table:
        raise TransitionError(command.value, state, allowed_commands(state))
    return table[state]


def complete(state: State, outcome: Outcome) -> State:
    """The resting state a job's ``outcome`` leads to from transitional ``state``."""
    table = OUTCOMES.get(state)
    if table is None or outcome not in table:
        raise TransitionError(f"complete ({outcome.value})", state, [])
    return table[outcome]
