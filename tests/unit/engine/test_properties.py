"""Property-based checks of the pure building blocks."""

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.support.engine import T0, machine

from pilothouse.engine import InvokeTask, advance, intrinsics, jsonpath, paths, start

json_scalars = st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=8)
json_values = st.recursive(
    json_scalars,
    lambda c: (
        st.lists(c, max_size=4)
        | st.dictionaries(st.text(alphabet="abcxyz", min_size=1, max_size=4), c, max_size=4)
    ),
    max_leaves=12,
)
keys = st.lists(st.text(alphabet="abcdefgh", min_size=1, max_size=5), min_size=1, max_size=4)


@settings(max_examples=60, deadline=None)
@given(
    doc=st.dictionaries(st.text(alphabet="ijk", min_size=1, max_size=3), json_values, max_size=3),
    path=keys,
    value=json_values,
)
def test_result_path_then_select_returns_the_value(doc, path, value):
    """Given any object, writing at a fresh ResultPath then reading it back yields the value."""
    ref = "$." + ".".join(path)
    out = paths.apply_result_path(doc, value, ref)
    assert jsonpath.evaluate(ref, out) == value


@settings(max_examples=60, deadline=None)
@given(items=st.lists(json_scalars, max_size=20), size=st.integers(1, 7))
def test_array_partition_preserves_order(items, size):
    """ArrayPartition chunks concatenate back to the original array."""
    chunks = intrinsics.evaluate(f"States.ArrayPartition($.a, {size})", {"a": items})
    assert [x for c in chunks for x in c] == items
    assert all(1 <= len(c) <= size for c in chunks)


@settings(max_examples=30, deadline=None)
@given(items=st.lists(st.integers(0, 5), max_size=12), conc=st.integers(0, 4))
def test_map_results_keep_item_order_whatever_the_completion_order(items, conc):
    """Map output order follows item order even when tasks finish in reverse."""
    defn = machine(
        {
            "M": {
                "Type": "Map",
                "MaxConcurrency": conc,
                "End": True,
                "ItemProcessor": {
                    "StartAt": "T",
                    "States": {"T": {"Type": "Task", "Resource": "r", "End": True}},
                },
            }
        }
    )
    state = start(defn, items, now=T0)
    pending = []
    while state.status == "RUNNING":
        state, effects = advance(state, T0)
        pending += [e for e in effects if isinstance(e, InvokeTask)]
        if conc:
            assert len(state.outstanding_tasks()) <= conc
        if pending:
            task = pending.pop()  # complete the newest first
            from pilothouse.engine import complete_task

            complete_task(state, task.task_id, task.payload * 2, now=T0)
    assert state.output == [i * 2 for i in items]
