"""advance(max_states=1) and drained history: what the durable executor relies on."""

from pilothouse.engine import ResumeAt, advance, complete_task, start
from pilothouse.engine.model import InvokeTask

DEFINITION = {
    "StartAt": "A",
    "States": {
        "A": {"Type": "Pass", "Result": {"n": 1}, "Next": "P"},
        "P": {
            "Type": "Parallel",
            "Branches": [
                {
                    "StartAt": "B1",
                    "States": {"B1": {"Type": "Pass", "Next": "B2"}, "B2": {"Type": "Pass", "End": True}},
                },
                {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "fn", "End": True}}},
            ],
            "Next": "M",
        },
        "M": {
            "Type": "Map",
            "ItemsPath": "$[1].items",
            "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": True}}},
            "End": True,
        },
    },
}


def drive(max_states, drain):
    st = start(DEFINITION, {"items": [1, 2, 3]}, execution_name="e", now=0)
    drained, steps = [], 0
    while st.status == "RUNNING":
        st, effects = advance(st, 1, max_states=max_states)
        steps += 1
        for e in effects:
            if isinstance(e, InvokeTask):
                st = complete_task(st, e.task_id, output={"items": [1, 2, 3]}, now=1)
        if drain:
            drained += st.drain_history()
        assert steps < 200
    if drain:
        drained += st.drain_history()
    return st, steps, drained


def test_one_state_per_advance_reaches_the_same_result():
    """Given a machine with Pass, Parallel and Map, when advanced one state at a time, then it ends
    with the same output and the same history as when run until blocked."""
    whole, whole_steps, _ = drive(None, drain=False)
    stepwise, steps, _ = drive(1, drain=False)
    assert stepwise.status == whole.status == "SUCCEEDED"
    assert stepwise.output == whole.output
    # concurrent Map iterations may interleave differently, as on AWS; the events are the same
    assert sorted(e["type"] for e in stepwise.history) == sorted(e["type"] for e in whole.history)
    assert steps > whole_steps


def test_yielding_advance_asks_to_resume_now():
    st = start(DEFINITION, {}, now=5)
    st, effects = advance(st, 5, max_states=1)
    assert ResumeAt(5) in effects


def test_drained_history_keeps_ids_continuous():
    """Given history drained after every step, then the drained events are the whole history with
    ids 1..n and previous ids pointing back."""
    kept, _, _ = drive(1, drain=False)
    _, _, drained = drive(1, drain=True)
    assert [e["id"] for e in drained] == list(range(1, len(drained) + 1))
    assert [(e["type"], e["previousEventId"]) for e in drained] == [
        (e["type"], e["previousEventId"]) for e in kept.history
    ]
