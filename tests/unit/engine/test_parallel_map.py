"""Parallel and Map states: outputs, failures, concurrency, tolerance, batching."""

import pytest
from tests.support.engine import T0, events, machine

from pilothouse.engine import TaskFailure, advance, complete_task, start
from pilothouse.engine.model import InvokeTask


def branch(*states):
    """A branch made of a chain of (name, state) tuples."""
    sts = {}
    for i, (name, st) in enumerate(states):
        st = dict(st)
        if st["Type"] in ("Fail", "Succeed", "Choice"):
            pass
        elif i + 1 < len(states):
            st["Next"] = states[i + 1][0]
        else:
            st["End"] = True
        sts[name] = st
    return {"StartAt": states[0][0], "States": sts}


def mapper(**fields):
    body = {
        "Type": "Map",
        "ItemProcessor": branch(("Work", {"Type": "Task", "Resource": "work"})),
        "End": True,
    }
    body.update(fields)
    return machine({"M": body})


def test_parallel_collects_branch_outputs_in_order(go):
    """Parallel output is the array of branch outputs, in branch order."""
    defn = machine(
        {
            "P": {
                "Type": "Parallel",
                "End": True,
                "Branches": [
                    branch(("A", {"Type": "Pass", "Result": "a"})),
                    branch(
                        ("B", {"Type": "Task", "Resource": "b"}),
                        ("B2", {"Type": "Pass", "Parameters": {"v.$": "$.v"}}),
                    ),
                ],
                "ResultSelector": {"first.$": "$[0]", "second.$": "$[1].v"},
            }
        }
    )
    result = go(defn, {"v": 3})
    assert result.output == {"first": "a", "second": 3}
    assert events(
        result,
        "ParallelStateEntered",
        "ParallelStateStarted",
        "ParallelStateSucceeded",
        "ParallelStateExited",
    ) == ["ParallelStateEntered", "ParallelStateStarted", "ParallelStateSucceeded", "ParallelStateExited"]


def test_parallel_branch_failure_fails_state_and_is_catchable(go):
    """A failing branch fails the Parallel with the branch's error; Catch handles it."""
    defn = machine(
        {
            "P": {
                "Type": "Parallel",
                "Next": "Done",
                "Branches": [
                    branch(("Ok", {"Type": "Pass"})),
                    branch(("Bad", {"Type": "Fail", "Error": "BranchErr", "Cause": "c"})),
                ],
                "Catch": [{"ErrorEquals": ["BranchErr"], "ResultPath": "$.error", "Next": "Handled"}],
            },
            "Done": {"Type": "Succeed"},
            "Handled": {"Type": "Pass", "End": True},
        }
    )
    result = go(defn, {"x": 1})
    assert result.output == {"x": 1, "error": {"Error": "BranchErr", "Cause": "c"}}
    assert "ParallelStateFailed" in events(result)


def test_parallel_uncaught_failure_aborts_other_branches():
    """Given two branches with outstanding tasks, When one fails, Then the other task is cancelled."""
    defn = machine(
        {
            "P": {
                "Type": "Parallel",
                "End": True,
                "Branches": [
                    branch(("T1", {"Type": "Task", "Resource": "one"})),
                    branch(("T2", {"Type": "Task", "Resource": "two"})),
                ],
            }
        }
    )
    st = start(defn, {}, now=T0)
    st, effects = advance(st, T0)
    tasks = [e for e in effects if isinstance(e, InvokeTask)]
    assert [t.state_name for t in tasks] == ["T1", "T2"]
    complete_task(st, tasks[0].task_id, error="X", cause="y", now=T0 + 1)
    st, effects = advance(st, T0 + 1)
    assert st.status == "FAILED" and st.error == "X"
    assert [getattr(e, "task_id", None) for e in effects] == [tasks[1].task_id]


def test_map_items_path_and_item_selector_with_context(go):
    """ItemsPath selects items; ItemSelector sees $$.Map.Item.Index/Value and the state input."""
    defn = mapper(
        ItemsPath="$.list",
        ItemSelector={"i.$": "$$.Map.Item.Index", "v.$": "$$.Map.Item.Value", "shared.$": "$.shared"},
        ResultPath="$.out",
    )
    result = go(defn, {"list": ["a", "b"], "shared": 9})
    assert result.output["out"] == [{"i": 0, "v": "a", "shared": 9}, {"i": 1, "v": "b", "shared": 9}]


def test_map_legacy_iterator_and_parameters(go):
    """Iterator and Parameters are the legacy names of ItemProcessor and ItemSelector."""
    defn = machine(
        {
            "M": {
                "Type": "Map",
                "Iterator": branch(("P", {"Type": "Pass"})),
                "Parameters": {"x.$": "$$.Map.Item.Value.n"},
                "End": True,
            }
        }
    )
    assert go(defn, [{"n": 1}, {"n": 2}]).output == [{"x": 1}, {"x": 2}]


def test_map_empty_array_and_non_array(go):
    """No items → []; ItemsPath not selecting an array → States.Runtime."""
    assert go(mapper(), []).output == []
    result = go(mapper(ItemsPath="$.x"), {"x": 5})
    assert (result.status, result.error) == ("FAILED", "States.Runtime")


def test_map_max_concurrency_limits_outstanding_tasks():
    """MaxConcurrency 2 → at most two iterations run at once."""
    st = start(mapper(MaxConcurrency=2), [1, 2, 3, 4, 5], now=T0)
    st, effects = advance(st, T0)
    outstanding = [e for e in effects if isinstance(e, InvokeTask)]
    peak = len(outstanding)
    while outstanding:
        e = outstanding.pop(0)
        complete_task(st, e.task_id, e.payload * 10, now=T0)
        st, effects = advance(st, T0)
        outstanding += [x for x in effects if isinstance(x, InvokeTask)]
        peak = max(peak, len(outstanding))
    assert peak == 2
    assert st.status == "SUCCEEDED" and st.output == [10, 20, 30, 40, 50]


def test_map_max_concurrency_path():
    """MaxConcurrencyPath reads the limit from the input: one task at a time."""
    st = start(mapper(ItemsPath="$.items", MaxConcurrencyPath="$.c"), {"items": [1, 2], "c": 1}, now=T0)
    st, effects = advance(st, T0)
    first = [e for e in effects if isinstance(e, InvokeTask)]
    assert [e.payload for e in first] == [1]
    complete_task(st, first[0].task_id, "one", now=T0)
    st, effects = advance(st, T0)
    second = [e for e in effects if isinstance(e, InvokeTask)]
    assert [e.payload for e in second] == [2]
    complete_task(st, second[0].task_id, "two", now=T0)
    st, _ = advance(st, T0)
    assert st.output == ["one", "two"]


def fail_odd(resource, payload, ctx):
    if payload % 2:
        raise TaskFailure("Odd", str(payload))
    return payload


def test_map_iteration_failure_fails_map_without_tolerance(go):
    """Without tolerance, one failed iteration fails the Map with that error."""
    result = go(mapper(), [2, 3, 4], invoke=fail_odd)
    assert (result.status, result.error, result.cause) == ("FAILED", "Odd", "3")
    assert "MapIterationFailed" in events(result) and "MapStateFailed" in events(result)


@pytest.mark.parametrize(
    "fields,items,ok",
    [
        ({"ToleratedFailureCount": 1}, [1, 2, 4], True),
        ({"ToleratedFailureCount": 1}, [1, 3, 4], False),
        ({"ToleratedFailurePercentage": 50}, [1, 2, 3, 4], True),
        ({"ToleratedFailurePercentage": 40}, [1, 2, 3, 4], False),
        ({"ToleratedFailureCount": 0}, [2], True),
    ],
)
def test_map_tolerated_failures(go, fields, items, ok):
    """Failures within ToleratedFailureCount/Percentage are tolerated; beyond them the Map fails with
    ExceedToleratedFailureThreshold."""
    result = go(mapper(**fields), items, invoke=fail_odd)
    if ok:
        assert result.status == "SUCCEEDED"
        assert [r if not isinstance(r, dict) else r["Error"] for r in result.output] == [
            i if i % 2 == 0 else "Odd" for i in items
        ]
    else:
        assert (result.status, result.error) == ("FAILED", "States.ExceedToleratedFailureThreshold")


def test_map_tolerated_failure_count_path(go):
    """ToleratedFailureCountPath reads the threshold from the input."""
    defn = mapper(
        ItemsPath="$.items", ItemSelector={"v.$": "$$.Map.Item.Value"}, ToleratedFailureCountPath="$.tol"
    )
    result = go(defn, {"items": [1, 3], "tol": 2}, invoke=lambda r, p, c: fail_odd(r, p["v"], c))
    assert result.status == "SUCCEEDED"


def test_map_item_batcher(go):
    """ItemBatcher groups items into {BatchInput, Items} inputs."""
    defn = mapper(ItemBatcher={"MaxItemsPerBatch": 2, "BatchInput": {"job.$": "$.job"}}, ItemsPath="$.items")
    result = go(defn, {"items": [1, 2, 3], "job": "j"})
    assert result.output == [
        {"BatchInput": {"job": "j"}, "Items": [1, 2]},
        {"BatchInput": {"job": "j"}, "Items": [3]},
    ]


def test_map_item_batcher_byte_limit(go):
    """MaxInputBytesPerBatch bounds the serialized size of each batch."""
    defn = mapper(ItemBatcher={"MaxInputBytesPerBatch": 30})
    result = go(defn, ["aaaa", "bbbb", "cccc", "dddd"])
    assert all(len(str(b)) < 60 for b in result.output)
    assert [i for b in result.output for i in b["Items"]] == ["aaaa", "bbbb", "cccc", "dddd"]
    assert len(result.output) > 1


def test_map_event_sequence(go):
    """MapStateEntered, MapStateStarted, MapIterationStarted/Succeeded per item, MapStateSucceeded,
    MapStateExited."""
    defn = machine({"M": {"Type": "Map", "ItemProcessor": branch(("P", {"Type": "Pass"})), "End": True}})
    result = go(defn, [1, 2])
    assert [e for e in events(result) if e.startswith("Map")] == [
        "MapStateEntered",
        "MapStateStarted",
        "MapIterationStarted",
        "MapIterationSucceeded",
        "MapIterationStarted",
        "MapIterationSucceeded",
        "MapStateSucceeded",
        "MapStateExited",
    ]
    started = next(e for e in result.history if e["type"] == "MapStateStarted")
    assert started["mapStateStartedEventDetails"] == {"length": 2}


def test_map_retry_reruns_all_iterations(go):
    """Retry on a Map re-runs it from the start."""
    calls = []

    def invoke(resource, payload, ctx):
        calls.append(payload)
        if len(calls) == 1:
            raise TaskFailure("Flaky")
        return payload

    result = go(mapper(Retry=[{"ErrorEquals": ["Flaky"]}], MaxConcurrency=1), [1, 2], invoke=invoke)
    assert result.output == [1, 2] and calls == [1, 1, 2]


def test_nested_map_in_parallel(go):
    """Map inside Parallel inside Map works with nested context."""
    inner = {
        "StartAt": "In",
        "States": {
            "In": {
                "Type": "Map",
                "ItemsPath": "$.xs",
                "End": True,
                "ItemProcessor": branch(("Dbl", {"Type": "Task", "Resource": "dbl"})),
            }
        },
    }
    defn = machine(
        {
            "P": {
                "Type": "Parallel",
                "Branches": [inner, branch(("K", {"Type": "Pass", "Result": "k"}))],
                "End": True,
            }
        }
    )
    result = go(defn, {"xs": [1, 2]}, invoke=lambda r, p, c: p * 2)
    assert result.output == [[2, 4], "k"]
